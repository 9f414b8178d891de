//! A replay's `filter` (a Python lambda, see [`crate::python_filter`]) over each trace file, as
//! inference-perf 0.7.0 shows the trace to it: an OTel trace with the fields of its Hugging
//! Face schema filled in (`session_id`, `source_id`, `harness`, `benchmark`, `models`,
//! `max_tokens`, `total_tokens`), a Weka trace with `max_tokens`, `total_tokens` and
//! `num_turns` over its requests and its subagents'. A filter that fails on a trace stops the
//! run whatever `skip_invalid_files` says: the expression is wrong, not the trace.

use std::path::Path;

use serde_json::{Map, Value};

use super::graph::SessionError;
use crate::python_filter::Filter;

pub(super) struct TraceFilter {
    section: &'static str,
    filter: Filter,
}

impl TraceFilter {
    /// `None` without a filter.
    pub(super) fn new(
        section: &'static str,
        text: &Option<String>,
    ) -> Result<Option<Self>, SessionError> {
        text.as_deref()
            .map(|text| {
                Filter::compile(text)
                    .map(|filter| TraceFilter { section, filter })
                    .map_err(|e| SessionError::Source(format!("{section}.filter: {e}")))
            })
            .transpose()
    }

    /// Whether the OTel trace `doc` of `file` is replayed.
    pub(super) fn keeps_otel(&self, file: &Path, doc: &Value) -> Result<bool, SessionError> {
        self.keeps(file, &otel_view(file, doc))
    }

    /// Whether the Weka trace `doc` of `file` is replayed; `Ok(None)` when it is not a trace
    /// (for the reader to say why).
    pub(super) fn keeps_weka(
        &self,
        file: &Path,
        doc: &Value,
    ) -> Result<Option<bool>, SessionError> {
        weka_view(doc)
            .map(|view| self.keeps(file, &view))
            .transpose()
    }

    fn keeps(&self, file: &Path, view: &Value) -> Result<bool, SessionError> {
        self.filter.keeps(view).map_err(|e| SessionError::Filter {
            file: file.display().to_string(),
            message: format!("{}.filter fails on this trace: {e}", self.section),
        })
    }
}

/// inference-perf's `_normalize_file_trace`: the fields of the dataset schema a local file
/// lacks, derived from it.
fn otel_view(file: &Path, doc: &Value) -> Value {
    let mut view = doc.as_object().cloned().unwrap_or_default();
    let spans = doc.get("spans").and_then(Value::as_array);
    let attributes = || {
        spans
            .into_iter()
            .flatten()
            .filter_map(|span| span.get("attributes").and_then(Value::as_object))
    };
    if !view.contains_key("session_id") {
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
        let id = match doc.get("trace_id") {
            Some(id) if crate::python_json::truthy(id) => id.clone(),
            _ => Value::from(stem.unwrap_or_default()),
        };
        view.insert("session_id".into(), id);
    }
    view.insert("source_id".into(), file.display().to_string().into());
    for key in ["harness", "benchmark"] {
        view.entry(key).or_insert_with(|| "unknown".into());
    }
    if !view.contains_key("models") {
        let mut models: Vec<Value> = Vec::new();
        for model in attributes().filter_map(|a| a.get("gen_ai.request.model")) {
            if crate::python_json::truthy(model) && !models.contains(model) {
                models.push(model.clone());
            }
        }
        view.insert("models".into(), Value::Array(models));
    }
    let tokens = attributes().map(|a| {
        ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"]
            .iter()
            .filter_map(|k| a.get(*k).and_then(Value::as_i64))
            .sum::<i64>()
    });
    insert_totals(&mut view, tokens);
    Value::Object(view)
}

/// inference-perf's `_augment_for_filter`: a Weka trace with its totals over its requests,
/// a subagent's counted as the trace's own. `None` when `doc` is not an object.
fn weka_view(doc: &Value) -> Option<Value> {
    let mut view = doc.as_object()?.clone();
    let requests = doc.get("requests").and_then(Value::as_array);
    let flat: Vec<&Map<String, Value>> = requests
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|entry| {
            if entry.get("type").and_then(Value::as_str) == Some("subagent") {
                entry
                    .get("requests")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object)
                    .collect()
            } else {
                vec![entry]
            }
        })
        .collect();
    let turns = flat.len();
    // Both halves occupy the context window (inference-perf's comment).
    let tokens = flat.into_iter().map(|r| {
        ["in", "out"]
            .iter()
            .filter_map(|k| r.get(*k).and_then(Value::as_i64))
            .sum::<i64>()
    });
    view.remove("max_tokens");
    view.remove("total_tokens");
    insert_totals(&mut view, tokens);
    view.insert("num_turns".into(), turns.into());
    Some(Value::Object(view))
}

/// `max_tokens` and `total_tokens` over per-call token counts, unless already there.
fn insert_totals(view: &mut Map<String, Value>, tokens: impl Iterator<Item = i64>) {
    let (max, total) = tokens.fold((0, 0), |(max, total), t| (max.max(t), total + t));
    view.entry("max_tokens").or_insert_with(|| max.into());
    view.entry("total_tokens").or_insert_with(|| total.into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(text: &str) -> TraceFilter {
        TraceFilter::new("data.x", &Some(text.to_string()))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn an_otel_trace_shows_the_dataset_fields_inference_perf_adds() {
        let doc = json!({"trace_id": "t1", "spans": [
            {"attributes": {"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}},
            {"attributes": {"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 30}},
        ]});
        let view = otel_view(Path::new("/traces/a.json"), &doc);
        assert_eq!(view["session_id"], "t1");
        assert_eq!(view["source_id"], "/traces/a.json");
        assert_eq!(view["harness"], "unknown");
        assert_eq!(view["models"], json!(["m"]));
        assert_eq!(
            (view["max_tokens"].clone(), view["total_tokens"].clone()),
            (json!(30), json!(45))
        );
        let f = filter("lambda x: x['max_tokens'] >= 30 and x['benchmark'] == 'unknown'");
        assert!(f.keeps_otel(Path::new("a.json"), &doc).unwrap());
        let recorded = json!({"benchmark": "gsm8k", "max_tokens": 7, "spans": []});
        let view = otel_view(Path::new("/t/b.json"), &recorded);
        assert_eq!(
            (view["benchmark"].clone(), view["max_tokens"].clone()),
            (json!("gsm8k"), json!(7))
        );
        assert_eq!(
            view["session_id"], "b",
            "the file's stem without a trace_id"
        );
    }

    #[test]
    fn a_weka_trace_counts_its_subagents_requests_as_turns() {
        let doc = json!({"id": "w", "max_tokens": 1, "requests": [
            {"type": "n", "in": 100, "out": 10},
            {"type": "subagent", "requests": [{"type": "n", "in": 50, "out": null}, {"type": "s", "in": 20, "out": 5}]},
        ]});
        let view = weka_view(&doc).unwrap();
        assert_eq!(view["num_turns"], 3);
        assert_eq!(
            view["max_tokens"], 110,
            "derived values replace the trace's own"
        );
        assert_eq!(view["total_tokens"], 185);
        assert_eq!(weka_view(&json!([1])), None);
    }

    #[test]
    fn a_failing_filter_names_the_file_and_the_key() {
        let error = filter("lambda x: x['missing'] > 1")
            .keeps_weka(Path::new("/t/w.json"), &json!({"requests": []}))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("/t/w.json")
                && error.contains("data.x.filter")
                && error.contains("KeyError"),
            "{error}"
        );
        assert!(matches!(
            TraceFilter::new("data.x", &Some("x == 1".into())),
            Err(SessionError::Source(m)) if m.contains("data.x.filter")
        ));
    }
}
