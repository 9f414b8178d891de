//! `ibench run`: a benchmark from an inference-perf config, with reports on disk and stdout.

use std::process::ExitCode;

use anyhow::Context;
use ibench_core::report::{self, PER_REQUEST_FILE, ReportFile, SLO_VERDICT_FILE, slo_met};
use ibench_engine::Interrupt;
use ibench_engine::benchmark::report_prefix;
use ibench_engine::slo_search::SLO_MAX_RATE_FILE;
use tokio_util::sync::CancellationToken;

use crate::args::ConfigArgs;
use crate::out::say;

pub async fn run(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let resolved = match crate::preflight::resolve(args) {
        Ok(resolved) => resolved,
        Err(e) => return Ok(refuse(e)),
    };
    let config_yaml = resolved.to_yaml();
    say!(
        "Resolved configuration (base_seed {}):\n{config_yaml}",
        resolved.base_seed()
    );
    let checked = match crate::preflight::check(args, &resolved).await {
        Ok(checked) => checked,
        Err(e) => return Ok(refuse(e)),
    };
    for note in checked.planned.notes() {
        eprintln!("note: {note}");
    }
    let report_dir = resolved.report_dir.clone();
    let prefix = report_prefix(&resolved);
    if let Err(e) = report::create_location(&report_dir) {
        return Ok(refuse(e));
    }
    for input in &checked.inputs {
        say!(
            "Input {}: {} ({} bytes, sha256 {})",
            input.field,
            input.source,
            input.bytes,
            input.sha256
        );
    }
    let buckets = checked.buckets;
    // Fetched input files stay until the run is over.
    let _inputs_dir = checked.inputs_dir;
    let benchmark = match checked.planned.start(None).await {
        Ok(benchmark) => benchmark,
        Err(e) => return Ok(refuse(e)),
    };
    tracing::info!(model = %benchmark.model, "benchmark ready");
    let collector = crate::server_metrics::start(&benchmark.resolved, &benchmark.model, None);
    // The start of the summary window.
    let run_start = ibench_engine::unix_now();

    let interrupt = Interrupt::default();
    let stopped = crate::signals::watch(interrupt.clone()).context("installing signal handlers")?;
    let display_done = CancellationToken::new();
    let display = tokio::spawn(crate::progress::show(
        benchmark.progress(),
        display_done.clone(),
    ));
    let mut outcome = benchmark.run_interruptible(&interrupt).await?;
    display_done.cancel();
    let _ = display.await;
    if let Some(collector) = collector {
        let files = crate::server_metrics::finish(
            collector,
            &resolved.config.report.prometheus,
            run_start,
            &outcome.metrics,
        )
        .await;
        outcome.files.extend(files);
    }

    if let Some(saturation) = &outcome.saturation {
        say!("{}", saturation.summary());
    }
    let per_request_checks = outcome.per_request.as_ref().and_then(|r| r.as_ref().ok());
    let validation = report::validate_reports(&outcome.files, &config_yaml, per_request_checks);
    log_validation(&validation);
    outcome.files.push((&validation).into());
    // Every file is attempted and the results are printed whatever failed: a full disk must
    // not take the summary on stdout with it.
    let mut written = report::write_files(&report_dir, &prefix, &outcome.files, &config_yaml);
    crate::out::print(&report::stdout_markers(&outcome.files));
    crate::out::print(&crate::report::summary_tables(&outcome.files));
    let per_request_path = report_dir.join(format!("{prefix}{PER_REQUEST_FILE}"));
    match outcome.per_request {
        Some(Ok(records)) => {
            say!("Per-request records: {}", records.records());
            written
                .files
                .push((PER_REQUEST_FILE.to_string(), per_request_path));
        }
        Some(Err(e)) => written.failed.push((per_request_path, e)),
        None => {}
    }
    say!("Reports written to {}", report_dir.display());
    for (path, e) in &written.failed {
        eprintln!("cannot write the report {}: {e}", path.display());
    }
    if !buckets.is_empty() {
        for (name, path) in &written.files {
            buckets
                .upload_file(name, path)
                .await
                .with_context(|| format!("uploading {}", path.display()))?;
        }
        say!("Reports uploaded to {}", buckets.urls("").join(", "));
    }
    let verdict = verdict(&outcome.metrics, &stopped, &outcome.files);
    if !written.failed.is_empty() && verdict == ExitCode::SUCCESS {
        return Ok(ExitCode::FAILURE);
    }
    Ok(verdict)
}

/// The report set's findings about itself, as inference-perf logs them: they point at a bug in
/// the reports' math, not at the server, so they do not change the exit code.
fn log_validation(validation: &report::Validation) {
    use report::Severity;
    for finding in validation.findings() {
        let report = finding.report.as_deref().unwrap_or("global");
        match finding.severity {
            Severity::Warning => tracing::warn!(
                "validation [{}] {report}: {}",
                finding.check,
                finding.message
            ),
            Severity::Error => tracing::error!(
                "validation [{}] {report}: {}",
                finding.check,
                finding.message
            ),
        }
    }
    let (errors, warnings) = (
        validation.count(Severity::Error),
        validation.count(Severity::Warning),
    );
    if errors + warnings > 0 {
        tracing::warn!(
            "report validation: {errors} error(s), {warnings} warning(s); see validation.json"
        );
    } else {
        tracing::info!(
            "report validation: no findings across {} report file(s)",
            validation.files()
        );
    }
}

/// A run that cannot start: the reason on stderr, nothing sent.
fn refuse(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("{e}");
    ExitCode::FAILURE
}

/// Non-zero when the run was interrupted, a circuit breaker tripped or nothing succeeded, with
/// the reason on stderr.
fn verdict(
    metrics: &ibench_core::metrics::RunMetrics,
    stopped: &crate::signals::Stopped,
    files: &[ReportFile],
) -> ExitCode {
    if let Some((signal, code)) = stopped.by() {
        eprintln!(
            "run stopped by {signal}; reports cover what was done, the rest is counted as cancelled"
        );
        return code;
    }
    if let Some(trip) = &metrics.circuit_breaker {
        eprintln!(
            "circuit breaker {:?} tripped in stage {}: the run stopped there; the reports cover \
             what was sent, the rest is counted as cancelled (not_sent)",
            trip.name, trip.stage_id
        );
        return ExitCode::from(BREAKER_TRIPPED_EXIT_CODE);
    }
    let total = &metrics.total();
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
    if total.sent == 0 && files.iter().any(|f| f.name != report::VALIDATION_FILE) {
        eprintln!("no request was sent");
        return ExitCode::FAILURE;
    }
    if let Some(search) = files.iter().find(|f| f.name == SLO_MAX_RATE_FILE) {
        let probes = search.contents["probes"].as_array().map_or(0, Vec::len);
        let stopped = search.contents["stopped"].as_str().unwrap_or_default();
        let Some(rate) = search.contents["max_rate"].as_f64() else {
            eprintln!("SLO search: no rate probed met the objectives ({stopped}; {probes} probes)");
            return ExitCode::from(SLO_MISSED_EXIT_CODE);
        };
        say!(
            "SLO search: {rate:.3} req/s is the highest rate that met every objective ({stopped}; {probes} probes)"
        );
    }
    if let Some(verdict) = files.iter().find(|f| f.name == SLO_VERDICT_FILE) {
        let checks = verdict.contents["checks"].as_array().map_or(0, Vec::len);
        if !slo_met(&verdict.contents) {
            eprintln!("SLO missed:");
            for failed in verdict.contents["failed"].as_array().into_iter().flatten() {
                eprintln!("  {}", failed.as_str().unwrap_or_default());
            }
            return ExitCode::from(SLO_MISSED_EXIT_CODE);
        }
        say!("SLO met: {checks} checks passed");
    }
    ExitCode::SUCCESS
}

/// Exit code of a run that went through but missed an objective of `report.slo`: distinct from
/// 1 (the run itself failed), so a pipeline can tell a slow server from a broken one.
const SLO_MISSED_EXIT_CODE: u8 = 3;

/// Exit code of a run that a circuit breaker stopped (`circuit_breakers`), reports written.
const BREAKER_TRIPPED_EXIT_CODE: u8 = 4;
