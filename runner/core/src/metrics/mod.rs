//! Per-request outcomes aggregated into mergeable statistics.

mod bucket;
mod dist;
mod labels;
mod latencies;
mod quantile;
mod record;
mod run;
mod session;

pub use bucket::{
    Audios, Bucket, Cancelled, Failures, Goodput, Images, LabelStats, RecordOptions, Successes,
    Videos,
};
pub use dist::{Dist, DistWire, Unit, WireError};
pub use labels::{label, message as labels_message, shorten as shorten_message};
pub use latencies::{
    RequestLatencies, effective_output_tokens, request_latencies, seconds_between, token_gaps,
    token_times,
};
pub use quantile::interpolated as interpolated_quantile;
pub use record::{
    Audio, Clock, ErrorKind, Image, Media, Outcome, RequestError, RequestRecord, Response, Retried,
    Usage, Video,
};
pub use run::{
    BreakerTrip, Completion, RunMetrics, StageInfo, StageMetrics, StageRecorder, StageStatus,
};
pub use session::{NoTfut, SessionError, SessionRecord, time_to_first_user_token};
