//! `ibench report DIR... --plot OUT` on the reports of two real runs.

use ibench_testkit as common;

use std::process::Command;

use ibench_sim::{LatencyConfig, SimConfig};

async fn run_into(dir: &std::path::Path, base_url: &str, rates: &str) {
    let config = common::config(
        base_url,
        dir,
        &format!(
            "api: {{streaming: true}}\ndata:\n  type: random\n  input_distribution: {{min: 10, max: 50, mean: 30, std_dev: 10}}\n  output_distribution: {{min: 5, max: 20, mean: 10, std_dev: 3}}\nload: {{stages: {rates}, interval: 0, num_workers: 2}}"
        ),
    );
    let outcome = common::run(config).await;
    let written = ibench_core::report::write_files(dir, "", &outcome.files, "");
    assert!(written.failed.is_empty(), "{:?}", written.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_plots_latency_and_throughput_of_each_directory() {
    let sim = common::sim(SimConfig {
        latency: LatencyConfig {
            ttft_ms: 5.0,
            itl_ms: 1.0,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("vllm-a"), root.path().join("vllm-b"));
    run_into(
        &a,
        &sim.base_url(),
        "[{rate: 20, duration: 1}, {rate: 60, duration: 1}]",
    )
    .await;
    run_into(
        &b,
        &sim.base_url(),
        "[{rate: 30, duration: 1}, {rate: 90, duration: 1}]",
    )
    .await;
    let out = root.path().join("plots/compare");
    let output = Command::new(env!("CARGO_BIN_EXE_ibench"))
        .arg("report")
        .arg(&a)
        .arg(&b)
        .arg("--plot")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("vllm-a") && stdout.contains("Achieved/s"),
        "{stdout}"
    );

    let svg = std::fs::read_to_string(out.with_extension("svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    // Legend entries: one series per report directory.
    for name in ["vllm-a", "vllm-b"] {
        assert!(
            svg.contains(&format!(">\n{name}\n</text>")),
            "no series {name}"
        );
    }
    for text in [
        "TTFT p50",
        "ITL p99",
        "Request latency p90",
        "Output tokens",
        "Achieved rate (req/s)",
        "TTFT (ms)",
    ] {
        assert!(svg.contains(text), "the SVG has no {text:?}");
    }

    assert!(
        !root.path().join("plots/compare-server.svg").exists(),
        "no server chart without server metrics"
    );
    let png = std::fs::read(out.with_extension("png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .expect("the PNG decodes")
        .to_rgb8();
    assert_eq!(image.dimensions(), (1800, 1900));
    // Lines in colour (the series) and dark text, not a blank canvas.
    let coloured = image
        .pixels()
        .filter(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 100)
        .count();
    let dark = image
        .pixels()
        .filter(|p| p.0.iter().all(|&c| c < 80))
        .count();
    assert!(
        coloured > 5_000 && dark > 20_000,
        "{coloured} coloured, {dark} dark pixels"
    );

    let missing = Command::new(env!("CARGO_BIN_EXE_ibench"))
        .args(["report", "/nonexistent-report-dir"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent-report-dir"));
}
