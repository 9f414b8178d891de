//! What a traced call sends when its trace recorded its messages (inference-perf 0.7.0's OTel
//! replay): the recorded input messages, the recorded tools with a `tool_choice`, and, where
//! its input carries what an earlier call of the session said or was sent, that call's live
//! messages and answer from the server instead of the recorded ones: the context replayed is
//! the one the server really produced. A live answer whose tool calls the server could not
//! read back (`bad_tool_call_handling: use_recorded`) is replaced by the recorded one.

mod messages_api;
mod segments;
mod tools;
mod wire;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::config::BadToolCallHandling;

pub use messages_api::{MessagesApiInput, content_text};
pub use segments::Segment;
pub(crate) use segments::{Ancestor, split};
pub use tools::{ToolCatalog, ToolOffer};
pub use wire::Message;
pub(crate) use wire::{Output, Parsed, input, output};

/// A call as recorded, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Its input messages as sent when nothing is substituted.
    pub messages: Vec<Message>,
    pub segments: Vec<Segment>,
    /// Its recorded tools and the `tool_choice` sent with them.
    pub offer: ToolOffer,
    /// The function names of its recorded answer's tool calls, in order.
    pub called: Vec<String>,
    /// Request headers from its span's attributes (`attribute_to_header_map`).
    pub headers: Vec<(String, String)>,
    /// Labels of its per-request record from its span's attributes (`attribute_to_label_map`).
    pub labels: Vec<(String, String)>,
}

/// What an earlier call of the session was sent and answered, live.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub sent: Arc<[Message]>,
    pub answer: Message,
}

/// How a session's calls are sent.
#[derive(Debug, Clone, Copy)]
pub struct Substitution<'a> {
    /// Earlier calls' live messages and answers replace the recorded ones
    /// (not `disable_output_substitution`).
    pub live: bool,
    /// Put before the content of each message of the call's own (`inject_random_session_id`,
    /// or a repeated session): `[SESS:{salt}] `.
    pub salt: Option<&'a str>,
    /// What stands in for a live answer whose tool calls are malformed.
    pub bad_tool_calls: BadToolCallHandling,
}

/// The messages a call sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub messages: Vec<Message>,
    /// The earlier calls whose live answers had malformed tool calls and were replaced by
    /// their recorded ones (`use_recorded`), in order.
    pub recorded_for: Vec<usize>,
}

/// Call `from`'s live answer has malformed tool calls, and so has its recorded answer that
/// would stand in for it (`use_recorded`): the call cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the recorded answer of call {from} has malformed tool calls too")]
pub struct FallbackMalformed {
    pub from: usize,
}

impl Recorded {
    /// Whether anything of call `event`'s is sent by a later call (which then needs its live
    /// answer).
    pub fn uses(&self, event: usize) -> bool {
        self.segments.iter().any(|s| {
            matches!(*s, Segment::Shared { from, .. } | Segment::Output { from } if from == event)
        })
    }

    /// The messages to send, given what the earlier calls were sent and answered (`None` for
    /// one with nothing live, whose recorded messages are sent).
    pub fn messages_to_send<'a>(
        &self,
        how: Substitution,
        live: impl Fn(usize) -> Option<&'a Live>,
    ) -> Result<Sent, FallbackMalformed> {
        let substitutes = how.live
            && self
                .segments
                .iter()
                .any(|s| !matches!(s, Segment::Unique(_)));
        let salted = how.salt.is_some()
            && self
                .segments
                .iter()
                .any(|s| matches!(s, Segment::Unique(_)));
        let mut recorded_for = Vec::new();
        if !substitutes && !salted {
            return Ok(Sent {
                messages: self.messages.clone(),
                recorded_for,
            });
        }
        let mut out: Vec<Message> = Vec::with_capacity(self.messages.len());
        // Where a live answer with tool calls went, the calls, and the recorded calls' names:
        // the recorded tool results after it are relinked to the live call ids.
        let mut relink = Vec::new();
        let mut cursor = 0;
        for segment in &self.segments {
            let recorded = &self.messages[cursor..cursor + segment.messages()];
            cursor += segment.messages();
            match *segment {
                Segment::Output { from } => match live(from) {
                    Some(l)
                        if how.live
                            && how.bad_tool_calls == BadToolCallHandling::UseRecorded
                            && malformed_tool_calls(&l.answer) =>
                    {
                        // The recorded answer's call ids are those its recorded results
                        // answer: nothing to relink.
                        if malformed_tool_calls(&recorded[0]) {
                            return Err(FallbackMalformed { from });
                        }
                        if !recorded_for.contains(&from) {
                            recorded_for.push(from);
                        }
                        out.push(recorded[0].clone());
                    }
                    Some(l) if how.live => {
                        if let Some(Value::Array(calls)) = l.answer.get("tool_calls") {
                            let names: Vec<Value> = recorded[0]
                                .get("tool_calls")
                                .and_then(Value::as_array)
                                .map(|c| c.iter().map(|c| c["function"]["name"].clone()).collect())
                                .unwrap_or_default();
                            relink.push((out.len(), calls.clone(), names));
                        }
                        out.push(l.answer.clone());
                    }
                    _ => out.extend_from_slice(recorded),
                },
                Segment::Shared { count, from } => match live(from) {
                    Some(l) if how.live && l.sent.len() >= count => {
                        out.extend_from_slice(&l.sent[..count])
                    }
                    _ => out.extend_from_slice(recorded),
                },
                Segment::Unique(_) => match how.salt {
                    Some(salt) => out.extend(recorded.iter().map(|m| salted_message(m, salt))),
                    None => out.extend_from_slice(recorded),
                },
            }
        }
        for (at, calls, names) in relink {
            relink_results(&mut out, at, &calls, &names);
        }
        Ok(Sent {
            messages: out,
            recorded_for,
        })
    }
}

/// Whether a tool call of `message` has `function.arguments` that is not a JSON document
/// (inference-perf's test: a missing one is the empty text; one that is not text is fine).
fn malformed_tool_calls(message: &Message) -> bool {
    let calls = message.get("tool_calls").and_then(Value::as_array);
    calls.into_iter().flatten().any(|call| {
        match call.get("function").and_then(|f| f.get("arguments")) {
            None => true,
            Some(Value::String(text)) => !crate::python_json::loads_ok(text),
            Some(_) => false,
        }
    })
}

fn salted_message(message: &Message, salt: &str) -> Message {
    let mut m = message.clone();
    let content = m.get("content").and_then(Value::as_str).unwrap_or_default();
    let salted = format!("[SESS:{salt}] {content}");
    m.insert("content".into(), json!(salted));
    m
}

/// The tool results after the live answer at `at` answer its calls: each recorded result is
/// given the id of the first unused live call of its recorded call's function (in order;
/// by position when the recorded answer named none).
fn relink_results(out: &mut [Message], at: usize, calls: &[Value], names: &[Value]) {
    let by_position = names.is_empty();
    let bound = if by_position {
        calls.len()
    } else {
        names.len()
    };
    let mut used = vec![false; calls.len()];
    let mut results = 0;
    for message in out[at + 1..].iter_mut() {
        if results >= bound {
            break;
        }
        if message.get("role").and_then(Value::as_str) != Some("tool") {
            continue;
        }
        let found = if by_position {
            Some(results).filter(|&i| i < calls.len())
        } else {
            (0..calls.len()).find(|&i| !used[i] && calls[i]["function"]["name"] == names[results])
        };
        if let Some(i) = found {
            used[i] = true;
            if let Some(id) = calls[i]
                .get("id")
                .filter(|id| crate::python_json::truthy(id))
            {
                message.insert("tool_call_id".into(), id.clone());
            }
        }
        results += 1;
    }
}

/// The live answer as a message: its tool calls (and text, if any) or its text, and its
/// thinking (inference-perf's `output_message`).
pub fn answer_message(text: &str, tool_calls: Vec<Value>, reasoning: Option<&str>) -> Message {
    let mut m = serde_json::Map::new();
    m.insert("role".into(), json!("assistant"));
    if tool_calls.is_empty() {
        m.insert("content".into(), json!(text));
    } else {
        m.insert("tool_calls".into(), Value::Array(tool_calls));
        if !text.is_empty() {
            m.insert("content".into(), json!(text));
        }
    }
    if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
        m.insert("reasoning_content".into(), json!(r));
        m.insert("reasoning".into(), json!(r));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(v: Value) -> Message {
        v.as_object().unwrap().clone()
    }

    fn recorded(messages: Vec<Value>, segments: Vec<Segment>) -> Recorded {
        Recorded {
            messages: messages.into_iter().map(msg).collect(),
            segments,
            offer: ToolOffer::default(),
            called: Vec::new(),
            headers: Vec::new(),
            labels: Vec::new(),
        }
    }

    #[test]
    fn earlier_calls_live_messages_and_answers_replace_the_recorded_ones() {
        let call = recorded(
            vec![
                json!({"role": "user", "content": "q"}),
                json!({"role": "assistant", "tool_calls": [
                    {"id": "r1", "type": "function", "function": {"name": "b", "arguments": "{}"}},
                    {"id": "r2", "type": "function", "function": {"name": "a", "arguments": "{}"}}]}),
                json!({"role": "tool", "tool_call_id": "r1", "content": "for b"}),
                json!({"role": "tool", "tool_call_id": "r2", "content": "for a"}),
            ],
            vec![
                Segment::Shared { count: 1, from: 0 },
                Segment::Output { from: 0 },
                Segment::Unique(2),
            ],
        );
        let live = Live {
            sent: vec![msg(json!({"role": "user", "content": "q live"}))].into(),
            answer: answer_message(
                "",
                vec![
                    json!({"id": "L1", "type": "function", "function": {"name": "a", "arguments": "{}"}}),
                    json!({"id": "L2", "type": "function", "function": {"name": "b", "arguments": "{}"}}),
                ],
                None,
            ),
        };
        let on = Substitution {
            live: true,
            salt: None,
            bad_tool_calls: BadToolCallHandling::UseRecorded,
        };
        let sent = call
            .messages_to_send(on, |e| (e == 0).then_some(&live))
            .unwrap()
            .messages;
        assert_eq!(sent[0]["content"], "q live");
        assert_eq!(sent[1], live.answer);
        assert_eq!(
            (&sent[2]["tool_call_id"], &sent[3]["tool_call_id"]),
            (&json!("L2"), &json!("L1")),
            "each recorded result answers the live call of its function"
        );
        let off = Substitution { live: false, ..on };
        assert_eq!(
            call.messages_to_send(off, |_| Some(&live))
                .unwrap()
                .messages,
            call.messages
        );
        let salted = call
            .messages_to_send(
                Substitution {
                    salt: Some("ab12"),
                    ..on
                },
                |_| None,
            )
            .unwrap()
            .messages;
        assert_eq!(salted[0], call.messages[0], "recorded when nothing is live");
        assert_eq!(salted[2]["content"], "[SESS:ab12] for b");
        assert!(call.uses(0) && !call.uses(1));
    }

    /// A call sending back call 0's answer (two tool calls) and the results of its calls.
    fn after_tool_calls(recorded_arguments: &str) -> Recorded {
        recorded(
            vec![
                json!({"role": "user", "content": "q"}),
                json!({"role": "assistant", "tool_calls": [
                    {"id": "r1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                    {"id": "r2", "type": "function",
                     "function": {"name": "b", "arguments": recorded_arguments}}]}),
                json!({"role": "tool", "tool_call_id": "r1", "content": "for a"}),
                json!({"role": "tool", "tool_call_id": "r2", "content": "for b"}),
            ],
            vec![
                Segment::Unique(1),
                Segment::Output { from: 0 },
                Segment::Unique(2),
            ],
        )
    }

    fn live_calls(arguments: &[&str]) -> Live {
        let calls = arguments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                json!({"id": format!("L{i}"), "type": "function",
                                 "function": {"name": "a", "arguments": a}})
            })
            .collect();
        Live {
            sent: Vec::new().into(),
            answer: answer_message("", calls, None),
        }
    }

    #[test]
    fn a_live_answer_with_malformed_tool_arguments_is_replaced_by_the_recorded_one() {
        let call = after_tool_calls(r#"{"path": "x"}"#);
        let bad = live_calls(&["{}", r#"{"path": "x"</parameter>"#]);
        let use_recorded = Substitution {
            live: true,
            salt: None,
            bad_tool_calls: BadToolCallHandling::UseRecorded,
        };
        let sent = call.messages_to_send(use_recorded, |_| Some(&bad)).unwrap();
        assert_eq!(
            sent.messages, call.messages,
            "recorded answer and result ids"
        );
        assert_eq!(sent.recorded_for, [0]);

        let none = Substitution {
            bad_tool_calls: BadToolCallHandling::None,
            ..use_recorded
        };
        let sent = call.messages_to_send(none, |_| Some(&bad)).unwrap();
        assert_eq!(sent.messages[1], bad.answer, "the live bytes, as they are");
        assert_eq!(sent.messages[2]["tool_call_id"], "L0");
        assert!(sent.recorded_for.is_empty());

        let good = live_calls(&["{}", " [1, 2] "]);
        let sent = call
            .messages_to_send(use_recorded, |_| Some(&good))
            .unwrap();
        assert_eq!(sent.messages[1], good.answer, "valid arguments stay live");
        assert!(sent.recorded_for.is_empty());

        let missing = Live {
            sent: Vec::new().into(),
            answer: answer_message(
                "",
                vec![json!({"id": "L0", "function": {"name": "a"}})],
                None,
            ),
        };
        let sent = call
            .messages_to_send(use_recorded, |_| Some(&missing))
            .unwrap();
        assert_eq!(
            sent.recorded_for,
            [0],
            "missing arguments read as empty text"
        );
    }

    #[test]
    fn a_malformed_recorded_fallback_fails_the_call() {
        let call = after_tool_calls("{oops");
        let bad = live_calls(&[""]);
        let use_recorded = Substitution {
            live: true,
            salt: None,
            bad_tool_calls: BadToolCallHandling::UseRecorded,
        };
        assert_eq!(
            call.messages_to_send(use_recorded, |_| Some(&bad)),
            Err(FallbackMalformed { from: 0 })
        );
        let off = Substitution {
            live: false,
            ..use_recorded
        };
        assert!(
            call.messages_to_send(off, |_| Some(&bad)).is_ok(),
            "without output substitution nothing live is sent"
        );
    }

    #[test]
    fn answers_are_messages_as_inference_perf_keeps_them() {
        assert_eq!(
            Value::Object(answer_message("hi", vec![], Some("hm"))),
            json!({"role": "assistant", "content": "hi", "reasoning_content": "hm", "reasoning": "hm"})
        );
        assert_eq!(
            Value::Object(answer_message("", vec![json!({"id": "x"})], None)),
            json!({"role": "assistant", "tool_calls": [{"id": "x"}]})
        );
    }
}
