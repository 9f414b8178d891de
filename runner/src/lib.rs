//! inference-bench runner: plans requests at precise times, sends them to an OpenAI-compatible
//! server, and reports what happened in inference-perf's report format.
//!
//! Pipeline: [`config`] → [`plan`] → [`engine`] → [`metrics`] → [`report`]. [`sim`] is a
//! simulated model server used as the default target and by the tests. [`agent`] runs one
//! runner pod of an `InferenceBenchmark` under the operator.

pub mod agent;
pub mod benchmark;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod sim;
pub mod sweep;
pub mod tokenize;
