//! One request's record in `per_request_lifecycle_metrics.json`, in inference-perf 0.7.0's
//! shape (`info.request_metrics`, `info.response_metrics`, the `per_request_fields`
//! switches, `computed_metrics`) plus `stage_id`, `scheduled_time` and `info.cancelled`.
//! Times are Unix seconds (inference-perf's are process-local monotonic seconds).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::chat_answer;
use super::messages_answer::MessagesAnswer;
use crate::config::{ApiType, PerRequestFields};
use crate::metrics::{
    Audio, Clock, Image, Outcome, RecordOptions, RequestRecord, Response, Usage, Video,
    effective_output_tokens, request_latencies, token_gaps, token_times,
};

#[derive(Debug, Clone, Serialize)]
pub struct PerRequestEntry {
    pub stage_id: usize,
    pub scheduled_time: f64,
    /// `null` when the request was never sent.
    pub start_time: Option<f64>,
    pub end_time: f64,
    /// The JSON request body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The raw response body or SSE text (partial if the request failed mid-way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<PerRequestInfo>,
    /// Successes only, when `per_request_fields.computed_metrics` asks for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed_metrics: Option<ComputedMetrics>,
    pub error: Option<PerRequestError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PerRequestInfo {
    pub request_metrics: RequestMetrics,
    pub response_metrics: Option<ResponseMetrics>,
    /// inference-perf's API-specific extras: the Messages API's answer; a conversation's
    /// session and round.
    pub extra_info: Map<String, Value>,
    pub lora_adapter: Option<String>,
    /// The trace event a request replays (session replay): `{session}:{event}`.
    pub graph_event_id: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Sends after the first (`load.request_retries`); only when retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries_attempted: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries_recovered: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_wasted_sec: Option<f64>,
    /// The server's prompt count when it gave one, else the client's (inference-perf's
    /// deprecated mirror of `request_metrics.text.input_tokens`).
    pub input_tokens: u64,
    pub cancelled: bool,
    /// Session replay only.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub session_answer: Option<SessionAnswer>,
}

/// A session call's answer as inference-perf's `SessionInferenceInfo` keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionAnswer {
    /// Its thinking then its text; `null` when both are empty, `""` when it failed.
    pub output_text: Option<String>,
    pub output_message: Option<Value>,
}

/// Prompt size by modality; a kind the request did not carry is `null`.
#[derive(Debug, Clone, Serialize)]
pub struct RequestMetrics {
    pub text: TextMetrics,
    pub image: Option<Instances<Image>>,
    pub video: Option<Instances<Video>>,
    pub audio: Option<Instances<Audio>>,
}

/// inference-perf's `Images`, `Videos` and `Audios`: the media of one kind of a request.
#[derive(Debug, Clone, Serialize)]
pub struct Instances<T> {
    pub count: usize,
    pub instances: Vec<T>,
}

impl<T: Clone> Instances<T> {
    /// `None` for none, as inference-perf leaves out a kind the request did not carry.
    fn of(items: &[T]) -> Option<Self> {
        (!items.is_empty()).then(|| Instances {
            count: items.len(),
            instances: items.to_vec(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TextMetrics {
    pub input_tokens: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResponseMetrics {
    /// The client's count.
    pub output_tokens: u64,
    /// The server's `usage`, `null` when it sent none.
    pub server_usage: Option<Value>,
    /// Streamed only: the JSON of each content-bearing event, unless
    /// `per_request_fields.response_chunks` is off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_chunks: Option<Vec<String>>,
    /// Streamed only: each content-bearing event's arrival.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_times: Option<Vec<f64>>,
    /// Streamed only: each output token's arrival (tokens of one event share its time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_token_times: Option<Vec<f64>>,
}

/// inference-perf's per-request `computed_metrics`, in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct ComputedMetrics {
    pub request_latency: f64,
    pub normalized_time_per_output_token: f64,
    pub time_to_first_token: Option<f64>,
    pub time_per_output_token: Option<f64>,
    pub inter_token_latency: Option<f64>,
    pub inter_token_latencies: Vec<f64>,
    pub input_tokens: u64,
    pub output_tokens: Option<u64>,
    pub ttft_slo_sec: Option<f64>,
    pub tpot_slo_sec: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PerRequestError {
    pub error_type: String,
    pub error_msg: String,
}

/// What every record of a run shares: how it was asked for and what to keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordShape {
    pub api: ApiType,
    pub streaming: bool,
    pub fields: PerRequestFields,
    pub options: RecordOptions,
    /// The objectives of the per-request SLO headers, in seconds.
    pub ttft_slo_sec: Option<f64>,
    pub tpot_slo_sec: Option<f64>,
}

/// The request's parts as sent and received, for its record.
pub struct Exchanged<'a> {
    pub stage_id: usize,
    pub record: &'a RequestRecord,
    pub lora_adapter: Option<&'a str>,
    /// Session replay: `{session}:{event}` of the trace event the request replays.
    pub graph_event_id: Option<String>,
    /// `info.labels` (a traced call's span attributes, `attribute_to_label_map`).
    pub labels: Vec<(String, String)>,
    /// A multi-turn request's session id and round (from 1): `info.extra_info`'s
    /// `user_session` and `chat_round`, as inference-perf writes them.
    pub session: Option<(&'a str, u64)>,
    pub request: String,
    pub response: String,
}

impl RecordShape {
    pub fn entry(&self, exchanged: Exchanged<'_>, clock: &Clock) -> PerRequestEntry {
        let record = exchanged.record;
        let response = match &record.outcome {
            Outcome::Success(response) => Some(response),
            _ => None,
        };
        // inference-perf records a Messages API answer in that API's own terms.
        let messages =
            (self.fields.info && response.is_some() && self.api == ApiType::AnthropicMessages)
                .then(|| MessagesAnswer::read(&exchanged.response, self.streaming));
        let chunks =
            (self.fields.info && self.fields.response_chunks && self.streaming).then(|| {
                match &messages {
                    Some(answer) => answer.chunks.clone(),
                    None => content_events(&exchanged.response),
                }
            });
        let session_answer = (self.fields.info && exchanged.graph_event_id.is_some()).then(|| {
            self.session_answer(response.is_some(), messages.as_ref(), &exchanged.response)
        });
        PerRequestEntry {
            stage_id: exchanged.stage_id,
            scheduled_time: clock.epoch(record.scheduled),
            start_time: record.start.map(|t| clock.epoch(t)),
            end_time: clock.epoch(record.end),
            request: self.fields.request.then_some(exchanged.request),
            response: self.fields.response.then_some(exchanged.response),
            info: self.fields.info.then(|| {
                let mut info = self.info(record, exchanged.lora_adapter, chunks, clock);
                info.session_answer = session_answer;
                info.graph_event_id = exchanged.graph_event_id;
                info.labels = exchanged.labels.into_iter().collect();
                if let Some(answer) = messages {
                    info.extra_info = answer.extra_info;
                    if let Some(metrics) = info.response_metrics.as_mut() {
                        metrics.server_usage = answer.server_usage;
                    }
                }
                if let Some((id, round)) = exchanged.session {
                    info.extra_info.insert("user_session".into(), id.into());
                    info.extra_info.insert("chat_round".into(), round.into());
                }
                info
            }),
            computed_metrics: response
                .filter(|_| self.fields.computed_metrics)
                .map(|r| self.computed_metrics(record, r)),
            error: match &record.outcome {
                Outcome::Failure(e) => Some(PerRequestError {
                    error_type: e.kind.inference_perf_type(),
                    error_msg: e.message.clone(),
                }),
                _ => None,
            },
        }
    }

    /// `info` of a record; `response_chunks` are the raw events when kept.
    pub fn info(
        &self,
        record: &RequestRecord,
        lora_adapter: Option<&str>,
        response_chunks: Option<Vec<String>>,
        clock: &Clock,
    ) -> PerRequestInfo {
        let response = match &record.outcome {
            Outcome::Success(response) => Some(response),
            _ => None,
        };
        let input_tokens = input_tokens(record);
        let media = response.and(record.media.as_deref());
        PerRequestInfo {
            request_metrics: RequestMetrics {
                text: TextMetrics { input_tokens },
                // inference-perf measures the media while reading a response, so a failure has
                // none.
                image: media.and_then(|m| Instances::of(&m.images)),
                video: media.and_then(|m| Instances::of(&m.videos)),
                audio: media.and_then(|m| Instances::of(&m.audios)),
            },
            response_metrics: response.map(|r| {
                let epochs = |times: &mut dyn Iterator<Item = std::time::Instant>| {
                    times.map(|t| clock.epoch(t)).collect::<Vec<f64>>()
                };
                ResponseMetrics {
                    output_tokens: r.output_tokens,
                    server_usage: r.usage.map(server_usage),
                    response_chunks: response_chunks.filter(|_| self.streaming),
                    chunk_times: self
                        .streaming
                        .then(|| epochs(&mut r.chunks.iter().map(|(t, _)| *t))),
                    output_token_times: self.streaming.then(|| epochs(&mut token_times(r))),
                }
            }),
            extra_info: Map::new(),
            lora_adapter: lora_adapter.map(str::to_string),
            graph_event_id: None,
            labels: BTreeMap::new(),
            retries_attempted: record.retried.map(|r| r.attempts),
            retries_recovered: record.retried.map(|_| record.retry_recovered()),
            retry_wasted_sec: record.retry_wasted_sec(),
            input_tokens,
            cancelled: matches!(record.outcome, Outcome::Cancelled),
            session_answer: None,
        }
    }

    fn session_answer(
        &self,
        answered: bool,
        messages: Option<&MessagesAnswer>,
        raw: &str,
    ) -> SessionAnswer {
        if !answered {
            return SessionAnswer {
                output_text: Some(String::new()),
                output_message: None,
            };
        }
        let (text, message) = match messages {
            Some(answer) => (
                answer.extra_info["output_text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                answer
                    .extra_info
                    .get("output_message")
                    .filter(|m| !m.is_null())
                    .cloned(),
            ),
            None => match chat_answer::read(raw, self.streaming) {
                Some(mut message) => {
                    // The next call is sent the thinking under both names; inference-perf records
                    // `reasoning_content` only.
                    message.remove("reasoning");
                    let text: String = ["reasoning_content", "content"]
                        .iter()
                        .filter_map(|key| message.get(*key).and_then(Value::as_str))
                        .collect();
                    (text, Some(Value::Object(message)))
                }
                None => (String::new(), None),
            },
        };
        SessionAnswer {
            output_text: (!text.is_empty()).then_some(text),
            output_message: message,
        }
    }

    fn computed_metrics(&self, record: &RequestRecord, response: &Response) -> ComputedMetrics {
        let start = record.start.unwrap_or(record.end);
        let effective = effective_output_tokens(response, self.options.use_server_output_tokens);
        let latencies = request_latencies(start, record.end, response, effective);
        ComputedMetrics {
            request_latency: latencies.request_latency,
            normalized_time_per_output_token: latencies.ntpot.unwrap_or(0.0),
            time_to_first_token: latencies.ttft,
            time_per_output_token: latencies.tpot,
            inter_token_latency: latencies.itl,
            inter_token_latencies: token_gaps(response).collect(),
            input_tokens: input_tokens(record),
            output_tokens: Some(response.output_tokens),
            ttft_slo_sec: self.ttft_slo_sec,
            tpot_slo_sec: self.tpot_slo_sec,
        }
    }
}

fn input_tokens(record: &RequestRecord) -> u64 {
    match &record.outcome {
        Outcome::Success(Response {
            usage:
                Some(Usage {
                    prompt_tokens: Some(n),
                    ..
                }),
            ..
        }) => *n,
        _ => record.prompt_tokens,
    }
}

/// The server's `usage` in the OpenAI shape it came in.
fn server_usage(usage: Usage) -> Value {
    let mut value = Map::new();
    if let Some(prompt) = usage.prompt_tokens {
        value.insert("prompt_tokens".into(), json!(prompt));
    }
    if let (Some(prompt), Some(completion)) = (usage.prompt_tokens, usage.completion_tokens) {
        value.insert("total_tokens".into(), json!(prompt + completion));
    }
    if let Some(completion) = usage.completion_tokens {
        value.insert("completion_tokens".into(), json!(completion));
    }
    if let Some(cached) = usage.cached_tokens {
        value.insert(
            "prompt_tokens_details".into(),
            json!({"cached_tokens": cached}),
        );
    }
    Value::Object(value)
}

/// The JSON of each SSE event that carries content (completion `text` or chat
/// `delta.content`), as inference-perf keeps them: not role-only deltas, usage or `[DONE]`.
pub fn content_events(sse: &str) -> Vec<String> {
    sse.split("\n\n")
        .flat_map(|event| event.lines())
        .filter_map(|line| line.strip_prefix("data:").map(str::trim))
        .filter(|data| {
            let Ok(event) = serde_json::from_str::<Value>(data) else {
                return false;
            };
            let choice = &event["choices"][0];
            [&choice["text"], &choice["delta"]["content"]]
                .iter()
                .any(|c| c.as_str().is_some_and(|s| !s.is_empty()))
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ErrorKind, Media, RequestError};
    use std::time::{Duration, Instant};

    fn streamed_record(base: Instant) -> RequestRecord {
        let at = |ms| base + Duration::from_millis(ms);
        RequestRecord {
            index: 0,
            adapter: None,
            scheduled: base,
            start: Some(at(2)),
            end: at(50),
            request_bytes: 10,
            prompt_tokens: 6,
            outcome: Outcome::Success(Response {
                output_tokens: 5,
                usage: Some(Usage {
                    prompt_tokens: Some(7),
                    completion_tokens: Some(5),
                    cached_tokens: None,
                }),
                chunks: vec![(at(12), 1), (at(22), 3), (at(32), 1)],
                first_answer: None,
            }),
            retried: None,
            media: None,
        }
    }

    const SSE: &str = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"hello\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\" big brown fox\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\" end\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7}}\n\ndata: [DONE]\n\n";

    fn exchanged(record: &RequestRecord) -> Exchanged<'_> {
        Exchanged {
            stage_id: 1,
            record,
            lora_adapter: Some("support"),
            graph_event_id: None,
            labels: Vec::new(),
            session: None,
            request: "{}".into(),
            response: SSE.into(),
        }
    }

    #[test]
    fn a_streamed_success_has_inference_perfs_shape_and_token_times() {
        let base = Instant::now();
        let clock = Clock::now();
        let record = streamed_record(base);
        let shape = RecordShape {
            streaming: true,
            ..Default::default()
        };
        let entry = serde_json::to_value(shape.entry(exchanged(&record), &clock)).unwrap();
        let info = &entry["info"];
        assert_eq!(
            info["request_metrics"]["text"]["input_tokens"], 7,
            "the server's count"
        );
        assert_eq!(info["request_metrics"]["image"], Value::Null);
        let metrics = &info["response_metrics"];
        assert_eq!(
            metrics["server_usage"],
            json!({"prompt_tokens": 7, "total_tokens": 12, "completion_tokens": 5})
        );
        assert_eq!(metrics["response_chunks"].as_array().unwrap().len(), 3);
        assert_eq!(metrics["chunk_times"].as_array().unwrap().len(), 3);
        let token_times: Vec<f64> = metrics["output_token_times"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap())
            .collect();
        assert_eq!(token_times.len(), 5, "one time per token");
        assert_eq!(
            token_times[1], token_times[3],
            "a chunk's tokens share its time"
        );
        assert_eq!(info["lora_adapter"], "support");
        assert_eq!(info["extra_info"], json!({}));
        assert_eq!(entry["error"], Value::Null);
        assert!(entry.get("computed_metrics").is_none(), "off by default");
        let turn = Exchanged {
            session: Some(("slot_3_convo_1", 2)),
            ..exchanged(&record)
        };
        let entry = serde_json::to_value(shape.entry(turn, &clock)).unwrap();
        assert_eq!(
            entry["info"]["extra_info"],
            json!({"user_session": "slot_3_convo_1", "chat_round": 2})
        );
    }

    #[test]
    fn a_success_lists_its_media_and_a_failure_none() {
        let clock = Clock::now();
        let mut record = streamed_record(Instant::now());
        record.media = Some(Box::new(Media {
            images: vec![Image::new(64, 48, 300), Image::new(0, 0, 0)],
            videos: vec![Video {
                picture: Image::new(40, 20, 900),
                frames: 3,
            }],
            audios: vec![Audio {
                bytes: 32044,
                seconds: 1.0,
            }],
        }));
        let info =
            serde_json::to_value(RecordShape::default().info(&record, None, None, &clock)).unwrap();
        assert_eq!(
            info["request_metrics"]["image"],
            json!({"count": 2, "instances": [
                {"pixels": 3072, "bytes": 300, "aspect_ratio": 64.0 / 48.0},
                {"pixels": 0, "bytes": 0, "aspect_ratio": 0.0},
            ]})
        );
        assert_eq!(
            info["request_metrics"]["video"],
            json!({"count": 1, "instances": [{"pixels": 800, "bytes": 900, "aspect_ratio": 2.0, "frames": 3}]})
        );
        assert_eq!(
            info["request_metrics"]["audio"],
            json!({"count": 1, "instances": [{"bytes": 32044, "seconds": 1.0}]})
        );
        record.media = Some(Box::new(Media {
            images: vec![Image::new(1, 1, 1)],
            ..Media::default()
        }));
        let info =
            serde_json::to_value(RecordShape::default().info(&record, None, None, &clock)).unwrap();
        assert_eq!(
            info["request_metrics"]["video"],
            Value::Null,
            "none carried"
        );
        record.outcome = Outcome::Failure(RequestError {
            kind: ErrorKind::Http(500),
            message: "broken".into(),
        });
        let info =
            serde_json::to_value(RecordShape::default().info(&record, None, None, &clock)).unwrap();
        assert_eq!(info["request_metrics"]["image"], Value::Null);
    }

    #[test]
    fn per_request_fields_drop_parts_and_computed_metrics_follow_the_formulas() {
        let base = Instant::now();
        let clock = Clock::now();
        let record = streamed_record(base);
        let shape = RecordShape {
            streaming: true,
            fields: PerRequestFields {
                request: false,
                response: false,
                info: true,
                response_chunks: false,
                computed_metrics: true,
            },
            ttft_slo_sec: Some(0.2),
            ..Default::default()
        };
        let entry = serde_json::to_value(shape.entry(exchanged(&record), &clock)).unwrap();
        assert!(entry.get("request").is_none() && entry.get("response").is_none());
        assert!(
            entry["info"]["response_metrics"]
                .get("response_chunks")
                .is_none()
        );
        assert!(
            entry["info"]["response_metrics"]
                .get("chunk_times")
                .is_some()
        );
        let computed = &entry["computed_metrics"];
        let close = |key: &str, expected: f64| {
            let actual = computed[key].as_f64().unwrap();
            assert!(
                (actual - expected).abs() < 1e-9,
                "{key}: {actual} != {expected}"
            );
        };
        close("request_latency", 0.048);
        close("normalized_time_per_output_token", 0.048 / 5.0);
        close("time_to_first_token", 0.010);
        // First token at 12 ms, last at 32 ms, 5 tokens.
        close("time_per_output_token", 0.020 / 4.0);
        close("inter_token_latency", 0.020 / 4.0);
        let gaps: Vec<f64> = computed["inter_token_latencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g.as_f64().unwrap() * 1000.0).round())
            .collect();
        assert_eq!(gaps, [10.0, 0.0, 0.0, 10.0]);
        assert_eq!(computed["ttft_slo_sec"], 0.2);
        assert_eq!(computed["tpot_slo_sec"], Value::Null);

        let no_info = RecordShape {
            fields: PerRequestFields {
                info: false,
                ..Default::default()
            },
            ..shape
        };
        let entry = serde_json::to_value(no_info.entry(exchanged(&record), &clock)).unwrap();
        assert!(entry.get("info").is_none());
    }

    #[test]
    fn a_session_call_keeps_its_answer_as_inference_perf_does_and_other_requests_do_not() {
        let record = streamed_record(Instant::now());
        let shape = RecordShape {
            streaming: true,
            ..Default::default()
        };
        let entry = |record: &RequestRecord, response: &str, event: Option<&str>| {
            let exchanged = Exchanged {
                graph_event_id: event.map(str::to_string),
                response: response.into(),
                ..exchanged(record)
            };
            serde_json::to_value(shape.entry(exchanged, &Clock::now())).unwrap()["info"].clone()
        };
        let plain = entry(&record, SSE, None);
        assert!(plain.get("output_text").is_none() && plain.get("output_message").is_none());

        let info = entry(&record, SSE, Some("s:event_000_a"));
        assert_eq!(info["output_text"], "hello big brown fox end");
        assert_eq!(
            info["output_message"],
            json!({"role": "assistant", "content": "hello big brown fox end"})
        );

        let thinking_then_call = "data: {\"choices\":[{\"delta\":{\"reasoning\":\"hm \"}}]}\n\n\
            data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n\
            data: [DONE]\n\n";
        let info = entry(&record, thinking_then_call, Some("s:event_001_b"));
        assert_eq!(
            info["output_text"], "hm ",
            "the thinking counts as its text"
        );
        assert_eq!(
            info["output_message"],
            json!({"role": "assistant", "reasoning_content": "hm ", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
        );

        let silent = "data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\ndata: [DONE]\n\n";
        let info = entry(&record, silent, Some("s:event_002_c"));
        assert_eq!(
            info["output_text"],
            Value::Null,
            "an empty answer has no text"
        );
        assert_eq!(
            info["output_message"],
            json!({"role": "assistant", "content": ""})
        );

        let mut failed = streamed_record(Instant::now());
        failed.outcome = Outcome::Failure(RequestError {
            kind: ErrorKind::Http(500),
            message: "boom".into(),
        });
        let info = entry(&failed, "", Some("s:event_003_d"));
        assert_eq!(info["output_text"], "");
        assert_eq!(info["output_message"], Value::Null);
    }

    #[test]
    fn a_failure_has_no_response_metrics_nor_computed_metrics() {
        let base = Instant::now();
        let mut record = streamed_record(base);
        record.outcome = Outcome::Failure(RequestError {
            kind: ErrorKind::Http(500),
            message: "boom".into(),
        });
        let shape = RecordShape {
            streaming: true,
            fields: PerRequestFields {
                computed_metrics: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let entry = serde_json::to_value(shape.entry(exchanged(&record), &Clock::now())).unwrap();
        assert_eq!(entry["info"]["response_metrics"], Value::Null);
        assert_eq!(entry["info"]["input_tokens"], 6, "the client's count");
        assert!(entry.get("computed_metrics").is_none());
        assert_eq!(entry["error"]["error_type"], "HTTP Error 500");
    }
}
