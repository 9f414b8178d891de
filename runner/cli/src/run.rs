//! `ibench run`: a benchmark from an inference-perf config, with reports on disk and stdout.

use std::process::ExitCode;

use anyhow::Context;
use ibench_core::config::ResolvedConfig;
use ibench_core::plan::Shard;
use ibench_core::report::{self, PER_REQUEST_FILE, ReportFile};
use ibench_engine::Interrupt;
use ibench_engine::benchmark::{Benchmark, report_prefix};
use ibench_storage::{ReportBuckets, fetch_inputs};
use tokio_util::sync::CancellationToken;

use crate::args::ConfigArgs;

pub async fn run(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let config = match ibench_core::config::load_file(&args.config, &args.overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}: {e}", args.config.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let resolved = ResolvedConfig::resolve(config, chrono::Local::now());
    let config_yaml = resolved.to_yaml();
    println!(
        "Resolved configuration (base_seed {}):\n{config_yaml}",
        resolved.base_seed()
    );

    let report_dir = resolved.report_dir.clone();
    let prefix = report_prefix(&resolved);
    if let Err(e) = report::check_config_copy(&report_dir, &prefix, &args.config) {
        return Ok(refuse(e));
    }
    // Buckets and input files are checked before any request: a wrong credential or a missing
    // trace found after an hour of load would waste the hour.
    let buckets = match ReportBuckets::new(&resolved.config.storage) {
        Ok(buckets) => buckets,
        Err(e) => return Ok(refuse(e)),
    };
    if let Err(e) = buckets.check().await {
        return Ok(refuse(e));
    }
    let inputs_dir = tempfile::Builder::new()
        .prefix("ibench-inputs-")
        .tempdir()
        .context("creating a directory for fetched input files")?;
    let mut run_config = resolved.clone();
    match fetch_inputs(&mut run_config.config, inputs_dir.path()).await {
        Ok(inputs) => {
            for input in inputs {
                println!(
                    "Input {}: {} ({} bytes, sha256 {})",
                    input.field, input.source, input.bytes, input.sha256
                );
            }
        }
        Err(e) => return Ok(refuse(e)),
    }
    let benchmark = Benchmark::prepare(run_config, Shard::WHOLE).await?;
    tracing::info!(model = %benchmark.model, "benchmark ready");

    let interrupt = Interrupt::default();
    let stopped = crate::signals::watch(interrupt.clone()).context("installing signal handlers")?;
    let display_done = CancellationToken::new();
    let display = tokio::spawn(crate::progress::show(
        benchmark.progress(),
        display_done.clone(),
    ));
    let outcome = benchmark.run_interruptible(&interrupt).await?;
    display_done.cancel();
    let _ = display.await;

    if let Some(saturation) = &outcome.saturation {
        println!("{}", saturation.summary());
    }
    let mut written = report::write_files(&report_dir, &prefix, &outcome.files, &config_yaml)
        .with_context(|| format!("writing reports to {}", report_dir.display()))?;
    print!("{}", report::stdout_markers(&outcome.files));
    print!("{}", crate::report::summary_tables(&outcome.files));
    println!("Reports written to {}", report_dir.display());
    if let Some(entries) = outcome.per_request_entries {
        println!("Per-request records: {entries}");
        written.push((
            PER_REQUEST_FILE.to_string(),
            report_dir.join(format!("{prefix}{PER_REQUEST_FILE}")),
        ));
    }
    if !buckets.is_empty() {
        for (name, path) in &written {
            buckets
                .upload_file(name, path)
                .await
                .with_context(|| format!("uploading {}", path.display()))?;
        }
        println!("Reports uploaded to {}", buckets.urls("").join(", "));
    }
    Ok(verdict(&outcome.metrics.total(), &stopped, &outcome.files))
}

/// A run that cannot start: the reason on stderr, nothing sent.
fn refuse(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("{e}");
    ExitCode::FAILURE
}

/// Non-zero when the run was interrupted or nothing succeeded, with the reason on stderr.
fn verdict(
    total: &ibench_core::metrics::Bucket,
    stopped: &crate::signals::Stopped,
    files: &[ReportFile],
) -> ExitCode {
    if let Some((signal, code)) = stopped.by() {
        eprintln!(
            "run stopped by {signal}; reports cover what was done, the rest is counted as cancelled"
        );
        return code;
    }
    if total.sent > 0 && total.successes.count == 0 {
        let mut labels: Vec<_> = total
            .failures
            .by_label
            .iter()
            .map(|(l, s)| (s.count, l.clone()))
            .collect();
        labels.sort_by(|a, b| b.cmp(a));
        let reasons: Vec<String> = labels.iter().map(|(n, l)| format!("{l}: {n}")).collect();
        eprintln!(
            "every request failed ({} sent; {}); see failures.by_label in the reports",
            total.sent,
            reasons.join(", ")
        );
        return ExitCode::FAILURE;
    }
    if total.sent == 0 && !files.is_empty() {
        eprintln!("no request was sent");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
