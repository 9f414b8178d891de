//! `load.sweep` against a simulator whose capacity is known: 10 concurrent sequences with a
//! fixed 50 ms service time serve 200 requests per second.

use ibench_testkit as common;

use ibench_sim::{LatencyConfig, SimConfig};

const SLOTS: usize = 10;
const SERVICE_MS: f64 = 50.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_finds_the_simulators_capacity_and_ends_its_stages_there() {
    let _serial = common::timing_lock().await;
    let capacity = SLOTS as f64 / (SERVICE_MS / 1e3);
    common::within_three_attempts(async || {
        let sim = common::sim(SimConfig {
            latency: LatencyConfig {
                ttft_ms: SERVICE_MS,
                ..Default::default()
            },
            max_num_seqs: Some(SLOTS),
            seed: Some(1),
            ..Default::default()
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let config = common::config(
            &sim.base_url(),
            dir.path(),
            "load:\n  type: constant\n  num_workers: 2\n  base_seed: 1\n  interval: 0\n  sweep: {type: linear, num_requests: 1500, num_stages: 3, stage_duration: 2, timeout: 30}",
        );
        let outcome = common::run(config).await;
        let saturation = outcome.saturation.as_ref().expect("a sweep reports saturation");
        eprintln!("{}", saturation.summary());
        let found = saturation.saturation_rate;
        let report = common::report(&outcome, "sweep_saturation");
        assert_eq!(report["saturation_rate"].as_f64(), Some(found));
        assert!(report["method"].as_str().unwrap().contains("closed-loop"));
        assert!(!report["probes"].as_array().unwrap().is_empty());
        let last_stage = (found * 100.0).round() / 100.0;
        assert_eq!(saturation.stage_rates.len(), 3);
        assert_eq!(saturation.stage_rates[0], 1.0);
        assert_eq!(saturation.stage_rates[2], last_stage);
        let stage_2 = common::report(&outcome, "stage_2_lifecycle_metrics");
        assert_eq!(
            stage_2["load_summary"]["requested_rate"].as_f64(),
            Some(last_stage),
            "the last stage runs at the saturation rate"
        );
        // The probes are not part of the benchmark's reports.
        assert!(outcome.files.iter().all(|f| !f.name.contains("1000000")));
        if (found - capacity).abs() > 0.15 * capacity {
            return Err(format!(
                "saturation {found:.1} req/s is not within 15% of the capacity {capacity} req/s"
            ));
        }
        Ok(())
    })
    .await;
}
