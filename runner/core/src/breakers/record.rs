//! A finished request as inference-perf hands it to its breakers: its `RequestLifecycleMetric`
//! dumped to JSON without unset and null fields, so that expressions written for
//! inference-perf (`error.error_type == 'TimeoutError'`,
//! `info.response_metrics.output_tokens`) mean the same here.

use serde_json::{Value, json};

use crate::config::without_nulls;
use crate::metrics::{Clock, ErrorKind, Outcome, RequestRecord};
use crate::report::RecordShape;

/// The record of `record` in stage `stage_id`. `request` and `response` are the bodies when
/// they were kept (per-request reports); the breakers see them absent otherwise.
pub fn peer_record(
    stage_id: usize,
    record: &RequestRecord,
    clock: &Clock,
    lora_adapter: Option<&str>,
    request: Option<&str>,
    response: Option<&str>,
) -> Value {
    let streamed = matches!(&record.outcome, Outcome::Success(r) if !r.chunks.is_empty());
    let shape = RecordShape {
        streaming: streamed,
        ..Default::default()
    };
    let info = serde_json::to_value(shape.info(record, lora_adapter, None, clock))
        .expect("a record serialises");
    let mut entry = json!({
        "stage_id": stage_id,
        "scheduled_time": clock.epoch(record.scheduled),
        "start_time": record.start.map_or_else(|| clock.epoch(record.end), |t| clock.epoch(t)),
        "end_time": clock.epoch(record.end),
    });
    if let Outcome::Failure(error) = &record.outcome {
        let message = match error.kind {
            ErrorKind::Timeout => "Request timed out".to_string(),
            _ => error.message.clone(),
        };
        entry["error"] = json!({
            "error_type": error.kind.inference_perf_type(),
            "error_msg": message,
        });
    }
    // inference-perf dumps the record without its unset fields.
    entry["info"] = without_nulls(info);
    if let Some(request) = request {
        entry["request_data"] = json!(request);
    }
    if let Some(response) = response {
        entry["response_data"] = json!(response);
    }
    entry
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::metrics::{RequestError, Response, Usage};

    #[test]
    fn failures_and_successes_have_inference_perfs_fields() {
        let clock = Clock::now();
        let at = Instant::now();
        let mut record = RequestRecord {
            index: 3,
            adapter: None,
            scheduled: at,
            start: Some(at),
            end: at + Duration::from_millis(250),
            request_bytes: 10,
            prompt_tokens: 7,
            outcome: Outcome::Failure(RequestError {
                kind: ErrorKind::Timeout,
                message: "no response within 0.2 s".into(),
            }),
            retried: None,
            media: None,
        };
        let failed = peer_record(2, &record, &clock, Some("lora-a"), None, None);
        assert_eq!(failed["error"]["error_type"], "TimeoutError");
        assert_eq!(failed["error"]["error_msg"], "Request timed out");
        assert_eq!(failed["stage_id"], 2);
        assert_eq!(failed["info"]["lora_adapter"], "lora-a");
        assert_eq!(failed["info"]["request_metrics"]["text"]["input_tokens"], 7);
        assert!(
            failed.get("request_data").is_none()
                && failed["info"].get("response_metrics").is_none()
        );
        let end = failed["end_time"].as_f64().unwrap() - failed["start_time"].as_f64().unwrap();
        assert!((end - 0.25).abs() < 1e-6);

        record.outcome = Outcome::Failure(RequestError {
            kind: ErrorKind::Http(503),
            message: "overloaded".into(),
        });
        let http = peer_record(0, &record, &clock, None, Some("{}"), Some("overloaded"));
        assert_eq!(http["error"]["error_type"], "HTTP Error 503");
        assert_eq!(http["error"]["error_msg"], "overloaded");
        assert_eq!(
            (
                http["request_data"].as_str(),
                http["response_data"].as_str()
            ),
            (Some("{}"), Some("overloaded"))
        );

        record.outcome = Outcome::Success(Response {
            output_tokens: 12,
            usage: Some(Usage {
                prompt_tokens: Some(7),
                completion_tokens: Some(12),
                cached_tokens: None,
            }),
            chunks: vec![],
            first_answer: None,
        });
        let ok = peer_record(0, &record, &clock, None, None, None);
        assert!(ok.get("error").is_none());
        assert_eq!(ok["info"]["response_metrics"]["output_tokens"], 12);
        assert_eq!(
            ok["info"]["response_metrics"]["server_usage"]["completion_tokens"],
            12
        );
    }
}
