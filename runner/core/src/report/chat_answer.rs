//! A chat answer as a message: its text, its tool calls (a stream's pieces joined by their
//! index) and its thinking, read from the response body or the stream's events. A later call
//! of its session sends it back to the model, and the request's record keeps it
//! (inference-perf's `output_text` and `output_message` of a session call).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::plan::sessions::{Message, answer_message};

/// The answer in `raw` (a whole chat response, or a chat stream's SSE text); `None` when it
/// has no choice, and the recorded answer is sent in its place.
pub fn read(raw: &str, streamed: bool) -> Option<Message> {
    if !streamed {
        let body: Value = serde_json::from_str(raw).ok()?;
        let message = body.get("choices")?.get(0)?.get("message")?;
        let text = message.get("content").and_then(Value::as_str).unwrap_or("");
        let calls = message
            .get("tool_calls")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        return Some(answer_message(text, calls, thinking(message)));
    }
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls: BTreeMap<u64, Value> = BTreeMap::new();
    let events = raw
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| *data != "[DONE]")
        .filter_map(|data| serde_json::from_str::<Value>(data).ok());
    for event in events {
        let Some(delta) = event.pointer("/choices/0/delta") else {
            continue;
        };
        for piece in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = piece.get("index").and_then(Value::as_u64).unwrap_or(0);
            let call = calls.entry(index).or_insert_with(|| {
                json!({"id": piece.get("id").cloned().unwrap_or(json!("")),
                       "type": piece.get("type").cloned().unwrap_or(json!("function")),
                       "function": {"name": "", "arguments": ""}})
            });
            for key in ["name", "arguments"] {
                if let Some(more) = piece
                    .pointer(&format!("/function/{key}"))
                    .and_then(Value::as_str)
                {
                    let so_far = call["function"][key].as_str().unwrap_or_default();
                    call["function"][key] = json!(format!("{so_far}{more}"));
                }
            }
            if let Some(id) = piece
                .get("id")
                .filter(|id| id.as_str().is_some_and(|s| !s.is_empty()))
            {
                call["id"] = id.clone();
            }
        }
        reasoning.push_str(thinking(delta).unwrap_or_default());
        if let Some(piece) = delta.get("content").and_then(Value::as_str) {
            text.push_str(piece);
        }
    }
    Some(answer_message(
        &text,
        calls.into_values().collect(),
        Some(reasoning.as_str()),
    ))
}

/// The thinking of a message or delta (`reasoning`, else `reasoning_content`).
fn thinking(message: &Value) -> Option<&str> {
    ["reasoning", "reasoning_content"].iter().find_map(|k| {
        message
            .get(*k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_answer_is_its_message() {
        let raw = r#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}"#;
        assert_eq!(
            Value::Object(read(raw, false).unwrap()),
            json!({"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
        );
        assert_eq!(read(r#"{"choices":[]}"#, false), None);
    }

    #[test]
    fn a_streamed_answer_joins_its_pieces() {
        let raw = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"a \"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\": 1}\"}}]}}]}\n\n\
            data: [DONE]\n\n";
        assert_eq!(
            Value::Object(read(raw, true).unwrap()),
            json!({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": "{\"x\": 1}"}}], "content": "a ",
                "reasoning_content": "hm", "reasoning": "hm"})
        );
    }
}
