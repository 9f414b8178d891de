//! What inference-perf 0.7.0 records of a Messages API (Anthropic) answer in its per-request
//! entry, read back from the raw response: the content-bearing events (`content_block_start`
//! with text, `text_delta`s), the server's `usage` merged over the stream's events in Anthropic's
//! own keys (`input_tokens`, `output_tokens`, ...), and `extra_info`'s `output_text` and
//! `output_message` (its tool calls in the OpenAI shape, as inference-perf turns `tool_use`
//! blocks into `tool_calls`). A whole answer has no chunks and no `server_usage` there, and
//! its `extra_info` adds `stop_reason`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::plan::sessions::Message;
use crate::python_json::{dumps, truthy};

/// The parts of an answer's entry that differ from the OpenAI APIs'.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagesAnswer {
    /// Streamed: the JSON of each content-bearing event.
    pub chunks: Vec<String>,
    pub server_usage: Option<Value>,
    pub extra_info: Map<String, Value>,
}

impl MessagesAnswer {
    pub fn read(raw: &str, streamed: bool) -> Self {
        if streamed {
            Self::from_stream(raw)
        } else {
            Self::from_body(raw)
        }
    }

    /// The answer as the message a later call of its session sends back (tool calls in
    /// OpenAI's shape); `None` for a whole answer without content blocks, whose recorded
    /// answer is sent in its place.
    pub fn message(raw: &str, streamed: bool) -> Option<Message> {
        match Self::read(raw, streamed)
            .extra_info
            .remove("output_message")
        {
            Some(Value::Object(message)) => Some(message),
            _ => None,
        }
    }

    fn from_stream(sse: &str) -> Self {
        let mut answer = MessagesAnswer::default();
        let mut usage: Option<Map<String, Value>> = None;
        let mut text = String::new();
        let mut tool_calls = ToolCalls::default();
        let events = sse
            .split("\n\n")
            .flat_map(str::lines)
            .filter_map(|line| line.strip_prefix("data:"))
            .map(str::trim)
            .take_while(|data| *data != "[DONE]");
        for data in events {
            let Ok(event) = serde_json::from_str::<Value>(data) else {
                continue;
            };
            let event_usage = event
                .get("usage")
                .filter(|u| u.is_object())
                .or_else(|| event["message"].get("usage"));
            if let Some(Value::Object(fields)) = event_usage {
                usage.get_or_insert_default().extend(fields.clone());
            }
            if let Some(content) = tool_calls.content(&event) {
                text.push_str(content);
                answer.chunks.push(data.to_string());
            }
        }
        answer.server_usage = usage.map(Value::Object);
        answer.extra_info = output_info(text, tool_calls.into_list());
        answer
    }

    fn from_body(body: &str) -> Self {
        let body: Value = serde_json::from_str(body).unwrap_or_default();
        let mut extra_info = Map::new();
        extra_info.insert("stop_reason".into(), body["stop_reason"].clone());
        match body["content"].as_array() {
            Some(blocks) => {
                let mut text = String::new();
                let mut calls = Vec::new();
                for block in blocks {
                    match block["type"].as_str() {
                        Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
                        Some("tool_use") => calls.push(tool_call(
                            &block["id"],
                            &block["name"],
                            tool_arguments(&block["input"]),
                        )),
                        _ => {}
                    }
                }
                extra_info.extend(output_info(text, calls));
            }
            None => {
                extra_info.insert("output_message".into(), Value::Null);
                extra_info.insert("output_text".into(), json!(""));
            }
        }
        MessagesAnswer {
            extra_info,
            ..Default::default()
        }
    }
}

/// The tool calls a stream builds up: each `tool_use` block by its index, its arguments from
/// the `input_json_delta`s that follow.
#[derive(Default)]
struct ToolCalls(BTreeMap<i64, (Value, Value, String)>);

impl ToolCalls {
    /// Notes a stream event's tool-call parts; returns the text it carries, if any.
    fn content<'a>(&mut self, event: &'a Value) -> Option<&'a str> {
        let index = event["index"].as_i64();
        match event["type"].as_str()? {
            "content_block_start" => {
                let block = &event["content_block"];
                match block["type"].as_str()? {
                    "tool_use" => {
                        let index = index.unwrap_or(self.0.len() as i64);
                        let input = &block["input"];
                        let arguments = if truthy(input) {
                            tool_arguments(input)
                        } else {
                            String::new()
                        };
                        self.0.insert(
                            index,
                            (block["id"].clone(), block["name"].clone(), arguments),
                        );
                        None
                    }
                    "text" => block["text"].as_str().filter(|t| !t.is_empty()),
                    _ => None,
                }
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                match delta["type"].as_str()? {
                    "text_delta" => delta["text"].as_str().filter(|t| !t.is_empty()),
                    "input_json_delta" => {
                        let part = delta["partial_json"].as_str().unwrap_or_default();
                        if !part.is_empty() {
                            let call = self
                                .0
                                .entry(index.unwrap_or(0))
                                .or_insert_with(|| (Value::Null, Value::Null, String::new()));
                            call.2.push_str(part);
                        }
                        None
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn into_list(self) -> Vec<Value> {
        self.0
            .into_values()
            .map(|(id, name, arguments)| tool_call(&id, &name, arguments))
            .collect()
    }
}

/// A `tool_use` input as the JSON text of a call's arguments (a non-object becomes `{}`), as
/// Python's `json.dumps` writes it.
fn tool_arguments(input: &Value) -> String {
    match input {
        Value::String(s) => s.clone(),
        Value::Object(_) => dumps(input, false),
        _ => "{}".to_string(),
    }
}

fn tool_call(id: &Value, name: &Value, arguments: String) -> Value {
    let or_empty = |v: &Value| v.as_str().unwrap_or_default().to_string();
    json!({
        "id": or_empty(id),
        "type": "function",
        "function": {"name": or_empty(name), "arguments": arguments},
    })
}

/// `output_message` and `output_text` of an answer's text and tool calls.
fn output_info(text: String, tool_calls: Vec<Value>) -> Map<String, Value> {
    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    if tool_calls.is_empty() || !text.is_empty() {
        message.insert("content".into(), json!(text));
    }
    if !tool_calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    let mut info = Map::new();
    info.insert("output_message".into(), Value::Object(message));
    info.insert("output_text".into(), json!(text));
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(events: &[Value]) -> String {
        events
            .iter()
            .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
            .collect()
    }

    #[test]
    fn a_streamed_answer_keeps_its_text_events_and_the_merged_usage_in_anthropics_keys() {
        let stream = sse(&[
            json!({"type": "message_start", "message": {"role": "assistant", "content": [], "usage": {"input_tokens": 3, "output_tokens": 0}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " world"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
            json!({"type": "message_stop"}),
        ]);
        let answer = MessagesAnswer::read(&stream, true);
        assert_eq!(answer.chunks.len(), 2);
        assert!(answer.chunks[0].contains("Hello"), "{:?}", answer.chunks);
        assert_eq!(
            answer.server_usage,
            Some(json!({"input_tokens": 3, "output_tokens": 2}))
        );
        assert_eq!(
            Value::Object(answer.extra_info),
            json!({"output_text": "Hello world", "output_message": {"role": "assistant", "content": "Hello world"}})
        );
    }

    #[test]
    fn streamed_tool_use_blocks_become_tool_calls_with_their_arguments() {
        let stream = sse(&[
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 9}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"order\": "}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "7}"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}}),
        ]);
        let answer = MessagesAnswer::read(&stream, true);
        assert!(answer.chunks.is_empty(), "no text, no content chunk");
        assert_eq!(
            answer.extra_info["output_message"],
            json!({"role": "assistant", "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"order\": 7}"}}]})
        );
        assert_eq!(answer.extra_info["output_text"], "");
    }

    #[test]
    fn a_whole_answer_has_its_stop_reason_and_no_usage_or_chunks() {
        let body = json!({
            "type": "message",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"order": 7, "items": [1, 2]}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 4, "output_tokens": 6},
        });
        let answer = MessagesAnswer::read(&body.to_string(), false);
        assert_eq!(answer.server_usage, None);
        assert!(answer.chunks.is_empty());
        assert_eq!(
            Value::Object(answer.extra_info),
            json!({
                "stop_reason": "tool_use",
                "output_text": "Let me check.",
                "output_message": {"role": "assistant", "content": "Let me check.", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": "{\"order\": 7, \"items\": [1, 2]}"}}]},
            })
        );
        let empty = MessagesAnswer::read("{\"stop_reason\": \"end_turn\"}", false);
        assert_eq!(empty.extra_info["output_message"], Value::Null);
    }
}
