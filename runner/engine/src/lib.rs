//! The engine: worker threads that send a plan's requests at their planned times over the
//! runner's own HTTP/1.1 connections and record what happened, stage by stage; `load.sweep`'s
//! search for the saturation rate; and [`benchmark`], one run end to end (target, plan, engine,
//! reports) for `ibench run` and the runner pods.
//!
//! [`coordinator`] starts stages on the [`worker`]s together and merges their statistics;
//! a worker's requests go through [`http`] with bodies from [`body`], streams framed by
//! [`sse`] and answers read per [`api`].

mod answer;
mod anthropic;
mod api;
pub mod benchmark;
mod body;
mod breaker;
mod chunk_reader;
mod conversation;
pub mod coordinator;
mod discover;
mod fds;
mod http;
mod image_urls;
mod interrupt;
mod openai;
mod priority;
mod progress;
mod rotation;
mod server_metrics;
mod sessions;
mod settings;
pub mod slo_search;
mod sse;
pub mod sweep;
mod timer;
mod worker;

pub use body::{BodyTemplate, PromptParts};
pub use breaker::BreakerWatch;
pub use conversation::Turn;
pub use coordinator::{Engine, EngineError, LEAD_IN};
pub use discover::{DiscoverError, list_models};
pub use fds::{FdError, FdNeed};
pub use http::{TargetError, TargetSettings, reqwest_builder};
pub use image_urls::ImageUrlError;
// The fuzz targets' way in (`fuzz/`): cargo fuzz builds with `--cfg fuzzing`.
pub use interrupt::Interrupt;
pub use progress::{Progress, Snapshot};
pub use server_metrics::{Collector, FindTargets, Measured, unix_now};
pub use settings::EngineSettings;
#[cfg(fuzzing)]
pub use {http::replay, sse::SseDecoder};
