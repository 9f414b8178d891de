//! Reading, checking and resolving a benchmark configuration.
//!
//! Order of checks, each listing every problem it finds: unknown keys and unsupported values
//! (against the schema), then types (serde, first error with its path), then the semantic rules
//! of [`validate`].

mod keys;
mod length;
mod overrides;
mod resolve;
mod types;
mod validate;

use std::fmt;
use std::path::Path;

pub use keys::variant as schema_variant;
pub use length::fixed as fixed_length;
pub use resolve::{ResolvedConfig, available_workers};
pub use types::*;
pub use validate::validate;

/// One problem in a config, located by its dotted path (`load.stages[0].rate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub message: String,
}

impl Issue {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Issue {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid YAML: {source}")]
    Yaml {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("invalid --set {arg:?}: {reason}")]
    Override { arg: String, reason: String },
    #[error("invalid configuration:\n{}", .0.iter().map(|i| format!("  - {i}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Issue>),
}

impl ConfigError {
    /// The individual problems, for callers that present them (e.g. a CRD status condition).
    pub fn issues(&self) -> Vec<Issue> {
        match self {
            ConfigError::Invalid(issues) => issues.clone(),
            other => vec![Issue::new("", other.to_string())],
        }
    }
}

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
    from_document(overrides::apply(doc, overrides)?)
}

/// Checks a config document (already parsed from YAML or JSON, snake_case keys).
pub fn from_document(doc: serde_json::Value) -> Result<Config, ConfigError> {
    let doc = match doc {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        other => other,
    };
    let schema = serde_json::to_value(schemars::schema_for!(Config)).expect("schema serialises");
    let key_issues = keys::check(&doc, &schema);
    if !key_issues.is_empty() {
        return Err(ConfigError::Invalid(key_issues));
    }
    let config: Config = serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ConfigError::Invalid(vec![Issue::new(path, e.into_inner().to_string())])
    })?;
    let issues = validate(&config);
    if issues.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(issues))
    }
}
