//! Aggregated statistics of one group of requests (a stage's requests to one adapter): exactly
//! what inference-perf's lifecycle report needs, in bounded memory, mergeable across workers and
//! pods.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::dist::Dist;
use super::labels;
use super::latencies::{
    RequestLatencies, effective_output_tokens, request_latencies, seconds_between, token_gaps,
};
use super::record::{
    Audio, Clock, Image, Media, Outcome, RequestError, RequestRecord, Response, Video,
};
use crate::config::GoodputConstraints;

/// Report options that change what is recorded.
#[derive(Debug, Clone, Copy)]
pub struct RecordOptions {
    /// Divide by the server's `completion_tokens` instead of the client's count.
    pub use_server_output_tokens: bool,
    /// Distinct messages kept per failure label.
    pub max_error_messages: usize,
    /// Objectives each success is checked against (histograms cannot be filtered afterwards).
    pub goodput: Option<GoodputConstraints>,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            use_server_output_tokens: false,
            max_error_messages: 100,
            goodput: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bucket {
    /// Requests handed to the HTTP client (successes, failures and those cancelled in flight).
    pub sent: u64,
    pub schedule_delay: Dist,
    /// Unix times of the earliest and latest send, and of the latest end.
    pub first_start: Option<f64>,
    pub last_start: Option<f64>,
    pub last_end: Option<f64>,
    pub successes: Successes,
    pub failures: Failures,
    pub cancelled: Cancelled,
    #[serde(default)]
    pub retries: Retries,
}

/// Requests sent again after failing before any response byte (inference-perf's `retries`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Retries {
    pub requests_retried: u64,
    /// Sends after the first, over all requests.
    pub attempts: u64,
    pub recovered: u64,
    /// Seconds each retried request lost to retrying.
    pub wasted_sec: Dist,
}

impl Default for Retries {
    fn default() -> Self {
        Retries {
            requests_retried: 0,
            attempts: 0,
            recovered: 0,
            wasted_sec: Dist::seconds(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Successes {
    pub count: u64,
    pub request_latency: Dist,
    /// End minus *scheduled* time: latency corrected for coordinated omission.
    pub request_latency_from_scheduled: Dist,
    pub normalized_time_per_output_token: Dist,
    pub time_per_output_token: Dist,
    pub time_to_first_token: Dist,
    /// To the first token of the answer, after any reasoning (streamed chat only).
    #[serde(default = "Dist::seconds")]
    pub time_to_first_output_token: Dist,
    pub inter_token_latency: Dist,
    pub request_size_bytes: Dist,
    pub prompt_tokens: Dist,
    pub cached_prompt_tokens: u64,
    /// Client-counted output tokens.
    pub output_len: Dist,
    /// Server `completion_tokens`, the client count where the server sent none.
    pub output_tokens: Dist,
    /// Sum of the output tokens used as divisors (see [`RecordOptions`]).
    pub effective_output_tokens: u64,
    pub token_count_mismatches: u64,
    /// Successes whose token counts are the client's because the server reported none.
    #[serde(default)]
    pub client_fallback_requests: ClientFallbacks,
    /// Unix times of the earliest success's send and the latest success's end.
    #[serde(default)]
    pub first_start: Option<f64>,
    #[serde(default)]
    pub last_end: Option<f64>,
    #[serde(default)]
    pub goodput: Goodput,
    /// Left out of a text-only run's metrics, which runners send the operator.
    #[serde(default, skip_serializing_if = "Images::is_empty")]
    pub images: Images,
    #[serde(default, skip_serializing_if = "Videos::is_empty")]
    pub videos: Videos,
    #[serde(default, skip_serializing_if = "Audios::is_empty")]
    pub audios: Audios,
}

/// The images of the successes (inference-perf's `successes.image`): kept for the requests
/// that carried any, so that text-only requests cost nothing; their zero count is the
/// successes without images.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Images {
    /// Images per request, over the requests with images.
    pub per_request: Dist,
    pub pixels: Dist,
    pub bytes: Dist,
    pub aspect_ratio: Dist,
}

impl Default for Images {
    fn default() -> Self {
        Images {
            per_request: Dist::counts(),
            pixels: Dist::counts(),
            bytes: Dist::counts(),
            aspect_ratio: Dist::ratios(),
        }
    }
}

impl Images {
    fn is_empty(&self) -> bool {
        self.per_request.is_empty()
    }

    fn record<'a>(&mut self, images: impl ExactSizeIterator<Item = &'a Image>) {
        self.per_request.record(images.len() as f64);
        for image in images {
            self.pixels.record(image.pixels as f64);
            self.bytes.record(image.bytes as f64);
            self.aspect_ratio.record(image.aspect_ratio);
        }
    }

    fn merge(&mut self, other: &Images) {
        self.per_request.merge(&other.per_request);
        self.pixels.merge(&other.pixels);
        self.bytes.merge(&other.bytes);
        self.aspect_ratio.merge(&other.aspect_ratio);
    }

    /// Images per success: those with images and a zero for each of the other `successes`.
    pub fn per_success(&self, successes: u64) -> Dist {
        per_success(&self.per_request, successes)
    }
}

/// `per_request` (counts over the requests that carried the kind) with a zero for each of the
/// other `successes`.
fn per_success(per_request: &Dist, successes: u64) -> Dist {
    let mut counts = per_request.clone();
    counts.record_n(0.0, successes.saturating_sub(per_request.count()));
    counts
}

/// The videos of the successes (inference-perf's `successes.video`), kept as [`Images`] are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Videos {
    /// Videos per request, a frame's pixels and aspect ratio, and each video's bytes.
    pub pictures: Images,
    pub frames: Dist,
}

impl Default for Videos {
    fn default() -> Self {
        Videos {
            pictures: Images::default(),
            frames: Dist::counts(),
        }
    }
}

impl Videos {
    fn is_empty(&self) -> bool {
        self.pictures.is_empty()
    }

    fn record(&mut self, videos: &[Video]) {
        self.pictures.record(videos.iter().map(|v| &v.picture));
        for video in videos {
            self.frames.record(video.frames as f64);
        }
    }

    fn merge(&mut self, other: &Videos) {
        self.pictures.merge(&other.pictures);
        self.frames.merge(&other.frames);
    }

    pub fn per_success(&self, successes: u64) -> Dist {
        self.pictures.per_success(successes)
    }
}

/// The audio clips of the successes (inference-perf's `successes.audio`), kept as [`Images`]
/// are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Audios {
    /// Clips per request, over the requests with clips.
    pub per_request: Dist,
    pub seconds: Dist,
    pub bytes: Dist,
}

impl Default for Audios {
    fn default() -> Self {
        Audios {
            per_request: Dist::counts(),
            seconds: Dist::seconds(),
            bytes: Dist::counts(),
        }
    }
}

impl Audios {
    fn is_empty(&self) -> bool {
        self.per_request.is_empty()
    }

    fn record(&mut self, audios: &[Audio]) {
        self.per_request.record(audios.len() as f64);
        for audio in audios {
            self.seconds.record(audio.seconds);
            self.bytes.record(audio.bytes as f64);
        }
    }

    fn merge(&mut self, other: &Audios) {
        self.per_request.merge(&other.per_request);
        self.seconds.merge(&other.seconds);
        self.bytes.merge(&other.bytes);
    }

    pub fn per_success(&self, successes: u64) -> Dist {
        per_success(&self.per_request, successes)
    }
}

/// Records a success's media, each kind only when it carried any (so its request count is
/// that of the requests with the kind).
fn record_media(successes: &mut Successes, media: &Media) {
    if !media.images.is_empty() {
        successes.images.record(media.images.iter());
    }
    if !media.videos.is_empty() {
        successes.videos.record(&media.videos);
    }
    if !media.audios.is_empty() {
        successes.audios.record(&media.audios);
    }
}

/// inference-perf's `client_fallback_requests`: requests, not tokens, counted per side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientFallbacks {
    pub prompt: u64,
    pub output: u64,
}

/// Successes meeting the goodput objectives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Goodput {
    /// Successes meeting every objective.
    pub good_requests: u64,
    /// Input plus output tokens of those.
    pub good_tokens: u64,
    /// Successes meeting each objective, by its key (`ttft`, `tpot`, …).
    pub attained: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failures {
    pub count: u64,
    pub request_latency: Dist,
    pub prompt_tokens: Dist,
    pub by_label: BTreeMap<String, LabelStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelStats {
    pub count: u64,
    /// Distinct messages and how often each occurred (bounded by `max_error_messages`).
    pub messages: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    /// Sent, then cut off before the response completed.
    pub in_flight: u64,
    /// Planned but never sent.
    pub not_sent: u64,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            sent: 0,
            schedule_delay: Dist::seconds(),
            first_start: None,
            last_start: None,
            last_end: None,
            successes: Successes::default(),
            failures: Failures::default(),
            cancelled: Cancelled::default(),
            retries: Retries::default(),
        }
    }
}

impl Default for Successes {
    fn default() -> Self {
        Successes {
            count: 0,
            request_latency: Dist::seconds(),
            request_latency_from_scheduled: Dist::seconds(),
            normalized_time_per_output_token: Dist::seconds(),
            time_per_output_token: Dist::seconds(),
            time_to_first_token: Dist::seconds(),
            time_to_first_output_token: Dist::seconds(),
            inter_token_latency: Dist::seconds(),
            request_size_bytes: Dist::counts(),
            prompt_tokens: Dist::counts(),
            cached_prompt_tokens: 0,
            output_len: Dist::counts(),
            output_tokens: Dist::counts(),
            effective_output_tokens: 0,
            token_count_mismatches: 0,
            client_fallback_requests: ClientFallbacks::default(),
            first_start: None,
            last_end: None,
            goodput: Goodput::default(),
            images: Images::default(),
            videos: Videos::default(),
            audios: Audios::default(),
        }
    }
}

impl Default for Failures {
    fn default() -> Self {
        Failures {
            count: 0,
            request_latency: Dist::seconds(),
            prompt_tokens: Dist::counts(),
            by_label: BTreeMap::new(),
        }
    }
}

fn extend(slot: &mut Option<f64>, value: f64, keep: fn(f64, f64) -> f64) {
    *slot = Some(slot.map_or(value, |current| keep(current, value)));
}

fn merge_extreme(slot: &mut Option<f64>, other: Option<f64>, keep: fn(f64, f64) -> f64) {
    if let Some(value) = other {
        extend(slot, value, keep);
    }
}

impl Bucket {
    /// The number of requests accounted for: sent ones plus those never sent.
    pub fn accounted(&self) -> u64 {
        self.sent + self.cancelled.not_sent
    }

    pub fn record(&mut self, record: &RequestRecord, clock: &Clock, options: &RecordOptions) {
        let Some(start) = record.start else {
            self.cancelled.not_sent += 1;
            return;
        };
        self.sent += 1;
        self.schedule_delay
            .record(seconds_between(record.scheduled, start));
        let start_epoch = clock.epoch(start);
        extend(&mut self.first_start, start_epoch, f64::min);
        extend(&mut self.last_start, start_epoch, f64::max);
        extend(&mut self.last_end, clock.epoch(record.end), f64::max);
        match &record.outcome {
            Outcome::Success(response) => self
                .successes
                .record(record, start, response, options, clock),
            Outcome::Failure(error) => self.failures.record(record, start, error, options),
            Outcome::Cancelled => self.cancelled.in_flight += 1,
        }
        if let Some(retried) = record.retried {
            let retries = &mut self.retries;
            retries.requests_retried += 1;
            retries.attempts += u64::from(retried.attempts);
            retries.recovered += u64::from(record.retry_recovered());
            if let Some(wasted) = record.retry_wasted_sec() {
                retries.wasted_sec.record(wasted);
            }
        }
    }

    pub fn merge(&mut self, other: &Bucket) {
        self.sent += other.sent;
        self.schedule_delay.merge(&other.schedule_delay);
        merge_extreme(&mut self.first_start, other.first_start, f64::min);
        merge_extreme(&mut self.last_start, other.last_start, f64::max);
        merge_extreme(&mut self.last_end, other.last_end, f64::max);
        self.successes.merge(&other.successes);
        self.failures.merge(&other.failures, usize::MAX);
        self.cancelled.in_flight += other.cancelled.in_flight;
        self.cancelled.not_sent += other.cancelled.not_sent;
        self.retries.requests_retried += other.retries.requests_retried;
        self.retries.attempts += other.retries.attempts;
        self.retries.recovered += other.retries.recovered;
        self.retries.wasted_sec.merge(&other.retries.wasted_sec);
    }
}

impl Successes {
    fn record(
        &mut self,
        record: &RequestRecord,
        start: Instant,
        response: &Response,
        options: &RecordOptions,
        clock: &Clock,
    ) {
        let effective_output = effective_output_tokens(response, options.use_server_output_tokens);
        let latencies = request_latencies(start, record.end, response, effective_output);
        extend(&mut self.first_start, clock.epoch(start), f64::min);
        extend(&mut self.last_end, clock.epoch(record.end), f64::max);
        let usage = response.usage.unwrap_or_default();
        let server_output = usage.completion_tokens;
        self.count += 1;
        self.request_latency.record(latencies.request_latency);
        self.request_latency_from_scheduled
            .record(seconds_between(record.scheduled, record.end));
        // inference-perf appends 0.0 for responses without output tokens.
        self.normalized_time_per_output_token
            .record(latencies.ntpot.unwrap_or(0.0));
        self.request_size_bytes.record(record.request_bytes as f64);
        let prompt_tokens = usage.prompt_tokens.unwrap_or(record.prompt_tokens);
        self.prompt_tokens.record(prompt_tokens as f64);
        self.cached_prompt_tokens += usage.cached_tokens.unwrap_or(0);
        self.output_len.record(response.output_tokens as f64);
        self.output_tokens
            .record(server_output.unwrap_or(response.output_tokens) as f64);
        self.effective_output_tokens += effective_output;
        if server_output.is_some_and(|n| n != response.output_tokens) {
            self.token_count_mismatches += 1;
        }
        self.client_fallback_requests.prompt += u64::from(usage.prompt_tokens.is_none());
        self.client_fallback_requests.output += u64::from(server_output.is_none());
        if let Some(ttft) = latencies.ttft {
            self.time_to_first_token.record(ttft);
        }
        if let Some(ttfot) = latencies.ttfot {
            self.time_to_first_output_token.record(ttfot);
        }
        if let Some(tpot) = latencies.tpot {
            self.time_per_output_token.record(tpot);
        }
        for gap in token_gaps(response) {
            self.inter_token_latency.record(gap);
        }
        if let Some(constraints) = &options.goodput {
            self.goodput
                .check(constraints, &latencies, prompt_tokens + effective_output);
        }
        if let Some(media) = &record.media {
            record_media(self, media);
        }
    }

    fn merge(&mut self, other: &Successes) {
        self.count += other.count;
        for (mine, theirs) in [
            (&mut self.request_latency, &other.request_latency),
            (
                &mut self.request_latency_from_scheduled,
                &other.request_latency_from_scheduled,
            ),
            (
                &mut self.normalized_time_per_output_token,
                &other.normalized_time_per_output_token,
            ),
            (
                &mut self.time_per_output_token,
                &other.time_per_output_token,
            ),
            (&mut self.time_to_first_token, &other.time_to_first_token),
            (
                &mut self.time_to_first_output_token,
                &other.time_to_first_output_token,
            ),
            (&mut self.inter_token_latency, &other.inter_token_latency),
            (&mut self.request_size_bytes, &other.request_size_bytes),
            (&mut self.prompt_tokens, &other.prompt_tokens),
            (&mut self.output_len, &other.output_len),
            (&mut self.output_tokens, &other.output_tokens),
        ] {
            mine.merge(theirs);
        }
        self.cached_prompt_tokens += other.cached_prompt_tokens;
        self.effective_output_tokens += other.effective_output_tokens;
        self.token_count_mismatches += other.token_count_mismatches;
        self.client_fallback_requests.prompt += other.client_fallback_requests.prompt;
        self.client_fallback_requests.output += other.client_fallback_requests.output;
        merge_extreme(&mut self.first_start, other.first_start, f64::min);
        merge_extreme(&mut self.last_end, other.last_end, f64::max);
        self.goodput.merge(&other.goodput);
        self.images.merge(&other.images);
        self.videos.merge(&other.videos);
        self.audios.merge(&other.audios);
    }
}

impl Goodput {
    /// inference-perf's rule: an objective is met when the value exists and is at most the
    /// objective; a good request meets every objective that is set.
    fn check(&mut self, constraints: &GoodputConstraints, values: &RequestLatencies, tokens: u64) {
        let mut good = true;
        for (key, slo) in constraints.set() {
            let value = match key {
                "ttft" => values.ttft,
                "tpot" => values.tpot,
                "itl" => values.itl,
                "ntpot" => values.ntpot,
                "request_latency" => Some(values.request_latency),
                other => unreachable!("GoodputConstraints::set has no key {other}"),
            };
            if value.is_some_and(|v| v <= slo) {
                *self.attained.entry(key.to_string()).or_default() += 1;
            } else {
                good = false;
            }
        }
        if good {
            self.good_requests += 1;
            self.good_tokens += tokens;
        }
    }

    fn merge(&mut self, other: &Goodput) {
        self.good_requests += other.good_requests;
        self.good_tokens += other.good_tokens;
        for (key, n) in &other.attained {
            *self.attained.entry(key.clone()).or_default() += n;
        }
    }
}

impl Failures {
    fn record(
        &mut self,
        record: &RequestRecord,
        start: Instant,
        error: &RequestError,
        options: &RecordOptions,
    ) {
        self.count += 1;
        self.request_latency
            .record(seconds_between(start, record.end));
        self.prompt_tokens.record(record.prompt_tokens as f64);
        let stats = self.by_label.entry(labels::label(error)).or_default();
        stats.count += 1;
        add_message(
            &mut stats.messages,
            &error.message,
            1,
            options.max_error_messages,
        );
    }

    fn merge(&mut self, other: &Failures, max_messages: usize) {
        self.count += other.count;
        self.request_latency.merge(&other.request_latency);
        self.prompt_tokens.merge(&other.prompt_tokens);
        for (label, theirs) in &other.by_label {
            let mine = self.by_label.entry(label.clone()).or_default();
            mine.count += theirs.count;
            for (message, n) in &theirs.messages {
                add_message(&mut mine.messages, message, *n, max_messages);
            }
        }
    }
}

fn add_message(messages: &mut BTreeMap<String, u64>, message: &str, n: u64, max: usize) {
    if let Some(count) = messages.get_mut(message) {
        *count += n;
    } else if messages.len() < max {
        messages.insert(message.to_owned(), n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GoodputConstraints;
    use crate::metrics::record::{ErrorKind, Usage};
    use std::time::Duration;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn record(
        base: Instant,
        outcome: Outcome,
        start_ms: Option<u64>,
        end_ms: u64,
    ) -> RequestRecord {
        RequestRecord {
            index: 0,
            adapter: None,
            scheduled: base,
            start: start_ms.map(|ms| at(base, ms)),
            end: at(base, end_ms),
            request_bytes: 100,
            prompt_tokens: 10,
            outcome,
            retried: None,
            media: None,
        }
    }

    #[test]
    fn streamed_success_yields_inference_perf_token_metrics() {
        let base = Instant::now();
        let clock = Clock::now();
        // Start at 2 ms; tokens: 1 at 12 ms, 2 at 22 ms (one chunk), 1 at 42 ms; end at 50 ms.
        let response = Response {
            output_tokens: 4,
            usage: Some(Usage {
                prompt_tokens: Some(11),
                completion_tokens: Some(4),
                cached_tokens: Some(3),
            }),
            chunks: vec![(at(base, 12), 1), (at(base, 22), 2), (at(base, 42), 1)],
            first_answer: None,
        };
        let mut bucket = Bucket::default();
        bucket.record(
            &record(base, Outcome::Success(response), Some(2), 50),
            &clock,
            &RecordOptions::default(),
        );
        let s = &bucket.successes;
        assert_eq!((bucket.sent, s.count, s.token_count_mismatches), (1, 1, 0));
        assert!((bucket.schedule_delay.mean().unwrap() - 0.002).abs() < 1e-9);
        assert!((s.time_to_first_token.mean().unwrap() - 0.010).abs() < 1e-9);
        // TPOT = (42 - 12) ms / (4 - 1)
        assert!((s.time_per_output_token.mean().unwrap() - 0.010).abs() < 1e-9);
        // ITL deltas: 10 ms, 0 (same chunk), 20 ms.
        assert_eq!(s.inter_token_latency.count(), 3);
        assert_eq!(s.inter_token_latency.percentile(0.0), Some(0.0));
        assert!((s.inter_token_latency.sum() - 0.030).abs() < 1e-9);
        assert!((s.normalized_time_per_output_token.mean().unwrap() - 0.048 / 4.0).abs() < 1e-9);
        assert!((s.request_latency_from_scheduled.mean().unwrap() - 0.050).abs() < 1e-9);
        assert_eq!((s.prompt_tokens.sum(), s.cached_prompt_tokens), (11.0, 3));
    }

    /// A streamed success started at `base`: chunks `(ms, tokens)`, ended at `end_ms`.
    fn streamed(
        base: Instant,
        chunks: &[(u64, u32)],
        end_ms: u64,
        server_tokens: Option<u64>,
    ) -> RequestRecord {
        let response = Response {
            output_tokens: chunks.iter().map(|c| u64::from(c.1)).sum(),
            usage: server_tokens.map(|n| Usage {
                prompt_tokens: None,
                completion_tokens: Some(n),
                cached_tokens: None,
            }),
            chunks: chunks.iter().map(|&(ms, n)| (at(base, ms), n)).collect(),
            first_answer: None,
        };
        record(base, Outcome::Success(response), Some(0), end_ms)
    }

    #[test]
    fn client_fallbacks_count_requests_without_the_servers_count_per_side() {
        let base = Instant::now();
        let mut bucket = Bucket::default();
        let options = RecordOptions::default();
        // The server's completion count only, then no usage at all, then both counts.
        bucket.record(
            &streamed(base, &[(10, 3)], 20, Some(3)),
            &Clock::now(),
            &options,
        );
        bucket.record(
            &streamed(base, &[(10, 3)], 20, None),
            &Clock::now(),
            &options,
        );
        let mut full = streamed(base, &[(10, 3)], 20, Some(3));
        if let Outcome::Success(response) = &mut full.outcome {
            response.usage.as_mut().unwrap().prompt_tokens = Some(7);
        }
        bucket.record(&full, &Clock::now(), &options);
        let fallbacks = bucket.successes.client_fallback_requests;
        assert_eq!((fallbacks.prompt, fallbacks.output), (2, 1));
        let mut merged = bucket.clone();
        merged.merge(&bucket);
        let fallbacks = merged.successes.client_fallback_requests;
        assert_eq!((fallbacks.prompt, fallbacks.output), (4, 2));
    }

    fn close(actual: Option<f64>, expected: f64) -> bool {
        actual.is_some_and(|a| (a - expected).abs() < 1e-9)
    }

    /// The reference's formulas (§4.4) on one request of 10 tokens: first token 1 s after the
    /// send, last at 3 s, end at 3.5 s.
    #[test]
    fn metric_arithmetic_matches_the_reference() {
        let base = Instant::now();
        let chunks = [(1000, 1), (1500, 2), (2000, 2), (2500, 2), (3000, 3)];
        let mut bucket = Bucket::default();
        bucket.record(
            &streamed(base, &chunks, 3500, None),
            &Clock::now(),
            &RecordOptions::default(),
        );
        let s = &bucket.successes;
        assert!(
            close(s.time_to_first_token.mean(), 1.0),
            "TTFT = T[0] - start"
        );
        // TPOT = (T[-1] - T[0]) / (output - 1) = 2 / 9.
        assert!(close(s.time_per_output_token.mean(), 2.0 / 9.0));
        // ITL: every consecutive token gap, zeros within a chunk: 4 gaps of 0.5 s, 5 zeros.
        assert_eq!(s.inter_token_latency.count(), 9);
        assert!((s.inter_token_latency.sum() - 2.0).abs() < 1e-9);
        assert_eq!(s.inter_token_latency.percentile(50.0), Some(0.0));
        // NTPOT = latency / output = 3.5 / 10.
        assert!(close(s.normalized_time_per_output_token.mean(), 0.35));
        assert!(close(s.request_latency.mean(), 3.5));

        // With the server's count as divisor: TPOT 2 / 11, NTPOT 3.5 / 12.
        let mut server = Bucket::default();
        let options = RecordOptions {
            use_server_output_tokens: true,
            ..Default::default()
        };
        server.record(
            &streamed(base, &chunks, 3500, Some(12)),
            &Clock::now(),
            &options,
        );
        let s = &server.successes;
        assert!(close(s.time_per_output_token.mean(), 2.0 / 11.0));
        assert!(close(s.normalized_time_per_output_token.mean(), 3.5 / 12.0));
        assert_eq!(s.token_count_mismatches, 1, "10 counted, 12 reported");

        // One token: TTFT but no TPOT and no ITL. No token: NTPOT 0 (appended, as
        // inference-perf does), no TTFT.
        let mut short = Bucket::default();
        for chunks in [&[(400, 1)][..], &[]] {
            short.record(
                &streamed(base, chunks, 500, None),
                &Clock::now(),
                &RecordOptions::default(),
            );
        }
        let s = &short.successes;
        assert_eq!(s.time_to_first_token.count(), 1);
        assert!(s.time_per_output_token.is_empty() && s.inter_token_latency.is_empty());
        assert_eq!(s.normalized_time_per_output_token.count(), 2);
        assert_eq!(
            s.normalized_time_per_output_token.percentile(0.0),
            Some(0.0)
        );
    }

    #[test]
    fn goodput_counts_requests_meeting_every_objective() {
        let base = Instant::now();
        let options = RecordOptions {
            goodput: Some(GoodputConstraints {
                ttft: Some(1.5),
                tpot: Some(0.25),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut bucket = Bucket::default();
        let clock = Clock::now();
        // TTFT 1 s, TPOT 2/9 s: good.
        let good = [(1000, 1), (1500, 2), (2000, 2), (2500, 2), (3000, 3)];
        bucket.record(&streamed(base, &good, 3500, None), &clock, &options);
        // TTFT 2 s: misses ttft only.
        let late = [(2000, 1), (2100, 1)];
        bucket.record(&streamed(base, &late, 2200, None), &clock, &options);
        // One token: no TPOT, which counts as missing it.
        bucket.record(&streamed(base, &[(100, 1)], 200, None), &clock, &options);
        let g = &bucket.successes.goodput;
        assert_eq!((g.good_requests, g.good_tokens), (1, 10 + 10));
        assert_eq!(g.attained["ttft"], 2);
        assert_eq!(g.attained["tpot"], 2);
    }

    #[test]
    fn mismatch_and_server_token_divisor() {
        let base = Instant::now();
        let response = Response {
            output_tokens: 9,
            usage: Some(Usage {
                prompt_tokens: None,
                completion_tokens: Some(10),
                cached_tokens: None,
            }),
            chunks: vec![],
            first_answer: None,
        };
        let options = RecordOptions {
            use_server_output_tokens: true,
            ..Default::default()
        };
        let mut bucket = Bucket::default();
        bucket.record(
            &record(base, Outcome::Success(response), Some(0), 100),
            &Clock::now(),
            &options,
        );
        let s = &bucket.successes;
        assert_eq!(
            (s.token_count_mismatches, s.effective_output_tokens),
            (1, 10)
        );
        assert!((s.normalized_time_per_output_token.mean().unwrap() - 0.01).abs() < 1e-9);
        assert!(s.time_to_first_token.is_empty() && s.inter_token_latency.is_empty());
        assert_eq!(
            s.prompt_tokens.sum(),
            10.0,
            "client count when the server sends no prompt_tokens"
        );
    }

    #[test]
    fn failures_and_cancellations_are_all_accounted_for() {
        let base = Instant::now();
        let clock = Clock::now();
        let options = RecordOptions {
            max_error_messages: 1,
            ..Default::default()
        };
        let mut bucket = Bucket::default();
        for message in ["a", "b", "a"] {
            let error = RequestError {
                kind: ErrorKind::Http(500),
                message: message.into(),
            };
            bucket.record(
                &record(base, Outcome::Failure(error), Some(1), 5),
                &clock,
                &options,
            );
        }
        bucket.record(
            &record(base, Outcome::Cancelled, Some(1), 9),
            &clock,
            &options,
        );
        bucket.record(&record(base, Outcome::Cancelled, None, 9), &clock, &options);
        assert_eq!(
            (bucket.sent, bucket.accounted(), bucket.failures.count),
            (4, 5, 3)
        );
        assert_eq!(
            bucket.cancelled,
            Cancelled {
                in_flight: 1,
                not_sent: 1
            }
        );
        let label = &bucket.failures.by_label["500 - Internal Server Error"];
        assert_eq!(label.count, 3);
        assert_eq!(label.messages, BTreeMap::from([("a".to_string(), 2)]));
    }

    #[test]
    fn merge_adds_everything_and_survives_the_wire() {
        let base = Instant::now();
        let clock = Clock::now();
        let mut a = Bucket::default();
        let mut b = Bucket::default();
        a.record(
            &record(base, Outcome::Success(Response::default()), Some(1), 5),
            &clock,
            &RecordOptions::default(),
        );
        b.record(
            &record(base, Outcome::Success(Response::default()), Some(3), 9),
            &clock,
            &RecordOptions::default(),
        );
        let b: Bucket = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        a.merge(&b);
        assert_eq!((a.sent, a.successes.count), (2, 2));
        let span = a.last_start.unwrap() - a.first_start.unwrap();
        assert!((span - 0.002).abs() < 1e-6, "{span}");
    }
}
