//! `metrics`: the model server's own metrics per stage, from a real Prometheus server scraping
//! `ibench sim` (inference-perf's `metrics.type: prometheus`) and from the runner's own scrapes
//! (`metrics.type: scrape`), lined up with the client's counts; and every way they can fail
//! leaves the load run and its reports whole.

use std::path::{Path, PathBuf};
use std::process::Output;

use ibench_core::config::ServerType;
use ibench_core::server_metrics::{catalog, filters, promql};
use ibench_sim::{LatencyConfig, SimConfig, SimServer};
use ibench_testcluster::PrometheusServer;
use ibench_testkit as common;
use serde_json::Value;

const SCRAPE_INTERVAL: u32 = 1;

/// A simulator that runs 8 requests at once: a request takes 20 ms + 19 × 10 ms, so it serves
/// about 38 requests per second and queues beyond.
async fn saturating_sim() -> SimServer {
    common::sim(SimConfig {
        max_num_seqs: Some(8),
        latency: LatencyConfig {
            ttft_ms: 20.0,
            itl_ms: 10.0,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
}

/// [`saturating_sim`] with a real Prometheus server scraping it every [`SCRAPE_INTERVAL`].
async fn scraped_sim() -> (SimServer, PrometheusServer) {
    let sim = saturating_sim().await;
    let target = sim.base_url().trim_start_matches("http://").to_string();
    let prometheus = PrometheusServer::start(&[target], SCRAPE_INTERVAL)
        .await
        .unwrap();
    (sim, prometheus)
}

/// Two stages, below and above the simulator's capacity, 4 s apart so that no stage's window
/// (which ends up to 3 s after it) reaches into the next one.
fn write_config(dir: &Path, sim: &SimServer, metrics: &str) -> PathBuf {
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  type: vllm\n  base_url: {}\ndata:\n  type: random\n  input_distribution: {{min: 50, max: 50, mean: 50, std_dev: 0}}\n  output_distribution: {{min: 20, max: 20, mean: 20, std_dev: 0}}\nload:\n  interval: 4\n  base_seed: 7\n  stages:\n  - rate: 5\n    duration: 4\n  - rate: 60\n    duration: 4\n{metrics}report:\n  prometheus:\n    summary: true\n    per_stage: true\nstorage:\n  local_storage:\n    path: {}\n",
            sim.base_url(),
            dir.join("reports").display()
        ),
    )
    .unwrap();
    config
}

fn run(config: &Path) -> Output {
    common::ibench_run(env!("CARGO_BIN_EXE_ibench"), config)
}

fn report(dir: &Path, name: &str) -> Value {
    let path = dir.join("reports").join(format!("{name}.json"));
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// What the client saw of stage `i`: successes, and its start and end (Unix seconds).
fn client_stage(dir: &Path, i: usize) -> (f64, f64, f64) {
    let lifecycle = report(dir, &format!("stage_{i}_lifecycle_metrics"));
    let timeseries = report(dir, "server_metrics_timeseries");
    let stage = &timeseries["stages"][i];
    (
        number(&lifecycle["successes"]["count"]),
        number(&stage["start_time"]),
        number(&stage["end_time"]),
    )
}

/// inference-perf's queries against a real Prometheus: the server's counts and queue per
/// stage line up with the client's, and a stage above capacity shows a queue the one below
/// does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_queries_line_up_with_the_stages() {
    let (sim, prometheus) = scraped_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &sim,
        &format!(
            "metrics:\n  type: prometheus\n  prometheus:\n    url: {}\n    scrape_interval: {SCRAPE_INTERVAL}\n",
            prometheus.url()
        ),
    );
    let output = run(&config);
    assert!(output.status.success(), "{}", common::output_text(&output));
    for stage in 0..2 {
        let server = report(dir.path(), &format!("stage_{stage}_prometheus_metrics"));
        assert!(server.get("errors").is_none(), "{server}");
        let client = report(dir.path(), &format!("stage_{stage}_lifecycle_metrics"));
        let (client_count, seconds) = (
            number(&client["successes"]["count"]),
            number(&client["load_summary"]["send_duration"]),
        );
        let server_count = number(&server["successes"]["request_success_count"]);
        // Prometheus' increase() extrapolates the samples inside the window to its edges: up to
        // one scrape interval's worth of the stage's rate either way.
        let tolerance = client_count / seconds * f64::from(SCRAPE_INTERVAL);
        eprintln!(
            "stage {stage}: client {client_count}, Prometheus {server_count} (tolerance {tolerance:.1}), queue {}",
            server["successes"]["queue_len"]
        );
        assert!(
            (server_count - client_count).abs() <= tolerance,
            "stage {stage}: server counted {server_count}, client {client_count}"
        );
        assert_eq!(
            server["successes"]["count"],
            server["successes"]["request_success_count"]
        );
    }
    let queue = |stage: usize| {
        number(
            &report(dir.path(), &format!("stage_{stage}_prometheus_metrics"))["successes"]["queue_len"]
                ["mean"],
        )
    };
    assert!(queue(0) < 0.5, "stage 0 queue {}", queue(0));
    assert!(queue(1) > 2.0, "stage 1 queue {}", queue(1));
    let summary = report(dir.path(), "summary_prometheus_metrics");
    assert!(
        number(&summary["successes"]["kv_cache_usage_percentage"]["p99"]) > 0.0,
        "{summary}"
    );
}

/// The runner's own scrapes count exactly what the client saw per stage, and agree with
/// inference-perf's queries to a Prometheus server scraping the same simulator over the same
/// windows in the same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_scrapes_count_exactly_and_agree_with_prometheus() {
    let (sim, prometheus) = scraped_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &sim,
        &format!("metrics:\n  type: scrape\n  scrape:\n    interval: {SCRAPE_INTERVAL}\n"),
    );
    let output = run(&config);
    assert!(output.status.success(), "{}", common::output_text(&output));
    let model = report(dir.path(), "summary_lifecycle_metrics");
    assert!(model.is_object());
    let specs = catalog(ServerType::Vllm);
    let spec = |field: &str| *specs.iter().find(|s| s.field == field).unwrap();
    let filters = filters(ServerType::Vllm, "ibench-sim", &[]);
    for stage in 0..2 {
        let (client_count, start, end) = client_stage(dir.path(), stage);
        let scraped = report(dir.path(), &format!("stage_{stage}_prometheus_metrics"));
        assert!(scraped.get("errors").is_none(), "{scraped}");
        assert_eq!(
            number(&scraped["successes"]["count"]),
            client_count,
            "stage {stage}"
        );
        // The same figures from Prometheus over the same window, (start, end + 1 s].
        let eval = end + f64::from(SCRAPE_INTERVAL);
        let duration = eval - start;
        let query = |field: &str, i: usize| {
            let q = promql::queries(&spec(field), duration, &filters)[i].clone();
            let prometheus = &prometheus;
            async move { prometheus.query(&q, eval).await.unwrap().unwrap_or(0.0) }
        };
        let prom_count = query("requests", 0).await;
        let rate = client_count / (end - start);
        assert!(
            (prom_count - client_count).abs() <= rate * f64::from(SCRAPE_INTERVAL),
            "stage {stage}: Prometheus {prom_count}, scrapes {client_count}"
        );
        // Each scraper samples the queue at its own instants within every second: the means
        // of a queue that changes within a stage differ by a few requests at most.
        let (prom_queue, scraped_queue) = (
            query("queue_length", 0).await,
            number(&scraped["successes"]["queue_len"]["mean"]),
        );
        assert!(
            (prom_queue - scraped_queue).abs() <= 1.0 + 0.25 * prom_queue.max(scraped_queue),
            "stage {stage} queue: Prometheus {prom_queue}, scrapes {scraped_queue}"
        );
        // A histogram's mean is its sum over its count. Prometheus only sees samples inside
        // the window, so the requests finished before its first scrape of the stage (up to one
        // interval, the fastest ones when a queue builds) are left out and extrapolated over;
        // the scrapes start from the last sample before the stage.
        let (prom_latency, scraped_latency) = (
            query("request_latency", 0).await,
            number(&scraped["successes"]["request_latency"]["mean"]),
        );
        assert!(
            (prom_latency - scraped_latency).abs() <= 0.15 * prom_latency,
            "stage {stage} latency: Prometheus {prom_latency}, scrapes {scraped_latency}"
        );
        eprintln!(
            "stage {stage}: count client/scrape {client_count} Prometheus {prom_count}; queue scrape {scraped_queue} Prometheus {prom_queue}; latency scrape {scraped_latency} Prometheus {prom_latency}"
        );
    }
    let series = report(dir.path(), "server_metrics_timeseries");
    let points = series["points"].as_array().unwrap();
    assert!(points.len() >= 15, "{} scrapes", points.len());
    assert!(
        points
            .iter()
            .any(|p| p["queue_length"].as_f64() > Some(2.0))
    );
}

/// An unreachable Prometheus, a `/metrics` that is not Prometheus text, filters that match
/// nothing and a server type with no known metrics: the run completes with its lifecycle
/// reports and exit code, and each metrics report says what failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_metrics_sources_are_reported_not_fatal() {
    let sim = common::sim(SimConfig::default()).await;
    let cases = [
        ("vllm", "metrics:\n  type: prometheus\n  prometheus:\n    url: http://127.0.0.1:1\n    scrape_interval: 1\n".to_string(), "cannot reach Prometheus"),
        ("vllm", format!("metrics:\n  type: scrape\n  scrape:\n    urls: [{}/v1/models]\n", sim.base_url()), "not the Prometheus text format"),
        ("vllm", "metrics:\n  type: scrape\n  scrape:\n    filters: ['namespace=\"elsewhere\"']\n".to_string(), "no scraped series"),
        ("mock", "metrics:\n  type: scrape\n".to_string(), "exports no metrics this tool knows"),
    ];
    for (server_type, metrics, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "server:\n  type: {server_type}\n  base_url: {}\nload:\n  stages:\n  - rate: 20\n    duration: 1\n{metrics}storage:\n  local_storage:\n    path: {}\n",
                sim.base_url(),
                dir.path().join("reports").display()
            ),
        )
        .unwrap();
        let output = run(&config);
        assert!(
            output.status.success(),
            "{server_type} {metrics}: {}",
            common::output_text(&output)
        );
        assert_eq!(
            number(&report(dir.path(), "summary_lifecycle_metrics")["successes"]["count"]),
            20.0
        );
        let server = report(dir.path(), "summary_prometheus_metrics");
        let errors = server["errors"].to_string();
        assert!(errors.contains(expected), "{metrics}: {errors}");
        assert!(
            common::output_text(&output).contains(expected),
            "{}",
            common::output_text(&output)
        );
    }
}
