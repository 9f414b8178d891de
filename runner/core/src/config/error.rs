//! What is wrong with a config: every problem found, each located by its path.

use std::fmt;

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
