//! 100 benchmarks applied at once: every one is accepted and gets its Job; measures the time
//! from apply to Job creation and the operator's memory. What is measured is the operator, not
//! load: the runner image is one the process kubelet does not know, so every runner pod fails at
//! once and each run ends as RunnerFailed (100 real runners would swamp a small CI machine).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures::{StreamExt, TryStreamExt};
use ibench_operator::crd::{self, InferenceBenchmark};
use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::{WatchStreamExt, watcher};

const BENCHMARKS: usize = 100;
const UNMAPPED_IMAGE: &str = "ghcr.io/inference-bench/not-mapped:scale";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_benchmarks_at_once_are_all_accepted_and_get_their_jobs() {
    let cp = cluster().await;
    let ns = cp.namespace("scale").await.expect("namespace");
    let client = cp.client();
    let operator = Operator::start(cp, &ns);
    operator.wait_ready().await;
    let idle_rss = operator.rss_kib().unwrap_or(0);

    // Job creation times, seen through a watch started before the first apply.
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let seen = created.clone();
    let jobs_api: Api<Job> = Api::namespaced(client.clone(), &ns);
    let watch = tokio::spawn(async move {
        let mut events = watcher(jobs_api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Ok(Some(job)) = events.try_next().await {
            let name = job.metadata.name.unwrap_or_default();
            seen.lock()
                .unwrap()
                .entry(name)
                .or_insert_with(Instant::now);
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let applies = futures::stream::iter(0..BENCHMARKS)
        .map(|i| {
            let client = client.clone();
            let ns = ns.clone();
            let mut spec = spec("http://127.0.0.1:9", "m", 5.0, 2, 1);
            spec["runners"]["image"] = serde_json::json!(UNMAPPED_IMAGE);
            async move {
                let name = format!("bench-{i:03}");
                create_benchmark(&client, &ns, &name, spec)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                (name, Instant::now())
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let apply_time = started.elapsed();

    let mut peak_rss = idle_rss;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        peak_rss = peak_rss.max(operator.rss_kib().unwrap_or(0));
        let have = created.lock().unwrap().len();
        if have >= BENCHMARKS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {have} of {BENCHMARKS} Jobs after 120 s\n{}",
            operator.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut latencies: Vec<Duration> = {
        let created = created.lock().unwrap();
        applies
            .iter()
            .map(|(name, applied)| {
                created[&format!("{name}-g1")].saturating_duration_since(*applied)
            })
            .collect()
    };
    latencies.sort();

    let api: Api<InferenceBenchmark> = Api::namespaced(client.clone(), &ns);
    let accepted = |ib: &InferenceBenchmark| {
        condition(ib, crd::CONDITION_ACCEPTED).is_some_and(|c| c.status == "True")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = api.list(&ListParams::default()).await.unwrap().items;
        let count = all.iter().filter(|ib| accepted(ib)).count();
        if count == BENCHMARKS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{count} of {BENCHMARKS} accepted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Let the 100 runs finish, so that the memory peak covers finishing them too.
    let deadline = Instant::now() + Duration::from_secs(120);
    let outcome = loop {
        peak_rss = peak_rss.max(operator.rss_kib().unwrap_or(0));
        let all = api.list(&ListParams::default()).await.unwrap().items;
        let finished = all.iter().filter(|ib| is_finished(ib)).count();
        if finished == BENCHMARKS || Instant::now() >= deadline {
            let runner_failed = all
                .iter()
                .filter(|ib| {
                    condition(ib, crd::CONDITION_SUCCEEDED).is_some_and(|c| {
                        c.reason == "RunnerFailed" && c.message.contains("ImageNotMapped")
                    })
                })
                .count();
            break (finished, runner_failed);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let final_rss = operator.rss_kib().unwrap_or(0);
    watch.abort();
    let metrics = operator.http_get("/metrics").await.1;
    let reconciles: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("ibench_operator_reconcile"))
        .collect();
    eprintln!(
        "SCALE {BENCHMARKS} benchmarks: applied in {:.2} s; apply→Job p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms; \
         runs finished {}/{BENCHMARKS} ({} failed as expected); operator RSS idle {:.1} MiB, peak {:.1} MiB, after {:.1} MiB\n{}",
        apply_time.as_secs_f64(),
        percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&latencies, 90.0).as_secs_f64() * 1e3,
        percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
        outcome.0,
        outcome.1,
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        final_rss as f64 / 1024.0,
        reconciles.join("\n"),
    );
    assert_eq!(
        outcome,
        (BENCHMARKS, BENCHMARKS),
        "every run ends with its runner's failure named\n{}",
        operator.log_tail(40)
    );
}
