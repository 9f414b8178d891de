//! A call's recorded tools as inference-perf offers them, and the `tool_choice` it sends, in
//! the shapes of the API the calls go to.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::config::{ApiType, ToolChoiceMode};
use crate::python_json::{dumps, truthy};

/// The tools a call offers and the `tool_choice` it sends, in the shapes of its API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolOffer {
    /// The request's `tools`; `None` when it offers none.
    pub tools: Option<Arc<Value>>,
    /// The definitions as inference-perf counts them among the prompt's tokens.
    pub counted_text: Option<Arc<str>>,
    pub tool_choice: Option<Value>,
}

/// Tool definitions as a request to one API offers them, built once for every call that
/// offers the same ones.
#[derive(Debug, Clone)]
pub struct ToolCatalog {
    api: ApiType,
    definitions: Vec<Value>,
    tools: Option<Arc<Value>>,
    counted_text: Option<Arc<str>>,
}

impl ToolCatalog {
    /// `definitions` (OpenAI's nested form or the flat one) offered to `api`; or why one
    /// cannot be sent.
    pub(crate) fn new(api: ApiType, definitions: Vec<Value>) -> Result<Self, String> {
        let offered = !definitions.is_empty();
        Ok(ToolCatalog {
            api,
            tools: offered
                .then(|| offered_tools(&definitions, api).map(|t| Arc::new(Value::Array(t))))
                .transpose()?,
            counted_text: offered.then(|| counted_text(&definitions).into()),
            definitions,
        })
    }

    /// What a call offered these tools sends when its answer calls `called` (function
    /// names, in order; none for a prose answer).
    pub(crate) fn offer(&self, mode: ToolChoiceMode, called: &[String]) -> ToolOffer {
        ToolOffer {
            tools: self.tools.clone(),
            counted_text: self.counted_text.clone(),
            tool_choice: choice(self.api, mode, &self.definitions, called),
        }
    }
}

/// The tools of `gen_ai.tool.definitions` (OpenAI's nested form or the flat one) as `api`'s
/// request's `tools`, their parameters cleaned to the JSON Schema vLLM accepts; or why a
/// definition cannot be sent.
fn offered_tools(definitions: &[Value], api: ApiType) -> Result<Vec<Value>, String> {
    match api {
        ApiType::AnthropicMessages => Ok(definitions.iter().map(anthropic_tool).collect()),
        ApiType::Chat | ApiType::Completion => openai_tools(definitions),
    }
}

fn openai_tools(definitions: &[Value]) -> Result<Vec<Value>, String> {
    definitions
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let missing = |key: &str| format!("gen_ai.tool.definitions[{i}] has no {key}");
            let (kind, f) = match t.get("function") {
                Some(f) => (t.get("type").cloned().unwrap_or(json!("function")), f),
                None => (t.get("type").cloned().ok_or_else(|| missing("type"))?, t),
            };
            let name = f.get("name").cloned().ok_or_else(|| missing("name"))?;
            Ok(json!({
                "type": kind,
                "function": {
                    "name": name,
                    "description": f.get("description").cloned().unwrap_or(Value::Null),
                    "parameters": clean(f.get("parameters").unwrap_or(&Value::Null), false),
                },
            }))
        })
        .collect()
}

/// A Messages API tool: a definition's name (`""` when it has none, as inference-perf sends
/// it), its description when it has one, and its cleaned parameters as `input_schema` (an
/// empty object schema when it has none).
fn anthropic_tool(definition: &Value) -> Value {
    let function = definition
        .get("function")
        .filter(|f| f.is_object())
        .unwrap_or(definition);
    let parameters = function
        .get("parameters")
        .filter(|p| truthy(p))
        .cloned()
        .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    let mut tool = Map::new();
    tool.insert(
        "name".into(),
        function.get("name").cloned().unwrap_or(json!("")),
    );
    tool.insert("input_schema".into(), clean(&parameters, false));
    if let Some(description) = function.get("description").filter(|d| !d.is_null()) {
        tool.insert("description".into(), description.clone());
    }
    Value::Object(tool)
}

/// The definitions as inference-perf counts them among the prompt's tokens.
fn counted_text(definitions: &[Value]) -> String {
    dumps(&Value::Array(definitions.to_vec()), false)
}

/// The `tool_choice` of a call to `api` offered `definitions` whose recorded answer called
/// `called` (names, in order).
fn choice(
    api: ApiType,
    mode: ToolChoiceMode,
    definitions: &[Value],
    called: &[String],
) -> Option<Value> {
    if mode == ToolChoiceMode::AsRecorded || definitions.is_empty() {
        return None;
    }
    if api == ApiType::AnthropicMessages {
        return anthropic_choice(definitions, called);
    }
    if called.is_empty() {
        return Some(json!("none"));
    }
    // Only flat definitions name their function at the top: inference-perf looks there alone.
    let offered = |name: &str| {
        definitions
            .iter()
            .any(|t| t.get("name").and_then(Value::as_str) == Some(name))
    };
    Some(match called {
        [one] if offered(one) => json!({"type": "function", "function": {"name": one}}),
        // Several calls (vLLM forces one name at most) or a tool this call was not offered.
        _ => json!("required"),
    })
}

/// inference-perf forces a Messages API call only when it answered with a tool (a prose turn
/// is sent no `tool_choice`), and looks the name up among the tools as sent.
fn anthropic_choice(definitions: &[Value], called: &[String]) -> Option<Value> {
    if called.is_empty() {
        return None;
    }
    let offered = |name: &str| {
        definitions
            .iter()
            .map(anthropic_tool)
            .any(|t| t["name"].as_str() == Some(name))
    };
    Some(match called {
        [one] if offered(one) => json!({"type": "tool", "name": one}),
        _ => json!({"type": "any"}),
    })
}

const SCHEMA_KEYS: [&str; 12] = [
    "type",
    "description",
    "enum",
    "properties",
    "required",
    "items",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "const",
    "additionalProperties",
];

/// inference-perf's `_clean_schema`: JSON Schema keywords only, `additionalProperties` a
/// boolean, every schema with a plain `type` (no `anyOf`/`oneOf`; `string` when it had none),
/// every object with `properties`. `names` says `value` maps property names to schemas.
fn clean(value: &Value, names: bool) -> Value {
    match value {
        Value::Object(map) if names => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), clean(v, false)))
                .collect(),
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if !SCHEMA_KEYS.contains(&k.as_str()) {
                    continue;
                }
                let v = match v {
                    Value::Bool(_) => v.clone(),
                    _ if k == "additionalProperties" => Value::Bool(false),
                    _ => clean(v, k == "properties"),
                };
                out.insert(k.clone(), v);
            }
            out.shift_remove("anyOf");
            out.shift_remove("oneOf");
            if !out.contains_key("type") {
                out.insert("type".into(), json!("string"));
            }
            if out.get("type") == Some(&json!("object")) && !out.contains_key("properties") {
                out.insert("properties".into(), json!({}));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| clean(v, false)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_sent_nested_with_clean_parameters() {
        let flat = json!({"type": "function", "name": "search", "parameters": {
            "type": "object", "title": "x", "additionalProperties": {"type": "string"},
            "properties": {"q": {"anyOf": [{"type": "string"}], "default": 1},
                           "map": {"type": "object"}}}});
        let nested = json!({"function": {"name": "read", "description": "d"}});
        assert_eq!(
            offered_tools(&[flat, nested], ApiType::Chat).unwrap(),
            vec![
                json!({"type": "function", "function": {"name": "search", "description": null,
                    "parameters": {"type": "object", "additionalProperties": false, "properties": {
                        "q": {"type": "string"}, "map": {"type": "object", "properties": {}}}}}}),
                json!({"type": "function", "function": {"name": "read", "description": "d",
                    "parameters": null}}),
            ]
        );
        let error = offered_tools(&[json!({"name": "x"})], ApiType::Chat).unwrap_err();
        assert!(error.contains("[0] has no type"), "{error}");
    }

    #[test]
    fn a_recorded_call_is_forced_by_name_or_required() {
        let tools = [json!({"type": "function", "name": "search"})];
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let force = ToolChoiceMode::ForceRecorded;
        assert_eq!(
            choice(ApiType::Chat, force, &tools, &names(&["search"])),
            Some(json!({"type": "function", "function": {"name": "search"}}))
        );
        assert_eq!(
            choice(ApiType::Chat, force, &tools, &names(&["other"])),
            Some(json!("required"))
        );
        assert_eq!(
            choice(ApiType::Chat, force, &tools, &names(&["search", "search"])),
            Some(json!("required"))
        );
        assert_eq!(
            choice(ApiType::Chat, force, &tools, &[]),
            Some(json!("none"))
        );
        assert_eq!(choice(ApiType::Chat, force, &[], &names(&["search"])), None);
        assert_eq!(
            choice(
                ApiType::Chat,
                ToolChoiceMode::AsRecorded,
                &tools,
                &names(&["search"])
            ),
            None
        );
    }

    #[test]
    fn messages_api_tools_carry_an_input_schema_and_their_description_only_when_set() {
        let flat = json!({"type": "function", "name": "search", "description": "find",
            "parameters": {"type": "object", "title": "x", "properties": {"q": {"type": "string"}}}});
        let nested = json!({"type": "function", "function": {"name": "read", "parameters": {}}});
        let nameless = json!({"description": null});
        assert_eq!(
            offered_tools(&[flat, nested, nameless], ApiType::AnthropicMessages).unwrap(),
            vec![
                json!({"name": "search", "description": "find", "input_schema": {
                    "type": "object", "properties": {"q": {"type": "string"}}}}),
                json!({"name": "read", "input_schema": {"type": "object", "properties": {}}}),
                json!({"name": "", "input_schema": {"type": "object", "properties": {}}}),
            ]
        );
    }

    #[test]
    fn a_messages_api_call_is_forced_to_its_tool_or_any_and_a_prose_turn_is_not_forced() {
        let api = ApiType::AnthropicMessages;
        // Unlike the chat check, a nested definition's name counts: the tools as sent are
        // looked up.
        let tools = [json!({"function": {"name": "search"}})];
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let force = ToolChoiceMode::ForceRecorded;
        assert_eq!(
            choice(api, force, &tools, &names(&["search"])),
            Some(json!({"type": "tool", "name": "search"}))
        );
        assert_eq!(
            choice(api, force, &tools, &names(&["other"])),
            Some(json!({"type": "any"}))
        );
        assert_eq!(
            choice(api, force, &tools, &names(&["search", "search"])),
            Some(json!({"type": "any"}))
        );
        assert_eq!(choice(api, force, &tools, &[]), None);
        assert_eq!(
            choice(api, ToolChoiceMode::AsRecorded, &tools, &names(&["search"])),
            None
        );
    }
}
