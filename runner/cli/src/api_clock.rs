//! The runner's clock offset to the API server's, so that the operator can compare the runners'
//! start times across nodes whose clocks disagree.
//!
//! The API server's only clock a runner may read is the `Date` header of its answers, in whole
//! seconds. One answer with date `d`, asked at local time `s` and answered at `r`, says that the
//! server's clock read `d ≤ t + offset < d + 1` at some local `t` in `[s, r]`, so
//! `d - r ≤ offset < d + 1 - s`. Answers just before and just after a second boundary of the
//! server narrow that to about the round trip: each round sends a few requests spread over
//! where the next boundary can lie, and the next round looks only where this one left it.

use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use ibench_core::metrics::Clock;
use ibench_core::protocol::ClockOffset;
use kube::Client;

/// An answer of the API server: local send and receive times and its `Date`, Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub sent: f64,
    pub received: f64,
    pub date: i64,
}

/// The offsets every sample so far allows: `lo ≤ offset < hi`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    lo: f64,
    hi: f64,
}

impl Bounds {
    /// Bounds from samples; `None` without samples or when they contradict each other (the
    /// local clock was stepped meanwhile, or something between rewrote `Date`).
    pub fn from_samples(samples: &[Sample]) -> Option<Bounds> {
        let mut bounds = Bounds {
            lo: f64::NEG_INFINITY,
            hi: f64::INFINITY,
        };
        for s in samples {
            bounds.lo = bounds.lo.max(s.date as f64 - s.received);
            bounds.hi = bounds.hi.min(s.date as f64 + 1.0 - s.sent);
        }
        (bounds.lo <= bounds.hi && bounds.hi.is_finite()).then_some(bounds)
    }

    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }

    pub fn offset(&self) -> ClockOffset {
        ClockOffset {
            offset: (self.lo + self.hi) / 2.0,
            uncertainty: self.width() / 2.0,
        }
    }

    /// Local times at which to ask in the next round, all after `now`: spread over the window
    /// in which the server's next second boundary falls on the local clock.
    pub fn next_round(&self, now: f64, requests: usize) -> Vec<f64> {
        let boundary = (now + self.hi).floor() + 1.0;
        let (from, to) = (boundary - self.hi, boundary - self.lo);
        (0..requests)
            .map(|i| from + (to - from) * (i as f64 + 0.5) / requests as f64)
            .collect()
    }
}

/// Rounds after the first answer: each narrows the window about `REQUESTS_PER_ROUND` times, so
/// four take a second down to the round trip, in four seconds.
const ROUNDS: usize = 4;
const REQUESTS_PER_ROUND: usize = 10;
/// Narrow enough: well below the spread worth reporting between runners.
const GOOD_ENOUGH: f64 = 0.002;

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("asking the API server for its time: {0}")]
    Request(#[from] kube::Error),
    #[error("reading the API server's answer: {0}")]
    Body(String),
    #[error("the API server's answer has no readable Date header")]
    NoDate,
    #[error("the API server's Date headers contradict each other (was this clock stepped?)")]
    Inconsistent,
}

/// Measures the offset of `clock` with at most `1 + ROUNDS * REQUESTS_PER_ROUND` cheap requests
/// (`GET /version`) over at most `ROUNDS + 1` seconds.
pub async fn measure(client: &Client, clock: Clock) -> Result<ClockOffset, ClockError> {
    let epoch = |t: Instant| clock.epoch(t);
    let mut samples = vec![sample(client, &epoch).await?];
    for _ in 0..ROUNDS {
        let bounds = Bounds::from_samples(&samples).ok_or(ClockError::Inconsistent)?;
        if bounds.width() <= GOOD_ENOUGH {
            break;
        }
        let anchor = Instant::now();
        let anchor_epoch = epoch(anchor);
        for at in bounds.next_round(anchor_epoch, REQUESTS_PER_ROUND) {
            let wait = Duration::from_secs_f64((at - anchor_epoch).max(0.0));
            tokio::time::sleep_until((anchor + wait).into()).await;
            samples.push(sample(client, &epoch).await?);
        }
    }
    Bounds::from_samples(&samples)
        .map(|b| b.offset())
        .ok_or(ClockError::Inconsistent)
}

async fn sample(client: &Client, epoch: &impl Fn(Instant) -> f64) -> Result<Sample, ClockError> {
    let request = http::Request::get("/version")
        .body(kube::client::Body::from(Vec::new()))
        .expect("a valid request");
    let sent = Instant::now();
    let response = client.send(request).await?;
    let received = Instant::now();
    let date = response
        .headers()
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .ok_or(ClockError::NoDate)?
        .timestamp();
    // Read to the end, so that the connection serves the next request without a new handshake.
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| ClockError::Body(e.to_string()))?;
    Ok(Sample {
        sent: epoch(sent),
        received: epoch(received),
        date,
    })
}

/// `offset`, measured against `measured`, as an offset of `clock`: both follow the monotonic
/// clock from their own reading of the wall clock.
pub fn rebase(offset: ClockOffset, measured: Clock, clock: Clock) -> ClockOffset {
    let now = Instant::now();
    ClockOffset {
        offset: offset.offset + measured.epoch(now) - clock.epoch(now),
        ..offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answers of a server whose clock is `offset` ahead, handling each request `delay`
    /// after it was sent and answering `rtt` after that.
    fn answer(sent: f64, offset: f64, delay: f64, rtt: f64) -> Sample {
        Sample {
            sent,
            received: sent + rtt,
            date: (sent + delay + offset).floor() as i64,
        }
    }

    #[test]
    fn one_answer_bounds_the_offset_to_a_second() {
        let s = answer(1000.3, 0.25, 0.001, 0.002);
        let b = Bounds::from_samples(&[s]).unwrap();
        assert!(b.lo <= 0.25 && 0.25 < b.hi, "{b:?}");
        assert!((b.width() - 1.002).abs() < 1e-9, "{b:?}");
        assert_eq!(Bounds::from_samples(&[]), None);
    }

    #[test]
    fn rounds_around_the_boundary_find_the_offset_within_the_round_trip() {
        for offset in [-3.7, -0.0004, 0.0, 0.25, 0.9999, 41.5] {
            let (delay, rtt) = (0.0004, 0.001);
            let mut now = 1_764_300_000.123;
            let mut samples = vec![answer(now, offset, delay, rtt)];
            for _ in 0..ROUNDS {
                let bounds = Bounds::from_samples(&samples).unwrap();
                if bounds.width() <= GOOD_ENOUGH {
                    break;
                }
                let times = bounds.next_round(now, REQUESTS_PER_ROUND);
                assert!(times.iter().all(|&t| t > now), "rounds look ahead");
                for t in times {
                    samples.push(answer(t, offset, delay, rtt));
                }
                now = samples.last().unwrap().received;
            }
            let found = Bounds::from_samples(&samples).unwrap().offset();
            assert!(
                (found.offset - offset).abs() <= found.uncertainty,
                "{offset}: {found:?}"
            );
            assert!(found.uncertainty <= 0.0015, "{offset}: {found:?}");
            assert!(samples.len() <= 1 + ROUNDS * REQUESTS_PER_ROUND);
        }
    }

    #[test]
    fn contradicting_answers_are_refused() {
        // The second answer's date went backwards by two seconds: no offset fits both.
        let a = answer(1000.0, 0.0, 0.0, 0.001);
        let b = Sample {
            date: a.date - 2,
            ..answer(1000.1, 0.0, 0.0, 0.001)
        };
        assert_eq!(Bounds::from_samples(&[a, b]), None);
    }
}
