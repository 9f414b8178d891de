//! The Weka KV-cache-tester trace format, as inference-perf reads it: one JSON object a file,
//! `{id, models, block_size, tool_tokens?, system_tokens?, requests}`, each request
//! `{t, type: "n" | "s", model, in, out, hash_ids?, api_time?}` or a subagent
//! `{t, type: "subagent", agent_id, subagent_type, duration_ms?, tool_tokens?, system_tokens?,
//! requests}` whose own requests are of type `n`. Times are seconds; other fields (`ttft`,
//! `think_time`, ...) are ignored, as inference-perf ignores them.

use serde_json::{Map, Value};

/// One trace as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub id: String,
    /// Tokens a hash block; 0: the config's `default_block_size`.
    pub block_size: i64,
    pub tool_tokens: i64,
    pub system_tokens: i64,
    /// The top-level requests, in the file's order.
    pub requests: Vec<Request>,
    pub subagents: Vec<Subagent>,
}

/// One LLM call.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Start, seconds.
    pub t: f64,
    /// The model it asked.
    pub model: String,
    pub input: i64,
    pub output: i64,
    pub hash_ids: Vec<i64>,
    /// How long it took, seconds (0 when not recorded).
    pub api_time: f64,
}

/// A subagent the trace's agent started, with its own calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Subagent {
    pub t: f64,
    pub agent_id: String,
    pub tool_tokens: i64,
    pub system_tokens: i64,
    pub requests: Vec<Request>,
}

/// Reads one trace; the error says where in the document (`requests[2].in: ...`).
pub fn parse(doc: &Value) -> Result<Trace, String> {
    let top = doc
        .as_object()
        .ok_or("not a Weka trace: expected a JSON object {id, models, block_size, requests}")?;
    let id = string(top, "", "id")?;
    match top.get("models") {
        Some(Value::Array(models)) => {
            for (i, model) in models.iter().enumerate() {
                if !model.is_string() {
                    return Err(format!("models[{i}]: {model} is not a model name"));
                }
            }
        }
        Some(other) => return Err(format!("models: {other} is not a list of model names")),
        None => return Err("models: missing; list the models the trace used".into()),
    }
    let block_size = count(top, "", "block_size")?
        .ok_or("block_size: missing; give the tokens a hash block covers")?;
    let mut trace = Trace {
        id,
        block_size,
        tool_tokens: count(top, "", "tool_tokens")?.unwrap_or(0),
        system_tokens: count(top, "", "system_tokens")?.unwrap_or(0),
        requests: Vec::new(),
        subagents: Vec::new(),
    };
    for (i, entry) in list(top, "", "requests")?.iter().enumerate() {
        let at = format!("requests[{i}]");
        let entry = entry
            .as_object()
            .ok_or_else(|| format!("{at}: not an object"))?;
        match entry.get("type").and_then(Value::as_str) {
            Some("n" | "s") => trace.requests.push(request(entry, &at)?),
            Some("subagent") => {
                let subagent = subagent(entry, &at)?;
                if trace
                    .subagents
                    .iter()
                    .any(|s| s.agent_id == subagent.agent_id)
                {
                    return Err(format!(
                        "{at}.agent_id: {:?} names an earlier subagent too; each subagent needs its own id, or their calls' times are confused",
                        subagent.agent_id
                    ));
                }
                trace.subagents.push(subagent);
            }
            _ => {
                return Err(format!(
                    "{at}.type: {} is not \"n\", \"s\" or \"subagent\"",
                    entry.get("type").unwrap_or(&Value::Null)
                ));
            }
        }
    }
    Ok(trace)
}

fn request(entry: &Map<String, Value>, at: &str) -> Result<Request, String> {
    let model = string(entry, at, "model")?;
    let input = count(entry, at, "in")?
        .ok_or_else(|| format!("{at}.in: missing; every request records its prompt tokens"))?;
    if input < 1 {
        return Err(format!(
            "{at}.in: {input}; a request needs a prompt of at least one token"
        ));
    }
    let output = count(entry, at, "out")?
        .ok_or_else(|| format!("{at}.out: missing; every request records its output tokens"))?;
    let hash_ids = match entry.get("hash_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ids)) => ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                integer(id).ok_or_else(|| format!("{at}.hash_ids[{i}]: {id} is not an integer"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("{at}.hash_ids: {other} is not a list of integers")),
    };
    let api_time = match seconds(entry, at, "api_time")? {
        Some(t) if t < 0.0 => return Err(format!("{at}.api_time: {t} is negative")),
        t => t.unwrap_or(0.0),
    };
    Ok(Request {
        t: seconds(entry, at, "t")?
            .ok_or_else(|| format!("{at}.t: missing; give the start in seconds"))?,
        model,
        input,
        output,
        hash_ids,
        api_time,
    })
}

fn subagent(entry: &Map<String, Value>, at: &str) -> Result<Subagent, String> {
    string(entry, at, "subagent_type")?;
    if !matches!(entry.get("duration_ms"), None | Some(Value::Null)) {
        count(entry, at, "duration_ms")?;
    }
    let mut requests = Vec::new();
    if entry.get("requests").is_some() {
        for (i, r) in list(entry, at, "requests")?.iter().enumerate() {
            let at = format!("{at}.requests[{i}]");
            let r = r
                .as_object()
                .ok_or_else(|| format!("{at}: not an object"))?;
            if r.get("type").and_then(Value::as_str) != Some("n") {
                return Err(format!(
                    "{at}.type: {} is not \"n\"; a subagent's requests are of type n",
                    r.get("type").unwrap_or(&Value::Null)
                ));
            }
            requests.push(request(r, &at)?);
        }
    }
    Ok(Subagent {
        t: seconds(entry, at, "t")?
            .ok_or_else(|| format!("{at}.t: missing; give the start in seconds"))?,
        agent_id: string(entry, at, "agent_id")?,
        tool_tokens: count(entry, at, "tool_tokens")?.unwrap_or(0),
        system_tokens: count(entry, at, "system_tokens")?.unwrap_or(0),
        requests,
    })
}

fn path(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn string(object: &Map<String, Value>, at: &str, key: &str) -> Result<String, String> {
    match object.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("{}: {other} is not a string", path(at, key))),
        None => Err(format!("{}: missing", path(at, key))),
    }
}

fn list<'a>(object: &'a Map<String, Value>, at: &str, key: &str) -> Result<&'a Vec<Value>, String> {
    match object.get(key) {
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(format!("{}: {other} is not a list", path(at, key))),
        None => Err(format!("{}: missing", path(at, key))),
    }
}

/// An integer as inference-perf's models take one: a JSON integer or a whole number.
fn integer(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

/// A count of tokens: an integer, not negative; `None` when absent.
fn count(object: &Map<String, Value>, at: &str, key: &str) -> Result<Option<i64>, String> {
    match object.get(key) {
        None => Ok(None),
        Some(value) => match integer(value) {
            Some(n) if n >= 0 => Ok(Some(n)),
            _ => Err(format!(
                "{}: {value} is not a whole number >= 0",
                path(at, key)
            )),
        },
    }
}

fn seconds(object: &Map<String, Value>, at: &str, key: &str) -> Result<Option<f64>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{}: {value} is not a number of seconds", path(at, key))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_trace_with_requests_and_a_subagent_is_read() {
        let doc = json!({"id": "t1", "models": ["m"], "block_size": 16, "tool_tokens": 8,
        "requests": [
            {"t": 0.5, "type": "n", "model": "m", "in": 40, "out": 7, "hash_ids": [1, 2], "api_time": 1.5, "ttft": 0.1},
            {"t": 3, "type": "subagent", "agent_id": "a", "subagent_type": "x", "duration_ms": 900,
             "requests": [{"t": 0.1, "type": "n", "model": "m", "in": 5.0, "out": 1}]},
            {"t": 4, "type": "s", "model": "m", "in": 60, "out": 9, "api_time": null},
        ]});
        let trace = parse(&doc).unwrap();
        assert_eq!(
            (trace.id.as_str(), trace.block_size, trace.tool_tokens),
            ("t1", 16, 8)
        );
        assert_eq!(trace.requests.len(), 2);
        assert_eq!(trace.requests[0].hash_ids, vec![1, 2]);
        assert_eq!(trace.requests[1].api_time, 0.0);
        assert_eq!(trace.subagents[0].requests[0].input, 5);
    }

    #[test]
    fn bad_records_are_named_by_their_place() {
        let base = || {
            json!({"id": "t", "models": [], "block_size": 16, "requests": [
            {"t": 0, "type": "n", "model": "m", "in": 4, "out": 1}]})
        };
        let error = |edit: &dyn Fn(&mut Value)| {
            let mut doc = base();
            edit(&mut doc);
            parse(&doc).unwrap_err()
        };
        assert!(
            error(&|d| {
                d["requests"][0].as_object_mut().unwrap().remove("in");
            })
            .starts_with("requests[0].in: missing")
        );
        assert!(
            error(&|d| d["requests"][0]["out"] = json!(-1))
                .starts_with("requests[0].out: -1 is not")
        );
        assert!(error(&|d| d["requests"][0]["type"] = json!("x")).starts_with("requests[0].type"));
        assert!(error(&|d| d["requests"][0]["in"] = json!(0)).contains("at least one token"));
        assert!(
            error(&|d| d["requests"][0]["hash_ids"] = json!([1, "b"]))
                .starts_with("requests[0].hash_ids[1]")
        );
        assert!(
            error(&|d| {
                d.as_object_mut().unwrap().remove("block_size");
            })
            .starts_with("block_size: missing")
        );
        assert!(error(&|d| d["id"] = json!(7)).starts_with("id: 7 is not a string"));
        let sub = json!({"t": 1, "type": "subagent", "agent_id": "a", "subagent_type": "x",
            "requests": [{"t": 0, "type": "s", "model": "m", "in": 4, "out": 1}]});
        assert!(
            error(&|d| d["requests"][0] = sub.clone()).starts_with("requests[0].requests[0].type")
        );
        let twin = json!({"t": 1, "type": "subagent", "agent_id": "a", "subagent_type": "x"});
        assert!(
            error(&|d| d["requests"] = json!([twin, twin])).starts_with("requests[1].agent_id")
        );
        assert!(parse(&json!([1])).unwrap_err().contains("JSON object"));
    }
}
