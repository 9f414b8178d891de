//! A call's messages (OpenAI's chat shape, live answers substituted) as the Messages API
//! (Anthropic) is sent them, as inference-perf 0.7.0's `build_anthropic_request_body` turns
//! them: system messages joined into `system`, tool results as user `tool_result` blocks, tool
//! calls as assistant `tool_use` blocks with their arguments parsed, and only the content
//! blocks that API takes.

use serde_json::{Map, Value, json};

use super::Message;

/// What a Messages API request carries of a call's messages.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesApiInput {
    /// The system messages' texts joined by a blank line; `None` when that is empty.
    pub system: Option<String>,
    pub messages: Vec<Value>,
}

impl MessagesApiInput {
    pub fn new(messages: &[Message]) -> Self {
        let is_system = |m: &&Message| m.get("role").and_then(Value::as_str) == Some("system");
        let system = messages
            .iter()
            .filter(is_system)
            .map(|m| content_text(m.get("content")))
            .collect::<Vec<_>>()
            .join("\n\n");
        MessagesApiInput {
            system: (!system.is_empty()).then_some(system),
            messages: messages
                .iter()
                .filter(|m| !is_system(m))
                .map(messages_api_message)
                .collect(),
        }
    }
}

/// The text of a message's content: a string as is, the `text` (or `input_text`) parts of a
/// list joined; what inference-perf counts of a message among the prompt's tokens.
pub fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| matches!(p["type"].as_str(), Some("text" | "input_text")))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

fn messages_api_message(message: &Message) -> Value {
    let text = || content_text(message.get("content"));
    let role = message.get("role").and_then(Value::as_str).unwrap_or("");
    if role == "tool" {
        let id = message
            .get("tool_call_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        return json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": text()},
        ]});
    }
    let calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .filter(|calls| !calls.is_empty());
    if let Some(calls) = calls {
        let text = text();
        let blocks = (!text.is_empty())
            .then(|| json!({"type": "text", "text": text}))
            .into_iter()
            .chain(calls.iter().map(|call| {
                let function = &call["function"];
                let or_empty = |v: Option<&Value>| v.cloned().unwrap_or(json!(""));
                json!({
                    "type": "tool_use",
                    "id": or_empty(call.get("id")),
                    "name": or_empty(function.get("name")),
                    "input": tool_input(&function["arguments"]),
                })
            }))
            .collect();
        return json!({"role": "assistant", "content": Value::Array(blocks)});
    }
    let role = if role == "assistant" {
        "assistant"
    } else {
        "user"
    };
    json!({"role": role, "content": blocks(message.get("content"))})
}

/// A content list keeps the blocks the Messages API takes (`input_text` becomes `text`);
/// no content is sent as `""`.
fn blocks(content: Option<&Value>) -> Value {
    match content {
        Some(Value::String(_)) => content.cloned().unwrap_or_default(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| match part["type"].as_str()? {
                "text" | "tool_use" | "tool_result" => Some(part.clone()),
                "input_text" => Some(json!({"type": "text", "text": part["text"]})),
                _ => None,
            })
            .collect(),
        _ => json!(""),
    }
}

/// A tool call's `arguments` as a `tool_use` block's `input`, which must be an object: a JSON
/// text is parsed (a non-object wrapped as `{"value": …}`), unparseable text kept as
/// `{"arguments": …}`.
fn tool_input(arguments: &Value) -> Value {
    match arguments {
        Value::Object(_) => arguments.clone(),
        Value::String(text) if !text.is_empty() => match serde_json::from_str::<Value>(text) {
            Ok(parsed @ Value::Object(_)) => parsed,
            Ok(parsed) => json!({ "value": parsed }),
            Err(_) => json!({ "arguments": text }),
        },
        _ => Value::Object(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(value: Value) -> Message {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn a_tool_loop_becomes_messages_api_blocks_with_system_apart() {
        let sent: Vec<Message> = [
            json!({"role": "system", "content": "be brief"}),
            json!({"role": "system", "content": [{"type": "input_text", "text": "and kind"}]}),
            json!({"role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "u"}},
                {"type": "text", "text": "up"}]}),
            json!({"role": "assistant", "content": "on it", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{\"q\": 1}"}},
                {"id": "c2", "type": "function", "function": {"name": "list", "arguments": "[1]"}},
                {"id": "c3", "type": "function", "function": {"name": "bad", "arguments": "{oops"}},
                {"id": "c4", "type": "function", "function": {"name": "none", "arguments": ""}}]}),
            json!({"role": "tool", "tool_call_id": "c1", "content": "found"}),
            json!({"role": "assistant", "content": null}),
            json!({"role": "developer", "content": "x"}),
        ]
        .into_iter()
        .map(message)
        .collect();
        let input = MessagesApiInput::new(&sent);
        assert_eq!(input.system.as_deref(), Some("be brief\n\nand kind"));
        assert_eq!(
            Value::Array(input.messages),
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "look"}, {"type": "text", "text": "up"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "on it"},
                    {"type": "tool_use", "id": "c1", "name": "search", "input": {"q": 1}},
                    {"type": "tool_use", "id": "c2", "name": "list", "input": {"value": [1]}},
                    {"type": "tool_use", "id": "c3", "name": "bad", "input": {"arguments": "{oops"}},
                    {"type": "tool_use", "id": "c4", "name": "none", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "found"}]},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "x"},
            ])
        );
        assert_eq!(
            MessagesApiInput::new(&[message(json!({"role": "user", "content": "q"}))]).system,
            None
        );
    }

    #[test]
    fn content_text_counts_text_parts_only() {
        assert_eq!(content_text(Some(&json!("abc"))), "abc");
        assert_eq!(
            content_text(Some(&json!([
                {"type": "text", "text": "a"},
                {"type": "image_url", "text": "not counted"},
                {"type": "input_text", "text": "b"}]))),
            "ab"
        );
        assert_eq!(content_text(None), "");
        assert_eq!(content_text(Some(&Value::Null)), "");
    }
}
