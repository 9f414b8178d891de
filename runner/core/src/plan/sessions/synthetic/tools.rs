//! The tools a synthetic agent is offered. As in inference-perf 0.7.0, a session's catalog is
//! its theme's tools in the theme's order (a catalog longer than the theme's list repeats them,
//! the repeats suffixed `_{i}`), each named at the top level and under `function`; the calls of
//! a spawn are offered `dispatch_agent` beside them. A tool-loop step calls the catalog's tools
//! from its step number on, one per parallel call, so the name a call is forced to is
//! inference-perf's. Unlike the themes' hand-written schemas, every tool here has a one-line
//! description and a single required `query` string (inference-perf's schema for a tool its
//! theme does not describe): the tools' calls and results are generated text too.

use serde_json::{Value, json};

/// inference-perf 0.7.0's tool names per theme, in the order of
/// [`THEMES`](crate::config::THEMES).
const THEME_TOOLS: [&[&str]; 4] = [
    &[
        "get_service_health",
        "query_metrics",
        "search_logs",
        "list_recent_deploys",
        "get_dependency_status",
        "get_error_budget",
        "check_feature_flags",
        "get_pod_events",
        "run_synthetic_probe",
        "get_exception_trace",
        "get_config_snapshot",
        "apply_remediation",
    ],
    &[
        "list_dir",
        "read_file",
        "grep_code",
        "find_symbol",
        "git_diff",
        "run_tests",
        "run_command",
        "edit_file",
        "write_file",
        "apply_patch",
    ],
    &[
        "get_bp_stats",
        "get_lock_waits",
        "get_log_activity",
        "get_thread_detail",
        "get_deadlock_events",
        "get_message_log",
        "get_plan_stats",
        "run_reorg",
        "explain_sql",
    ],
    &[
        "web_search",
        "fetch_url",
        "retrieve_docs",
        "read_file",
        "grep",
        "list_sources",
        "summarize_findings",
        "write_answer",
    ],
];

/// The tool that spawns sub-agents.
pub(super) const DISPATCH: &str = "dispatch_agent";

/// The name of tool `index` of `theme`'s catalog.
pub(super) fn name(theme: usize, index: u64) -> String {
    let names = THEME_TOOLS[theme];
    let base = names[(index % names.len() as u64) as usize];
    if index < names.len() as u64 {
        base.to_string()
    } else {
        format!("{base}_{index}")
    }
}

/// The first `size` tools of `theme`'s catalog.
pub(super) fn catalog(theme: usize, size: u64) -> Vec<Value> {
    (0..size)
        .map(|i| {
            let name = name(theme, i);
            let base = THEME_TOOLS[theme][(i % THEME_TOOLS[theme].len() as u64) as usize];
            definition(
                &name,
                &format!("Perform the {base} operation and return its result."),
                json!({"query": {"type": "string", "description": "Free-text query for the operation."}}),
            )
        })
        .collect()
}

/// `dispatch_agent`, whose call launches a sub-agent on an `objective`.
pub(super) fn dispatch() -> Value {
    definition(
        DISPATCH,
        "Launch a sub-agent on `objective`. It returns at once; the sub-agent's report arrives \
         later as a user message.",
        json!({"objective": {"type": "string", "description": "The sub-agent's task."}}),
    )
}

/// A definition in inference-perf's synthetic shape: the name at the top (so a forced name is
/// found among the offered tools) and under `function`, with one required property.
fn definition(name: &str, description: &str, properties: Value) -> Value {
    let required: Vec<&String> = properties
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .collect();
    json!({
        "name": name,
        "description": description,
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_longer_than_its_theme_repeats_the_names_suffixed() {
        let names: Vec<String> = catalog(3, 10)
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names[..2], ["web_search", "fetch_url"]);
        assert_eq!(names[7..], ["write_answer", "web_search_8", "fetch_url_9"]);
        let tool = &catalog(1, 1)[0];
        assert_eq!(tool["function"]["name"], "list_dir");
        assert_eq!(tool["function"]["parameters"]["required"], json!(["query"]));
        assert_eq!(
            dispatch()["function"]["parameters"]["required"],
            json!(["objective"])
        );
        assert_eq!(name(0, 12), "get_service_health_12");
    }
}
