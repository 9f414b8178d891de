//! inference-perf's request-lifecycle report (`ResponsesSummary`) from aggregated statistics.
//! Key names, nesting and percentile keys match inference-perf; our additions are extra keys
//! (`request_latency_from_scheduled`, `cancelled`) that do not disturb its shape.

use serde_json::{Map, Value, json};

use crate::config::GoodputConstraints;
use crate::metrics::{Bucket, Dist, StageInfo};

/// Which `load_summary` fields a report carries.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Summary and per-adapter reports: count and schedule delay only.
    Overall,
    /// Per-stage reports: plus send duration, requested/achieved rate and concurrency.
    Stage(&'a StageInfo),
    /// Per adapter-stage reports: plus send duration and rates, no concurrency.
    AdapterStage(&'a StageInfo),
}

/// `{"mean","min","max","p0.1",…,"median",…}` or `null` for no samples.
pub fn dist(d: &Dist, percentiles: &[f64]) -> Value {
    if d.is_empty() {
        return Value::Null;
    }
    Value::Object(dist_fields(d, percentiles))
}

fn dist_fields(d: &Dist, percentiles: &[f64]) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("mean".into(), json!(d.mean()));
    fields.insert("min".into(), json!(d.min()));
    fields.insert("max".into(), json!(d.max()));
    for &p in percentiles {
        fields.insert(percentile_key(p), json!(d.percentile(p)));
    }
    fields
}

/// Python's `f"p{p:g}"`, with 50 spelled `median`.
pub fn percentile_key(p: f64) -> String {
    if p == 50.0 {
        "median".to_string()
    } else {
        format!("p{p}")
    }
}

/// Seconds from a bucket's first send to its last response (inference-perf's
/// `benchmark_time_seconds`, the divisor of its throughputs).
pub fn benchmark_time(bucket: &Bucket) -> f64 {
    match (bucket.first_start, bucket.last_end) {
        (Some(first), Some(last)) => (last - first).max(0.0),
        _ => 0.0,
    }
}

/// Seconds from a bucket's first send to its last.
fn send_duration(bucket: &Bucket) -> f64 {
    match (bucket.first_start, bucket.last_start) {
        (Some(first), Some(last)) => last - first,
        _ => 0.0,
    }
}

/// Requests sent per second over the send duration; 0 with fewer than two sends.
pub fn achieved_rate(bucket: &Bucket) -> f64 {
    let duration = send_duration(bucket);
    if duration > 0.0 {
        bucket.sent as f64 / duration
    } else {
        0.0
    }
}

/// A lifecycle report; `goodput_metrics` is added when objectives are set.
pub fn lifecycle(
    bucket: &Bucket,
    scope: Scope<'_>,
    percentiles: &[f64],
    goodput: Option<&GoodputConstraints>,
) -> Value {
    let benchmark_time = benchmark_time(bucket);
    let per_second = |amount: f64| {
        if benchmark_time > 0.0 {
            amount / benchmark_time
        } else {
            0.0
        }
    };
    let s = &bucket.successes;
    let f = &bucket.failures;
    let (images, videos, audios) = (&s.images, &s.videos, &s.audios);
    let input_total = s.prompt_tokens.sum();
    let output_total = s.effective_output_tokens as f64;

    let mut load_summary = Map::new();
    load_summary.insert("count".into(), json!(bucket.sent));
    load_summary.insert(
        "schedule_delay".into(),
        dist(&bucket.schedule_delay, percentiles),
    );
    if let Scope::Stage(info) | Scope::AdapterStage(info) = scope {
        load_summary.insert("send_duration".into(), json!(send_duration(bucket)));
        load_summary.insert("requested_rate".into(), json!(info.requested_rate));
        load_summary.insert("achieved_rate".into(), json!(achieved_rate(bucket)));
    }
    if let Scope::Stage(StageInfo {
        concurrency: Some(level),
        ..
    }) = scope
    {
        load_summary.insert("concurrency".into(), json!(level));
    }

    let mut report = json!({
        "benchmark_time_seconds": benchmark_time,
        "load_summary": load_summary,
        "successes": {
            "count": s.count,
            "latency": {
                "request_latency": dist(&s.request_latency, percentiles),
                "normalized_time_per_output_token": dist(&s.normalized_time_per_output_token, percentiles),
                "time_per_output_token": dist(&s.time_per_output_token, percentiles),
                "time_to_first_token": dist(&s.time_to_first_token, percentiles),
                "time_to_first_output_token": dist(&s.time_to_first_output_token, percentiles),
                "inter_token_latency": dist(&s.inter_token_latency, percentiles),
                "request_latency_from_scheduled": dist(&s.request_latency_from_scheduled, percentiles),
            },
            "throughput": {
                "input_tokens_per_sec": per_second(input_total),
                "output_tokens_per_sec": per_second(output_total),
                "total_tokens_per_sec": per_second(input_total + output_total),
                "requests_per_sec": per_second(s.count as f64),
                "images_per_sec": per_second(images.per_request.sum()),
                "videos_per_sec": per_second(videos.pictures.per_request.sum()),
                "audios_per_sec": per_second(audios.per_request.sum()),
            },
            "request_size_bytes": dist(&s.request_size_bytes, percentiles),
            "image": {
                "count": dist(&images.per_success(s.count), percentiles),
                "pixels": dist(&images.pixels, percentiles),
                "bytes": dist(&images.bytes, percentiles),
                "aspect_ratio": dist(&images.aspect_ratio, percentiles),
            },
            "video": {
                "count": dist(&videos.per_success(s.count), percentiles),
                "frames": dist(&videos.frames, percentiles),
                "pixels": dist(&videos.pictures.pixels, percentiles),
                "bytes": dist(&videos.pictures.bytes, percentiles),
                "aspect_ratio": dist(&videos.pictures.aspect_ratio, percentiles),
            },
            "audio": {
                "count": dist(&audios.per_success(s.count), percentiles),
                "seconds": dist(&audios.seconds, percentiles),
                "bytes": dist(&audios.bytes, percentiles),
            },
            "prompt_tokens": token_totals(&s.prompt_tokens, s.cached_prompt_tokens, percentiles),
            "output_len": dist(&s.output_len, percentiles),
            "output_tokens": with_total(&s.output_tokens, percentiles),
            "token_count_mismatches": s.token_count_mismatches,
            "client_fallback_requests": s.client_fallback_requests,
        },
        "failures": {
            "count": f.count,
            "request_latency": dist(&f.request_latency, percentiles),
            "prompt_tokens": token_totals(&f.prompt_tokens, 0, percentiles),
            "by_label": by_label(bucket),
        },
        "cancelled": {
            "count": bucket.cancelled.in_flight + bucket.cancelled.not_sent,
            "in_flight": bucket.cancelled.in_flight,
            "not_sent": bucket.cancelled.not_sent,
        },
    });
    if let Some(constraints) = goodput.filter(|c| !c.set().is_empty()) {
        report["successes"]["goodput_metrics"] = goodput_metrics(bucket, constraints);
    }
    let retries = &bucket.retries;
    if retries.requests_retried > 0 {
        let mut block = json!({
            "requests_retried": retries.requests_retried,
            "attempts": retries.attempts,
            "recovered": retries.recovered,
            "failed_after_retry": retries.requests_retried - retries.recovered,
            "wasted_sec_total": retries.wasted_sec.sum(),
        });
        if !retries.wasted_sec.is_empty() {
            block["wasted_sec"] = dist(&retries.wasted_sec, percentiles);
        }
        report["retries"] = block;
    }
    report
}

/// inference-perf's `goodput_metrics`: rates over the successes' span (earliest send to latest
/// end).
fn goodput_metrics(bucket: &Bucket, constraints: &GoodputConstraints) -> Value {
    let s = &bucket.successes;
    let span = match (s.first_start, s.last_end) {
        (Some(first), Some(last)) if last > first => last - first,
        _ => 0.0,
    };
    let per_second = |n: u64| if span > 0.0 { n as f64 / span } else { 0.0 };
    let percent = |n: u64| {
        if s.count > 0 {
            n as f64 / s.count as f64 * 100.0
        } else {
            0.0
        }
    };
    let good = &s.goodput;
    let mut metrics = Map::new();
    metrics.insert(
        "goodput_percentage".into(),
        json!(percent(good.good_requests)),
    );
    metrics.insert(
        "request_goodput".into(),
        json!(per_second(good.good_requests)),
    );
    metrics.insert("token_goodput".into(), json!(per_second(good.good_tokens)));
    metrics.insert("good_requests".into(), json!(good.good_requests));
    metrics.insert("total_requests".into(), json!(s.count));
    for (key, _) in constraints.set() {
        let attained = good.attained.get(key).copied().unwrap_or(0);
        metrics.insert(
            format!("{key}_attainment_percentage"),
            json!(percent(attained)),
        );
    }
    Value::Object(metrics)
}

fn token_totals(d: &Dist, cached: u64, percentiles: &[f64]) -> Value {
    let total = d.sum() as u64;
    let mut fields = Map::new();
    fields.insert("total".into(), json!(total));
    fields.insert("cached".into(), json!(cached));
    fields.insert("uncached".into(), json!(total.saturating_sub(cached)));
    if !d.is_empty() {
        fields.extend(dist_fields(d, percentiles));
    }
    Value::Object(fields)
}

fn with_total(d: &Dist, percentiles: &[f64]) -> Value {
    let mut fields = Map::new();
    fields.insert("total".into(), json!(d.sum() as u64));
    if !d.is_empty() {
        fields.extend(dist_fields(d, percentiles));
    }
    Value::Object(fields)
}

/// Labels by descending count; messages likewise.
fn by_label(bucket: &Bucket) -> Value {
    let mut labels: Vec<_> = bucket.failures.by_label.iter().collect();
    labels.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    let mut out = Map::new();
    for (label, stats) in labels {
        let mut messages: Vec<_> = stats.messages.iter().collect();
        messages.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let messages: Vec<Value> = messages
            .into_iter()
            .map(|(m, n)| json!({"message": m, "count": n}))
            .collect();
        out.insert(
            label.clone(),
            json!({"count": stats.count, "messages": messages}),
        );
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{
        Audio, Clock, ErrorKind, Image, Media, Outcome, RecordOptions, RequestError, RequestRecord,
        Response, StageStatus, Video,
    };
    use std::time::{Duration, Instant};

    const PERCENTILES: [f64; 11] = [
        0.1, 1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9,
    ];

    #[test]
    fn percentile_keys_match_python_g_format() {
        let keys: Vec<String> = PERCENTILES.iter().map(|&p| percentile_key(p)).collect();
        assert_eq!(
            keys,
            [
                "p0.1", "p1", "p5", "p10", "p25", "median", "p75", "p90", "p95", "p99", "p99.9"
            ]
        );
    }

    fn sample_bucket() -> Bucket {
        let base = Instant::now();
        let clock = Clock::now();
        let mut bucket = Bucket::default();
        for i in 0..4u64 {
            let start = base + Duration::from_millis(i * 250);
            let outcome = if i == 3 {
                Outcome::Failure(RequestError {
                    kind: ErrorKind::Http(429),
                    message: "slow down".into(),
                })
            } else {
                Outcome::Success(Response {
                    output_tokens: 5,
                    usage: None,
                    chunks: vec![],
                    first_answer: None,
                })
            };
            let record = RequestRecord {
                index: i,
                adapter: None,
                scheduled: start,
                start: Some(start),
                end: start + Duration::from_millis(100),
                request_bytes: 50,
                prompt_tokens: 7,
                outcome,
                retried: None,
                media: None,
            };
            bucket.record(&record, &clock, &RecordOptions::default());
        }
        bucket
    }

    #[test]
    fn stage_report_has_inference_perf_shape_and_arithmetic() {
        let info = StageInfo {
            id: 0,
            requested_rate: 4.0,
            concurrency: None,
            planned: 4,
            status: StageStatus::Completed,
            start: 0.0,
            end: 1.0,
            timeout: None,
        };
        let report = lifecycle(&sample_bucket(), Scope::Stage(&info), &PERCENTILES, None);
        let load = &report["load_summary"];
        assert_eq!(load["count"], 4);
        assert!((load["send_duration"].as_f64().unwrap() - 0.75).abs() < 1e-6);
        assert!((load["achieved_rate"].as_f64().unwrap() - 4.0 / 0.75).abs() < 1e-4);
        assert_eq!(load["requested_rate"], 4.0);
        assert!(load.get("concurrency").is_none());
        let keys: Vec<&String> = load["schedule_delay"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "mean", "min", "max", "p0.1", "p1", "p5", "p10", "p25", "median", "p75", "p90",
                "p95", "p99", "p99.9"
            ]
        );
        // benchmark time: first start 0 ms to last end 850 ms.
        assert!((report["benchmark_time_seconds"].as_f64().unwrap() - 0.85).abs() < 1e-6);
        let successes = &report["successes"];
        assert_eq!(successes["count"], 3);
        assert!(
            (successes["throughput"]["output_tokens_per_sec"]
                .as_f64()
                .unwrap()
                - 15.0 / 0.85)
                .abs()
                < 1e-3
        );
        assert_eq!(successes["prompt_tokens"]["total"], 21);
        assert_eq!(successes["output_tokens"]["total"], 15);
        assert!(successes["latency"]["time_to_first_token"].is_null());
        assert_eq!(
            report["failures"]["by_label"]["429 - Rate Limit"]["count"],
            1
        );
        assert_eq!(report["failures"]["prompt_tokens"]["total"], 7);
    }

    #[test]
    fn overall_reports_carry_no_rates() {
        let report = lifecycle(&sample_bucket(), Scope::Overall, &PERCENTILES, None);
        let load = report["load_summary"].as_object().unwrap();
        assert_eq!(load.keys().collect::<Vec<_>>(), ["count", "schedule_delay"]);
        let empty = lifecycle(&Bucket::default(), Scope::Overall, &PERCENTILES, None);
        assert!(empty["load_summary"]["schedule_delay"].is_null());
        assert_eq!(empty["benchmark_time_seconds"], 0.0);
    }

    /// Requests 0–3 one second apart, each 0.5 s long, carrying `images[i]` (request 3 fails).
    fn image_records(images: [&[Image]; 4]) -> Vec<RequestRecord> {
        media_records(images.map(|images| Media {
            images: images.to_vec(),
            ..Media::default()
        }))
    }

    /// Requests 0–3 one second apart, each 0.5 s long, carrying `media[i]` (request 3 fails).
    fn media_records(media: [Media; 4]) -> Vec<RequestRecord> {
        let base = Instant::now();
        media
            .into_iter()
            .enumerate()
            .map(|(i, carried)| {
                let start = base + Duration::from_secs(i as u64);
                RequestRecord {
                    index: i as u64,
                    adapter: None,
                    scheduled: start,
                    start: Some(start),
                    end: start + Duration::from_millis(500),
                    request_bytes: 50,
                    prompt_tokens: 7,
                    outcome: if i == 3 {
                        Outcome::Failure(RequestError {
                            kind: ErrorKind::Http(500),
                            message: "broken".into(),
                        })
                    } else {
                        Outcome::Success(Response::default())
                    },
                    retried: None,
                    media: (!carried.is_empty()).then(|| Box::new(carried)),
                }
            })
            .collect()
    }

    #[test]
    fn image_summaries_are_inference_perfs_over_the_successes() {
        // 40×30 (1200 px, 900 B), 20×10 (200 px, 150 B), 32×32 (1024 px, 600 B); none of the
        // second request; the failure's image is not counted.
        let (a, b, c) = (
            Image::new(40, 30, 900),
            Image::new(20, 10, 150),
            Image::new(32, 32, 600),
        );
        let records = image_records([&[a, b], &[], &[c], &[Image::new(4000, 10, 9)]]);
        for bucket in whole_and_merged(&records) {
            let report = lifecycle(&bucket, Scope::Overall, &PERCENTILES, None);
            let image = &report["successes"]["image"];
            let stat = |key: &str, field: &str| image[key][field].as_f64().unwrap();
            // Images per success: 2, 0, 1.
            assert_eq!(
                [
                    stat("count", "mean"),
                    stat("count", "min"),
                    stat("count", "max")
                ],
                [1.0, 0.0, 2.0]
            );
            assert_eq!(stat("count", "median"), 1.0);
            assert_eq!(stat("count", "p25"), 0.5);
            let mean = |values: [f64; 3]| values.iter().sum::<f64>() / 3.0;
            assert_eq!(stat("pixels", "mean"), mean([1200.0, 200.0, 1024.0]));
            assert_eq!(
                [
                    stat("pixels", "min"),
                    stat("pixels", "median"),
                    stat("pixels", "max")
                ],
                [200.0, 1024.0, 1200.0]
            );
            // numpy: 200 + (1024 - 200) * 0.2
            assert!((stat("pixels", "p10") - 364.8).abs() < 1e-9);
            assert_eq!(stat("bytes", "mean"), 550.0);
            assert_eq!(
                [
                    stat("bytes", "min"),
                    stat("bytes", "median"),
                    stat("bytes", "max")
                ],
                [150.0, 600.0, 900.0]
            );
            let ratios = [40.0 / 30.0, 2.0, 1.0];
            assert!((stat("aspect_ratio", "mean") - mean(ratios)).abs() < 1e-12);
            assert_eq!(
                [stat("aspect_ratio", "min"), stat("aspect_ratio", "max")],
                [1.0, 2.0]
            );
            // Interior ranks come from the histogram: 3 significant digits.
            assert!((stat("aspect_ratio", "median") - 40.0 / 30.0).abs() < 1e-3);
            // 3 images over 3.5 s (the first send to the last end, the failure's).
            let rate = report["successes"]["throughput"]["images_per_sec"]
                .as_f64()
                .unwrap();
            assert!((rate - 3.0 / 3.5).abs() < 1e-6, "{rate}");
        }
    }

    /// `records` recorded in one bucket, and in two merged after one went over JSON (as
    /// runner pods hand theirs over).
    fn whole_and_merged(records: &[RequestRecord]) -> [Bucket; 2] {
        let clock = Clock::now();
        let mut whole = Bucket::default();
        let (mut left, mut right) = (Bucket::default(), Bucket::default());
        for (i, record) in records.iter().enumerate() {
            whole.record(record, &clock, &RecordOptions::default());
            let half = if i < 2 { &mut left } else { &mut right };
            half.record(record, &clock, &RecordOptions::default());
        }
        let right: Bucket = serde_json::from_str(&serde_json::to_string(&right).unwrap()).unwrap();
        left.merge(&right);
        [whole, left]
    }

    #[test]
    fn video_and_audio_summaries_are_inference_perfs_over_the_successes() {
        let video = |frames: u64, bytes: u64| Video {
            picture: Image::new(40, 20, bytes),
            frames,
        };
        let clip = |seconds: f64| Audio {
            bytes: 44 + (seconds * 32000.0) as u64,
            seconds,
        };
        let records = media_records([
            Media {
                videos: vec![video(3, 300), video(5, 500)],
                audios: vec![clip(1.0)],
                ..Media::default()
            },
            Media::default(),
            Media {
                audios: vec![clip(2.0), clip(0.5)],
                ..Media::default()
            },
            Media {
                videos: vec![video(99, 9)],
                audios: vec![clip(9.0)],
                ..Media::default()
            },
        ]);
        for bucket in whole_and_merged(&records) {
            let report = lifecycle(&bucket, Scope::Overall, &PERCENTILES, None);
            let successes = &report["successes"];
            let stat =
                |kind: &str, key: &str, field: &str| successes[kind][key][field].as_f64().unwrap();
            // Videos per success: 2, 0, 0; clips: 1, 0, 2.
            assert_eq!(stat("video", "count", "max"), 2.0);
            assert_eq!(stat("video", "count", "mean"), 2.0 / 3.0);
            assert_eq!(stat("video", "frames", "min"), 3.0);
            assert_eq!(
                stat("video", "frames", "max"),
                5.0,
                "the failure's is left out"
            );
            assert_eq!(stat("video", "pixels", "mean"), 800.0);
            assert_eq!(stat("video", "bytes", "mean"), 400.0);
            assert_eq!(stat("video", "aspect_ratio", "max"), 2.0);
            assert_eq!(stat("audio", "count", "mean"), 1.0);
            assert_eq!(stat("audio", "seconds", "min"), 0.5);
            assert_eq!(stat("audio", "seconds", "max"), 2.0);
            assert_eq!(stat("audio", "bytes", "max"), 64044.0);
            let rate = |key: &str| successes["throughput"][key].as_f64().unwrap();
            // Over 3.5 s, the first send to the last end.
            assert!((rate("videos_per_sec") - 2.0 / 3.5).abs() < 1e-6);
            assert!((rate("audios_per_sec") - 3.0 / 3.5).abs() < 1e-6);
            assert_eq!(rate("images_per_sec"), 0.0);
            assert!(successes["image"]["pixels"].is_null());
        }
    }

    #[test]
    fn without_images_the_image_figures_are_zero_or_null_and_nothing_is_sent() {
        let records = image_records([&[], &[], &[], &[]]);
        let clock = Clock::now();
        let mut bucket = Bucket::default();
        records
            .iter()
            .for_each(|r| bucket.record(r, &clock, &RecordOptions::default()));
        let wire = serde_json::to_value(&bucket).unwrap();
        for kind in ["images", "videos", "audios"] {
            assert!(wire["successes"].get(kind).is_none(), "{wire}");
        }
        let bucket: Bucket = serde_json::from_value(wire).unwrap();
        let report = lifecycle(&bucket, Scope::Overall, &PERCENTILES, None);
        let successes = &report["successes"];
        assert_eq!(successes["image"]["count"]["max"], 0.0);
        assert_eq!(successes["image"]["count"]["mean"], 0.0);
        for key in ["pixels", "bytes", "aspect_ratio"] {
            assert!(successes["image"][key].is_null(), "{key}");
        }
        assert_eq!(successes["throughput"]["images_per_sec"], 0.0);
        let none = lifecycle(&Bucket::default(), Scope::Overall, &PERCENTILES, None);
        assert!(none["successes"]["image"]["count"].is_null());
    }
}
