//! A recorded message as inference-perf sends it, and the text it compares messages by.
//!
//! Traces record messages in several shapes: OpenAI's (`content`, `tool_calls`,
//! `tool_call_id`), OTel's `parts` (`text`, `tool_call`, `tool_call_response`), content as a
//! list of blocks. inference-perf sends every one as an OpenAI chat message (a tool result as a
//! `tool` message, tool calls with string arguments), and compares messages by a flattened text
//! in which a tool call reads `<|tool_call|>name<|tool_args|>arguments<|end|>`.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::python_json::{dumps, truthy as python_truthy};

/// A chat message in OpenAI's wire form: `role`, `tool_call_id` (tool results), `tool_calls`,
/// `content` (absent only beside tool calls), `reasoning_content` and `reasoning`.
pub type Message = Map<String, Value>;

/// A recorded input message: what is sent, and what it is compared by.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    pub wire: Message,
    pub role: String,
    /// inference-perf's `message_content_text`.
    pub text: String,
    /// Ids of the tool calls it makes.
    pub tool_call_ids: HashSet<String>,
}

/// A recorded input message, or why it cannot be sent.
pub(crate) fn input(raw: &Value) -> Result<Parsed, String> {
    let role = match raw.get("role").and_then(Value::as_str) {
        Some("developer") => "system",
        Some(role) => role,
        None => return Err("has no role".into()),
    };
    let content = raw.get("content");
    let tool_calls = raw.get("tool_calls").filter(|v| !v.is_null());
    // inference-perf turns content beside tool calls into parts, and keeps a message with
    // parts in that shape.
    let parts: Option<Vec<Value>> = match (content, tool_calls) {
        (Some(content), Some(calls)) => Some(content_and_calls_as_parts(content, calls)),
        // A string content is the message, whatever else it has.
        (Some(Value::String(_)), None) => None,
        _ => raw.get("parts").and_then(Value::as_array).cloned(),
    };
    let (wire, text) = if let Some(parts) = &parts {
        (from_parts(role, parts)?, parts_text(parts))
    } else {
        let text = match content {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => list_text(items),
            _ => tool_calls
                .and_then(Value::as_array)
                .map(|calls| {
                    calls
                        .iter()
                        .filter_map(openai_call)
                        .map(|c| format_call(&c))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default(),
        };
        (plain(role, raw, content, tool_calls)?, text)
    };
    let tool_call_ids = call_ids(raw, parts.as_deref());
    Ok(Parsed {
        role: role.to_string(),
        wire,
        text,
        tool_call_ids,
    })
}

/// A recorded output: its text (inference-perf's `reconstruct_llm_output`), the ids of the tool
/// calls it makes when recorded as `parts`, and the names of the tools it calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Output {
    pub text: String,
    pub part_call_ids: HashSet<String>,
    pub tool_names: Vec<String>,
}

pub(crate) fn output(message: &Value) -> Output {
    let mut texts = Vec::new();
    match message.get("content") {
        Some(Value::String(s)) if !s.is_empty() => texts.push(s.clone()),
        Some(Value::Array(items)) => texts.extend(items.iter().filter_map(|i| match i {
            Value::String(s) => Some(s.clone()),
            other => other.get("text").and_then(Value::as_str).map(String::from),
        })),
        _ => {}
    }
    let parts = message.get("parts").and_then(Value::as_array);
    for part in parts.into_iter().flatten() {
        if kind(part) == "text"
            && let Some(t) = part
                .get("text")
                .or_else(|| part.get("content"))
                .and_then(Value::as_str)
        {
            texts.push(t.to_string());
        }
    }
    let listed = message.get("tool_calls").and_then(Value::as_array);
    let mut calls: Vec<Value> = listed
        .into_iter()
        .flatten()
        .filter_map(openai_call)
        .collect();
    let part_calls: Vec<&Value> = parts
        .into_iter()
        .flatten()
        .filter(|p| kind(p) == "tool_call")
        .collect();
    calls.extend(part_calls.iter().map(|p| (*p).clone()));
    let mut pieces = Vec::new();
    let text = texts.join("\n");
    if !text.is_empty() {
        pieces.push(text);
    }
    pieces.extend(calls.iter().map(format_call));
    let named = |name: Option<&Value>| {
        name.and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(String::from)
    };
    let mut tool_names: Vec<String> = part_calls
        .iter()
        .filter_map(|p| named(p.get("name")))
        .collect();
    if tool_names.is_empty() {
        tool_names = listed
            .into_iter()
            .flatten()
            .filter_map(|c| {
                named(c.get("function").and_then(|f| f.get("name")))
                    .or_else(|| named(c.get("name")))
            })
            .collect();
    }
    Output {
        text: pieces.join("\n"),
        part_call_ids: part_calls
            .iter()
            .filter_map(|p| p.get("id").and_then(Value::as_str).map(String::from))
            .collect(),
        tool_names,
    }
}

/// A message with parts: its text, its tool calls, or the first tool result it carries (sent
/// as a `tool` message: one wire message answers one call).
fn from_parts(role: &str, parts: &[Value]) -> Result<Message, String> {
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    for part in parts {
        match kind(part) {
            "text" => texts.push(coerce_text(part.get("content"))),
            "tool_call" => calls.push(normalise_call(part, part)?),
            _ => {}
        }
    }
    let mut role = role.to_string();
    let mut tool_call_id = None;
    if let Some(result) = parts.iter().find(|p| kind(p) == "tool_call_response") {
        role = "tool".into();
        tool_call_id = result.get("id").filter(|id| truthy_str(id)).cloned();
        texts.push(coerce_text(
            result.get("result").or_else(|| result.get("response")),
        ));
    }
    let content = (!texts.is_empty() || calls.is_empty()).then(|| texts.concat());
    Ok(message(
        &role,
        tool_call_id,
        Some(calls).filter(|c| !c.is_empty()),
        content,
    ))
}

/// A message without parts.
fn plain(
    role: &str,
    raw: &Value,
    content: Option<&Value>,
    tool_calls: Option<&Value>,
) -> Result<Message, String> {
    if let Some(Value::Array(items)) = content
        && let Some(result) = items.iter().find(|i| kind(i) == "tool_call_response")
    {
        let id = result.get("id").filter(|id| truthy_str(id)).cloned();
        let text = coerce_text(result.get("result").or_else(|| result.get("response")));
        return Ok(message("tool", id, None, Some(text)));
    }
    let calls = match tool_calls {
        Some(Value::Array(list)) => Some(
            list.iter()
                .map(|c| {
                    normalise_call(c, c.get("function").filter(|f| f.is_object()).unwrap_or(c))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err("tool_calls is not a list".into()),
        None => None,
    };
    let id = raw
        .get("tool_call_id")
        .filter(|id| role == "tool" && !id.is_null())
        .cloned();
    let content = match content {
        Some(Value::String(s)) => Some(s.clone()),
        Some(c) if !c.is_null() => Some(coerce_text(Some(c))),
        // The flattened text of a message without content is empty unless it has calls.
        _ => calls.is_none().then(String::new),
    };
    Ok(message(role, id, calls, content))
}

/// inference-perf's wire message (`ChatMessage.to_dict`): content is sent beside tool calls
/// only when it has text.
fn message(
    role: &str,
    tool_call_id: Option<Value>,
    tool_calls: Option<Vec<Value>>,
    content: Option<String>,
) -> Message {
    let mut m = Map::new();
    m.insert("role".into(), json!(role));
    if let Some(id) = tool_call_id {
        m.insert("tool_call_id".into(), id);
    }
    match tool_calls {
        Some(calls) => {
            m.insert("tool_calls".into(), Value::Array(calls));
            if let Some(text) = content.filter(|t| !t.is_empty()) {
                m.insert("content".into(), json!(text));
            }
        }
        None => {
            m.insert("content".into(), json!(content.unwrap_or_default()));
        }
    }
    m
}

/// A tool call in OpenAI's form, its arguments a JSON string; `named` holds its name and
/// arguments (the call itself, or its `function`).
fn normalise_call(call: &Value, named: &Value) -> Result<Value, String> {
    let id = call.get("id").filter(|id| !id.is_null()).ok_or(
        "has a tool call without an id, which cannot be replayed (its result is linked by it)",
    )?;
    let arguments = match named.get("arguments") {
        None | Some(Value::Null) => json!(""),
        Some(Value::String(s)) => json!(s),
        Some(other) => json!(dumps(other, true)),
    };
    Ok(json!({
        "id": id,
        "type": "function",
        "function": {"name": named.get("name").cloned().unwrap_or(Value::Null), "arguments": arguments},
    }))
}

/// A `tool_calls` entry as a `tool_call` part (`id`, `name`, `arguments`).
fn openai_call(call: &Value) -> Option<Value> {
    match call.get("function") {
        Some(f) if f.is_object() => Some(json!({
            "type": "tool_call", "id": call.get("id"), "name": f.get("name"),
            "arguments": f.get("arguments"),
        })),
        _ => call.get("name").map(|_| call.clone()),
    }
}

fn content_and_calls_as_parts(content: &Value, calls: &Value) -> Vec<Value> {
    let mut parts = Vec::new();
    match content {
        Value::String(s) if !s.is_empty() => parts.push(json!({"type": "text", "content": s})),
        Value::Array(items) => parts.extend(items.iter().cloned()),
        _ => {}
    }
    for call in calls.as_array().into_iter().flatten() {
        if let Some(mut part) = openai_call(call) {
            part["type"] = json!("tool_call");
            parts.push(part);
        }
    }
    parts
}

fn call_ids(raw: &Value, parts: Option<&[Value]>) -> HashSet<String> {
    let id = |v: &Value| v.get("id").and_then(Value::as_str).map(String::from);
    match (raw.get("tool_calls").and_then(Value::as_array), parts) {
        (Some(calls), _) => calls.iter().filter_map(id).collect(),
        (None, Some(parts)) => parts
            .iter()
            .filter(|p| kind(p) == "tool_call")
            .filter_map(id)
            .collect(),
        _ => HashSet::new(),
    }
}

fn kind(part: &Value) -> &str {
    part.get("type").and_then(Value::as_str).unwrap_or_default()
}

fn truthy_str(v: &Value) -> bool {
    !(v.is_null() || v.as_str() == Some(""))
}

/// inference-perf's `_coerce_text`: a string, or the `text` (else `content`) of each block.
fn coerce_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|b| match b {
                Value::Object(o) => o
                    .get("text")
                    .or_else(|| o.get("content"))
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => dumps(other, true),
                    })
                    .unwrap_or_default(),
                Value::String(s) => s.clone(),
                other => dumps(other, true),
            })
            .collect(),
        Some(other) => dumps(other, true),
    }
}

/// `<|tool_call|>name<|tool_args|>arguments<|end|>`, as a model would have written the call.
fn format_call(call: &Value) -> String {
    let name = match call.get("name") {
        None => "unknown_tool".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) => "None".to_string(),
        Some(other) => dumps(other, true),
    };
    let arguments = match call.get("arguments").filter(|a| python_truthy(a)) {
        Some(a) => a.clone(),
        None => call.get("input").cloned().unwrap_or_else(|| json!("{}")),
    };
    let arguments = match arguments {
        Value::String(s) => s,
        other => dumps(&other, true),
    };
    format!("<|tool_call|>{name}<|tool_args|>{arguments}<|end|>")
}

fn format_result(result: &Value) -> String {
    let id = result
        .get("tool_use_id")
        .filter(|v| python_truthy(v))
        .or_else(|| result.get("id"))
        .map_or_else(|| "unknown".to_string(), |v| coerce_text(Some(v)));
    let content = result
        .get("content")
        .filter(|v| python_truthy(v))
        .or_else(|| result.get("result"))
        .or_else(|| result.get("response"))
        .map_or_else(String::new, |v| coerce_text(Some(v)));
    let error = if result.get("is_error").is_some_and(python_truthy) {
        " [ERROR]"
    } else {
        ""
    };
    format!("<tool_result: {id}{error}>\n{content}\n</tool_result>")
}

fn parts_text(parts: &[Value]) -> String {
    parts
        .iter()
        .filter_map(|part| match kind(part) {
            "text" => part
                .get("text")
                .or_else(|| part.get("content"))
                .map(|t| coerce_text(Some(t))),
            "tool_call" | "tool_use" => Some(format_call(part)),
            "tool_result" | "tool_call_response" => Some(format_result(part)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn list_text(items: &[Value]) -> String {
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(s) => Some(s.clone()),
            Value::Object(_) => match kind(item) {
                "text" => item
                    .get("text")
                    .or_else(|| item.get("content"))
                    .map(|t| coerce_text(Some(t))),
                "tool_result" | "tool_call_response" => Some(format_result(item)),
                "tool_use" => Some(format_call(item)),
                _ => item
                    .get("text")
                    .map(|t| coerce_text(Some(t)))
                    .or_else(|| item.get("content").map(|c| coerce_text(Some(c)))),
            },
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_shapes_become_openai_messages() {
        let wire = |v: Value| Value::Object(input(&v).unwrap().wire);
        assert_eq!(
            wire(json!({"role": "developer", "content": "be brief"})),
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(
            wire(json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]})),
            json!({"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]}),
            "object arguments are sent as JSON text, empty content left out"
        );
        assert_eq!(
            wire(json!({"role": "tool", "tool_call_id": "c1", "content": "42"})),
            json!({"role": "tool", "tool_call_id": "c1", "content": "42"})
        );
        assert_eq!(
            wire(json!({"role": "user", "content": [
                {"type": "tool_call_response", "id": "c1", "response": "sunny"}]})),
            json!({"role": "tool", "tool_call_id": "c1", "content": "sunny"}),
            "a tool result is a tool message whatever role recorded it"
        );
        assert_eq!(
            wire(
                json!({"role": "assistant", "parts": [{"type": "text", "content": "ok "},
                {"type": "tool_call", "id": "c2", "name": "g", "arguments": "{}"}]})
            ),
            json!({"role": "assistant", "tool_calls": [
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}],
                "content": "ok "})
        );
        assert_eq!(
            wire(
                json!({"role": "user", "content": [{"type": "text", "text": "a"}, {"text": "b"}]})
            ),
            json!({"role": "user", "content": "ab"})
        );
        let error =
            input(&json!({"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}))
                .unwrap_err();
        assert!(error.contains("without an id"), "{error}");
        assert!(
            input(&json!({"content": "x"}))
                .unwrap_err()
                .contains("role")
        );
    }

    #[test]
    fn a_tool_call_reads_the_same_as_output_and_as_input() {
        let call = json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]});
        let parsed = input(&call).unwrap();
        let out = output(&call);
        assert_eq!(parsed.text, "<|tool_call|>f<|tool_args|>{}<|end|>");
        assert_eq!(out.text, parsed.text);
        assert_eq!(out.tool_names, vec!["f"]);
        assert!(parsed.tool_call_ids.contains("c1"));
        let parts = output(&json!({"role": "assistant", "parts": [
            {"type": "text", "content": "thinking"},
            {"type": "tool_call", "id": "c9", "name": "g", "arguments": "{\"q\": 1}"}]}));
        assert_eq!(
            parts.text,
            "thinking\n<|tool_call|>g<|tool_args|>{\"q\": 1}<|end|>"
        );
        assert!(parts.part_call_ids.contains("c9"));
    }
}
