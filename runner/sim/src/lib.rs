//! Simulated OpenAI-compatible model server (`ibench sim`): the target of first tries, of the
//! tests, and of our own performance work, so it must never be the bottleneck.
//!
//! Endpoints: `POST /v1/completions`, `POST /v1/chat/completions` (streamed as server-sent
//! events or not), `GET /v1/models`, `GET /health`, `GET /metrics` (vLLM metric names).
//!
//! Tokens are counted with [`ibench_core::tokenize`], the runner's own tokenizer, so that the
//! runner's counts and the server's `usage` agree exactly: prompt tokens are the count of the
//! prompt (summed over an array of prompts; one per token id), or for chat the sum over
//! messages of the count of their text content. Output token k is a vocabulary word, preceded
//! by one space for k > 0; a streamed response carries one token per event.
//!
//! Determinism: the random choices of a request (fault, output length and words, latency
//! samples) derive from the seed and the request's arrival sequence number only. Requests sent
//! one at a time therefore get identical answers under the same seed; concurrent requests get
//! the same set of answers, assigned in arrival order.
//!
//! Faults can be forced per request with the [`FAULT_HEADER`] header; see [`Fault`].

mod api;
mod app;
mod body;
mod capacity;
mod cli;
mod config;
mod faults;
mod generate;
mod idle;
mod kv;
mod latency;
mod lora;
mod metrics;
mod models;
mod server;
mod sse;
mod stats;
mod tls;

pub use cli::SimArgs;
pub use config::{
    FaultRates, LatencyConfig, LoraConfig, MetricsDialect, SimConfig, SimConfigError, SimTls,
};
pub use faults::{FAULT_HEADER, Fault, InvalidFault};
pub use server::{SimError, SimServer};
pub use stats::{FaultCounts, RecordedRequest, SimStats};
