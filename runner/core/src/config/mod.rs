//! Reading, checking and resolving a benchmark configuration.
//!
//! Order of checks, each listing every problem it finds: unknown keys and unsupported values
//! (against the schema), then types (serde, first error with its path), then the semantic rules
//! of [`validate`].

mod api_section;
mod breaker_section;
mod conversation_replay_section;
mod distribution;
mod echo;
mod error;
mod files;
mod keys;
mod limits;
mod load;
mod metrics_section;
mod multimodal;
mod overrides;
mod replay_keys;
mod resolve;
mod slo_headers;
mod slo_search_section;
mod slo_section;
mod synthetic_agentic_section;
mod synthetic_agentic_types;
mod tool_policy;
mod types;
mod validate;
mod warmup_section;

pub use distribution::{Distribution, DistributionType, fixed as fixed_length};
pub use echo::echo_yaml;
pub use error::{ConfigError, Issue};
pub use files::{input_files, input_files_mut};
pub use keys::variant as schema_variant;
pub use load::{from_document, load_file, without_nulls};
pub use multimodal::{
    AudioConfig, ImageConfig, ImageRepresentation, MAX_IMAGE_SIDE, MediaSection, MultimodalConfig,
    Resolution, VideoConfig, VideoProfile, VideoRepresentation, VisionArenaConfig,
    WeightedDuration, WeightedResolution, WeightedVideoProfile,
};
pub use replay_keys::ReplayKeys;
pub use resolve::{ResolvedConfig, available_workers};
pub use slo_headers::{apply_slo_headers, slo_header_objectives};
pub use tool_policy::{BadToolCallHandling, ToolChoiceMode};
pub use types::*;
pub use validate::validate;
