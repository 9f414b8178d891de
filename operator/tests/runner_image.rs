//! The runner from its image (issue 23): the process kubelet runs the benchmark's runner Pod
//! from the root file system of the `ibench` image that `images/build.sh` builds (chrooted, as
//! the image's non-root user, with the image's environment), not from the host's binary, and
//! the benchmark succeeds. Needs root, like the kubelet's mounts.

mod common;

use std::time::Duration;

use common::*;
use ibench_operator::crd;
use ibench_testcluster::oci_image::built_image;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_benchmark_runs_its_runner_from_the_built_image() {
    let image = built_image("ibench").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let rootfs = image
        .unpack(&dir.path().join("rootfs"))
        .unwrap_or_else(|e| panic!("{e}"));

    let (cp, ns, client, sim, operator) = setup("runner-image").await;
    cp.map_image_rootfs(RUNNER_IMAGE, rootfs.clone());
    create_benchmark(
        &client,
        &ns,
        "from-image",
        spec(&sim.base_url(), "m", 10.0, 2, 1),
    )
    .await
    .expect("created");
    let ib = wait_benchmark(
        cp,
        &operator,
        &ns,
        "from-image",
        Duration::from_secs(120),
        is_finished,
    )
    .await;
    let succeeded = condition(&ib, crd::CONDITION_SUCCEEDED).expect("Succeeded condition");
    assert_eq!(
        succeeded.status,
        "True",
        "{:#?}\n{}",
        ib.status,
        cp.diagnostics(&ns).await
    );
    assert_eq!(sim.stats().requests_received, 20);

    // The runner ran the image's program with the image's environment.
    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items;
    assert_eq!(pods.len(), 1);
    let pod = pods[0].metadata.name.clone().expect("named");
    let command_file = cp
        .dir()
        .join("pods")
        .join(&ns)
        .join(&pod)
        .join("runner.command");
    let command = std::fs::read_to_string(&command_file)
        .unwrap_or_else(|e| panic!("{}: {e}", command_file.display()));
    assert!(
        command.starts_with("argv: [\"/usr/local/bin/ibench\", \"agent\"]"),
        "{command}"
    );
    assert!(command.contains("\"SSL_CERT_FILE\""), "{command}");
    assert_eq!(
        rootfs.resolve("ibench").as_deref(),
        Some("/usr/local/bin/ibench")
    );
    drop(dir);
}
