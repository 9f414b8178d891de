//! One success's latency metrics, by inference-perf's formulas: what the distributions record
//! and what a per-request record's `computed_metrics` shows, from one computation.

use std::time::Instant;

use super::record::Response;

/// One success's values; `None` where it has none (no stream, one token).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestLatencies {
    pub request_latency: f64,
    /// Request latency per output token; `None` without output tokens.
    pub ntpot: Option<f64>,
    pub ttft: Option<f64>,
    /// Time to the first token of the answer itself, after a reasoning model's thinking.
    pub ttfot: Option<f64>,
    pub tpot: Option<f64>,
    /// The mean of the request's inter-token latencies.
    pub itl: Option<f64>,
}

/// The output tokens latencies are divided by: the server's count when the report asks for it
/// and the server gave one, else the client's.
pub fn effective_output_tokens(response: &Response, use_server_output_tokens: bool) -> u64 {
    match response.usage.and_then(|u| u.completion_tokens) {
        Some(n) if use_server_output_tokens && n > 0 => n,
        _ => response.output_tokens,
    }
}

/// TPOT divides the span from the first to the last token by `effective_output - 1`.
pub fn request_latencies(
    start: Instant,
    end: Instant,
    response: &Response,
    effective_output: u64,
) -> RequestLatencies {
    let request_latency = seconds_between(start, end);
    let mut latencies = RequestLatencies {
        request_latency,
        ntpot: (effective_output > 0).then(|| request_latency / effective_output as f64),
        ttfot: response.first_answer.map(|at| seconds_between(start, at)),
        ..Default::default()
    };
    let mut chunks = response.chunks.iter().filter(|(_, tokens)| *tokens > 0);
    let Some(&(first, _)) = chunks.next() else {
        return latencies;
    };
    let last = chunks.next_back().map_or(first, |&(at, _)| at);
    let token_count: u64 = response.chunks.iter().map(|(_, t)| u64::from(*t)).sum();
    let span = seconds_between(first, last);
    latencies.ttft = Some(seconds_between(start, first));
    latencies.tpot =
        (token_count > 1 && effective_output > 1).then(|| span / (effective_output - 1) as f64);
    // The gaps sum to the span; there is one fewer than tokens.
    latencies.itl = (token_count > 1).then(|| span / (token_count - 1) as f64);
    latencies
}

/// Arrival time of each output token: tokens of one chunk share its time (inference-perf's
/// per-token expansion, so gaps within a chunk are zero).
pub fn token_times(response: &Response) -> impl Iterator<Item = Instant> + '_ {
    response
        .chunks
        .iter()
        .flat_map(|&(at, tokens)| std::iter::repeat_n(at, tokens as usize))
}

/// The gaps between consecutive output tokens.
pub fn token_gaps(response: &Response) -> impl Iterator<Item = f64> + '_ {
    let mut times = token_times(response);
    let first = times.next();
    times.scan(first, |previous, at| {
        let gap = previous.map_or(0.0, |p| seconds_between(p, at));
        *previous = Some(at);
        Some(gap)
    })
}

/// `later - earlier` in seconds, negative when `later` is earlier.
pub fn seconds_between(earlier: Instant, later: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => d.as_secs_f64(),
        None => -earlier.duration_since(later).as_secs_f64(),
    }
}
