//! Semantic rules of a config (inference-perf's validation matrix plus ours), all checked so that
//! one run of `ibench validate` lists every problem.

use super::{Config, DataType, Distribution, DistributionType, Issue, LoadType};

/// Tolerance of the LoRA split sum: exact float equality (inference-perf) rejects `0.1 + 0.2 + 0.7`.
pub const SPLIT_SUM_TOLERANCE: f64 = 1e-9;

pub fn validate(config: &Config) -> Vec<Issue> {
    let mut issues = Vec::new();
    server(config, &mut issues);
    load(config, &mut issues);
    data(config, &mut issues);
    report(config, &mut issues);
    if config
        .tokenizer
        .as_ref()
        .is_some_and(|t| t.pretrained_model_name_or_path.is_some())
    {
        issues.push(Issue::new(
            "tokenizer.pretrained_model_name_or_path",
            "Hugging Face tokenizers are not supported yet; remove the tokenizer section to count tokens with the built-in tokenizer",
        ));
    }
    issues
}

fn server(config: &Config, issues: &mut Vec<Issue>) {
    let Some(server) = &config.server else {
        issues.push(Issue::new(
            "server",
            "missing; add server.base_url, e.g. http://127.0.0.1:8000",
        ));
        return;
    };
    match reqwest::Url::parse(&server.base_url) {
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
    if server.model_name.as_deref().is_some_and(str::is_empty) {
        issues.push(Issue::new(
            "server.model_name",
            "must not be empty; remove it to use the server's first model",
        ));
    }
}

fn load(config: &Config, issues: &mut Vec<Issue>) {
    let load = &config.load;
    if load.sweep.is_some() {
        issues.push(Issue::new(
            "load.sweep",
            "sweeps are not supported yet; list the stages explicitly",
        ));
    }
    if load.stages.is_empty() && load.sweep.is_none() {
        issues.push(Issue::new("load.stages", "at least one stage is required"));
    }
    let concurrent = load.load_type == LoadType::Concurrent;
    for (i, stage) in load.stages.iter().enumerate() {
        let at = |field: &str| format!("load.stages[{i}].{field}");
        if concurrent {
            for (field, set) in [
                ("rate", stage.rate.is_some()),
                ("duration", stage.duration.is_some()),
            ] {
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
        } else {
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
    if concurrent && load.sweep.is_some() {
        issues.push(Issue::new(
            "load.sweep",
            "not allowed with load.type concurrent",
        ));
    }
    if load.load_type == LoadType::TraceReplay && load.trace.is_none() {
        issues.push(Issue::new(
            "load.trace",
            "required with load.type trace_replay (file: <csv>, format: AzurePublicDataset)",
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

fn data(config: &Config, issues: &mut Vec<Issue>) {
    let data = &config.data;
    match data.data_type {
        DataType::Mock => {
            for (field, set) in [
                ("input_distribution", data.input_distribution.is_some()),
                ("output_distribution", data.output_distribution.is_some()),
                ("trace", data.trace.is_some()),
            ] {
                if set {
                    issues.push(Issue::new(
                        format!("data.{field}"),
                        "not used by data.type mock; use data.type random",
                    ));
                }
            }
        }
        DataType::Random if data.trace.is_none() => {
            for (field, dist) in [
                ("input_distribution", &data.input_distribution),
                ("output_distribution", &data.output_distribution),
            ] {
                match dist {
                    None => issues.push(Issue::new(
                        format!("data.{field}"),
                        "required by data.type random (or set data.trace)",
                    )),
                    Some(d) => distribution(d, &format!("data.{field}"), issues),
                }
            }
        }
        DataType::Random => {}
    }
}

fn distribution(d: &Distribution, path: &str, issues: &mut Vec<Issue>) {
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
    if matches!(
        d.dist_type,
        DistributionType::SkewNormal | DistributionType::Poisson
    ) {
        issues.push(Issue::new(
            format!("{path}.type"),
            "not supported by the random generator; use normal, lognormal, uniform or fixed",
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
    if config.report.goodput.is_some() {
        issues.push(Issue::new(
            "report.goodput",
            "goodput reports are not supported yet; remove this key",
        ));
    }
}

fn positive_int(value: Option<i64>, path: &str, what: &str, issues: &mut Vec<Issue>) {
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
