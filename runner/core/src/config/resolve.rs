//! Turns the defaults that depend on the machine or the clock (workers, seed, report directory)
//! into fixed values, once, so the run, the printed config and `config.yaml` all agree.

use std::path::PathBuf;

use super::types::{Config, MetricsType};

#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    /// The config with `load.num_workers`, `load.base_seed` and every `storage.*.path` set.
    pub config: Config,
    pub num_workers: usize,
    pub seed: u64,
    pub report_dir: PathBuf,
}

/// CPUs this process may use: affinity mask and cgroup CPU quota (what `cpu_count()` misses,
/// inference-perf #722).
pub fn available_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The scrape interval stages are spaced by when each stage gets its server metrics report.
fn per_stage_metrics_gap(config: &Config) -> Option<f64> {
    let metrics = config.metrics.as_ref()?;
    if !config.report.prometheus.per_stage {
        return None;
    }
    match metrics.metrics_type {
        MetricsType::Prometheus => Some(metrics.prometheus.as_ref()?.scrape_interval as f64),
        MetricsType::Scrape => Some(
            metrics
                .scrape
                .clone()
                .unwrap_or_default()
                .interval_seconds(),
        ),
        MetricsType::Default => None,
    }
}

impl ResolvedConfig {
    pub fn resolve(mut config: Config, now: chrono::DateTime<chrono::Local>) -> Self {
        let num_workers = match config.load.num_workers {
            Some(n) if n > 0 => n as usize,
            Some(_) => 1,
            None => available_workers(),
        };
        let seed = config
            .load
            .base_seed
            .unwrap_or_else(|| now.timestamp_millis());
        let timestamp = now.format("%Y%m%d-%H%M%S").to_string();
        let resolve_path = |path: &Option<String>| match path {
            Some(p) => p.replace("{timestamp}", &timestamp),
            None => format!("reports-{timestamp}"),
        };
        let storage = &mut config.storage;
        let path = resolve_path(&storage.local_storage.path);
        storage.local_storage.path = Some(path.clone());
        if let Some(gcs) = &mut storage.google_cloud_storage {
            gcs.path = Some(resolve_path(&gcs.path));
        }
        if let Some(s3) = &mut storage.simple_storage_service {
            s3.path = Some(resolve_path(&s3.path));
        }
        config.load.num_workers = Some(num_workers as i64);
        config.load.base_seed = Some(seed);
        if let Some(gap) = per_stage_metrics_gap(&config) {
            // inference-perf's rule: a stage's server metrics are read one scrape interval
            // after it ends, so the next stage must not start before.
            config.load.interval = config.load.interval.max(gap);
        }
        ResolvedConfig {
            config,
            num_workers,
            seed: seed as u64,
            report_dir: PathBuf::from(path),
        }
    }

    /// The seed as `load.base_seed` takes it: negative seeds stay negative (the plan uses
    /// their bits, [`seed`](Self::seed)), so a printed seed can be given back.
    pub fn base_seed(&self) -> i64 {
        self.seed as i64
    }

    /// The resolved config as YAML, secrets masked (it is printed and written to reports).
    pub fn to_yaml(&self) -> String {
        let mut shown = self.config.clone();
        if let Some(server) = &mut shown.server
            && server.api_key.is_some()
        {
            server.api_key = Some("<redacted>".into());
        }
        super::echo_yaml(&shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MetricsConfig, PrometheusMetrics};
    use chrono::TimeZone;

    #[test]
    fn per_stage_server_metrics_space_the_stages_by_a_scrape_interval() {
        let mut config = Config {
            metrics: Some(MetricsConfig {
                metrics_type: MetricsType::Prometheus,
                prometheus: Some(PrometheusMetrics {
                    scrape_interval: 15,
                    url: Some("http://p:9090".into()),
                    ..Default::default()
                }),
                scrape: None,
            }),
            ..Config::default()
        };
        let interval = |c: &Config| {
            ResolvedConfig::resolve(c.clone(), chrono::Local::now())
                .config
                .load
                .interval
        };
        assert_eq!(
            interval(&config),
            1.0,
            "summary only: stages keep their interval"
        );
        config.report.prometheus.per_stage = true;
        assert_eq!(interval(&config), 15.0);
        config.load.interval = 20.0;
        assert_eq!(interval(&config), 20.0);
    }

    #[test]
    fn fills_machine_and_clock_defaults_and_keeps_explicit_ones() {
        let now = chrono::Local
            .with_ymd_and_hms(2026, 11, 28, 7, 5, 9)
            .unwrap();
        let resolved = ResolvedConfig::resolve(Config::default(), now);
        assert_eq!(resolved.num_workers, available_workers());
        assert_eq!(resolved.seed, now.timestamp_millis() as u64);
        assert_eq!(
            resolved.report_dir,
            PathBuf::from("reports-20261128-070509")
        );

        let mut config = Config::default();
        config.load.num_workers = Some(3);
        config.load.base_seed = Some(42);
        config.storage.local_storage.path = Some("out/{timestamp}".into());
        let resolved = ResolvedConfig::resolve(config, now);
        assert_eq!((resolved.num_workers, resolved.seed), (3, 42));
        assert_eq!(resolved.report_dir, PathBuf::from("out/20261128-070509"));
        assert!(resolved.to_yaml().contains("num_workers: 3"));
    }

    #[test]
    fn bucket_paths_get_the_same_timestamp_as_the_local_one() {
        let now = chrono::Local
            .with_ymd_and_hms(2026, 11, 28, 7, 5, 9)
            .unwrap();
        let mut config = Config::default();
        config.storage.google_cloud_storage = Some(crate::config::GoogleCloudStorage {
            bucket_name: "b".into(),
            path: Some("runs/{timestamp}/x".into()),
            report_file_prefix: None,
        });
        config.storage.simple_storage_service = Some(crate::config::SimpleStorageService {
            bucket_name: "b".into(),
            ..Default::default()
        });
        let storage = ResolvedConfig::resolve(config, now).config.storage;
        assert_eq!(
            storage.google_cloud_storage.unwrap().path.as_deref(),
            Some("runs/20261128-070509/x")
        );
        assert_eq!(
            storage.simple_storage_service.unwrap().path.as_deref(),
            Some("reports-20261128-070509")
        );
    }

    #[test]
    fn api_key_never_printed() {
        let mut config = Config::default();
        config.server = Some(crate::config::ServerConfig {
            server_type: Default::default(),
            model_name: None,
            base_url: "http://127.0.0.1:1".into(),
            ignore_eos: true,
            api_key: Some("sk-secret".into()),
            api_key_secret_ref: None,
            cert_path: None,
            key_path: None,
            ca_cert_path: None,
            insecure_skip_tls_verify: false,
            http_version: Default::default(),
        });
        let yaml = ResolvedConfig::resolve(config, chrono::Local::now()).to_yaml();
        assert!(
            !yaml.contains("sk-secret") && yaml.contains("<redacted>"),
            "{yaml}"
        );
    }
}
