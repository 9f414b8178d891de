//! inference-perf's session reports of a session replay: `summary_session_lifecycle_metrics`
//! (all sessions), `stage_{i}_session_lifecycle_metrics` (each stage's, after its
//! `stage_metadata`) and `per_session_lifecycle_metrics` (one entry per session), with its
//! keys.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::config::SessionLifecycleReport;
use crate::metrics::{RunMetrics, SessionRecord, StageInfo, StageStatus, interpolated_quantile};
use crate::python_json::str_repr;

use super::ReportFile;
use super::lifecycle::percentile_key;

/// The session report files `options` asks for; none without sessions.
pub fn session_reports(
    run: &RunMetrics,
    options: &SessionLifecycleReport,
    percentiles: &[f64],
    max_error_messages: usize,
) -> Vec<ReportFile> {
    let all: Vec<(usize, &SessionRecord)> = run
        .stages
        .iter()
        .flat_map(|s| s.sessions.iter().map(move |r| (s.info.id, r)))
        .collect();
    let mut files = Vec::new();
    if all.is_empty() {
        return files;
    }
    let summarize =
        |records: Vec<&SessionRecord>| summary(&records, percentiles, max_error_messages);
    if options.summary {
        files.push(ReportFile {
            name: "summary_session_lifecycle_metrics".into(),
            contents: summarize(all.iter().map(|(_, r)| *r).collect()),
        });
    }
    if options.per_stage {
        for stage in run.stages.iter().filter(|s| !s.sessions.is_empty()) {
            let mut contents = Map::new();
            contents.insert("stage_metadata".into(), stage_metadata(&stage.info));
            if let Value::Object(fields) = summarize(stage.sessions.iter().collect()) {
                contents.extend(fields);
            }
            files.push(ReportFile {
                name: format!("stage_{}_session_lifecycle_metrics", stage.info.id),
                contents: Value::Object(contents),
            });
        }
    }
    if options.per_session {
        files.push(ReportFile {
            name: "per_session_lifecycle_metrics".into(),
            contents: all
                .iter()
                .map(|(stage, r)| per_session(*stage, r))
                .collect(),
        });
    }
    files
}

fn stage_metadata(info: &StageInfo) -> Value {
    let status = match info.status {
        StageStatus::Completed => "COMPLETED",
        StageStatus::TimedOut => "TIMED_OUT",
        StageStatus::Interrupted => "FAILED",
    };
    json!({
        "stage_id": info.id,
        "status": status,
        "timeout_configured": info.timeout,
        "actual_duration": info.end - info.start,
        // The stage's end is when its last request ended: its grace is inside the duration.
        "teardown_duration": 0.0,
        "dropped_requests": 0,
        "concurrent_sessions": info.concurrency,
        "session_rate": (info.requested_rate > 0.0).then_some(info.requested_rate),
    })
}

fn per_session(stage: usize, r: &SessionRecord) -> Value {
    json!({
        "session_id": r.session_id,
        "stage_id": stage,
        "file_path": r.file_path,
        "start_time": r.start_time,
        "end_time": r.end_time,
        "duration_sec": r.duration(),
        "num_events": r.num_events,
        "num_events_completed": r.num_events_completed,
        "num_events_cancelled": r.num_events_cancelled,
        "n_recorded_substitutions": (!substitutions(r).is_empty()).then(|| substitutions(r).len()),
        "recorded_substitution_event_ids": (!substitutions(r).is_empty()).then(|| substitutions(r)),
        "success": r.succeeded(),
        "error": r.error.as_ref().map(|e| json!({"error_type": e.error_type, "error_msg": e.error_msg})),
        "total_input_tokens": r.input_tokens,
        "total_output_tokens": r.output_tokens,
        "total_cached_tokens": r.cached_tokens,
        "total_cacheable_input_tokens": r.cacheable_input_tokens,
        "user_facing_event_ids": r.user_facing_event_ids,
        "num_structured_output_excluded": r.structured_output_events,
        "tfut_sec": r.tfut_sec,
        "tfut_none_reason": r.tfut_none_reason,
    })
}

fn summary(records: &[&SessionRecord], percentiles: &[f64], max_error_messages: usize) -> Value {
    let n = records.len() as u64;
    let succeeded = records.iter().filter(|r| r.succeeded()).count();
    let failed: Vec<&&SessionRecord> = records.iter().filter(|r| !r.succeeded()).collect();
    let span = records.iter().map(|r| r.end_time).fold(f64::MIN, f64::max)
        - records
            .iter()
            .map(|r| r.start_time)
            .fold(f64::MAX, f64::min);
    let distribution = |values: &mut dyn Iterator<Item = f64>| exact(values.collect(), percentiles);
    let counts = |f: &dyn Fn(&SessionRecord) -> Option<u64>| {
        distribution(&mut records.iter().filter_map(|r| f(r)).map(|v| v as f64))
    };
    let cached: u64 = records.iter().filter_map(|r| r.cached_tokens).sum();
    let cacheable: u64 = records
        .iter()
        .filter_map(|r| r.cacheable_input_tokens)
        .sum();
    let hit_per_session = |r: &&&SessionRecord| match (r.cached_tokens, r.cacheable_input_tokens) {
        (Some(c), Some(p)) if p > 0 => Some(100.0 * c as f64 / p as f64),
        _ => None,
    };
    let substituted: Vec<&&SessionRecord> = records
        .iter()
        .filter(|r| !substitutions(r).is_empty())
        .collect();
    let mut tfut_none_reasons = BTreeMap::new();
    for reason in records.iter().filter_map(|r| r.tfut_none_reason) {
        *tfut_none_reasons.entry(reason).or_insert(0u64) += 1;
    }
    json!({
        "num_sessions": n,
        "num_sessions_succeeded": succeeded,
        "num_sessions_failed": failed.len(),
        "failures": {
            "count": failed.len(),
            "by_label": failures_by_label(&failed, max_error_messages),
        },
        "total_events": records.iter().map(|r| r.num_events).sum::<u64>(),
        "total_events_completed": records.iter().map(|r| r.num_events_completed).sum::<u64>(),
        "total_events_cancelled": records.iter().map(|r| r.num_events_cancelled).sum::<u64>(),
        "sessions_with_recorded_substitution": substituted.len(),
        "total_recorded_substitutions": {
            "count": substituted.iter().map(|r| substitutions(r).len()).sum::<usize>(),
            "messages": substituted.iter().take(max_error_messages).map(|r| json!({
                "message": format!(
                    "substitutions={} event_ids={}",
                    substitutions(r).len(),
                    python_list(substitutions(r))
                ),
                "session_ids": [r.session_id],
            })).collect::<Vec<_>>(),
        },
        "sessions_per_second": if span > 0.0 { n as f64 / span } else { 0.0 },
        "session_duration_sec": distribution(&mut records.iter().map(|r| r.duration())),
        "num_events": counts(&|r| Some(r.num_events)),
        "num_events_cancelled": counts(&|r| Some(r.num_events_cancelled)),
        "total_input_tokens": counts(&|r| Some(r.input_tokens)),
        "total_output_tokens": counts(&|r| Some(r.output_tokens)),
        "total_cached_tokens": counts(&|r| r.cached_tokens),
        "total_cacheable_input_tokens": counts(&|r| r.cacheable_input_tokens),
        "sessions_with_cache_info": records.iter().filter(|r| hit_per_session(r).is_some()).count(),
        "kv_cache_hit_percent": (cacheable > 0).then(|| 100.0 * cached as f64 / cacheable as f64),
        "kv_cache_hit_per_session_percent": distribution(
            &mut records.iter().filter_map(|r| hit_per_session(&r)),
        ),
        "tfut_sec": distribution(&mut records.iter().filter_map(|r| r.tfut_sec)),
        "sessions_with_tfut": records.iter().filter(|r| r.tfut_sec.is_some()).count(),
        "tfut_none_reasons": (!tfut_none_reasons.is_empty()).then_some(tfut_none_reasons),
        "num_user_facing_events": counts(&|r| Some(r.user_facing_event_ids.len() as u64)),
        "num_structured_output_excluded": counts(&|r| Some(r.structured_output_events)),
    })
}

/// The events whose malformed live answers were replaced by the recorded ones, as
/// inference-perf reports them: only for a session all of whose events completed (it reports
/// them from that path alone).
fn substitutions(r: &SessionRecord) -> &[String] {
    if r.num_events_completed == r.num_events {
        &r.recorded_substitution_event_ids
    } else {
        &[]
    }
}

/// A list of strings as Python's `str` writes it: `['a', 'b']` (a string holding `'` and no
/// `"` in double quotes).
fn python_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| str_repr(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// inference-perf's `summarize`, exactly (numpy's linear interpolation): a run has few sessions,
/// and they are all at hand, so no histogram rounds them. `null` for none.
fn exact(mut values: Vec<f64>, percentiles: &[f64]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let mut fields = Map::new();
    fields.insert("mean".into(), json!(values.iter().sum::<f64>() / n as f64));
    fields.insert("min".into(), json!(values[0]));
    fields.insert("max".into(), json!(values[n - 1]));
    for &p in percentiles {
        fields.insert(
            percentile_key(p),
            json!(interpolated_quantile(&values, p / 100.0)),
        );
    }
    Value::Object(fields)
}

/// A failure message and the sessions that had it.
type MessageSessions = (String, Vec<String>);

/// inference-perf's `build_error_counts` with the error type as the label: per label its
/// count and distinct messages (at most `max_messages`), each with the sessions that had it;
/// labels by descending count.
fn failures_by_label(failed: &[&&SessionRecord], max_messages: usize) -> Value {
    let mut labels: Vec<(String, u64, Vec<MessageSessions>)> = Vec::new();
    for r in failed {
        let (label, message) = match &r.error {
            Some(e) => (e.error_type.clone(), e.error_msg.clone()),
            None => (
                "unreported".into(),
                "session failed with no error recorded".into(),
            ),
        };
        let at = match labels.iter().position(|(l, ..)| *l == label) {
            Some(at) => at,
            None => {
                labels.push((label, 0, Vec::new()));
                labels.len() - 1
            }
        };
        let (_, count, messages) = &mut labels[at];
        *count += 1;
        match messages.iter().position(|(m, _)| *m == message) {
            Some(at) => messages[at].1.push(r.session_id.clone()),
            None if messages.len() < max_messages => {
                messages.push((message, vec![r.session_id.clone()]))
            }
            None => {}
        }
    }
    labels.sort_by_key(|(_, count, _)| std::cmp::Reverse(*count));
    let mut out = Map::new();
    for (label, count, messages) in labels {
        let messages: Vec<Value> = messages
            .into_iter()
            .map(|(message, sessions)| json!({"message": message, "session_ids": sessions}))
            .collect();
        out.insert(label, json!({"count": count, "messages": messages}));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{NoTfut, SessionError, StageMetrics};

    fn record(
        id: &str,
        start: f64,
        end: f64,
        completed: u64,
        error: Option<&str>,
    ) -> SessionRecord {
        SessionRecord {
            session_id: id.into(),
            file_path: "t.json".into(),
            start_time: start,
            end_time: end,
            num_events: 3,
            num_events_completed: completed,
            num_events_cancelled: 3 - completed,
            input_tokens: 30,
            output_tokens: 6,
            cached_tokens: Some(10),
            cacheable_input_tokens: Some(20),
            error: error.map(|t| SessionError {
                error_type: t.into(),
                error_msg: "boom".into(),
            }),
            user_facing_event_ids: vec!["event_002_c".into()],
            structured_output_events: 0,
            tfut_sec: None,
            tfut_none_reason: None,
            recorded_substitution_event_ids: Vec::new(),
        }
    }

    fn run() -> RunMetrics {
        let stage: StageMetrics = serde_json::from_value(json!({
            "info": {"id": 0, "requested_rate": 2.0, "concurrency": 5, "planned": 9,
                     "status": "timed_out", "start": 100.0, "end": 130.0, "timeout": 30.0},
            "base": crate::metrics::Bucket::default(),
            "adapters": {},
        }))
        .unwrap();
        let mut stage = stage;
        stage.sessions = vec![
            SessionRecord {
                tfut_sec: Some(0.5),
                ..record("a", 100.0, 101.0, 3, None)
            },
            SessionRecord {
                tfut_none_reason: Some(NoTfut::NonStreaming),
                recorded_substitution_event_ids: vec!["event_000_a".into()],
                ..record("b", 100.5, 102.5, 1, Some("HTTP Error 500"))
            },
            SessionRecord {
                user_facing_event_ids: vec!["event_000_a".into(), "event_001_b".into()],
                structured_output_events: 1,
                tfut_sec: Some(1.5),
                recorded_substitution_event_ids: vec!["event_000_a".into(), "event_001_b".into()],
                ..record("c", 101.0, 104.0, 3, None)
            },
        ];
        RunMetrics {
            stages: vec![stage],
            ..Default::default()
        }
    }

    #[test]
    fn the_files_have_inference_perfs_names_and_keys() {
        let options = SessionLifecycleReport {
            summary: true,
            per_stage: true,
            per_session: true,
        };
        let files = session_reports(&run(), &options, &[50.0, 90.0], 10);
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "summary_session_lifecycle_metrics",
                "stage_0_session_lifecycle_metrics",
                "per_session_lifecycle_metrics"
            ]
        );
        assert_eq!(
            crate::report::stdout_markers(&files),
            "",
            "session reports are not stage blocks"
        );
        let summary = &files[0].contents;
        assert_eq!(summary["num_sessions"], 3);
        assert_eq!(summary["num_sessions_failed"], 1);
        assert_eq!(
            summary["failures"]["by_label"]["HTTP Error 500"]["count"],
            1
        );
        assert_eq!(
            summary["failures"]["by_label"]["HTTP Error 500"]["messages"][0]["session_ids"],
            json!(["b"])
        );
        assert_eq!(summary["total_events_cancelled"], 2);
        assert_eq!(summary["sessions_per_second"], 0.75, "3 sessions over 4 s");
        assert_eq!(summary["session_duration_sec"]["median"], 2.0);
        assert_eq!(
            summary["session_duration_sec"]["p90"], 2.8,
            "numpy's interpolation"
        );
        assert_eq!(summary["kv_cache_hit_percent"], 50.0);
        assert_eq!(summary["sessions_with_tfut"], 2);
        assert_eq!(summary["tfut_sec"]["mean"], 1.0);
        assert_eq!(summary["tfut_none_reasons"], json!({"non_streaming": 1}));
        assert_eq!(summary["num_user_facing_events"]["max"], 2.0);
        assert_eq!(summary["num_user_facing_events"]["median"], 1.0);
        assert_eq!(summary["num_structured_output_excluded"]["mean"], 1.0 / 3.0);
        let stage = &files[1].contents;
        let keys: Vec<&String> = stage.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[0], "stage_metadata",
            "first, as inference-perf inserts it"
        );
        assert_eq!(stage["stage_metadata"]["status"], "TIMED_OUT");
        assert_eq!(stage["stage_metadata"]["session_rate"], 2.0);
        assert_eq!(stage["stage_metadata"]["concurrent_sessions"], 5);
        let sessions = files[2].contents.as_array().unwrap();
        assert_eq!(sessions.len(), 3);
        assert_eq!(sessions[1]["success"], false);
        assert_eq!(sessions[1]["duration_sec"], 2.0);
        assert_eq!(sessions[1]["error"]["error_type"], "HTTP Error 500");
        assert_eq!(sessions[1]["tfut_sec"], Value::Null);
        assert_eq!(sessions[1]["tfut_none_reason"], "non_streaming");
        assert_eq!(sessions[2]["tfut_sec"], 1.5);
        assert_eq!(sessions[2]["tfut_none_reason"], Value::Null);
        assert_eq!(
            sessions[2]["user_facing_event_ids"],
            json!(["event_000_a", "event_001_b"])
        );
        assert_eq!(sessions[2]["num_structured_output_excluded"], 1);
    }

    #[test]
    fn recorded_substitutions_are_reported_for_sessions_whose_events_all_completed() {
        let options = SessionLifecycleReport {
            summary: true,
            per_stage: false,
            per_session: true,
        };
        let files = session_reports(&run(), &options, &[50.0], 10);
        let summary = &files[0].contents;
        assert_eq!(summary["sessions_with_recorded_substitution"], 1);
        assert_eq!(
            summary["total_recorded_substitutions"],
            json!({"count": 2, "messages": [{
                "message": "substitutions=2 event_ids=['event_000_a', 'event_001_b']",
                "session_ids": ["c"],
            }]})
        );
        let sessions = files[1].contents.as_array().unwrap();
        assert_eq!(sessions[0]["recorded_substitution_event_ids"], Value::Null);
        assert_eq!(
            sessions[1]["n_recorded_substitutions"],
            Value::Null,
            "a session with events not completed reports none"
        );
        assert_eq!(sessions[2]["n_recorded_substitutions"], 2);
        assert_eq!(
            sessions[2]["recorded_substitution_event_ids"],
            json!(["event_000_a", "event_001_b"])
        );
        assert_eq!(
            python_list(&["it's".into(), "a\\b".into()]),
            r#"["it's", 'a\\b']"#
        );
    }

    #[test]
    fn nothing_is_written_without_sessions_or_when_switched_off() {
        let options = SessionLifecycleReport {
            summary: false,
            per_stage: false,
            per_session: false,
        };
        assert!(session_reports(&run(), &options, &[50.0], 10).is_empty());
        let default = SessionLifecycleReport::default();
        assert!(session_reports(&RunMetrics::default(), &default, &[50.0], 10).is_empty());
        assert_eq!(session_reports(&run(), &default, &[50.0], 10).len(), 2);
    }
}
