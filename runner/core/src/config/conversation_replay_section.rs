//! Rules of `data.conversation_replay`: inference-perf 0.7.0's (positive counts, an output
//! ceiling that leaves room for a prompt under `max_model_len`, completions only) and ours where
//! inference-perf fails at run time instead (a conversation of no turns).

use super::distribution::DistributionType;
use super::error::Issue;
use super::types::{ApiType, Config, ConversationReplayConfig, PROMPT_TOKEN_BUFFER};
use super::validate::{Sampler, distribution, positive_int};

pub(super) fn validate(
    replay: &ConversationReplayConfig,
    config: &Config,
    issues: &mut Vec<Issue>,
) {
    let at = |field: &str| format!("data.conversation_replay.{field}");
    positive_int(
        Some(replay.num_conversations),
        &at("num_conversations"),
        "conversation_replay",
        issues,
    );
    if replay.shared_system_prompt_len < 0 {
        issues.push(Issue::new(
            at("shared_system_prompt_len"),
            format!(
                "must be >= 0 tokens, got {}",
                replay.shared_system_prompt_len
            ),
        ));
    }
    for (field, dist) in replay.distributions() {
        if let Some(d) = dist {
            distribution(d, &at(field), Sampler::Sample, issues);
        }
    }
    if let Some(turns) = &replay.turns_per_conversation {
        // inference-perf divides by the turn count: a conversation of none stops its run.
        let (fewest, field) = match turns.dist_type {
            DistributionType::Fixed => (turns.mean.trunc() as i64, "mean"),
            _ => (turns.min, "min"),
        };
        if fewest < 1 {
            issues.push(Issue::new(
                at(&format!("turns_per_conversation.{field}")),
                format!("must be >= 1 (every conversation has a turn), got {fewest}"),
            ));
        }
    }
    match replay.max_model_len {
        Some(len) if len < 1 => issues.push(Issue::new(
            at("max_model_len"),
            format!("must be > 0 tokens, got {len}; remove it for the default 225000"),
        )),
        _ => {
            let (ceiling, field) = replay.output_ceiling();
            let len = replay.max_model_len();
            if ceiling + PROMPT_TOKEN_BUFFER >= len {
                let path = if replay.output_tokens_per_turn.is_some() {
                    at(field)
                } else {
                    at("max_model_len")
                };
                issues.push(Issue::new(
                    path,
                    format!(
                        "{field} ({ceiling}) leaves no room for a prompt within max_model_len \
                         ({len}) after reserving the {PROMPT_TOKEN_BUFFER} token safety buffer; \
                         lower it below {} or raise max_model_len",
                        len - PROMPT_TOKEN_BUFFER
                    ),
                ));
            }
        }
    }
    if config.api.api_type != ApiType::Completion {
        issues.push(Issue::new(
            "api.type",
            "data.type conversation_replay sends completions only (as inference-perf); set api.type: completion",
        ));
    }
    if config.load.sweep.is_some() {
        // The burst and probes would advance conversations the stages then repeat.
        issues.push(Issue::new(
            "load.sweep",
            "not available with data.type conversation_replay; list the stages explicitly",
        ));
    }
}
