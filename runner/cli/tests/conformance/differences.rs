//! Every way this project's report set differs from inference-perf 0.7.0's, in one place,
//! each on purpose and with its reason: the suite fails on any difference not listed here.

/// A difference: a key path (prefix) in the files named `file` (a leading or trailing `*`
/// matches any start or rest; [`LIFECYCLE`] every lifecycle file), or a whole file when `path`
/// is empty.
pub struct Difference {
    pub file: &'static str,
    pub path: &'static str,
    pub reason: &'static str,
}

/// Files whose key paths are the run's lifecycle metrics (summary, stages, adapters).
pub const LIFECYCLE: &str = "*";

/// Keys and files this project writes and inference-perf does not.
pub const ADDITIONS: &[Difference] = &[
    Difference {
        file: LIFECYCLE,
        path: "cancelled",
        reason: "every request asked for is accounted for: those cut off at a stage's end or \
                 by an interrupt are counted, in flight or never sent",
    },
    Difference {
        file: LIFECYCLE,
        path: "successes.latency.time_to_first_output_token",
        reason: "a reasoning model's answer starts after its thinking: time to the answer's \
                 first token, beside time to the first token of any kind",
    },
    Difference {
        file: LIFECYCLE,
        path: "successes.latency.request_latency_from_scheduled",
        reason: "latency from the scheduled send time, corrected for coordinated omission",
    },
    Difference {
        file: "per_request_lifecycle_metrics.json",
        path: "[].stage_id",
        reason: "records of several stages (and runners) in one file",
    },
    Difference {
        file: "per_request_lifecycle_metrics.json",
        path: "[].scheduled_time",
        reason: "the planned send time, to see schedule delay per request",
    },
    Difference {
        file: "per_request_lifecycle_metrics.json",
        path: "[].info.cancelled",
        reason: "cancelled requests are records too",
    },
    Difference {
        file: "config.yaml",
        path: "load.fail_fast",
        reason: "this project's setting: stop when the target refuses every request",
    },
    Difference {
        file: "config.yaml",
        path: "load.lift_limits",
        reason: "this project's setting: raise the process' file limits",
    },
    Difference {
        file: "config.yaml",
        path: "load.worker_realtime_priority",
        reason: "this project's setting: real-time scheduling for the send loop",
    },
    Difference {
        file: "config.yaml",
        path: "data.trace.block_size",
        reason: "this project's setting: tokens per hash id of a Mooncake trace (a trace format \
                 inference-perf does not read)",
    },
    Difference {
        file: "config.yaml",
        path: "load.trace.block_size",
        reason: "as data.trace.block_size",
    },
    Difference {
        file: "config.yaml",
        path: "server.http_version",
        reason: "this project's setting: HTTP/2 for the load (inference-perf speaks HTTP/1.1)",
    },
];

/// inference-perf 0.7.0's keys that this project does not write, on purpose: its config
/// echo includes values it overwrites at run time, which describe its internals rather than
/// the run asked for.
pub const OMISSIONS: &[Difference] = &[
    Difference {
        file: LIFECYCLE,
        path: "successes.image",
        reason: "not built yet: the pixels, bytes and aspect ratio of the images sent",
    },
    Difference {
        file: "per_request_lifecycle_metrics.json",
        path: "[].info.request_metrics.image",
        reason: "not built yet: the pixels, bytes and aspect ratio of the images sent (null)",
    },
    Difference {
        file: "config.yaml",
        path: "data.multimodal.image.resolutions",
        reason: "a single resolution is written as the one-entry weighted list it stands for",
    },
    Difference {
        file: "config.yaml",
        path: "data.input_distribution.total_count",
        reason: "inference-perf writes back the pool it derives (the largest stage's requests + \
                 1 lengths, cycled); here each request draws its own length unless total_count \
                 is set, and the echo holds what was set",
    },
    Difference {
        file: "config.yaml",
        path: "data.output_distribution.total_count",
        reason: "as input_distribution.total_count",
    },
    Difference {
        file: "config.yaml",
        path: "load.stages[].rate",
        reason: "inference-perf writes rate = num_requests into concurrency stages (it enqueues \
                 them all within a second); it is not the stage's rate, which is set by its \
                 concurrency level",
    },
    Difference {
        file: "config.yaml",
        path: "load.stages[].duration",
        reason: "inference-perf writes duration = 1 into concurrency stages (as rate); a \
                 concurrency stage lasts until its requests are done",
    },
    Difference {
        file: "config.yaml",
        path: "data.otel_trace_replay.bad_tool_call_handling",
        reason: "not built: replayed answers are not checked for tool calls (refused when set)",
    },
    Difference {
        file: "config.yaml",
        path: "data.synthetic_agentic.bad_tool_call_handling",
        reason: "not built: synthetic transcripts are generated text, so no live tool call is sent back to be replaced (refused when set)",
    },
    Difference {
        file: "config.yaml",
        path: "data.weka_trace_replay.num_dataset_entries",
        reason: "not built: trace files are read from trace_files or trace_directory, not the hub (refused when set)",
    },
];
