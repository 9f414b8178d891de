//! What every part of inference-bench shares, with no async runtime, HTTP or Kubernetes client:
//! the inference-perf config ([`config`]: types, parsing, validation, resolution), the request
//! plan ([`plan`]), mergeable statistics ([`metrics`]), inference-perf's report files
//! ([`report`]), tokenizers ([`tokenize`]) and the operator ⇄ runner contract ([`protocol`]).
//!
//! Data flows config → plan → (the engine, in `ibench-engine`) → metrics → report.

pub mod breakers;
pub mod config;
pub mod error_text;
pub mod media;
pub mod metrics;
pub mod object_url;
pub mod plan;
pub mod protocol;
pub mod python_filter;
mod python_json;
pub mod report;
pub mod server_metrics;
pub mod tokenize;
