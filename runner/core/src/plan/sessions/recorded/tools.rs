//! A call's recorded tools as inference-perf offers them, and the `tool_choice` it sends.

use serde_json::{Map, Value, json};

use crate::config::ToolChoiceMode;
use crate::python_json::dumps;

/// The tools of `gen_ai.tool.definitions` (OpenAI's nested form or the flat one) as the
/// request's `tools`, their parameters cleaned to the JSON Schema vLLM accepts; or why a
/// definition cannot be sent.
pub(crate) fn offered(definitions: &[Value]) -> Result<Vec<Value>, String> {
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

/// The definitions as inference-perf counts them among the prompt's tokens.
pub(crate) fn counted_text(definitions: &[Value]) -> String {
    dumps(&Value::Array(definitions.to_vec()), false)
}

/// The `tool_choice` of a call offered `definitions` whose recorded answer called
/// `called` (names, in order).
pub(crate) fn choice(
    mode: ToolChoiceMode,
    definitions: &[Value],
    called: &[String],
) -> Option<Value> {
    if mode == ToolChoiceMode::AsRecorded || definitions.is_empty() {
        return None;
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
            offered(&[flat, nested]).unwrap(),
            vec![
                json!({"type": "function", "function": {"name": "search", "description": null,
                    "parameters": {"type": "object", "additionalProperties": false, "properties": {
                        "q": {"type": "string"}, "map": {"type": "object", "properties": {}}}}}}),
                json!({"type": "function", "function": {"name": "read", "description": "d",
                    "parameters": null}}),
            ]
        );
        let error = offered(&[json!({"name": "x"})]).unwrap_err();
        assert!(error.contains("[0] has no type"), "{error}");
    }

    #[test]
    fn a_recorded_call_is_forced_by_name_or_required() {
        let tools = [json!({"type": "function", "name": "search"})];
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let force = ToolChoiceMode::ForceRecorded;
        assert_eq!(
            choice(force, &tools, &names(&["search"])),
            Some(json!({"type": "function", "function": {"name": "search"}}))
        );
        assert_eq!(
            choice(force, &tools, &names(&["other"])),
            Some(json!("required"))
        );
        assert_eq!(
            choice(force, &tools, &names(&["search", "search"])),
            Some(json!("required"))
        );
        assert_eq!(choice(force, &tools, &[]), Some(json!("none")));
        assert_eq!(choice(force, &[], &names(&["search"])), None);
        assert_eq!(
            choice(ToolChoiceMode::AsRecorded, &tools, &names(&["search"])),
            None
        );
    }
}
