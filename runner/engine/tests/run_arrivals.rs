//! Requests leave at their planned times: constant, poisson, trace replay, closed loop, and the
//! same plan whatever the number of workers. Real HTTP over loopback to the simulator.

use ibench_testkit as common;

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use ibench_sim::{LoraConfig, SimConfig};

/// Send times (Unix seconds) of successful requests, in order.
fn send_times(entries: &[serde_json::Value]) -> Vec<f64> {
    sorted_times(entries, "start_time")
}

fn sorted_times(entries: &[serde_json::Value], key: &str) -> Vec<f64> {
    let mut times: Vec<f64> = entries.iter().filter_map(|e| e[key].as_f64()).collect();
    times.sort_by(f64::total_cmp);
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_arrivals_are_evenly_spaced() {
    let _serial = common::timing_lock().await;
    common::within_three_attempts(async || {
        let sim = common::sim(SimConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let config = common::config(
            &sim.base_url(),
            dir.path(),
            "load: {type: constant, stages: [{rate: 200, duration: 3}], num_workers: 2, worker_realtime_priority: true}\nreport: {request_lifecycle: {per_request: true}}",
        );
        let outcome = common::run(config).await;
        let load = &common::report(&outcome, "stage_0_lifecycle_metrics")["load_summary"];
        assert_eq!(load["count"], 600);
        assert_eq!(sim.stats().requests_received, 600);
        let times = send_times(&common::per_request(dir.path()));
        assert_eq!(times.len(), 600);
        // A VM's vCPU can be paused for milliseconds at any time, so single gaps may stretch;
        // the engine itself must keep 99% of gaps within 1 ms, the median within 0.2 ms, and
        // must not drift: bursts, a wrong rate or accumulating lateness all fail here.
        let mut deviations: Vec<f64> =
            times.windows(2).map(|w| (w[1] - w[0] - 0.005).abs()).collect();
        deviations.sort_by(f64::total_cmp);
        let median = deviations[deviations.len() / 2];
        let p99 = deviations[deviations.len() * 99 / 100];
        let drift = (times[599] - times[0] - 599.0 * 0.005).abs();
        if median < 0.0002 && p99 < 0.001 && drift < 0.001 {
            Ok(())
        } else {
            Err(format!(
                "inter-send gaps off 5 ms: median {:.3} ms, p99 {:.3} ms; drift over the stage {:.3} ms",
                median * 1e3,
                p99 * 1e3,
                drift * 1e3
            ))
        }
    })
    .await;
}

/// One-sample Kolmogorov–Smirnov statistic of `samples` against Exp(rate).
fn ks_exponential(samples: &mut [f64], rate: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len() as f64;
    samples
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let cdf = 1.0 - (-rate * x).exp();
            (cdf - i as f64 / n)
                .abs()
                .max(((i + 1) as f64 / n - cdf).abs())
        })
        .fold(0.0, f64::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisson_interarrivals_are_exponential() {
    let _serial = common::timing_lock().await;
    // The plan is seeded, so its distribution is judged on every attempt alike; only the sends'
    // lateness depends on the VM, whose vCPU can be paused for milliseconds at any time.
    common::within_three_attempts(async || {
        let sim = common::sim(SimConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let config = common::config(
            &sim.base_url(),
            dir.path(),
            "load: {type: poisson, stages: [{rate: 300, duration: 5}], num_workers: 2, base_seed: 11, worker_realtime_priority: true}\nreport: {request_lifecycle: {per_request: true}}",
        );
        common::run(config).await;
        let entries = common::per_request(dir.path());
        // The plan's times are judged here; that sends keep to them, below. Judging the sends'
        // own gaps would let one preempted send (a paused vCPU) fail the distribution.
        let times = sorted_times(&entries, "scheduled_time");
        let mut gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let n = gaps.len() as f64;
        assert!(
            (n - 1500.0).abs() < 5.0 * 1500f64.sqrt(),
            "{n} arrivals for an expected 1500"
        );
        let d = ks_exponential(&mut gaps, 300.0);
        // Critical value at the 1% level: 1.628 / sqrt(n).
        assert!(
            d < 1.628 / n.sqrt(),
            "KS statistic {d:.4} rejects the exponential (n = {n})"
        );
        // The same statistic rejects evenly spaced sends, so the test can fail.
        let mut even = vec![1.0 / 300.0; gaps.len()];
        assert!(ks_exponential(&mut even, 300.0) > 1.628 / n.sqrt());
        let mut lateness: Vec<f64> = entries
            .iter()
            .map(|e| {
                e["start_time"].as_f64().expect("every request was sent")
                    - e["scheduled_time"].as_f64().unwrap()
            })
            .collect();
        lateness.sort_by(f64::total_cmp);
        let p99 = lateness[lateness.len() * 99 / 100];
        if p99 < 0.001 {
            Ok(())
        } else {
            Err(format!(
                "99% of sends within {:.3} ms of their planned time",
                p99 * 1e3
            ))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mode_never_exceeds_the_level_at_the_server() {
    let _serial = common::timing_lock().await;
    let sim = common::sim_with_latency(10.0, 1.0).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        "load: {type: concurrent, stages: [{num_requests: 300, concurrency_level: 7}], num_workers: 4}",
    );
    let outcome = common::run(config).await;
    let stats = sim.stats();
    assert_eq!(stats.requests_received, 300);
    assert!(
        stats.max_in_flight <= 7,
        "the server saw {} requests at once",
        stats.max_in_flight
    );
    assert_eq!(stats.max_in_flight, 7, "the level is reached");
    let load = &common::report(&outcome, "stage_0_lifecycle_metrics")["load_summary"];
    assert_eq!(
        (load["count"].as_u64(), load["concurrency"].as_u64()),
        (Some(300), Some(7))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_replay_sends_at_trace_offsets_with_trace_token_counts() {
    let _serial = common::timing_lock().await;
    let dir = tempfile::tempdir().unwrap();
    let offsets = [
        0.0, 0.0125, 0.0371, 0.25, 0.2625, 0.5, 0.5003, 0.75, 1.1234567, 1.5,
    ];
    let mut trace = tempfile::NamedTempFile::new().unwrap();
    writeln!(trace, "TIMESTAMP,ContextTokens,GeneratedTokens").unwrap();
    for (i, offset) in offsets.iter().enumerate() {
        let t = 46.0 + offset;
        writeln!(trace, "2024-05-10 14:00:{t:010.7},{},{}", 10 + 7 * i, 1 + i).unwrap();
    }
    let trace_path = trace.path().display().to_string();
    let yaml = format!(
        "load: {{type: trace_replay, stages: [{{rate: 1, duration: 1}}], trace: {{file: '{trace_path}'}}, num_workers: 2, worker_realtime_priority: true}}\ndata: {{type: random, trace: {{file: '{trace_path}'}}}}\nreport: {{request_lifecycle: {{per_request: true}}}}"
    );
    common::within_three_attempts(async || {
        let sim = common::sim(SimConfig {
            record_requests: Some(100),
            ..Default::default()
        })
        .await;
        common::run(common::config(&sim.base_url(), dir.path(), &yaml)).await;
        // Row i asks for 1 + i output tokens; rows sent 0.3 ms apart by two workers may
        // arrive in either order.
        let row = |body: &serde_json::Value| body["max_tokens"].as_u64().unwrap() as usize - 1;
        let requests = sim.requests();
        assert_eq!(requests.len(), offsets.len());
        for request in &requests {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let prompt_tokens =
                ibench_core::tokenize::count_tokens(body["prompt"].as_str().unwrap());
            assert_eq!(prompt_tokens, 10 + 7 * row(&body), "row {}", row(&body));
        }
        // Send times as the runner took them, like the other arrival tests: the simulator's
        // own clock also counts its wake-up after each idle gap, up to milliseconds on a VM.
        let sends: Vec<(usize, f64)> = common::per_request(dir.path())
            .iter()
            .map(|entry| {
                let body = serde_json::from_str(entry["request"].as_str().unwrap()).unwrap();
                (row(&body), entry["start_time"].as_f64().unwrap())
            })
            .collect();
        assert_eq!(sends.len(), offsets.len());
        let first = sends
            .iter()
            .map(|&(_, at)| at)
            .fold(f64::INFINITY, f64::min);
        let mut worst: (usize, f64, f64) = (0, 0.0, 0.0);
        for &(i, at) in &sends {
            let (actual, expected) = (at - first, offsets[i]);
            if (actual - expected).abs() > (worst.1 - worst.2).abs() {
                worst = (i, actual, expected);
            }
        }
        let (row, actual, expected) = worst;
        if (actual - expected).abs() < 0.005 {
            Ok(())
        } else {
            Err(format!(
                "row {row}: sent at {actual:.4} s, trace says {expected:.4} s"
            ))
        }
    })
    .await;
}

/// (stage, request body) → planned offset from the stage's first planned send, from the
/// per-request report.
async fn recorded_run(workers: usize) -> HashMap<(u64, String), Duration> {
    let loras = vec![
        LoraConfig {
            name: "a".into(),
            ttft_offset_ms: 0.0,
        },
        LoraConfig {
            name: "b".into(),
            ttft_offset_ms: 0.0,
        },
    ];
    let sim = common::sim(SimConfig {
        loras,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        &format!(
            "load:\n  type: poisson\n  stages: [{{rate: 100, duration: 2}}, {{rate: 200, duration: 1}}]\n  interval: 0\n  num_workers: {workers}\n  worker_realtime_priority: true\n  base_seed: 1234\n  lora_traffic_split: [{{name: a, split: 0.3}}, {{name: b, split: 0.7}}]\ndata:\n  type: random\n  input_distribution: {{min: 5, max: 60, mean: 20, std_dev: 10}}\n  output_distribution: {{min: 1, max: 8, mean: 4, std_dev: 2}}\nreport: {{request_lifecycle: {{per_request: true}}}}"
        ),
    );
    common::run(config).await;
    let entries = common::per_request(dir.path());
    assert_eq!(sim.stats().requests_received as usize, entries.len());
    let mut first_planned: HashMap<u64, f64> = HashMap::new();
    for e in &entries {
        let stage = e["stage_id"].as_u64().unwrap();
        let planned = e["scheduled_time"].as_f64().unwrap();
        first_planned
            .entry(stage)
            .and_modify(|t| *t = t.min(planned))
            .or_insert(planned);
    }
    entries
        .iter()
        .map(|e| {
            let stage = e["stage_id"].as_u64().unwrap();
            let offset = e["scheduled_time"].as_f64().unwrap() - first_planned[&stage];
            (
                (stage, e["request"].as_str().unwrap().to_owned()),
                Duration::from_secs_f64(offset),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_gives_the_same_requests_at_the_same_offsets_with_1_or_4_workers() {
    let _serial = common::timing_lock().await;
    let one = recorded_run(1).await;
    let four = recorded_run(4).await;
    assert!(one.len() > 300, "{} requests", one.len());
    let mut bodies_one: Vec<_> = one.keys().collect();
    let mut bodies_four: Vec<_> = four.keys().collect();
    bodies_one.sort();
    bodies_four.sort();
    assert_eq!(
        bodies_one, bodies_four,
        "request bodies differ between 1 and 4 workers"
    );
    // Planned offsets are exact; the slack is only the float rounding of Unix-epoch seconds.
    // (That sends keep to their plan is the other tests' subject.)
    let worst = one
        .iter()
        .map(|(body, offset)| offset.abs_diff(four[body]))
        .max()
        .unwrap();
    assert!(
        worst < Duration::from_micros(5),
        "a request was planned {worst:?} apart between runs"
    );
}
