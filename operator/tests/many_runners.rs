//! One benchmark of 100 runner pods, each at 1 req/s against one simulator, with the operator's
//! default progress settings: the API server's ConfigMap writes stay within the operator's
//! budget however many runners report (measured with the API server's own
//! `apiserver_request_total`), every request is in the merged status, and the runners' start
//! skew is taken on the API server's clock. Prints what the operator's README quotes: write
//! rates, the operator's CPU time and peak memory, the time from the last runner's results to
//! the merged status, and the start skew.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use futures::{StreamExt, TryStreamExt};
use ibench_core::protocol;
use ibench_operator::crd::{self, InferenceBenchmark};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

const RUNNERS: i32 = 100;
const RATE: f64 = 100.0;
const SECONDS: i64 = 30;
/// What the issue allows at 100 runners (the operator's default budget is 5 progress writes a
/// second; the runners' final results come on top).
const MAX_WRITES_PER_SECOND: f64 = 10.0;

/// ConfigMap writes the API server has served so far (every verb that changes one).
async fn config_map_writes(client: &Client) -> f64 {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .expect("a valid request");
    let text = client
        .request_text(request)
        .await
        .expect("the API server's metrics");
    text.lines()
        .filter(|line| {
            line.starts_with("apiserver_request_total{")
                && line.contains(r#"resource="configmaps""#)
                && ["CREATE", "PATCH", "UPDATE", "APPLY"]
                    .iter()
                    .any(|verb| line.contains(&format!(r#"verb="{verb}""#)))
        })
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

async fn sleep_until_unix(t: f64) {
    tokio::time::sleep(Duration::from_secs_f64((t - unix_now()).max(0.0))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_runners_write_progress_within_the_budget_and_lose_nothing() {
    let test_started = Instant::now();
    let cp = cluster().await;
    let ns = cp.namespace("many-runners").await.expect("namespace");
    let client = cp.client();
    let sim = simulator("m", &[]).await;
    // The operator's defaults for progress, as a cluster runs it.
    let operator = Operator::start_with(
        cp,
        &ns,
        &[
            "--runner-progress-seconds",
            "5",
            "--status-interval-seconds",
            "5",
        ],
    );
    operator.wait_ready().await;

    // When each runner's results arrived, seen through a watch started before the run.
    let done_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen = done_at.clone();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let watch = tokio::spawn(async move {
        let mut events = watcher(maps, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Ok(Some(cm)) = events.try_next().await {
            let done = cm
                .data
                .as_ref()
                .and_then(|d| d.get(protocol::STATE_KEY))
                .is_some_and(|s| s == "done");
            if done {
                let name = cm.metadata.name.unwrap_or_default();
                seen.lock()
                    .unwrap()
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
        }
    });

    let writes_before = config_map_writes(&client).await;
    let mut spec = spec(&sim.base_url(), "m", RATE, SECONDS, RUNNERS);
    spec["api"]["streaming"] = serde_json::json!(false);
    create_benchmark(&client, &ns, "many", spec)
        .await
        .expect("the benchmark is accepted");
    let created = Instant::now();

    // The start time, once every runner is ready.
    let configs: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let config = cp
        .wait_for(
            &configs,
            &protocol::config_map_name("many-g1"),
            Duration::from_secs(180),
            |cm| {
                matches!(
                    protocol::start_signal(cm.data.as_ref()),
                    Ok(Some(protocol::StartSignal::StartAt(_)))
                )
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", operator.log_tail(40)));
    let Ok(Some(protocol::StartSignal::StartAt(start_at))) =
        protocol::start_signal(config.data.as_ref())
    else {
        unreachable!("waited for a start time");
    };
    let ready_after = created.elapsed();
    let (start_seen, writes_at_start) = (unix_now(), config_map_writes(&client).await);
    let (cpu_at_start, rss_at_start) = (
        operator.cpu_seconds().unwrap_or(0.0),
        operator.rss_kib().unwrap_or(0),
    );

    // Steady state: from 2 s into the stage to 2 s before its end, progress writes only.
    sleep_until_unix(start_at + 2.0).await;
    let (steady_from, writes_from) = (unix_now(), config_map_writes(&client).await);
    sleep_until_unix(start_at + SECONDS as f64 - 2.0).await;
    let (steady_to, writes_to) = (unix_now(), config_map_writes(&client).await);
    let steady_rate = (writes_to - writes_from) / (steady_to - steady_from);
    let benchmarks: Api<InferenceBenchmark> = Api::namespaced(client.clone(), &ns);
    let live = benchmarks.get("many").await.expect("the benchmark");
    let progress_sent = live
        .status
        .as_ref()
        .and_then(|s| s.progress.as_ref())
        .map_or(0, |p| p.sent);
    // Requests sent by then, against what the status showed: how stale progress is.
    let progress_lag = ((steady_to - start_at) * RATE - progress_sent as f64) / RATE;

    // The merged status, polled closely so that its arrival is timed to 0.1 s.
    let deadline = Instant::now() + Duration::from_secs(120);
    let ib = loop {
        let ib = benchmarks.get("many").await.expect("the benchmark");
        if is_finished(&ib) {
            break ib;
        }
        assert!(
            Instant::now() < deadline,
            "no result 120 s after the stage\n{}\n{}",
            cp.diagnostics(&ns).await,
            operator.log_tail(60)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let merged_at = Instant::now();
    let writes_at_end = config_map_writes(&client).await;
    let end = unix_now();
    let cpu = operator.cpu_seconds().unwrap_or(0.0);
    let peak_rss = operator.peak_rss_kib().unwrap_or(0);
    watch.abort();
    let last_done = {
        let done = done_at.lock().unwrap();
        assert_eq!(
            done.len(),
            RUNNERS as usize,
            "runners that delivered: {:?}",
            done.keys()
        );
        done.values().max().copied().expect("runners delivered")
    };
    let run_rate = (writes_at_end - writes_at_start) / (end - start_seen);

    let status = ib.status.clone().expect("status");
    let runners = status.runners.clone().expect("runners");
    let summary = status.summary.clone().expect("summary");
    let received = sim.stats().requests_received;
    eprintln!(
        "MANY RUNNERS {RUNNERS} runners at {} req/s each for {SECONDS} s: all ready {:.1} s after create; \
         ConfigMap writes: setup {} (create to start), steady {steady_rate:.2}/s, whole run {run_rate:.2}/s \
         ({} from start to merged status); progress {progress_lag:.1} s behind at {:.0} s; \
         operator CPU {:.2} s in total ({:.2} s during the run), RSS {:.1} MiB at start, peak {:.1} MiB; \
         last results to merged status {:.2} s; start skew {:?} ms (error {:?} ms, clocks {:?} ms apart); \
         requests {} (simulator {received}); test {:.0} s",
        RATE / f64::from(RUNNERS),
        ready_after.as_secs_f64(),
        writes_at_start - writes_before,
        writes_at_end - writes_at_start,
        steady_to - start_at,
        cpu,
        cpu - cpu_at_start,
        rss_at_start as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        merged_at.saturating_duration_since(last_done).as_secs_f64(),
        runners.start_skew_ms,
        runners.start_skew_error_ms,
        runners.clock_spread_ms,
        summary.requests,
        test_started.elapsed().as_secs_f64(),
    );

    assert_eq!(status.phase, Some(crd::Phase::Succeeded), "{status:#?}");
    assert_eq!(
        (runners.desired, runners.succeeded, runners.failed),
        (RUNNERS, RUNNERS, 0)
    );
    let planned = (RATE * SECONDS as f64) as i64;
    assert_eq!(
        (summary.requests, summary.failures, received),
        (planned, 0, planned as u64),
        "every request accounted for"
    );
    assert_eq!(
        status.report.as_ref().map(|r| r.runners.as_str()),
        Some("100/100")
    );
    assert!(
        steady_rate <= MAX_WRITES_PER_SECOND && run_rate <= MAX_WRITES_PER_SECOND,
        "ConfigMap writes: {steady_rate:.2}/s steady, {run_rate:.2}/s over the run"
    );
    assert!(
        progress_sent > 0,
        "the status showed no progress {:.0} s into the stage",
        steady_to - start_at
    );
    // Every runner measured its clock; they share this machine's, so the offsets they found
    // may differ only by their uncertainty.
    let error = runners
        .start_skew_error_ms
        .expect("every runner's clock offset");
    let clocks = runners.clock_spread_ms.expect("clock spread");
    assert!(
        clocks <= error + 0.001,
        "one clock measured {clocks} ms apart, beyond the uncertainty {error} ms"
    );
    let skew = runners.start_skew_ms.expect("start skew");
    assert!(
        skew > 0.0 && skew < 1000.0,
        "start skew {skew} ms on the API server's clock"
    );
    sim.shutdown().await;
}
