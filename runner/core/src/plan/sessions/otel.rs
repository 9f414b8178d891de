//! One OpenTelemetry trace file (inference-perf's format: `{"trace_id", "spans": [{"span_id",
//! "parent_span_id", "name", "start_time", "end_time", "attributes", "status"}]}`, times in
//! ISO 8601) read as one session: its LLM-call spans become events with their token counts, the
//! calls each depends on and the recorded gap after them.
//!
//! Dependencies follow inference-perf's rules: a call depends on an earlier call whose output it
//! carries (the same assistant text, or answers to all of its tool calls), and on the latest
//! call that had ended when it started (the temporal fallback, which keeps gaps short when the
//! causal predecessor is far back). Both point backwards in time, so the graph has no cycle; a
//! cycle or a dangling reference can only be in the span tree itself, which is checked first.
//!
//! Which calls answer the user follows inference-perf's `tag_user_facing_events`: not a call
//! whose answer is a tool call, nor one asking for structured output, nor one made inside a
//! tool's execution (a span under a `tool.execution` span).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::graph::{
    Event, EventIds, SessionError, SessionGraph, ancestors, dependencies,
    overridden_tool_call_max_tokens,
};
use super::model::Models;
use super::recorded::{self, Ancestor, Parsed, Recorded, ToolCatalog, ToolOffer};
use crate::config::{ApiType, ToolChoiceMode};

/// What the config says about reading traces.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub include_errors: bool,
    /// Output tokens of a call that records neither a count nor an output.
    pub default_max_tokens: u32,
    /// Longest recorded gap replayed.
    pub max_wait: Duration,
    /// A forced tool call asks [`overridden_tool_call_max_tokens`] of its recorded length.
    pub override_tool_call_max_tokens: bool,
    pub(super) models: Models,
    pub tool_choice_mode: ToolChoiceMode,
    /// The API the calls are sent to, whose shapes their tools and `tool_choice` take.
    pub api: ApiType,
    /// Span attribute → request header (`attribute_to_header_map`).
    pub header_map: Vec<(String, String)>,
    /// Span attribute → per-request record label (`attribute_to_label_map`).
    pub label_map: Vec<(String, String)>,
}

/// One LLM call as recorded.
struct Call {
    span_id: String,
    /// The model it asked (`gen_ai.request.model`), "" when not recorded.
    model: String,
    start_ms: i64,
    end_ms: i64,
    input_tokens: u32,
    output_tokens: u32,
    /// Texts of the assistant messages in its input.
    assistant_inputs: HashSet<String>,
    /// Tool-call ids its input messages mention.
    tool_call_ids_in: HashSet<String>,
    output_text: String,
    /// Ids of the tool calls it made.
    tool_call_ids_out: Vec<String>,
    /// Its recorded answer is a tool call the replay can force: named tool calls, and the
    /// tools they choose from recorded.
    answers_with_tool: bool,
    /// The tools it offered are recorded (`gen_ai.tool.definitions`).
    tools_recorded: bool,
    /// It finished for a tool call (`gen_ai.response.finish_reasons`).
    tool_call_finish: bool,
    /// It asks for structured output (`gen_ai.request.output_schema`, or
    /// `gen_ai.output.type` json).
    structured_output: bool,
    /// Its input messages as recorded.
    messages: Vec<Parsed>,
    /// Its recorded answer, if any.
    answer: Option<recorded::Output>,
    /// `gen_ai.tool.definitions`, when it lists any.
    tool_definitions: Vec<Value>,
    headers: Vec<(String, String)>,
    labels: Vec<(String, String)>,
}

/// Reads `doc`, the trace of file `path`; `Ok(None)` when it has no LLM call to replay.
pub fn read(
    path: &Path,
    doc: &Value,
    options: &ReadOptions,
) -> Result<Option<SessionGraph>, SessionError> {
    parse(&path.display().to_string(), doc, options)
}

fn parse(
    file: &str,
    doc: &Value,
    options: &ReadOptions,
) -> Result<Option<SessionGraph>, SessionError> {
    let invalid = |message: String| SessionError::Invalid {
        file: file.to_string(),
        message,
    };
    let spans = doc
        .get("spans")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("no \"spans\" list at the top level".into()))?;
    let mut ids = Vec::with_capacity(spans.len());
    for (i, span) in spans.iter().enumerate() {
        let id = span
            .get("span_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(format!("spans[{i}] has no span_id")))?;
        ids.push(id);
    }
    check_span_tree(file, spans, &ids)?;
    let in_tool = inside_tool_execution(spans, &ids);

    let mut calls = Vec::new();
    let mut seen = HashSet::new();
    let mut by_id: Vec<(&str, &Value)> = ids.iter().copied().zip(spans).collect();
    by_id.sort_by_key(|(id, _)| *id);
    for (id, span) in by_id {
        // Exporters write some spans twice; inference-perf keeps the first of identical ones.
        let signature = format!(
            "{}|{}|{}",
            span.get("start_time").unwrap_or(&Value::Null),
            span.get("end_time").unwrap_or(&Value::Null),
            span.get("attributes").unwrap_or(&Value::Null)
        );
        if !seen.insert(signature) || !is_llm_call(span, options.include_errors) {
            continue;
        }
        calls.push(call(file, id, span, options)?);
    }
    if calls.is_empty() {
        return Ok(None);
    }
    let t0 = calls.iter().map(|c| c.start_ms).min().unwrap_or_default();
    for call in &mut calls {
        call.start_ms -= t0;
        call.end_ms -= t0;
    }
    calls.sort_by(|a, b| (a.start_ms, &a.span_id).cmp(&(b.start_ms, &b.span_id)));
    let times: Vec<(i64, i64)> = calls.iter().map(|c| (c.start_ms, c.end_ms)).collect();
    let links = dependencies(&times, options.max_wait, |j, i| feeds(&calls[j], &calls[i]));
    let mut sent = Vec::with_capacity(calls.len());
    for (i, call) in calls.iter().enumerate() {
        let ancestors: Vec<Ancestor> = ancestors(&links, i)
            .into_iter()
            .map(|a| Ancestor {
                index: a,
                messages: &calls[a].messages,
                output: calls[a].answer.as_ref(),
            })
            .collect();
        sent.push(Arc::new(recorded_call(call, &ancestors, options).map_err(
            |message| invalid(format!("span {}: {message}", call.span_id)),
        )?));
    }
    let events = calls
        .iter()
        .zip(links)
        .zip(sent)
        .map(|((call, (after, wait)), recorded)| {
            // inference-perf's fallback for traces without tool-execution spans (a tool call
            // whose output a later call carries is tool-internal) only ever marks calls that
            // are tool calls already, so it decides nothing here.
            let tool_internal = in_tool.contains(call.span_id.as_str());
            let output_tokens = if call.answers_with_tool && options.override_tool_call_max_tokens {
                overridden_tool_call_max_tokens(call.output_tokens.into()).min(u32::MAX.into())
                    as u32
            } else {
                call.output_tokens
            };
            Event {
                span_id: call.span_id.clone(),
                input_tokens: call.input_tokens,
                output_tokens,
                after,
                wait,
                context: 0,
                user_facing: !call.answers_with_tool
                    && !call.tool_call_finish
                    && !call.structured_output
                    && !tool_internal,
                structured_output: call.structured_output,
                offers_tools: call.tools_recorded,
                model: options.models.of(&call.model),
                recorded: Some(recorded),
                tools: ToolOffer::default(),
            }
        })
        .collect();
    let session_id = ["session_id", "trace_id"]
        .iter()
        .find_map(|k| {
            doc.get(*k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .map(String::from)
        .unwrap_or_else(|| {
            Path::new(file)
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
        });
    Ok(Some(SessionGraph {
        file: file.to_string(),
        session_id,
        event_ids: EventIds::Numbered,
        events,
    }))
}

/// What `call` sends: its recorded messages split against its `ancestors`, its tools and
/// `tool_choice`.
fn recorded_call(
    call: &Call,
    ancestors: &[Ancestor],
    options: &ReadOptions,
) -> Result<Recorded, String> {
    let called = call
        .answer
        .as_ref()
        .map_or_else(Vec::new, |a| a.tool_names.clone());
    let catalog = ToolCatalog::new(options.api, call.tool_definitions.clone())?;
    Ok(Recorded {
        messages: call.messages.iter().map(|m| m.wire.clone()).collect(),
        segments: recorded::split(&call.messages, ancestors),
        offer: catalog.offer(options.tool_choice_mode, &called),
        called,
        headers: call.headers.clone(),
        labels: call.labels.clone(),
    })
}

/// Every `parent_span_id` names a span of the file, and no span is its own ancestor: a trace
/// cut short or stitched together has timings that do not belong to one session.
fn check_span_tree(file: &str, spans: &[Value], ids: &[&str]) -> Result<(), SessionError> {
    let parent_of: HashMap<&str, Option<&str>> = ids
        .iter()
        .zip(spans)
        .map(|(id, span)| {
            let parent = span
                .get("parent_span_id")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty());
            (*id, parent)
        })
        .collect();
    for &id in ids {
        if let Some(Some(parent)) = parent_of.get(id)
            && !parent_of.contains_key(parent)
        {
            return Err(SessionError::MissingParent {
                file: file.to_string(),
                span: id.to_string(),
                parent: parent.to_string(),
            });
        }
        let mut chain = vec![id];
        let mut at = id;
        while let Some(Some(parent)) = parent_of.get(at) {
            if chain.contains(parent) {
                chain.push(parent);
                return Err(SessionError::Cycle {
                    file: file.to_string(),
                    span: id.to_string(),
                    chain: chain.join(" → "),
                });
            }
            chain.push(parent);
            at = parent;
        }
    }
    Ok(())
}

/// The spans nested (at any depth) under a span whose name says it executes a tool.
fn inside_tool_execution<'a>(spans: &'a [Value], ids: &[&'a str]) -> HashSet<&'a str> {
    let executes_tool = |span: &Value| {
        span.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.contains("tool.execution") || n.contains("tool_execution"))
    };
    let tools: HashSet<&str> = ids
        .iter()
        .zip(spans)
        .filter(|(_, span)| executes_tool(span))
        .map(|(id, _)| *id)
        .collect();
    let parent_of: HashMap<&str, &str> = ids
        .iter()
        .zip(spans)
        .filter_map(|(id, span)| {
            let parent = span.get("parent_span_id").and_then(Value::as_str)?;
            Some((*id, parent))
        })
        .collect();
    // The span tree was checked: every chain of parents ends.
    let under_tool = |id: &str| {
        let mut at = id;
        while let Some(&parent) = parent_of.get(at) {
            if tools.contains(parent) {
                return true;
            }
            at = parent;
        }
        false
    };
    ids.iter().copied().filter(|id| under_tool(id)).collect()
}

fn attributes(span: &Value) -> Option<&Map<String, Value>> {
    span.get("attributes").and_then(Value::as_object)
}

/// inference-perf's `is_llm_span`: a `chat` operation with input messages.
fn is_llm_call(span: &Value, include_errors: bool) -> bool {
    let attrs = attributes(span);
    let attr = |k: &str| attrs.and_then(|a| a.get(k));
    let chat = attr("gen_ai.operation.name").and_then(Value::as_str) == Some("chat")
        || span
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.starts_with("chat "));
    let has_messages = match attr("gen_ai.input.messages") {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        _ => false,
    };
    let failed = span
        .get("status")
        .and_then(|s| s.get("code"))
        .and_then(Value::as_i64)
        == Some(2);
    chat && has_messages && (include_errors || !failed)
}

fn call(file: &str, id: &str, span: &Value, options: &ReadOptions) -> Result<Call, SessionError> {
    let invalid = |message: String| SessionError::Invalid {
        file: file.to_string(),
        message: format!("span {id}: {message}"),
    };
    let time = |key: &str| -> Result<Option<i64>, SessionError> {
        match span.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => parse_time_ms(text)
                .map(Some)
                .ok_or_else(|| invalid(format!("{key} {text:?} is not an ISO 8601 time"))),
            Some(other) => Err(invalid(format!("{key} {other} is not an ISO 8601 time"))),
        }
    };
    let start_ms = time("start_time")?.ok_or_else(|| invalid("has no start_time".into()))?;
    let end_ms = time("end_time")?.unwrap_or(start_ms);
    if end_ms < start_ms {
        return Err(invalid("ends before it starts".into()));
    }
    let attrs = attributes(span).expect("LLM calls have attributes");
    let count = |keys: [&str; 2]| {
        keys.iter()
            .find_map(|k| attrs.get(*k).and_then(Value::as_u64))
            .map(|n| n.min(u32::MAX as u64) as u32)
    };
    let messages = json_list(&attrs["gen_ai.input.messages"])
        .ok_or_else(|| invalid("gen_ai.input.messages is not a JSON list of messages".into()))?;
    let parsed = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            recorded::input(m).map_err(|e| invalid(format!("gen_ai.input.messages[{i}] {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut assistant_inputs = HashSet::new();
    let mut tool_call_ids_in = HashSet::new();
    let mut estimated_input = 0u32;
    for message in &messages {
        let text = message_text(message);
        estimated_input += estimate_tokens(&text);
        if message.get("role").and_then(Value::as_str) == Some("assistant") && !text.is_empty() {
            assistant_inputs.insert(text);
        }
        tool_call_ids_in.extend(tool_call_ids(message));
        if let Some(id) = message.get("tool_call_id").and_then(Value::as_str) {
            tool_call_ids_in.insert(id.to_string());
        }
    }
    let (output_text, tool_call_ids_out, named_tool_calls) = output(attrs);
    // Definitions that are not JSON are left out, as inference-perf leaves them.
    let tool_definitions = match attrs.get("gen_ai.tool.definitions") {
        Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
        Some(list @ Value::Array(_)) => list.clone(),
        _ => Value::Null,
    };
    let tools_recorded = crate::python_json::truthy(&tool_definitions);
    let tool_definitions = match tool_definitions {
        Value::Array(list) => list,
        _ if !tools_recorded => Vec::new(),
        other => {
            return Err(invalid(format!(
                "gen_ai.tool.definitions is {other}, not a list of tool definitions"
            )));
        }
    };
    let named_values = |map: &[(String, String)]| -> Vec<(String, String)> {
        map.iter()
            .map(|(attribute, name)| (name.clone(), attribute_value(attrs, attribute)))
            .collect()
    };
    let headers = named_values(&options.header_map);
    let labels = named_values(&options.label_map);
    let tool_call_finish = match attrs.get("gen_ai.response.finish_reasons") {
        Some(Value::String(reason)) => vec![reason.as_str()],
        Some(Value::Array(reasons)) => reasons.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
    .iter()
    .any(|r| matches!(r.to_lowercase().as_str(), "tool_use" | "tool_calls"));
    let structured_output = attrs.contains_key("gen_ai.request.output_schema")
        || attrs
            .get("gen_ai.output.type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.to_lowercase() == "json");
    let recorded_output = !output_text.is_empty() || !tool_call_ids_out.is_empty();
    let output_tokens = count([
        "gen_ai.usage.completion_tokens",
        "gen_ai.usage.output_tokens",
    ])
    .unwrap_or_else(|| {
        if recorded_output {
            estimate_tokens(&output_text)
        } else {
            options.default_max_tokens
        }
    });
    let model = match attrs.get("gen_ai.request.model") {
        Some(Value::String(name)) => name.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    Ok(Call {
        span_id: id.to_string(),
        model,
        start_ms,
        end_ms,
        input_tokens: count(["gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens"])
            .unwrap_or(estimated_input)
            .max(1),
        output_tokens: output_tokens.max(1),
        assistant_inputs,
        tool_call_ids_in,
        output_text,
        tool_call_ids_out,
        answers_with_tool: named_tool_calls && tools_recorded,
        tools_recorded,
        tool_call_finish,
        structured_output,
        messages: parsed,
        answer: recorded_answer(attrs),
        tool_definitions,
        headers,
        labels,
    })
}

/// The recorded answer as inference-perf reads it: `gen_ai.output.text` (or the older keys)
/// as text, else the first message of `gen_ai.output.messages`.
fn recorded_answer(attrs: &Map<String, Value>) -> Option<recorded::Output> {
    for key in ["gen_ai.output.text", "gen_ai.completion", "gen_ai.output"] {
        if let Some(text) = attrs.get(key).and_then(Value::as_str) {
            return Some(recorded::Output {
                text: text.to_string(),
                ..Default::default()
            });
        }
    }
    let message = attrs
        .get("gen_ai.output.messages")
        .and_then(json_list)?
        .into_iter()
        .next()
        .filter(Value::is_object)?;
    Some(recorded::output(&message))
}

/// A span attribute as a header or label value (Python's `str` of it); `default` when the span lacks
/// it, as inference-perf sends it. The messages, answer and tools are not attributes here.
fn attribute_value(attrs: &Map<String, Value>, attribute: &str) -> String {
    const NOT_ATTRIBUTES: [&str; 6] = [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.definitions",
        "gen_ai.output.text",
        "gen_ai.completion",
        "gen_ai.output",
    ];
    match attrs
        .get(attribute)
        .filter(|_| !NOT_ATTRIBUTES.contains(&attribute))
    {
        None | Some(Value::Null) => "default".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "True".into(),
        Some(Value::Bool(false)) => "False".into(),
        Some(other) => other.to_string(),
    }
}

/// A list given as JSON text or as a list.
fn json_list(value: &Value) -> Option<Vec<Value>> {
    match value {
        Value::String(text) => match serde_json::from_str(text) {
            Ok(Value::Array(items)) => Some(items),
            _ => None,
        },
        Value::Array(items) => Some(items.clone()),
        _ => None,
    }
}

/// The output's text, the ids of its tool calls and whether it names the tools it calls:
/// `gen_ai.output.text` (or the older `gen_ai.completion`, `gen_ai.output`) or the single
/// message of `gen_ai.output.messages`.
fn output(attrs: &Map<String, Value>) -> (String, Vec<String>, bool) {
    for key in ["gen_ai.output.text", "gen_ai.completion", "gen_ai.output"] {
        if let Some(text) = attrs.get(key).and_then(Value::as_str) {
            return (text.to_string(), Vec::new(), false);
        }
    }
    let message = attrs
        .get("gen_ai.output.messages")
        .and_then(json_list)
        .and_then(|list| list.into_iter().next());
    match message {
        Some(message) => (
            message_text(&message),
            tool_call_ids(&message),
            names_tools(&message),
        ),
        None => (String::new(), Vec::new(), false),
    }
}

/// Whether a message's tool calls name their tools: a `tool_call` part with a `name`, or a
/// `tool_calls` entry with a `function.name` or `name`.
fn names_tools(message: &Value) -> bool {
    let named = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let list = |key: &str| {
        message
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    };
    list("parts")
        .any(|p| p.get("type").and_then(Value::as_str) == Some("tool_call") && named(p.get("name")))
        || list("tool_calls")
            .any(|c| named(c.get("function").and_then(|f| f.get("name"))) || named(c.get("name")))
}

/// A message's text: its `content` string, or the text of its content or `parts` blocks.
fn message_text(message: &Value) -> String {
    let mut parts = Vec::new();
    match message.get("content") {
        Some(Value::String(s)) => parts.push(s.clone()),
        Some(Value::Array(blocks)) => parts.extend(blocks.iter().filter_map(block_text)),
        _ => {}
    }
    if let Some(blocks) = message.get("parts").and_then(Value::as_array) {
        parts.extend(
            blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| {
                    b.get("text")
                        .or_else(|| b.get("content"))
                        .and_then(Value::as_str)
                        .map(String::from)
                }),
        );
    }
    parts.join("\n")
}

fn block_text(block: &Value) -> Option<String> {
    match block {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("text").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

/// Ids of the tool calls a message makes (`tool_calls`, or `parts` of type `tool_call`).
fn tool_call_ids(message: &Value) -> Vec<String> {
    let listed = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let parts = message
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("tool_call"));
    listed
        .chain(parts)
        .filter_map(|c| c.get("id").and_then(Value::as_str).map(String::from))
        .collect()
}

/// inference-perf's estimate: four characters a token, at least one.
fn estimate_tokens(text: &str) -> u32 {
    (text.chars().count() / 4).max(1) as u32
}

/// Milliseconds since the Unix epoch; a time without a zone is UTC (as inference-perf reads it).
fn parse_time_ms(text: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// Whether `later`'s input carries `earlier`'s output.
fn feeds(earlier: &Call, later: &Call) -> bool {
    (!earlier.output_text.is_empty() && later.assistant_inputs.contains(&earlier.output_text))
        || (!earlier.tool_call_ids_out.is_empty()
            && earlier
                .tool_call_ids_out
                .iter()
                .all(|id| later.tool_call_ids_in.contains(id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OPTIONS: ReadOptions = ReadOptions {
        include_errors: true,
        default_max_tokens: 1000,
        max_wait: Duration::from_secs(15),
        override_tool_call_max_tokens: false,
        models: Models::NONE,
        tool_choice_mode: ToolChoiceMode::ForceRecorded,
        api: ApiType::Chat,
        header_map: Vec::new(),
        label_map: Vec::new(),
    };

    fn llm(id: &str, parent: &str, start: &str, end: &str, input: Value, output: Value) -> Value {
        json!({
            "span_id": id, "parent_span_id": parent, "name": "chat m",
            "start_time": start, "end_time": end,
            "attributes": {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": input.to_string(),
                "gen_ai.output.messages": output.to_string(),
                "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20,
            },
        })
    }

    #[test]
    fn each_call_asks_the_model_its_recorded_gen_ai_request_model_maps_to() {
        let input = json!([{"role": "user", "content": "q"}]);
        let out = json!([{"role": "assistant", "content": "a"}]);
        let spans: Vec<Value> = ["gpt-4", "claude", ""]
            .iter()
            .enumerate()
            .map(|(i, model)| {
                let at = |s: usize| format!("2025-01-01T00:00:0{s}Z");
                let mut span = llm(
                    &format!("s{i}"),
                    "",
                    &at(2 * i),
                    &at(2 * i + 1),
                    input.clone(),
                    out.clone(),
                );
                if !model.is_empty() {
                    span["attributes"]["gen_ai.request.model"] = json!(model);
                }
                span
            })
            .collect();
        let doc = json!({"spans": spans});
        let mapping = std::collections::BTreeMap::from([
            ("gpt-4".to_string(), "llama-a".to_string()),
            ("".to_string(), "unrecorded".to_string()),
        ]);
        let models = |use_static_model| {
            let keys = crate::config::ReplayKeys {
                use_static_model,
                static_model_name: "fixed",
                model_mapping: Some(&mapping),
                predecessor_wait_timeout_sec: 0.0,
            };
            let options = ReadOptions {
                models: Models::new(keys),
                ..OPTIONS
            };
            let graph = parse("f.json", &doc, &options).unwrap().unwrap();
            graph
                .events
                .iter()
                .map(|e| e.model.as_deref().map(str::to_string))
                .collect::<Vec<_>>()
        };
        let some = |s: &str| Some(s.to_string());
        // An unmapped model asks server.model_name; a call without one is "" to the mapping.
        assert_eq!(models(false), [some("llama-a"), None, some("unrecorded")]);
        assert_eq!(models(true), [some("fixed"), some("fixed"), some("fixed")]);
        let graph = parse("f.json", &doc, &OPTIONS).unwrap().unwrap();
        assert!(graph.events.iter().all(|e| e.model.is_none()));
    }

    fn tool(id: &str, parent: &str, start: &str, end: &str) -> Value {
        json!({"span_id": id, "parent_span_id": parent, "name": "execute_tool search",
               "start_time": start, "end_time": end,
               "attributes": {"gen_ai.operation.name": "execute_tool"}})
    }

    fn agent(spans: Vec<Value>) -> Value {
        let mut all = vec![json!({"span_id": "root", "name": "invoke_agent",
            "start_time": "2025-01-01T00:00:00Z", "end_time": "2025-01-01T00:00:09Z"})];
        all.extend(spans);
        json!({"trace_id": "t1", "spans": all})
    }

    #[test]
    fn an_agent_loop_is_a_chain_with_the_tool_times_as_gaps() {
        let user = json!([{"role": "user", "content": "find it"}]);
        let call = |id: &str| json!([{"role": "assistant", "tool_calls": [{"id": id, "type": "function", "function": {"name": "search", "arguments": "{}"}}]}]);
        let second_input = json!([{"role": "user", "content": "find it"},
            {"role": "assistant", "tool_calls": [{"id": "c1"}]}, {"role": "tool", "tool_call_id": "c1", "content": "r"}]);
        let doc = agent(vec![
            llm(
                "a",
                "root",
                "2025-01-01T00:00:00.000Z",
                "2025-01-01T00:00:00.500Z",
                user,
                call("c1"),
            ),
            tool(
                "t1",
                "root",
                "2025-01-01T00:00:00.500Z",
                "2025-01-01T00:00:00.700Z",
            ),
            llm(
                "b",
                "root",
                "2025-01-01T00:00:00.700Z",
                "2025-01-01T00:00:01.000Z",
                second_input,
                json!([{"role": "assistant", "content": "done"}]),
            ),
            tool(
                "t2",
                "root",
                "2025-01-01T00:00:01.000Z",
                "2025-01-01T00:00:01.050Z",
            ),
            llm(
                "c",
                "root",
                "2025-01-01T00:00:01.050Z",
                "2025-01-01T00:00:01.300Z",
                json!([{"role": "assistant", "content": "done"}, {"role": "user", "content": "ok"}]),
                json!([{"role": "assistant", "content": "bye"}]),
            ),
        ]);
        let graph = parse("agent.json", &doc, &OPTIONS).unwrap().unwrap();
        assert_eq!(graph.session_id, "t1");
        let summary: Vec<(&str, Vec<usize>, u128)> = graph
            .events
            .iter()
            .map(|e| (e.span_id.as_str(), e.after.clone(), e.wait.as_millis()))
            .collect();
        assert_eq!(
            summary,
            vec![("a", vec![], 0), ("b", vec![0], 200), ("c", vec![1], 50)]
        );
        assert_eq!(
            (graph.events[0].input_tokens, graph.events[0].output_tokens),
            (100, 20)
        );
    }

    /// The ids of the user-facing calls, and of the structured-output ones.
    fn tags(doc: &Value) -> (Vec<String>, Vec<String>) {
        let graph = parse("t.json", doc, &OPTIONS).unwrap().unwrap();
        let ids = |f: fn(&Event) -> bool| -> Vec<String> {
            graph
                .events
                .iter()
                .filter(|e| f(e))
                .map(|e| e.span_id.clone())
                .collect()
        };
        (ids(|e| e.user_facing), ids(|e| e.structured_output))
    }

    #[test]
    fn calls_offered_tools_may_end_early_and_forced_tool_calls_ask_more_tokens() {
        let at = |s: u32| format!("2025-01-01T00:00:0{s}Z");
        let tools = json!("[{\"type\": \"function\", \"name\": \"search\"}]");
        let tool_call = json!([{"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{}"}}]}]);
        let input = json!([{"role": "user", "content": "q"}]);
        let prose = json!([{"role": "assistant", "content": "a"}]);
        let mut forced = llm("forced", "root", &at(0), &at(1), input.clone(), tool_call);
        forced["attributes"]["gen_ai.tool.definitions"] = tools.clone();
        let mut offered = llm(
            "offered",
            "root",
            &at(2),
            &at(3),
            input.clone(),
            prose.clone(),
        );
        offered["attributes"]["gen_ai.tool.definitions"] = tools;
        let plain = llm("plain", "root", &at(4), &at(5), input, prose);
        let doc = agent(vec![forced, offered, plain]);
        let read = |override_tool_call_max_tokens| -> Vec<(String, bool, u32)> {
            let options = ReadOptions {
                override_tool_call_max_tokens,
                ..OPTIONS
            };
            let graph = parse("f.json", &doc, &options).unwrap().unwrap();
            graph
                .events
                .into_iter()
                .map(|e| (e.span_id, e.offers_tools, e.output_tokens))
                .collect()
        };
        let expect = |forced_tokens| {
            vec![
                ("forced".to_string(), true, forced_tokens),
                ("offered".to_string(), true, 20),
                ("plain".to_string(), false, 20),
            ]
        };
        assert_eq!(read(false), expect(20));
        assert_eq!(read(true), expect(4096), "max(4 × 20, 4096)");
    }

    #[test]
    fn user_facing_calls_are_prose_answers_without_schema_outside_tools() {
        let at = |s: u32| format!("2025-01-01T00:00:0{s}Z");
        let prose = |id: &str, s: u32| {
            llm(
                id,
                "root",
                &at(s),
                &at(s),
                json!([{"role": "user", "content": id}]),
                json!([{"role": "assistant", "content": format!("answer {id}")}]),
            )
        };
        let tool_call = json!([{"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "search", "arguments": "{}"}}]}]);
        let mut with_tools = prose("tool", 1);
        with_tools["attributes"]["gen_ai.output.messages"] = json!(tool_call.to_string());
        with_tools["attributes"]["gen_ai.tool.definitions"] =
            json!("[{\"type\": \"function\", \"name\": \"search\"}]");
        // Without the tools it chose from, the replay cannot force the call: inference-perf
        // replays (and tags) it as prose.
        let mut no_tools = prose("untooled", 2);
        no_tools["attributes"]["gen_ai.output.messages"] = json!(tool_call.to_string());
        let mut finish = prose("finish", 3);
        finish["attributes"]["gen_ai.response.finish_reasons"] = json!("TOOL_USE");
        let mut finishes = prose("finishes", 4);
        finishes["attributes"]["gen_ai.response.finish_reasons"] = json!(["stop", "tool_calls"]);
        let mut schema = prose("schema", 5);
        schema["attributes"]["gen_ai.request.output_schema"] = Value::Null;
        let mut json_out = prose("json", 6);
        json_out["attributes"]["gen_ai.output.type"] = json!("JSON");
        let inner = llm(
            "inner",
            "step",
            &at(7),
            &at(8),
            json!([{"role": "user", "content": "inner"}]),
            json!([{"role": "assistant", "content": "inner answer"}]),
        );
        let step = |name: &str| {
            json!({"span_id": "step", "parent_span_id": "exec", "name": name,
                   "start_time": at(7), "end_time": at(8)})
        };
        let exec = |name: &str| {
            json!({"span_id": "exec", "parent_span_id": "root", "name": name,
                   "start_time": at(7), "end_time": at(8)})
        };
        let spans = |exec_name: &str| {
            agent(vec![
                prose("plain", 0),
                with_tools.clone(),
                no_tools.clone(),
                finish.clone(),
                finishes.clone(),
                schema.clone(),
                json_out.clone(),
                exec(exec_name),
                step("retrieve"),
                inner.clone(),
            ])
        };
        let structured = vec!["schema".to_string(), "json".to_string()];
        assert_eq!(
            tags(&spans("tool_execution search")),
            (
                vec!["plain".to_string(), "untooled".to_string()],
                structured.clone()
            ),
            "a call two spans under a tool's execution is the tool's own"
        );
        assert_eq!(
            tags(&spans("retrieve docs")),
            (
                vec!["plain".into(), "untooled".into(), "inner".into()],
                structured
            ),
            "without tool-execution spans no call is the tool's own"
        );
    }

    #[test]
    fn parallel_calls_wait_only_for_what_they_carry() {
        let user = json!([{"role": "user", "content": "plan"}]);
        let doc = agent(vec![
            llm(
                "a",
                "root",
                "2025-01-01T00:00:00Z",
                "2025-01-01T00:00:01Z",
                user.clone(),
                json!([{"role": "assistant", "content": "step one"}]),
            ),
            // Both start before the other ends: parallel branches after "a".
            llm(
                "b",
                "root",
                "2025-01-01T00:00:01.1Z",
                "2025-01-01T00:00:02Z",
                json!([{"role": "assistant", "content": "step one"}, {"role": "user", "content": "x"}]),
                json!([{"role": "assistant", "content": "bx"}]),
            ),
            llm(
                "c",
                "root",
                "2025-01-01T00:00:01.3Z",
                "2025-01-01T00:00:02.5Z",
                json!([{"role": "assistant", "content": "step one"}, {"role": "user", "content": "y"}]),
                json!([{"role": "assistant", "content": "cy"}]),
            ),
            llm(
                "d",
                "root",
                "2025-01-01T00:00:03Z",
                "2025-01-01T00:00:04Z",
                json!([{"role": "assistant", "content": "bx"}, {"role": "assistant", "content": "cy"}]),
                json!([{"role": "assistant", "content": "end"}]),
            ),
        ]);
        let graph = parse("p.json", &doc, &OPTIONS).unwrap().unwrap();
        let after: Vec<Vec<usize>> = graph.events.iter().map(|e| e.after.clone()).collect();
        assert_eq!(after, vec![vec![], vec![0], vec![0], vec![1, 2]]);
        assert_eq!(graph.events[2].wait, Duration::from_millis(300));
        assert_eq!(
            graph.events[3].wait,
            Duration::from_millis(500),
            "after the later of its two"
        );
    }

    #[test]
    fn long_gaps_are_cut_to_max_wait_and_missing_counts_are_estimated() {
        let doc = json!({"spans": [
            {"span_id": "a", "start_time": "2025-01-01T00:00:00", "end_time": "2025-01-01T00:00:01",
             "attributes": {"gen_ai.operation.name": "chat",
                "gen_ai.input.messages": [{"role": "user", "content": "0123456789abcdef"}],
                "gen_ai.output.text": "12345678"}},
            {"span_id": "b", "start_time": "2025-01-01T00:01:00", "end_time": "2025-01-01T00:01:01",
             "attributes": {"gen_ai.operation.name": "chat",
                "gen_ai.input.messages": [{"role": "user", "content": "hi"}]}},
        ]});
        let options = ReadOptions {
            max_wait: Duration::from_millis(1500),
            default_max_tokens: 77,
            ..OPTIONS
        };
        let graph = parse("dir/s.json", &doc, &options).unwrap().unwrap();
        assert_eq!(
            graph.session_id, "s",
            "the file's name when the trace has no id"
        );
        let e = &graph.events;
        assert_eq!((e[0].input_tokens, e[0].output_tokens), (4, 2));
        assert_eq!((e[1].input_tokens, e[1].output_tokens), (1, 77));
        assert_eq!(e[1].wait, Duration::from_millis(1500));
    }

    #[test]
    fn failed_spans_are_left_out_when_asked_and_duplicates_once() {
        let input = json!([{"role": "user", "content": "q"}]);
        let out = json!([{"role": "assistant", "content": "a"}]);
        let mut failed = llm(
            "x",
            "",
            "2025-01-01T00:00:00Z",
            "2025-01-01T00:00:01Z",
            input.clone(),
            out.clone(),
        );
        failed["status"] = json!({"code": 2});
        let ok = llm(
            "y",
            "",
            "2025-01-01T00:00:02Z",
            "2025-01-01T00:00:03Z",
            input,
            out,
        );
        let mut twin = ok.clone();
        twin["span_id"] = json!("z");
        let doc = json!({"spans": [failed, ok, twin]});
        let without = ReadOptions {
            include_errors: false,
            ..OPTIONS
        };
        let ids = |o: &ReadOptions| -> Vec<String> {
            parse("f.json", &doc, o)
                .unwrap()
                .unwrap()
                .events
                .into_iter()
                .map(|e| e.span_id)
                .collect()
        };
        assert_eq!(ids(&without), vec!["y"]);
        assert_eq!(ids(&OPTIONS), vec!["x", "y"]);
    }

    #[test]
    fn a_trace_without_llm_calls_has_no_session() {
        let doc = agent(vec![tool(
            "t",
            "root",
            "2025-01-01T00:00:00Z",
            "2025-01-01T00:00:01Z",
        )]);
        assert!(parse("f.json", &doc, &OPTIONS).unwrap().is_none());
    }

    #[test]
    fn a_missing_parent_span_names_the_file_and_the_span() {
        let doc = agent(vec![tool(
            "t7",
            "gone",
            "2025-01-01T00:00:00Z",
            "2025-01-01T00:00:01Z",
        )]);
        let error = parse("traces/a.json", &doc, &OPTIONS)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("traces/a.json") && error.contains("span t7") && error.contains("gone"),
            "{error}"
        );
    }

    #[test]
    fn a_cycle_of_parents_names_the_file_and_the_spans() {
        let doc = json!({"spans": [
            tool("p", "q", "2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z"),
            tool("q", "p", "2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z"),
        ]});
        let error = parse("loop.json", &doc, &OPTIONS).unwrap_err().to_string();
        assert!(
            error.contains("loop.json") && error.contains("p → q → p"),
            "{error}"
        );
    }

    #[test]
    fn malformed_spans_are_named() {
        let no_id = json!({"spans": [{"name": "chat"}]});
        let error = parse("f.json", &no_id, &OPTIONS).unwrap_err().to_string();
        assert!(
            error.contains("f.json") && error.contains("spans[0] has no span_id"),
            "{error}"
        );
        let mut bad_time = llm(
            "s1",
            "",
            "yesterday",
            "2025-01-01T00:00:01Z",
            json!([{"role": "user", "content": "q"}]),
            json!([]),
        );
        bad_time["parent_span_id"] = Value::Null;
        let error = parse("f.json", &json!({"spans": [bad_time]}), &OPTIONS)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("span s1") && error.contains("start_time"),
            "{error}"
        );
        let error = parse("f.json", &json!({"data": []}), &OPTIONS)
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"spans\""), "{error}");
    }
}
