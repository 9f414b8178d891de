//! The way in for a config: a YAML file with `--set` overrides, or a parsed document, checked
//! in the order described in [the module](super).

use std::path::Path;

use super::error::{ConfigError, Issue};
use super::slo_headers::apply_slo_headers;
use super::types::Config;
use super::validate::validate;
use super::{keys, overrides};

/// Reads a YAML config file, applies `--set key=value` overrides and checks everything.
pub fn load_file(path: &Path, overrides: &[String]) -> Result<Config, ConfigError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: display.clone(),
        source,
    })?;
    let doc: serde_json::Value = if text.trim().is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_yaml::from_str(&text).map_err(|source| ConfigError::Yaml {
            path: display,
            source,
        })?
    };
    let config = from_document(overrides::apply(doc, overrides)?)?;
    match super::metrics_section::pods_outside_the_operator(&config) {
        Some(issue) => Err(ConfigError::Invalid(vec![issue])),
        None => Ok(config),
    }
}

/// Checks a config document (already parsed from YAML or JSON, snake_case keys).
pub fn from_document(doc: serde_json::Value) -> Result<Config, ConfigError> {
    let doc = match without_nulls(doc) {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        other => other,
    };
    let schema = serde_json::to_value(schemars::schema_for!(Config)).expect("schema serialises");
    let key_issues = keys::check(&doc, &schema);
    if !key_issues.is_empty() {
        return Err(ConfigError::Invalid(key_issues));
    }
    let mut config: Config = serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigError::Invalid(vec![Issue::new(path, e.into_inner().to_string())])
    })?;
    let mut issues = apply_slo_headers(&mut config);
    issues.extend(validate(&config));
    if issues.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(issues))
    }
}

/// A key set to `null` (`report: {prometheus: null}`, as inference-perf's tooling writes
/// configs) means the key is not set, at any depth.
pub fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, without_nulls(v)))
            .collect(),
        serde_json::Value::Array(items) => items.into_iter().map(without_nulls).collect(),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpVersion;
    use serde_json::json;

    #[test]
    fn a_key_set_to_null_is_not_set() {
        let config = from_document(json!({
            "server": {"base_url": "http://127.0.0.1:8000", "model_name": null},
            "report": {"prometheus": null, "request_lifecycle": null},
            "metrics": null,
            "tokenizer": null,
            "load": {"stages": [{"rate": 2, "duration": 1}], "base_seed": null},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config,
            from_document(json!({
                "server": {"base_url": "http://127.0.0.1:8000"},
                "load": {"stages": [{"rate": 2, "duration": 1}]},
            }))
            .unwrap()
        );
        let set = from_document(
            json!({"data": {"otel_trace_replay": {"hf_dataset_path": "org/traces"}}}),
        )
        .unwrap_err();
        assert!(set.to_string().contains("is not supported yet"), "{set}");
    }

    #[test]
    fn http_version_reads_from_strings_and_numbers_and_names_the_field_when_wrong() {
        let version = |given: serde_json::Value| {
            from_document(json!({
                "server": {"base_url": "http://127.0.0.1:8000", "http_version": given},
                "load": {"stages": [{"rate": 2, "duration": 1}]},
            }))
            .map(|config| config.server.unwrap().http_version)
            .map_err(|e| e.to_string())
        };
        assert_eq!(version(json!("2")), Ok(HttpVersion::Http2));
        assert_eq!(version(json!(2)), Ok(HttpVersion::Http2));
        assert_eq!(version(json!("1.1")), Ok(HttpVersion::Http1));
        assert_eq!(version(json!(1.1)), Ok(HttpVersion::Http1));
        for wrong in [json!("3"), json!(3), json!("h2")] {
            let error = version(wrong.clone()).unwrap_err();
            assert!(
                error.contains("server.http_version") && error.contains("2"),
                "{wrong}: {error}"
            );
        }
        let default = from_document(json!({
            "server": {"base_url": "http://127.0.0.1:8000"},
            "load": {"stages": [{"rate": 2, "duration": 1}]},
        }))
        .unwrap();
        assert_eq!(default.server.unwrap().http_version, HttpVersion::Http1);
    }
}
