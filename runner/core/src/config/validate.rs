//! Semantic rules of a config (inference-perf's validation matrix plus ours), all checked so that
//! one run of `ibench validate` lists every problem.

use super::distribution::{Distribution, DistributionType};
use super::error::Issue;
use super::files::input_files;
use super::limits::MAX_SOFT_TOKENS;
use super::types::{
    ApiType, Config, DataConfig, DataType, LoadStage, LoadType, OtelTraceReplayConfig,
    SharedPrefixConfig, SweepConfig, TraceFormat, WekaTraceReplayConfig,
};
use crate::object_url::ObjectUrl;
use crate::python_filter::Filter;

/// Tolerance of the LoRA split sum: exact float equality (inference-perf) rejects `0.1 + 0.2 + 0.7`.
pub const SPLIT_SUM_TOLERANCE: f64 = 1e-9;

pub fn validate(config: &Config) -> Vec<Issue> {
    let mut issues = Vec::new();
    server(config, &mut issues);
    if config.api.max_response_bytes.is_some() {
        positive_int(
            config.api.max_response_bytes,
            "api.max_response_bytes",
            "a response size cap",
            &mut issues,
        );
    }
    super::api_section::validate(config, &mut issues);
    load(config, &mut issues);
    data(config, &mut issues);
    traces(config, &mut issues);
    report(config, &mut issues);
    tokenizer(config, &mut issues);
    inputs(config, &mut issues);
    storage(config, &mut issues);
    super::metrics_section::validate(config, &mut issues);
    super::slo_section::validate(config, &mut issues);
    super::breaker_section::validate(config, &mut issues);
    super::warmup_section::validate(config, &mut issues);
    super::slo_search_section::validate(config, &mut issues);
    super::limits::limits(config, &mut issues);
    issues
}

/// Input files: URLs that can be fetched, digests that name a file and look like SHA-256.
fn inputs(config: &Config, issues: &mut Vec<Issue>) {
    let files = input_files(config);
    for (field, value) in &files {
        if let Err(why) = ObjectUrl::parse(value) {
            issues.push(Issue::new(*field, format!("{value}: {why}")));
        }
    }
    let Some(inputs) = &config.inputs else {
        return;
    };
    if inputs.max_bytes < 1 {
        issues.push(Issue::new(
            "inputs.max_bytes",
            format!("must be > 0 bytes, got {}", inputs.max_bytes),
        ));
    }
    if !(inputs.timeout > 0.0 && inputs.timeout.is_finite()) {
        issues.push(Issue::new(
            "inputs.timeout",
            format!("must be > 0 seconds, got {}", inputs.timeout),
        ));
    }
    for (file, digest) in &inputs.sha256 {
        let at = format!("inputs.sha256[{file:?}]");
        if !files.iter().any(|(_, value)| value == file) {
            let named: Vec<&str> = files.iter().map(|(_, v)| v.as_str()).collect();
            issues.push(Issue::new(
                &at,
                format!("the config names no such file (it names {named:?}); use the path or URL exactly as given"),
            ));
        }
        if digest.len() != 64
            || !digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            issues.push(Issue::new(
                &at,
                "must be a SHA-256 digest: 64 lowercase hex digits (sha256sum prints it)",
            ));
        }
    }
    if let Some(endpoint) = &inputs.s3 {
        endpoint_url(
            endpoint.endpoint_url.as_deref(),
            "inputs.s3.endpoint_url",
            issues,
        );
    }
}

fn storage(config: &Config, issues: &mut Vec<Issue>) {
    let storage = &config.storage;
    let buckets = [
        storage
            .google_cloud_storage
            .as_ref()
            .map(|g| ("storage.google_cloud_storage", &g.bucket_name)),
        storage
            .simple_storage_service
            .as_ref()
            .map(|s| ("storage.simple_storage_service", &s.bucket_name)),
    ];
    for (section, bucket) in buckets.into_iter().flatten() {
        if bucket.is_empty() || bucket.contains('/') {
            issues.push(Issue::new(
                format!("{section}.bucket_name"),
                "must be a bucket name (no slashes); put the folder in path",
            ));
        }
    }
    if let Some(s3) = &storage.simple_storage_service {
        endpoint_url(
            s3.endpoint_url.as_deref(),
            "storage.simple_storage_service.endpoint_url",
            issues,
        );
    }
}

pub(super) fn endpoint_url(url: Option<&str>, path: &str, issues: &mut Vec<Issue>) {
    let Some(text) = url else {
        return;
    };
    match url::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
        _ => issues.push(Issue::new(
            path,
            format!("{text:?} is not an http(s) URL with a host, e.g. http://minio.storage:9000"),
        )),
    }
}

/// Tokenizers are read from local files only: whatever concerns downloads is refused rather
/// than ignored.
fn tokenizer(config: &Config, issues: &mut Vec<Issue>) {
    let Some(tokenizer) = &config.tokenizer else {
        return;
    };
    if tokenizer
        .pretrained_model_name_or_path
        .as_deref()
        .is_some_and(|p| p.trim().is_empty())
    {
        issues.push(Issue::new(
            "tokenizer.pretrained_model_name_or_path",
            "must not be empty; give a local tokenizer.json (or its directory), or remove it to use the built-in tokenizer",
        ));
    }
    if tokenizer.trust_remote_code == Some(true) {
        issues.push(Issue::new(
            "tokenizer.trust_remote_code",
            "remote code is never run: tokenizers are read from a local tokenizer.json; remove this key",
        ));
    }
    if tokenizer.token.is_some() {
        issues.push(Issue::new(
            "tokenizer.token",
            "not used: tokenizers are read from local files, never downloaded; remove this key",
        ));
    }
    if !(tokenizer.load_timeout > 0.0 && tokenizer.load_timeout.is_finite()) {
        issues.push(Issue::new(
            "tokenizer.load_timeout",
            format!(
                "must be a number of seconds > 0, got {}",
                tokenizer.load_timeout
            ),
        ));
    }
}

fn server(config: &Config, issues: &mut Vec<Issue>) {
    let Some(server) = &config.server else {
        issues.push(Issue::new(
            "server",
            "missing; add server.base_url, e.g. http://127.0.0.1:8000",
        ));
        return;
    };
    match (&server.cert_path, &server.key_path) {
        (Some(_), None) => issues.push(Issue::new(
            "server.key_path",
            "required with server.cert_path: the PEM private key of the client certificate",
        )),
        (None, Some(_)) => issues.push(Issue::new(
            "server.cert_path",
            "required with server.key_path: the PEM client certificate (chain) of the key",
        )),
        _ => {}
    }
    let tls_set = [
        ("server.ca_cert_path", server.ca_cert_path.is_some()),
        ("server.cert_path", server.cert_path.is_some()),
        (
            "server.insecure_skip_tls_verify",
            server.insecure_skip_tls_verify,
        ),
    ];
    if server.base_url.starts_with("http://") {
        for (field, _) in tls_set.iter().filter(|(_, set)| *set) {
            issues.push(Issue::new(
                *field,
                "not used: server.base_url is http://; use https:// or remove the key",
            ));
        }
    }
    if server.insecure_skip_tls_verify && server.ca_cert_path.is_some() {
        issues.push(Issue::new(
            "server.insecure_skip_tls_verify",
            "contradicts server.ca_cert_path (no certificate is verified); remove one of them",
        ));
    }
    match url::Url::parse(&server.base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            if url.path().trim_end_matches('/').ends_with("/v1") {
                issues.push(Issue::new(
                    "server.base_url",
                    "must not end in /v1: the API path is added per request",
                ));
            }
        }
        Ok(_) => issues.push(Issue::new(
            "server.base_url",
            "must be an http:// or https:// URL with a host",
        )),
        Err(e) => issues.push(Issue::new(
            "server.base_url",
            format!("not a URL ({e}); e.g. http://127.0.0.1:8000"),
        )),
    }
    if server.api_key_secret_ref.is_some() {
        issues.push(Issue::new(
            "server.api_key_secret_ref",
            "only available in an InferenceBenchmark resource; set server.api_key here",
        ));
    }
    if server.model_name.as_deref().is_some_and(str::is_empty) {
        issues.push(Issue::new(
            "server.model_name",
            "must not be empty; remove it to use the server's first model",
        ));
    }
}

fn load(config: &Config, issues: &mut Vec<Issue>) {
    let load = &config.load;
    if let Some(sweep_config) = &load.sweep {
        sweep(sweep_config, issues);
        if !load.stages.is_empty() {
            issues.push(Issue::new(
                "load.stages",
                "a sweep generates the stages; remove load.stages or load.sweep",
            ));
        }
        if !matches!(load.load_type, LoadType::Constant | LoadType::Poisson) {
            issues.push(Issue::new(
                "load.sweep",
                format!(
                    "only with load.type constant or poisson, not {}",
                    serde_json::to_value(load.load_type)
                        .expect("enum serialises")
                        .as_str()
                        .unwrap_or_default()
                ),
            ));
        }
    }
    if load.stages.is_empty() && load.sweep.is_none() && load.slo_search.is_none() {
        issues.push(Issue::new("load.stages", "at least one stage is required"));
    }
    let concurrent = load.load_type == LoadType::Concurrent;
    for (i, stage) in load.stages.iter().enumerate() {
        let at = |field: &str| format!("load.stages[{i}].{field}");
        let session_fields = [
            ("concurrent_sessions", stage.concurrent_sessions.is_some()),
            ("session_rate", stage.session_rate.is_some()),
            ("num_sessions", stage.num_sessions.is_some()),
            ("timeout", stage.timeout.is_some()),
        ];
        match load.load_type {
            LoadType::TraceSessionReplay => session_stage(stage, &at, issues),
            LoadType::Concurrent => {
                for (field, set) in [
                    ("rate", stage.rate.is_some()),
                    ("duration", stage.duration.is_some()),
                ]
                .into_iter()
                .chain(session_fields)
                {
                    if set {
                        issues.push(Issue::new(at(field), "not allowed with load.type concurrent; use num_requests and concurrency_level"));
                    }
                }
                positive_int(
                    stage.num_requests,
                    &at("num_requests"),
                    "concurrent stages",
                    issues,
                );
                positive_int(
                    stage.concurrency_level,
                    &at("concurrency_level"),
                    "concurrent stages",
                    issues,
                );
            }
            LoadType::Constant | LoadType::Poisson | LoadType::TraceReplay => {
                for (field, set) in [
                    ("num_requests", stage.num_requests.is_some()),
                    ("concurrency_level", stage.concurrency_level.is_some()),
                ] {
                    if set {
                        issues.push(Issue::new(
                            at(field),
                            "only allowed with load.type concurrent; use rate and duration",
                        ));
                    }
                }
                for (field, set) in session_fields {
                    if set {
                        issues.push(Issue::new(
                            at(field),
                            "only allowed with load.type trace_session_replay; use rate and duration",
                        ));
                    }
                }
                match stage.rate {
                    None => issues.push(Issue::new(
                        at("rate"),
                        "required (requests per second, > 0)",
                    )),
                    Some(rate) if !(rate > 0.0 && rate.is_finite()) => {
                        issues.push(Issue::new(at("rate"), format!("must be > 0, got {rate}")))
                    }
                    _ => {}
                }
                positive_int(
                    stage.duration,
                    &at("duration"),
                    "rate-based stages (seconds)",
                    issues,
                );
            }
        }
    }
    if load.load_type == LoadType::TraceSessionReplay && load.warmup.is_some() {
        issues.push(Issue::new(
            "load.warmup",
            "not with load.type trace_session_replay, whose stages are counted in sessions; remove it",
        ));
    }
    if load.load_type == LoadType::TraceReplay && load.trace.is_none() {
        issues.push(Issue::new(
            "load.trace",
            "required with load.type trace_replay (file: <csv or jsonl>, format: AzurePublicDataset or Mooncake)",
        ));
    }
    if load.load_type != LoadType::TraceReplay && load.trace.is_some() {
        issues.push(Issue::new(
            "load.trace",
            "only used with load.type trace_replay; remove it or change load.type",
        ));
    }
    if load.num_workers.is_some_and(|n| n < 0) {
        issues.push(Issue::new(
            "load.num_workers",
            "must be >= 0 (0 = one worker)",
        ));
    }
    if !concurrent && load.worker_max_concurrency < 1 {
        issues.push(Issue::new("load.worker_max_concurrency", "must be >= 1"));
    }
    if load.worker_max_tcp_connections < 1 {
        issues.push(Issue::new(
            "load.worker_max_tcp_connections",
            "must be >= 1",
        ));
    }
    non_negative(load.interval, "load.interval", issues);
    non_negative(
        load.stage_teardown_grace_seconds,
        "load.stage_teardown_grace_seconds",
        issues,
    );
    if load.request_retries < 0 {
        issues.push(Issue::new(
            "load.request_retries",
            format!("must be >= 0, got {}", load.request_retries),
        ));
    }
    non_negative(
        load.request_retry_backoff_sec,
        "load.request_retry_backoff_sec",
        issues,
    );
    if let Some(timeout) = load.request_timeout
        && !(timeout > 0.0 && timeout.is_finite())
    {
        issues.push(Issue::new(
            "load.request_timeout",
            format!("must be > 0 seconds, got {timeout}"),
        ));
    }
    if let Some(splits) = &load.lora_traffic_split {
        lora(splits, issues);
    }
}

/// A `trace_session_replay` stage: inference-perf's `TraceSessionReplayLoadStage`.
fn session_stage(stage: &LoadStage, at: &dyn Fn(&str) -> String, issues: &mut Vec<Issue>) {
    for (field, set) in [
        ("rate", stage.rate.is_some()),
        ("duration", stage.duration.is_some()),
        ("num_requests", stage.num_requests.is_some()),
        ("concurrency_level", stage.concurrency_level.is_some()),
    ] {
        if set {
            issues.push(Issue::new(
                at(field),
                "not allowed with load.type trace_session_replay; use concurrent_sessions, session_rate, num_sessions and timeout",
            ));
        }
    }
    match stage.concurrent_sessions {
        None => issues.push(Issue::new(
            at("concurrent_sessions"),
            "required with load.type trace_session_replay (sessions at once, >= 0; 0 = all of the stage's)",
        )),
        Some(n) if n < 0 => issues.push(Issue::new(
            at("concurrent_sessions"),
            format!("must be >= 0 (0 = all of the stage's sessions at once), got {n}"),
        )),
        _ => {}
    }
    if let Some(rate) = stage.session_rate {
        if !(rate > 0.0 && rate.is_finite()) {
            issues.push(Issue::new(
                at("session_rate"),
                format!("must be > 0 sessions per second, got {rate}"),
            ));
        } else if let Some(n) = stage.concurrent_sessions.filter(|&n| n > 0)
            && rate > n as f64
        {
            issues.push(Issue::new(
                at("session_rate"),
                format!(
                    "{rate} cannot exceed concurrent_sessions ({n}): sessions cannot start faster than the concurrency limit allows; lower session_rate or raise concurrent_sessions"
                ),
            ));
        }
    }
    if stage.num_sessions.is_some() {
        positive_int(
            stage.num_sessions,
            &at("num_sessions"),
            "a session stage",
            issues,
        );
    }
    if let Some(timeout) = stage.timeout
        && !(timeout > 0.0 && timeout.is_finite())
    {
        issues.push(Issue::new(
            at("timeout"),
            format!("must be > 0 seconds, got {timeout}"),
        ));
    }
}

fn lora(splits: &[super::LoraSplit], issues: &mut Vec<Issue>) {
    if splits.is_empty() {
        issues.push(Issue::new(
            "load.lora_traffic_split",
            "must list at least one adapter, or be removed",
        ));
        return;
    }
    for (i, split) in splits.iter().enumerate() {
        if split.name.trim().is_empty() {
            issues.push(Issue::new(
                format!("load.lora_traffic_split[{i}].name"),
                "must not be empty",
            ));
        }
        if splits[..i].iter().any(|s| s.name == split.name) {
            issues.push(Issue::new(
                format!("load.lora_traffic_split[{i}].name"),
                format!("adapter {:?} is listed twice", split.name),
            ));
        }
        if !(0.0..=1.0).contains(&split.split) {
            issues.push(Issue::new(
                format!("load.lora_traffic_split[{i}].split"),
                format!("must be within [0, 1], got {}", split.split),
            ));
        }
    }
    let sum: f64 = splits.iter().map(|s| s.split).sum();
    if (sum - 1.0).abs() > SPLIT_SUM_TOLERANCE {
        issues.push(Issue::new(
            "load.lora_traffic_split",
            format!("splits must sum to 1.0, got {sum}"),
        ));
    }
}

fn sweep(sweep: &SweepConfig, issues: &mut Vec<Issue>) {
    positive_int(
        Some(sweep.num_requests),
        "load.sweep.num_requests",
        "the saturation burst",
        issues,
    );
    positive_int(
        Some(sweep.num_stages),
        "load.sweep.num_stages",
        "the generated stages",
        issues,
    );
    positive_int(
        Some(sweep.stage_duration),
        "load.sweep.stage_duration",
        "the generated stages (seconds)",
        issues,
    );
    if !(sweep.timeout > 0.0 && sweep.timeout.is_finite()) {
        issues.push(Issue::new(
            "load.sweep.timeout",
            format!("must be > 0 seconds, got {}", sweep.timeout),
        ));
    }
    if !(sweep.saturation_percentile > 0.0 && sweep.saturation_percentile <= 100.0) {
        issues.push(Issue::new(
            "load.sweep.saturation_percentile",
            format!(
                "must be within (0, 100], got {}",
                sweep.saturation_percentile
            ),
        ));
    }
}

fn data(config: &Config, issues: &mut Vec<Issue>) {
    let data = &config.data;
    let name = serde_json::to_value(data.data_type).expect("enum serialises");
    let name = name.as_str().unwrap_or_default();
    if data.use_chat_template {
        chat_template(config, name, issues);
    }
    let unused = |field: &str, fix: &str, issues: &mut Vec<Issue>| {
        issues.push(Issue::new(
            format!("data.{field}"),
            format!("not used by data.type {name}; {fix}"),
        ))
    };
    let set = |field: &str| match field {
        "path" => data.path.is_some(),
        "corpus_file_path" => data.corpus_file_path.is_some(),
        "input_distribution" => data.input_distribution.is_some(),
        "output_distribution" => data.output_distribution.is_some(),
        "shared_prefix" => data.shared_prefix.is_some(),
        "conversation_replay" => data.conversation_replay.is_some(),
        "trace" => data.trace.is_some(),
        "otel_trace_replay" => data.otel_trace_replay.is_some(),
        "weka_trace_replay" => data.weka_trace_replay.is_some(),
        "synthetic_agentic" => data.synthetic_agentic.is_some(),
        "visionarena" => data.visionarena.is_some(),
        _ => unreachable!("data field {field}"),
    };
    // What each type reads; everything else set is a mistake worth reporting.
    let (reads, fix): (&[&str], &str) = match data.data_type {
        DataType::Mock => (
            &[],
            "use data.type random, synthetic, shared_prefix or shareGPT",
        ),
        DataType::Random => (
            &["input_distribution", "output_distribution", "trace"],
            "remove it",
        ),
        // inference-perf requires output_distribution here and then does not use it: its
        // multimodal requests ask no max_tokens. Accepted, so that its configs run unchanged.
        DataType::Synthetic if data.multimodal.is_some() => (
            &["input_distribution", "output_distribution"],
            "with data.multimodal, prompts are random text of input_distribution's length (default 100 tokens) asking the client's max_tokens, as in inference-perf; remove it",
        ),
        DataType::Synthetic => (
            &[
                "input_distribution",
                "output_distribution",
                "trace",
                "corpus_file_path",
            ],
            "remove it",
        ),
        DataType::SharedPrefix => (&["shared_prefix"], "set lengths in data.shared_prefix"),
        DataType::ShareGpt
        | DataType::CnnDailymail
        | DataType::InfinityInstruct
        | DataType::BillsumConversations => (
            &["path", "input_distribution", "output_distribution"],
            "remove it",
        ),
        DataType::OtelTraceReplay => (
            &["otel_trace_replay"],
            "lengths come from the traces; remove it",
        ),
        DataType::WekaTraceReplay => (
            &["weka_trace_replay"],
            "lengths come from the traces; remove it",
        ),
        DataType::ConversationReplay => (
            &["conversation_replay"],
            "set lengths in data.conversation_replay",
        ),
        DataType::SyntheticAgentic => (
            &["synthetic_agentic"],
            "set lengths in data.synthetic_agentic",
        ),
        DataType::VisionArena => (
            &["path", "visionarena"],
            "prompts and images come from the dataset, max_tokens is the client's (inference-perf takes no length limits for it); remove it",
        ),
    };
    for field in [
        "path",
        "corpus_file_path",
        "input_distribution",
        "output_distribution",
        "shared_prefix",
        "conversation_replay",
        "trace",
        "otel_trace_replay",
        "weka_trace_replay",
        "synthetic_agentic",
        "visionarena",
    ] {
        if set(field) && !reads.contains(&field) {
            unused(field, fix, issues);
        }
    }
    match data.data_type {
        DataType::Mock => {}
        DataType::Synthetic if data.multimodal.is_some() => {
            if let Some(d) = &data.input_distribution {
                distribution(d, "data.input_distribution", Sampler::Sample, issues);
            }
        }
        DataType::Random | DataType::Synthetic if data.trace.is_none() => {
            for (field, dist) in [
                ("input_distribution", &data.input_distribution),
                ("output_distribution", &data.output_distribution),
            ] {
                match dist {
                    None => issues.push(Issue::new(
                        format!("data.{field}"),
                        format!("required by data.type {name} (or set data.trace)"),
                    )),
                    Some(d) => distribution(d, &format!("data.{field}"), Sampler::Generate, issues),
                }
            }
        }
        DataType::Random | DataType::Synthetic => {
            if data.input_distribution.is_some() || data.output_distribution.is_some() {
                issues.push(Issue::new(
                    "data.trace",
                    "lengths come from the trace: remove data.input_distribution and data.output_distribution, or data.trace",
                ));
            }
        }
        DataType::SharedPrefix => match &data.shared_prefix {
            None => issues.push(Issue::new(
                "data.shared_prefix",
                "required by data.type shared_prefix, e.g. {num_groups: 10, num_prompts_per_group: 10, system_prompt_len: 100, question_len: 50, output_len: 50}",
            )),
            Some(shared) => shared_prefix(shared, config, issues),
        },
        DataType::ShareGpt => dataset_file(
            data,
            "shareGPT: a ShareGPT JSON file, local or an s3://, gs:// or https:// URL, e.g. ShareGPT_V3_unfiltered_cleaned_split.json",
            issues,
        ),
        DataType::CnnDailymail => dataset_file(
            data,
            "cnn_dailymail: the dataset's Parquet file (e.g. 3.0.0/train-00000-of-00003.parquet of abisee/cnn_dailymail) or JSON Lines, local or an s3://, gs:// or https:// URL (the Hugging Face hub is not reached)",
            issues,
        ),
        DataType::InfinityInstruct => dataset_file(
            data,
            "infinity_instruct: rows with conversations, as a JSON list or JSON Lines (e.g. Infinity-Instruct_conversations.json) or the dataset's Parquet file (e.g. 0625/train-00000-of-00002.parquet of BAAI/Infinity-Instruct), local or an s3://, gs:// or https:// URL",
            issues,
        ),
        DataType::BillsumConversations => dataset_file(
            data,
            "billsum_conversations: rows with conversations, as a JSON list or JSON Lines (e.g. billsum_conversations.json) or Parquet, local or an s3://, gs:// or https:// URL",
            issues,
        ),
        DataType::OtelTraceReplay => match &data.otel_trace_replay {
            None => issues.push(Issue::new(
                "data.otel_trace_replay",
                "required by data.type otel_trace_replay, e.g. {trace_directory: traces/}",
            )),
            Some(otel) => {
                otel_trace_replay(otel, issues);
                // inference-perf's OTel replay supports the chat and Messages APIs only.
                if config.api.api_type == ApiType::Completion {
                    issues.push(Issue::new(
                        "api.type",
                        "data.type otel_trace_replay sends each call's recorded messages, which the completions API cannot carry: set api.type to chat (or anthropic_messages), as inference-perf requires",
                    ));
                }
            }
        },
        DataType::WekaTraceReplay => match &data.weka_trace_replay {
            None => issues.push(Issue::new(
                "data.weka_trace_replay",
                "required by data.type weka_trace_replay, e.g. {trace_directory: traces/}",
            )),
            Some(weka) => weka_trace_replay(weka, issues),
        },
        DataType::VisionArena => {
            dataset_file(
                data,
                "visionarena: the dataset's Parquet file (e.g. data/train-00000-of-00027.parquet of lmarena-ai/VisionArena-Chat) or JSON Lines of rows with conversation and images, local or an s3://, gs:// or https:// URL (the Hugging Face hub is not reached)",
                issues,
            );
            super::multimodal::validate_vision_arena(config, issues);
        }
        DataType::ConversationReplay => match &data.conversation_replay {
            None => issues.push(Issue::new(
                "data.conversation_replay",
                "required by data.type conversation_replay, e.g. {num_conversations: 8, shared_system_prompt_len: 1000, turns_per_conversation: {type: uniform, min: 2, max: 6}, input_tokens_per_turn: {type: fixed, mean: 200}, output_tokens_per_turn: {type: fixed, mean: 100}}",
            )),
            Some(replay) => super::conversation_replay_section::validate(replay, config, issues),
        },
        DataType::SyntheticAgentic => match &data.synthetic_agentic {
            None => issues.push(Issue::new(
                "data.synthetic_agentic",
                "required by data.type synthetic_agentic, e.g. {num_sessions: 20, input_tokens_per_turn: {type: fixed, mean: 200}, output_tokens_per_turn: {type: fixed, mean: 100}}",
            )),
            Some(synthetic) => super::synthetic_agentic_section::validate(synthetic, issues),
        },
    }
    super::multimodal::validate(config, issues);
    let sessions = matches!(
        data.data_type,
        DataType::OtelTraceReplay | DataType::WekaTraceReplay | DataType::SyntheticAgentic
    );
    let session_load = config.load.load_type == LoadType::TraceSessionReplay;
    if sessions && !session_load {
        let load_type = serde_json::to_value(config.load.load_type).expect("enum serialises");
        issues.push(Issue::new(
            "load.type",
            format!(
                "data.type {name} requires load.type trace_session_replay, not {}: its requests depend on each other within sessions",
                load_type.as_str().unwrap_or_default()
            ),
        ));
    } else if session_load && !sessions {
        issues.push(Issue::new(
            "load.type",
            format!("trace_session_replay replays sessions; it needs data.type otel_trace_replay, weka_trace_replay or synthetic_agentic, not {name}"),
        ));
    }
    if config.load.load_type == LoadType::TraceReplay
        && data.trace.is_some()
        && !matches!(data.data_type, DataType::Random | DataType::Synthetic)
    {
        issues.push(Issue::new(
            "data.trace",
            "token counts from a trace need data.type random or synthetic",
        ));
    }
}

fn otel_trace_replay(otel: &OtelTraceReplayConfig, issues: &mut Vec<Issue>) {
    session_replay(
        "data.otel_trace_replay",
        SessionReplay {
            trace_directory: &otel.trace_directory,
            trace_files: &otel.trace_files,
            default_max_tokens: otel.default_max_tokens,
            max_wait_ms: otel.max_wait_ms,
            duplicate_sessions_target: otel.duplicate_sessions_target,
            filter: &otel.filter,
        },
        issues,
    );
    super::replay_keys::validate("data.otel_trace_replay", otel.replay_keys(), issues);
    // Salting a call's own messages (asked, or for repeated sessions) sends the live answers
    // of the calls before, the opposite of replaying the recorded ones (inference-perf's rule).
    let salting: Vec<&str> = [
        ("inject_random_session_id", otel.inject_random_session_id),
        (
            "duplicate_sessions_target",
            otel.duplicate_sessions_target.is_some(),
        ),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect();
    for (attribute, header) in otel.attribute_to_header_map.iter().flatten() {
        let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if header.is_empty() || !header.chars().all(tchar) {
            issues.push(Issue::new(
                format!("data.otel_trace_replay.attribute_to_header_map.{attribute}"),
                format!("{header:?} is not an HTTP header name; use letters, digits and -, e.g. x-tenant-id"),
            ));
        }
    }
    if otel.disable_output_substitution && !salting.is_empty() {
        issues.push(Issue::new(
            "data.otel_trace_replay.disable_output_substitution",
            format!(
                "cannot be combined with {}: those put a random session id in each call's own \
                 messages, which substitutes the live answers of earlier calls, the opposite of \
                 replaying the recorded ones; remove {} to replay the recorded outputs, or set \
                 disable_output_substitution: false",
                salting.join(" or "),
                salting.join(" and ")
            ),
        ));
    }
}

fn weka_trace_replay(weka: &WekaTraceReplayConfig, issues: &mut Vec<Issue>) {
    let section = "data.weka_trace_replay";
    session_replay(
        section,
        SessionReplay {
            trace_directory: &weka.trace_directory,
            trace_files: &weka.trace_files,
            default_max_tokens: weka.default_max_tokens,
            max_wait_ms: weka.max_wait_ms,
            duplicate_sessions_target: weka.duplicate_sessions_target,
            filter: &weka.filter,
        },
        issues,
    );
    super::replay_keys::validate(section, weka.replay_keys(), issues);
    let at = |field: &str| format!("{section}.{field}");
    // inference-perf 0.7.0 reads these two and never applies them: a run that honoured them
    // would not be the run inference-perf makes, and one that ignored them would surprise.
    for (field, set) in [
        ("ignore_trace_delays", weka.ignore_trace_delays),
        ("use_think_time_only", weka.use_think_time_only),
    ] {
        if set {
            issues.push(Issue::new(
                at(field),
                "inference-perf 0.7.0 accepts it but never applies it, so neither does ibench; remove it (max_wait_ms: 0 replays calls back to back)",
            ));
        }
    }
    if weka.default_block_size < 1 {
        issues.push(Issue::new(
            at("default_block_size"),
            format!(
                "must be > 0 tokens a hash block, got {}",
                weka.default_block_size
            ),
        ));
    }
    if weka.datagen_workers.is_some() {
        positive_int(
            weka.datagen_workers,
            &at("datagen_workers"),
            "building sessions",
            issues,
        );
    }
}

/// The keys every session data type shares.
struct SessionReplay<'a> {
    trace_directory: &'a Option<String>,
    trace_files: &'a Option<Vec<String>>,
    default_max_tokens: i64,
    max_wait_ms: i64,
    duplicate_sessions_target: Option<i64>,
    filter: &'a Option<String>,
}

fn session_replay(section: &str, replay: SessionReplay, issues: &mut Vec<Issue>) {
    let at = |field: &str| format!("{section}.{field}");
    match (replay.trace_directory, replay.trace_files) {
        (None, None) => issues.push(Issue::new(
            section,
            "set trace_directory (every *.json file in it) or trace_files (a list of files)",
        )),
        (Some(_), Some(_)) => issues.push(Issue::new(
            at("trace_files"),
            "choose one source: trace_directory or trace_files, not both",
        )),
        (None, Some(files)) if files.is_empty() => issues.push(Issue::new(
            at("trace_files"),
            "is empty; name at least one file",
        )),
        (None, Some(files)) => {
            for pattern in files.iter().filter(|f| f.contains(['*', '?'])) {
                issues.push(Issue::new(
                    at("trace_files"),
                    format!("{pattern} is a pattern, which is not expanded here; list the files or use trace_directory"),
                ));
            }
        }
        _ => {}
    }
    if let Some(Err(e)) = replay.filter.as_deref().map(Filter::compile) {
        issues.push(Issue::new(
            at("filter"),
            format!(
                "{e}; give a Python lambda over the trace, e.g. lambda x: x['benchmark'] == 'gsm8k'"
            ),
        ));
    }
    if replay.default_max_tokens < 1 {
        issues.push(Issue::new(
            at("default_max_tokens"),
            format!("must be > 0, got {}", replay.default_max_tokens),
        ));
    }
    if replay.max_wait_ms < 0 {
        issues.push(Issue::new(
            at("max_wait_ms"),
            format!("must be >= 0 milliseconds, got {}", replay.max_wait_ms),
        ));
    }
    if replay.duplicate_sessions_target.is_some() {
        positive_int(
            replay.duplicate_sessions_target,
            &at("duplicate_sessions_target"),
            "duplicating sessions",
            issues,
        );
    }
}

/// `data.use_chat_template`: random prompts wrapped in the tokenizer's chat template and sent
/// as completions, as inference-perf does.
fn chat_template(config: &Config, type_name: &str, issues: &mut Vec<Issue>) {
    let at = "data.use_chat_template";
    if config.data.data_type != DataType::Random {
        // inference-perf's rule and words.
        issues.push(Issue::new(
            at,
            format!("only supported by the 'random' data generator and would be ignored by type '{type_name}'. Unset it or set data.type to 'random'"),
        ));
    }
    if config
        .tokenizer
        .as_ref()
        .and_then(|t| t.pretrained_model_name_or_path.as_ref())
        .is_none()
    {
        issues.push(Issue::new(
            at,
            "needs the tokenizer whose chat template wraps each prompt: set tokenizer.pretrained_model_name_or_path to a chat/instruct model's tokenizer directory",
        ));
    }
    if config.api.api_type != ApiType::Completion {
        issues.push(Issue::new(
            at,
            "needs api.type completion: templated prompts go to the completions endpoint (a chat endpoint applies the server's template itself)",
        ));
    }
    if config
        .data
        .trace
        .as_ref()
        .is_some_and(|t| t.format == TraceFormat::Mooncake)
    {
        issues.push(Issue::new(
            at,
            "not with a Mooncake trace, whose prompts are shared blocks of text; use an AzurePublicDataset trace or length distributions",
        ));
    }
}

fn shared_prefix(shared: &SharedPrefixConfig, config: &Config, issues: &mut Vec<Issue>) {
    let at = |field: &str| format!("data.shared_prefix.{field}");
    positive_int(
        Some(shared.num_groups),
        &at("num_groups"),
        "shared_prefix",
        issues,
    );
    positive_int(
        Some(shared.num_prompts_per_group),
        &at("num_prompts_per_group"),
        "shared_prefix",
        issues,
    );
    for (inline, legacy, inline_name, legacy_name) in [
        (
            &shared.question_len,
            &shared.question_distribution,
            "question_len",
            "question_distribution",
        ),
        (
            &shared.output_len,
            &shared.output_distribution,
            "output_len",
            "output_distribution",
        ),
    ] {
        if inline.is_some() && legacy.is_some() {
            issues.push(Issue::new(
                at(legacy_name),
                format!("set either {inline_name} or {legacy_name} (its older spelling), not both"),
            ));
        }
    }
    for (field, dist) in shared.lengths() {
        if let Some(d) = dist {
            distribution(d, &at(field), Sampler::Sample, issues);
        }
    }
    if let Some(d) = shared
        .output_len
        .as_ref()
        .or(shared.output_distribution.as_ref())
        && d.max < 1
    {
        issues.push(Issue::new(
            at("output_len"),
            "must allow at least 1 output token",
        ));
    }
    if shared.enable_multi_turn_chat && config.load.sweep.is_some() {
        // The burst and probes would advance conversations the stages then repeat.
        issues.push(Issue::new(
            at("enable_multi_turn_chat"),
            "not available with load.sweep; list the stages explicitly",
        ));
    }
}

/// A data type read from `data.path` (`what`: the type and its file, for the message).
fn dataset_file(data: &DataConfig, what: &str, issues: &mut Vec<Issue>) {
    match data.path.as_deref() {
        None | Some("") => issues.push(Issue::new(
            "data.path",
            format!("required by data.type {what}"),
        )),
        Some(_) => {}
    }
    for (field, dist) in [
        ("input_distribution", &data.input_distribution),
        ("output_distribution", &data.output_distribution),
    ] {
        if let Some(d) = dist
            && d.min > d.max
        {
            issues.push(Issue::new(
                format!("data.{field}.min"),
                format!("must be <= max ({} > {})", d.min, d.max),
            ));
        }
    }
}

/// Which of inference-perf's two samplers reads a distribution: `random` and `synthetic` use
/// `generate_distribution`, `shared_prefix` uses `sample_from_distribution`, which knows more
/// types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sampler {
    Generate,
    Sample,
}

pub(super) fn distribution(
    d: &Distribution,
    path: &str,
    sampler: Sampler,
    issues: &mut Vec<Issue>,
) {
    if d.min < 0 {
        issues.push(Issue::new(format!("{path}.min"), "must be >= 0"));
    }
    if d.min > d.max {
        issues.push(Issue::new(
            format!("{path}.min"),
            format!("must be <= max ({} > {})", d.min, d.max),
        ));
    }
    if d.std_dev < 0.0 {
        issues.push(Issue::new(format!("{path}.std_dev"), "must be >= 0"));
    }
    if let Some(variance) = d.variance {
        if variance < 0.0 {
            issues.push(Issue::new(format!("{path}.variance"), "must be >= 0"));
        }
        if d.std_dev > 0.0 {
            issues.push(Issue::new(
                format!("{path}.variance"),
                "set either variance or std_dev (then write std_dev: 0), not both",
            ));
        }
    }
    if d.dist_type == DistributionType::Normal
        && !(d.min as f64 <= d.mean && d.mean <= d.max as f64)
    {
        issues.push(Issue::new(
            format!("{path}.mean"),
            format!("must lie within [min, max] = [{}, {}]", d.min, d.max),
        ));
    }
    if sampler == Sampler::Generate
        && matches!(
            d.dist_type,
            DistributionType::SkewNormal | DistributionType::Poisson
        )
    {
        issues.push(Issue::new(
            format!("{path}.type"),
            "not supported for data.type random or synthetic (as in inference-perf); use normal, lognormal, uniform or fixed",
        ));
    }
    if sampler == Sampler::Sample && d.dist_type == DistributionType::Lognormal && d.mean <= 0.0 {
        issues.push(Issue::new(
            format!("{path}.mean"),
            "must be > 0 for a lognormal distribution",
        ));
    }
    if d.total_count.is_some_and(|n| n < 1) {
        issues.push(Issue::new(format!("{path}.total_count"), "must be >= 1"));
    }
}

fn report(config: &Config, issues: &mut Vec<Issue>) {
    let lifecycle = &config.report.request_lifecycle;
    for (i, p) in lifecycle.percentiles.iter().enumerate() {
        if !(0.0..=100.0).contains(p) {
            issues.push(Issue::new(
                format!("report.request_lifecycle.percentiles[{i}]"),
                format!("must be within [0, 100], got {p}"),
            ));
        }
    }
    if lifecycle.max_error_messages < 0 {
        issues.push(Issue::new(
            "report.request_lifecycle.max_error_messages",
            "must be >= 0",
        ));
    }
    if let Some(goodput) = &config.report.goodput {
        for (key, slo) in goodput.constraints.set() {
            if !(slo > 0.0 && slo.is_finite()) {
                issues.push(Issue::new(
                    format!("report.goodput.constraints.{key}"),
                    format!("must be > 0 seconds, got {slo}"),
                ));
            }
        }
        let c = &goodput.constraints;
        for (key, set) in [
            ("ttft", c.ttft.is_some()),
            ("tpot", c.tpot.is_some()),
            ("itl", c.itl.is_some()),
        ] {
            if set && !config.api.streaming {
                issues.push(Issue::new(
                    format!("report.goodput.constraints.{key}"),
                    "needs streamed responses to measure; set api.streaming: true",
                ));
            }
        }
    }
}

/// `block_size` of the trace files: Mooncake's, in a range a block can have, and one per file
/// (it says how the file's hash ids were made).
fn traces(config: &Config, issues: &mut Vec<Issue>) {
    let traces = [
        ("data.trace", config.data.trace.as_ref()),
        ("load.trace", config.load.trace.as_ref()),
    ];
    for (path, trace) in traces {
        let Some(size) = trace.and_then(|t| t.block_size.map(|size| (t.format, size))) else {
            continue;
        };
        let at = format!("{path}.block_size");
        match size {
            (TraceFormat::Mooncake, size) if !(1..=MAX_SOFT_TOKENS).contains(&size) => {
                issues.push(Issue::new(
                    at,
                    format!(
                        "must be between 1 and {MAX_SOFT_TOKENS} (tokens per hash id), got {size}"
                    ),
                ))
            }
            (TraceFormat::Mooncake, _) => {}
            (format, _) => issues.push(Issue::new(
                at,
                format!("only read with format Mooncake, not {format:?}; remove it"),
            )),
        }
    }
    if let [(_, Some(data)), (_, Some(load))] = traces
        && data.file == load.file
        && data.format == load.format
        && data.block_size() != load.block_size()
    {
        issues.push(Issue::new(
            "load.trace.block_size",
            format!(
                "{} but data.trace.block_size is {} for the same file: the file's hash ids were made with one block size; set it in both",
                load.block_size(),
                data.block_size()
            ),
        ));
    }
}

pub(super) fn positive_int(value: Option<i64>, path: &str, what: &str, issues: &mut Vec<Issue>) {
    match value {
        None => issues.push(Issue::new(path, format!("required for {what}, > 0"))),
        Some(v) if v < 1 => issues.push(Issue::new(path, format!("must be > 0, got {v}"))),
        _ => {}
    }
}

fn non_negative(value: f64, path: &str, issues: &mut Vec<Issue>) {
    if !(value >= 0.0 && value.is_finite()) {
        issues.push(Issue::new(path, format!("must be >= 0, got {value}")));
    }
}
