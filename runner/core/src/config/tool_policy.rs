//! How a session call's tools are used: whether its answer's tool calls are forced
//! (`tool_choice_mode`), and what replaces a live tool call that is not JSON
//! (`bad_tool_call_handling`). The keys of every session data type that offers tools.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether a call forces the tools its (recorded or planned) answer calls (`force_recorded`)
/// or sends no `tool_choice` (`as_recorded`).
// Variants carry no doc comments: schemars would turn the enum into a `oneOf` of constants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoiceMode {
    #[default]
    ForceRecorded,
    AsRecorded,
}

/// What is done with a live tool call whose arguments are not JSON (inference-perf's
/// `bad_tool_call_handling`): `none` sends it on as it is, `use_recorded` sends the recorded
/// answer in its place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BadToolCallHandling {
    #[default]
    None,
    UseRecorded,
}
