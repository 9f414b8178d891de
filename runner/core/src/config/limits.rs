//! Bounds on what a config may ask for. Values past the hard bounds cannot run at all (times
//! beyond what the clock arithmetic holds, request counts beyond exact integers in an `f64`,
//! prompts too long to allocate); values past the soft bounds are almost always typos (a rate of
//! 1e12, a stage of 1e18 seconds) and are refused unless `load.lift_limits: true` says the user
//! means them.

use super::distribution::Distribution;
use super::error::Issue;
use super::types::{Config, LoadType};

/// Longest time any setting may give, in seconds (a year).
pub const MAX_SECONDS: f64 = 365.0 * 86_400.0;
/// Most requests one stage may plan: beyond 2^53 request indices lose exactness as `f64`.
pub const MAX_EXACT_REQUESTS: f64 = 9_007_199_254_740_992.0;
/// Longest prompt or output in tokens, beyond any model's context.
pub const MAX_TOKENS: i64 = 100_000_000;
/// Most `conversation_replay` conversations: a turn's random draws are keyed by its
/// conversation in the upper 32 bits of a `u64`.
pub const MAX_CONVERSATIONS: f64 = 4_294_967_296.0;

/// Soft bounds, lifted by `load.lift_limits: true`.
pub const MAX_RATE: f64 = 1e6;
pub const MAX_STAGE_SECONDS: i64 = 7 * 86_400;
pub const MAX_STAGE_REQUESTS: f64 = 1e9;
pub const MAX_PLAN_REQUESTS: f64 = 1e10;
pub const MAX_WORKERS: i64 = 1024;
pub const MAX_SOFT_TOKENS: i64 = 1_000_000;
/// Calls of generated agent sessions (about a hundred bytes each) a run builds up front.
pub const MAX_SOFT_CALLS: f64 = 1e7;

const LIFT: &str = "or set load.lift_limits: true if you mean it";

pub fn limits(config: &Config, issues: &mut Vec<Issue>) {
    let load = &config.load;
    let soft = !load.lift_limits;
    let mut seconds: Vec<(String, f64)> = vec![
        ("load.interval".into(), load.interval),
        (
            "load.stage_teardown_grace_seconds".into(),
            load.stage_teardown_grace_seconds,
        ),
    ];
    seconds.extend(
        load.request_timeout
            .map(|t| ("load.request_timeout".into(), t)),
    );
    if let Some(sweep) = &load.sweep {
        seconds.push(("load.sweep.timeout".into(), sweep.timeout));
        seconds.push((
            "load.sweep.stage_duration".into(),
            sweep.stage_duration as f64,
        ));
        if soft && sweep.num_requests as f64 > MAX_STAGE_REQUESTS {
            issues.push(beyond(
                "load.sweep.num_requests",
                sweep.num_requests as f64,
                MAX_STAGE_REQUESTS,
                "requests in the saturation burst",
            ));
        }
    }
    if let Some(inputs) = &config.inputs {
        seconds.push(("inputs.timeout".into(), inputs.timeout));
    }
    if let Some(latency) = config
        .data
        .conversation_replay
        .as_ref()
        .and_then(|r| r.tool_call_latency_sec.as_ref())
    {
        seconds.push((
            "data.conversation_replay.tool_call_latency_sec.max".into(),
            latency.max.max(latency.mean as i64) as f64,
        ));
    }
    if let Some(goodput) = &config.report.goodput {
        for (key, slo) in goodput.constraints.set() {
            seconds.push((format!("report.goodput.constraints.{key}"), slo));
        }
    }
    let mut planned = 0.0;
    // One issue per cause: a stage whose rate or duration is flagged is not flagged again for
    // its request count, nor the run for its total.
    let before_stages = issues.len();
    for (i, stage) in load.stages.iter().enumerate() {
        let at = |field: &str| format!("load.stages[{i}].{field}");
        let before_stage = issues.len();
        let over_a_year = stage.duration.is_some_and(|d| d as f64 > MAX_SECONDS);
        if let Some(duration) = stage.duration {
            seconds.push((at("duration"), duration as f64));
            if soft && duration > MAX_STAGE_SECONDS && !over_a_year {
                issues.push(beyond(
                    &at("duration"),
                    duration as f64,
                    MAX_STAGE_SECONDS as f64,
                    "seconds (a week); split a longer run into runs",
                ));
            }
        }
        if let Some(rate) = stage.rate
            && soft
            && rate > MAX_RATE
        {
            issues.push(beyond(
                &at("rate"),
                rate,
                MAX_RATE,
                "requests per second; one machine sends about 40,000",
            ));
        }
        let requests = match (
            load.load_type,
            stage.rate,
            stage.duration,
            stage.num_requests,
        ) {
            (LoadType::Concurrent, _, _, Some(n)) => n as f64,
            (LoadType::Concurrent, ..) => 0.0,
            (_, Some(rate), Some(duration), _) => rate * duration as f64,
            _ => 0.0,
        };
        let field = if load.load_type == LoadType::Concurrent {
            at("num_requests")
        } else {
            format!("load.stages[{i}]")
        };
        if requests > MAX_EXACT_REQUESTS && !over_a_year {
            issues.push(Issue::new(
                &field,
                format!(
                    "plans {} requests, beyond the {} a stage can count exactly; lower the \
                     rate, duration or num_requests",
                    number(requests),
                    number(MAX_EXACT_REQUESTS)
                ),
            ));
        } else if soft
            && requests > MAX_STAGE_REQUESTS
            && issues.len() == before_stage
            && !over_a_year
        {
            issues.push(beyond(
                &field,
                requests,
                MAX_STAGE_REQUESTS,
                "requests planned in one stage (rate × duration)",
            ));
        }
        if !over_a_year {
            planned += requests;
        }
    }
    if soft && planned > MAX_PLAN_REQUESTS && issues.len() == before_stages {
        issues.push(beyond(
            "load.stages",
            planned,
            MAX_PLAN_REQUESTS,
            "requests planned over all stages",
        ));
    }
    for (path, value) in seconds {
        if value.is_finite() && value > MAX_SECONDS {
            issues.push(Issue::new(
                path,
                format!(
                    "{} seconds is more than a year ({MAX_SECONDS} s), the longest any time here may be",
                    number(value)
                ),
            ));
        }
    }
    if let Some(workers) = load.num_workers
        && soft
        && workers > MAX_WORKERS
    {
        issues.push(beyond(
            "load.num_workers",
            workers as f64,
            MAX_WORKERS as f64,
            "worker threads; one per CPU is enough",
        ));
    }
    token_lengths(config, soft, issues);
}

/// Prompt and output lengths: each token is built into every request's body.
fn token_lengths(config: &Config, soft: bool, issues: &mut Vec<Issue>) {
    let data = &config.data;
    let mut lengths: Vec<(String, &Distribution)> = Vec::new();
    for (field, dist) in [
        ("input_distribution", &data.input_distribution),
        ("output_distribution", &data.output_distribution),
    ] {
        if let Some(d) = dist {
            lengths.push((format!("data.{field}.max"), d));
        }
    }
    if let Some(shared) = &data.shared_prefix {
        for (field, dist) in shared.lengths() {
            if let Some(d) = dist {
                lengths.push((format!("data.shared_prefix.{field}.max"), d));
            }
        }
        let prompts = shared.num_groups as f64 * shared.num_prompts_per_group as f64;
        if soft && prompts > MAX_SOFT_TOKENS as f64 {
            issues.push(beyond(
                "data.shared_prefix",
                prompts,
                MAX_SOFT_TOKENS as f64,
                "prompts (num_groups × num_prompts_per_group), all built before the first request",
            ));
        }
    }
    let synthetic_head;
    if let Some(synthetic) = &data.synthetic_agentic {
        for (field, dist) in [
            ("input_tokens_per_turn", &synthetic.input_tokens_per_turn),
            ("output_tokens_per_turn", &synthetic.output_tokens_per_turn),
        ] {
            if let Some(d) = dist {
                lengths.push((format!("data.synthetic_agentic.{field}.max"), d));
            }
        }
        synthetic_head = super::distribution::fixed(synthetic.shared_system_prompt_len);
        lengths.push((
            "data.synthetic_agentic.shared_system_prompt_len".into(),
            &synthetic_head,
        ));
        // Every session's calls are built before the first request.
        let calls =
            synthetic.num_sessions.unwrap_or(0) as f64 * synthetic.max_events_per_session as f64;
        if soft && calls > MAX_SOFT_CALLS {
            issues.push(beyond(
                "data.synthetic_agentic.num_sessions",
                calls,
                MAX_SOFT_CALLS,
                "calls (num_sessions × max_events_per_session), all built before the first request",
            ));
        }
    }
    let shared_head;
    if let Some(replay) = &data.conversation_replay {
        for (field, dist) in [
            (
                "dynamic_system_prompt_len",
                &replay.dynamic_system_prompt_len,
            ),
            ("input_tokens_per_turn", &replay.input_tokens_per_turn),
            ("output_tokens_per_turn", &replay.output_tokens_per_turn),
        ] {
            if let Some(d) = dist {
                lengths.push((format!("data.conversation_replay.{field}.max"), d));
            }
        }
        shared_head = super::distribution::fixed(replay.shared_system_prompt_len);
        lengths.push((
            "data.conversation_replay.shared_system_prompt_len".into(),
            &shared_head,
        ));
        if replay.num_conversations as f64 > MAX_CONVERSATIONS {
            issues.push(Issue::new(
                "data.conversation_replay.num_conversations",
                format!(
                    "{} is beyond the {} conversations a run can tell apart; lower it",
                    number(replay.num_conversations as f64),
                    number(MAX_CONVERSATIONS)
                ),
            ));
        } else if soft && replay.num_conversations > MAX_SOFT_TOKENS {
            issues.push(beyond(
                "data.conversation_replay.num_conversations",
                replay.num_conversations as f64,
                MAX_SOFT_TOKENS as f64,
                "conversations",
            ));
        }
    }
    for (path, d) in lengths {
        if d.max > MAX_TOKENS {
            issues.push(Issue::new(
                path,
                format!(
                    "{} tokens is beyond {MAX_TOKENS}, the longest length a request can be built with",
                    d.max
                ),
            ));
        } else if soft && d.max > MAX_SOFT_TOKENS {
            issues.push(beyond(
                &path,
                d.max as f64,
                MAX_SOFT_TOKENS as f64,
                "tokens, longer than any model's context",
            ));
        }
    }
}

fn beyond(path: &str, value: f64, limit: f64, what: &str) -> Issue {
    Issue::new(
        path,
        format!(
            "{} is beyond the limit of {} {what}; lower it, {LIFT}",
            number(value),
            number(limit)
        ),
    )
}

/// Large numbers as `1e12` rather than thirteen digits (or three hundred).
fn number(value: f64) -> String {
    if value.abs() >= 1e7 {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, from_document};

    fn issues(load: serde_json::Value, data: serde_json::Value) -> Vec<String> {
        let doc = serde_json::json!({
            "server": {"base_url": "http://127.0.0.1:8000"}, "load": load, "data": data,
        });
        match from_document(doc) {
            Ok(_) => vec![],
            Err(ConfigError::Invalid(issues)) => issues.iter().map(ToString::to_string).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    fn stage(rate: f64, duration: i64) -> serde_json::Value {
        serde_json::json!({"stages": [{"rate": rate, "duration": duration}]})
    }

    #[test]
    fn absurd_rates_durations_and_counts_name_the_field_and_the_way_to_lift_them() {
        let found = issues(stage(1e12, 10), serde_json::json!({}));
        assert!(
            found.iter().any(|i| i
                .starts_with("load.stages[0].rate: 1e12 is beyond the limit of 1000000 ")
                && i.contains("load.lift_limits: true")),
            "{found:?}"
        );
        assert_eq!(found.len(), 1, "one issue per cause: {found:?}");
        let found = issues(stage(5.0, 1_000_000_000_000_000_000), serde_json::json!({}));
        assert_eq!(found.len(), 1, "one issue per cause: {found:?}");
        assert!(
            found[0].starts_with("load.stages[0].duration: 1e18 seconds is more than a year"),
            "{found:?}"
        );
        let found = issues(stage(20_000.0, 86_400), serde_json::json!({}));
        assert!(
            found
                .iter()
                .any(|i| i.starts_with("load.stages[0]: 1.728e9 is beyond the limit of 1e9 ")),
            "{found:?}"
        );
        // Lifted: a week-long stage at a high rate is the user's call; a year is not.
        let mut lifted = stage(2e6, 8 * 86_400);
        lifted["lift_limits"] = true.into();
        lifted["stages"][0]["rate"] = 2000.0.into();
        assert_eq!(
            issues(lifted.clone(), serde_json::json!({})),
            Vec::<String>::new()
        );
        lifted["stages"][0]["rate"] = 1e12.into();
        let found = issues(lifted, serde_json::json!({}));
        assert!(
            found.iter().any(|i| i.contains("count exactly")),
            "{found:?}"
        );
    }

    #[test]
    fn absurd_times_and_token_lengths_are_refused_even_when_limits_are_lifted() {
        let mut load = stage(1.0, 1);
        load["request_timeout"] = 1e300.into();
        load["lift_limits"] = true.into();
        let data = serde_json::json!({"type": "random",
            "input_distribution": {"min": 1, "max": 1_000_000_000, "mean": 10, "std_dev": 1},
            "output_distribution": {"min": 1, "max": 10, "mean": 5, "std_dev": 1}});
        let found = issues(load, data);
        assert!(
            found
                .iter()
                .any(|i| i.starts_with("load.request_timeout: 1e300 seconds is more than a year")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|i| i
                .starts_with("data.input_distribution.max: 1000000000 tokens is beyond 100000000")),
            "{found:?}"
        );
    }
}
