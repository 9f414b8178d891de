//! The report ConfigMap `<name>-report`: inference-perf's report files of the merged run as
//! keys (`summary_lifecycle_metrics.json`, `stage_0_lifecycle_metrics.json`, …) plus the
//! runner config as `config.yaml`. Aggregates only; per-request data never goes here.

use std::collections::BTreeMap;

use ibench_core::config::ReportConfig;
use ibench_core::metrics::RunMetrics;
use ibench_core::protocol;
use ibench_core::report::{ReportFile, lifecycle_reports, validate_reports};
use k8s_openapi::api::core::v1::ConfigMap;

use super::owner::Owner;
use crate::naming::{self, Component};

/// Budget for the report's data: the apiserver refuses objects over 1 MiB, and metadata needs
/// some room.
pub const MAX_REPORT_BYTES: usize = 900 * 1024;

pub const ANNOTATION_RUNNERS: &str = "inferencebench.dev/runners-reported";
pub const ANNOTATION_OMITTED: &str = "inferencebench.dev/omitted-files";

/// What a finished run's report is made of.
#[derive(Debug, Clone, Copy)]
pub struct RunReport<'a> {
    /// The runners' merged metrics.
    pub metrics: &'a RunMetrics,
    /// Which report files to write.
    pub options: &'a ReportConfig,
    pub config_yaml: &'a str,
    /// With a sweep: how it found its saturation rate (JSON), kept as `sweep_saturation.json`
    /// like `ibench run` writes it.
    pub sweep: Option<&'a str>,
    /// With `load.slo_search`: its account (JSON), kept as `slo_max_rate.json`.
    pub slo_search: Option<&'a str>,
    /// The model server's metrics, from the runner that collected them: every stage's file and
    /// the time series, whatever `options.prometheus` asks (it picks what is kept).
    pub server: &'a [ReportFile],
}

/// `runners` reads like `2/2`: runners whose results are included, of all runners.
pub fn report_map(owner: &Owner, generation: i64, run: &RunReport, runners: &str) -> ConfigMap {
    let mut files = report_files(run).into_iter();
    // The config, the validation and the searches' accounts come first and are always kept.
    let fixed = 2 + usize::from(run.sweep.is_some()) + usize::from(run.slo_search.is_some());
    let mut data: BTreeMap<String, String> = files.by_ref().take(fixed).collect();
    let mut used = data.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    // Files come summary first, then per stage, per adapter, per adapter-stage: when the
    // budget runs out the most detailed (and most numerous) ones are left out.
    let mut omitted = Vec::new();
    for (key, text) in files {
        if omitted.is_empty() && used + key.len() + text.len() <= MAX_REPORT_BYTES {
            used += key.len() + text.len();
            data.insert(key, text);
        } else {
            omitted.push(key);
        }
    }
    let mut meta = owner.child_meta(naming::report_map(&owner.name), None, Component::Report);
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(naming::ANNOTATION_GENERATION.into(), generation.to_string());
    annotations.insert(ANNOTATION_RUNNERS.into(), runners.to_string());
    if !omitted.is_empty() {
        annotations.insert(
            ANNOTATION_OMITTED.into(),
            format!(
                "{} files over the size limit, e.g. {}",
                omitted.len(),
                omitted[0]
            ),
        );
    }
    ConfigMap {
        metadata: meta,
        data: Some(data),
        ..Default::default()
    }
}

/// The merged run's report files as `(file name, contents)`: `config.yaml`, `validation.json`
/// (of the files that follow, as `ibench run` checks its own), the sweep's account if any, the
/// lifecycle reports in inference-perf's order, as `ibench run` writes them, then the server's
/// metrics (summary, stages, time series).
pub fn report_files(run: &RunReport) -> Vec<(String, String)> {
    let mut files = vec![("config.yaml".to_string(), run.config_yaml.to_string())];
    let mut reports = lifecycle_reports(run.metrics, run.options);
    if let Some(sweep) = run.sweep {
        files.push((protocol::SWEEP_KEY.to_string(), sweep.to_string()));
    }
    if let Some(search) = run.slo_search {
        files.push((protocol::SLO_SEARCH_KEY.to_string(), search.to_string()));
    }
    let prometheus = &run.options.prometheus;
    let server = run.server.iter().filter(|file| {
        if file.name.starts_with("stage_") {
            prometheus.per_stage
        } else if file.name.starts_with("summary_") {
            prometheus.summary
        } else {
            true
        }
    });
    reports.extend(server.cloned());
    // The per-request records stay with each runner's part in the buckets: their checks are
    // not the merged report's.
    let validation = ReportFile::from(&validate_reports(&reports, run.config_yaml, None));
    files.insert(1, (validation.file_name(), validation.text()));
    for file in &reports {
        files.push((file.file_name(), file.text()));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{owner, runner_metrics};
    use ibench_core::config::RequestLifecycleReport;

    #[test]
    fn holds_inference_perf_files_and_config() {
        let metrics = runner_metrics(0, 40.0, &[("a", 0.01, 10), ("b", 0.02, 10)], 1.0);
        let options = ReportConfig {
            request_lifecycle: RequestLifecycleReport {
                per_adapter_stage: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let server = [
            ReportFile {
                name: "summary_prometheus_metrics".into(),
                contents: serde_json::json!({"successes": {}}),
            },
            ReportFile {
                name: "stage_0_prometheus_metrics".into(),
                contents: serde_json::json!({"successes": {}}),
            },
            ReportFile {
                name: "server_metrics_timeseries".into(),
                contents: serde_json::json!({"points": []}),
            },
        ];
        let run = RunReport {
            metrics: &metrics,
            options: &options,
            config_yaml: "server: {}\n",
            sweep: None,
            slo_search: None,
            server: &server,
        };
        let cm = report_map(&owner(), 3, &run, "2/2");
        let data = cm.data.as_ref().unwrap();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "adapter_a_lifecycle_metrics.json",
                "adapter_a_stage_0_lifecycle_metrics.json",
                "adapter_b_lifecycle_metrics.json",
                "adapter_b_stage_0_lifecycle_metrics.json",
                "config.yaml",
                "inference-perf.partial.stage_0.yaml",
                "server_metrics_timeseries.json",
                "stage_0_lifecycle_metrics.json",
                "summary_lifecycle_metrics.json",
                "summary_prometheus_metrics.json",
                "validation.json",
            ],
            "stage files of the server's metrics only with report.prometheus.per_stage"
        );
        // The merged files check out against each other, as inference-perf checks its own.
        let validation: serde_json::Value = serde_json::from_str(&data["validation.json"]).unwrap();
        let validated: Vec<&str> = validation["reports"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            validated,
            [
                "summary_lifecycle_metrics.json",
                "stage_0_lifecycle_metrics.json",
                "inference-perf.partial.stage_0.yaml"
            ]
        );
        let errors = ibench_testkit::validation_errors(&validation);
        assert!(errors.is_empty(), "{errors:?}");
        let summary: serde_json::Value =
            serde_json::from_str(&data["summary_lifecycle_metrics.json"]).unwrap();
        assert_eq!(summary["load_summary"]["count"], 20);
        // The stage's Benchmark Report, from the same merged statistics.
        let benchmark: serde_json::Value =
            serde_yaml::from_str(&data["inference-perf.partial.stage_0.yaml"]).unwrap();
        assert_eq!(
            benchmark["results"]["request_performance"]["aggregate"]["requests"]["total"],
            20
        );
        assert_eq!(cm.metadata.name.as_deref(), Some("bench-report"));
        let annotations = cm.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations[naming::ANNOTATION_GENERATION], "3");
        assert_eq!(annotations[ANNOTATION_RUNNERS], "2/2");
        assert!(!annotations.contains_key(ANNOTATION_OMITTED));
    }

    #[test]
    fn stays_under_the_object_limit_with_many_adapters() {
        let names: Vec<String> = (0..300).map(|i| format!("adapter-{i:03}")).collect();
        let adapters: Vec<(&str, f64, u64)> = names.iter().map(|n| (n.as_str(), 0.01, 2)).collect();
        let metrics = runner_metrics(0, 40.0, &adapters, 1.0);
        let options = ReportConfig {
            request_lifecycle: RequestLifecycleReport {
                per_adapter_stage: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let run = RunReport {
            metrics: &metrics,
            options: &options,
            config_yaml: "",
            sweep: Some("{\"saturation_rate\": 12.5}"),
            slo_search: None,
            server: &[],
        };
        let cm = report_map(&owner(), 1, &run, "1/1");
        let data = cm.data.as_ref().unwrap();
        let size: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(size <= MAX_REPORT_BYTES, "{size}");
        assert!(data.contains_key("summary_lifecycle_metrics.json"));
        assert!(data.contains_key("stage_0_lifecycle_metrics.json"));
        assert_eq!(
            data["sweep_saturation.json"], "{\"saturation_rate\": 12.5}",
            "the sweep's account is never left out"
        );
        assert!(
            cm.metadata.annotations.as_ref().unwrap()[ANNOTATION_OMITTED]
                .contains("files over the size limit")
        );
    }
}
