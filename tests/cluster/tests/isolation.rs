//! Control planes do not share ports or directories, and their processes never outlive them.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::ok;
use ibench_testcluster::ControlPlane;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

/// Alive = exists and is not a zombie (a zombie whose parent is gone may wait for a reaper).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_dead(pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn dedicated_control_planes_are_isolated_and_torn_down_on_drop() {
    ibench_testcluster::init_test_logging();
    let (a, b) = tokio::join!(ControlPlane::start(), ControlPlane::start());
    let (a, b) = (ok(a), ok(b));
    assert_ne!(a.server_url(), b.server_url());
    assert_ne!(a.dir(), b.dir());
    eprintln!(
        "start-to-ready (two at once): {:?} and {:?}",
        a.startup_time(),
        b.startup_time()
    );

    let ns = ok(a.namespace("only-in-a").await);
    assert!(
        Api::<Namespace>::all(b.client())
            .get_opt(&ns)
            .await
            .unwrap()
            .is_none()
    );

    let dir = a.dir().to_path_buf();
    let pids: Vec<u32> = a.component_pids().into_iter().map(|(_, p)| p).collect();
    let url = a.server_url().to_string();
    drop(a);
    assert_eq!(
        wait_dead(&pids, Duration::from_secs(5)),
        Vec::<u32>::new(),
        "components outlived Drop"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
    let port = url.rsplit(':').next().unwrap();
    assert!(
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
        "apiserver port still open"
    );

    assert_eq!(
        b.client().apiserver_version().await.unwrap().git_version,
        "v1.37.2"
    );
}

#[test]
fn components_die_when_the_test_process_is_killed() {
    let mut holder = Command::new(env!("CARGO_BIN_EXE_testcluster-hold"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting testcluster-hold");
    let stdout = holder.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(pids) = line.strip_prefix("READY ") {
                let _ = tx.send(
                    pids.split_whitespace()
                        .map(|p| p.parse::<u32>().unwrap())
                        .collect::<Vec<_>>(),
                );
                return;
            }
        }
    });
    let pids = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(pids) => pids,
        Err(_) => {
            let _ = holder.kill();
            panic!("testcluster-hold never became ready");
        }
    };
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|p| alive(*p)));
    // SIGKILL: no destructor, no atexit. Only PR_SET_PDEATHSIG can stop the components now.
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(
        wait_dead(&pids, Duration::from_secs(10)),
        Vec::<u32>::new(),
        "components outlived their parent"
    );
}
