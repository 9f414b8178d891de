//! Rules of `data.synthetic_agentic`: inference-perf 0.7.0's (required keys, ranges, the pinned
//! trace-replay keys with its reasons, theme weights, the `max_model_len` projection) and ours
//! where inference-perf fails only when the run starts (an unknown theme).

use super::distribution::{Distribution, DistributionType};
use super::error::Issue;
use super::types::{
    DEFAULT_PARALLEL_TOOL_CALLS, DEFAULT_TOOL_CATALOG_SIZE, DEFAULT_TOOL_LOOP_DEPTH,
    SyntheticAgenticConfig, THEMES,
};
use super::validate::{Sampler, distribution, positive_int};

const SECTION: &str = "data.synthetic_agentic";

/// inference-perf's estimate of one advertised tool's schema in tokens (its rounded-up
/// ceiling), used only by the `max_model_len` projection.
const CATALOG_TOKENS_PER_TOOL: i64 = 380;

fn at(field: &str) -> String {
    format!("{SECTION}.{field}")
}

pub(super) fn validate(config: &SyntheticAgenticConfig, issues: &mut Vec<Issue>) {
    super::replay_keys::validate(SECTION, config.replay_keys(), issues);
    match config.num_sessions {
        None => issues.push(Issue::new(
            at("num_sessions"),
            "required: the number of sessions to generate, e.g. 100",
        )),
        Some(_) => positive_int(
            config.num_sessions,
            &at("num_sessions"),
            "generating sessions",
            issues,
        ),
    }
    for (field, dist) in [
        ("input_tokens_per_turn", &config.input_tokens_per_turn),
        ("output_tokens_per_turn", &config.output_tokens_per_turn),
    ] {
        match dist {
            None => issues.push(Issue::new(
                at(field),
                "required: a token-length distribution, e.g. {type: fixed, mean: 200}",
            )),
            Some(d) => distribution(d, &at(field), Sampler::Sample, issues),
        }
    }
    distribution(
        &config.turns_per_session,
        &at("turns_per_session"),
        Sampler::Sample,
        issues,
    );
    let mut optional: Vec<(&str, Option<&Distribution>)> = config
        .optional_distributions()
        .iter()
        .map(|(field, dist, _)| (*field, dist.as_ref()))
        .collect();
    optional.push(("sub_agents_per_spawn", config.sub_agents_per_spawn.as_ref()));
    if let Some(compaction) = &config.context_compaction {
        optional.push((
            "context_compaction.trigger_tokens",
            Some(&compaction.trigger_tokens),
        ));
        optional.push((
            "context_compaction.target_tokens",
            Some(&compaction.target_tokens),
        ));
    }
    for (field, dist) in optional {
        if let Some(d) = dist {
            distribution(d, &at(field), Sampler::Sample, issues);
        }
    }
    if !(0.0..=1.0).contains(&config.fanout_probability) {
        issues.push(Issue::new(
            at("fanout_probability"),
            format!("must be within [0, 1], got {}", config.fanout_probability),
        ));
    }
    for (field, value, least) in [
        (
            "shared_system_prompt_len",
            config.shared_system_prompt_len,
            0,
        ),
        ("max_depth", config.max_depth, 0),
        ("max_events_per_session", config.max_events_per_session, 1),
        ("default_max_tokens", config.default_max_tokens, 1),
        ("max_wait_ms", config.max_wait_ms, 0),
    ] {
        if value < least {
            issues.push(Issue::new(
                at(field),
                format!("must be >= {least}, got {value}"),
            ));
        }
    }
    themes(config, issues);
    pinned(config, issues);
    max_model_len(config, issues);
}

fn themes(config: &SyntheticAgenticConfig, issues: &mut Vec<Issue>) {
    if config.theme_mix.is_empty() {
        issues.push(Issue::new(
            at("theme_mix"),
            "theme_mix must be non-empty (at least one theme name -> weight)",
        ));
        return;
    }
    for (name, theme) in &config.theme_mix {
        if !THEMES.contains(&name.as_str()) {
            issues.push(Issue::new(
                at(&format!("theme_mix.{name}")),
                format!(
                    "unknown theme; the themes are {} (as in inference-perf 0.7.0)",
                    THEMES.join(", ")
                ),
            ));
        }
        if !(theme.weight >= 0.0 && theme.weight.is_finite()) {
            issues.push(Issue::new(
                at(&format!("theme_mix.{name}")),
                format!("theme_mix weights must all be >= 0, got {}", theme.weight),
            ));
        }
    }
    if config.theme_mix.values().map(|t| t.weight).sum::<f64>() <= 0.0 {
        issues.push(Issue::new(
            at("theme_mix"),
            "theme_mix weights must sum to a positive value (at least one weight > 0)",
        ));
    }
}

/// The trace-replay keys inference-perf pins for generated sessions, with its reasons.
fn pinned(config: &SyntheticAgenticConfig, issues: &mut Vec<Issue>) {
    let refusals = [
        (
            "inject_random_session_id",
            config.inject_random_session_id,
            "is pinned to false for synthetic_agentic: sessions are already generated with \
             distinct content per session index, so there is no recorded session ID to \
             randomize; remove it",
        ),
        (
            "duplicate_sessions_target",
            config.duplicate_sessions_target.is_some(),
            "is pinned to unset for synthetic_agentic: raise num_sessions to generate more \
             sessions instead of duplicating existing ones",
        ),
        (
            "skip_invalid_files",
            config.skip_invalid_files,
            "is pinned to false for synthetic_agentic: sessions are generated in-memory, not \
             loaded from trace files, so there are no invalid files to skip; remove it",
        ),
        (
            "include_errors",
            !config.include_errors,
            "is pinned to true for synthetic_agentic: it filters recorded spans by error status \
             when building a replay graph from a trace file, and synthetic sessions have no \
             recorded spans to filter; remove it",
        ),
    ];
    for (field, set, why) in refusals {
        if set {
            issues.push(Issue::new(at(field), why));
        }
    }
}

/// The worst case a distribution can give: its mean when fixed, else its clip ceiling; an unset
/// one gives its fixed fallback.
fn highest(dist: Option<&Distribution>, fallback: i64) -> i64 {
    match dist {
        None => fallback,
        Some(d) if d.dist_type == DistributionType::Fixed => d.mean.ceil() as i64,
        Some(d) => d.max,
    }
}

/// inference-perf's fail-fast projection of the largest request (system head, tool catalog,
/// every turn's input and tool loop, and the answer to generate) against `max_model_len`.
fn max_model_len(config: &SyntheticAgenticConfig, issues: &mut Vec<Issue>) {
    let Some(len) = config.max_model_len else {
        return;
    };
    let head = config.shared_system_prompt_len;
    let input = highest(config.input_tokens_per_turn.as_ref(), 0);
    let output = highest(config.output_tokens_per_turn.as_ref(), 0);
    let turns = highest(Some(&config.turns_per_session), 1);
    let steps = highest(config.tool_loop_depth.as_ref(), DEFAULT_TOOL_LOOP_DEPTH).max(0);
    let parallel = highest(
        config.parallel_tool_calls_per_step.as_ref(),
        DEFAULT_PARALLEL_TOOL_CALLS,
    )
    .max(1);
    let tools = highest(
        config.tool_catalog_size_per_agent.as_ref(),
        DEFAULT_TOOL_CATALOG_SIZE,
    );
    let catalog = tools * CATALOG_TOKENS_PER_TOOL;
    let per_turn_loop = input + steps * (output + parallel * output);
    let root_peak = head + catalog + turns * per_turn_loop + output;
    let sub_peak = head + catalog + per_turn_loop + output;
    let projected = root_peak.max(sub_peak);
    if projected > len {
        issues.push(Issue::new(
            at("max_model_len"),
            format!(
                "max_model_len ({len}) is too small for this configuration: the peak request is \
                 ~{projected} tokens and would overrun the model's context window (prompt + \
                 generated output). Breakdown: system_head({head}) + tool_catalog({tools} tools \
                 x{CATALOG_TOKENS_PER_TOOL}={catalog}) + turns({turns}) x \
                 per_turn_loop({per_turn_loop}) + output({output}), where per_turn_loop = \
                 input({input}) + tool_loop_depth({steps}) x (output({output}) + \
                 parallel({parallel}) x output). Reduce input/output/catalog/turns/\
                 tool_loop_depth, or raise max_model_len."
            ),
        ));
    }
}
