//! The report files a validation looks at, by file name (without the run's prefix), with the
//! run's config and what its per-request records showed.

use std::collections::BTreeMap;

use serde_json::Value;

use super::per_request::PerRequestChecks;

#[derive(Debug, Default)]
pub struct ReportSet<'a> {
    files: BTreeMap<String, &'a Value>,
    /// The run's config as `config.yaml` holds it.
    pub config: Option<&'a Value>,
    pub per_request: Option<&'a PerRequestChecks>,
}

impl<'a> ReportSet<'a> {
    pub fn insert(&mut self, file_name: String, contents: &'a Value) {
        self.files.insert(file_name, contents);
    }

    pub fn file(&self, file_name: &str) -> Option<&'a Value> {
        self.files.get(file_name).copied()
    }

    /// Files named `{prefix}{N}{suffix}` as `(N, name, contents)`, by N.
    fn numbered(&self, prefix: &str, suffix: &str) -> Vec<(u64, String, &'a Value)> {
        let mut found: Vec<(u64, String, &'a Value)> = self
            .files
            .iter()
            .filter_map(|(name, contents)| {
                let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let id: u64 = digits.parse().ok()?;
                Some((id, format!("{prefix}{id}{suffix}"), *contents))
            })
            .collect();
        found.sort_by_key(|(id, _, _)| *id);
        found
    }

    /// The stage lifecycle reports (`stage_N_lifecycle_metrics.json`), by stage.
    pub fn stage_reports(&self) -> Vec<(u64, String, &'a Value)> {
        self.numbered("stage_", "_lifecycle_metrics.json")
    }

    /// The Benchmark Report partials (`inference-perf.partial.stage_N.yaml`), by stage.
    pub fn partial_reports(&self) -> Vec<(u64, String, &'a Value)> {
        self.numbered("inference-perf.partial.stage_", ".yaml")
    }
}
