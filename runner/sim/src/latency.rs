//! Sampling of the latency model and the absolute token deadlines derived from it.

use std::time::{Duration, Instant};

use rand::RngExt;
use rand_distr::StandardNormal;
use rand_pcg::Pcg64Mcg;

use super::config::LatencyConfig;

/// A normal distribution cut at zero, in seconds. A zero deviation returns the mean without
/// drawing, so a deterministic configuration consumes no randomness.
#[derive(Debug, Clone, Copy)]
struct Spread {
    mean: f64,
    std: f64,
}

impl Spread {
    fn from_ms(mean: f64, std: f64) -> Spread {
        Spread {
            mean: mean / 1e3,
            std: std / 1e3,
        }
    }

    fn sample(&self, rng: &mut Pcg64Mcg) -> f64 {
        if self.std == 0.0 {
            return self.mean;
        }
        let z: f64 = rng.sample(StandardNormal);
        (self.mean + self.std * z).max(0.0)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LatencyModel {
    ttft: Spread,
    itl: Spread,
    prefill_per_token: f64,
    lora_load: f64,
    cold_start_requests: u64,
    cold_start: f64,
}

impl LatencyModel {
    pub fn new(cfg: &LatencyConfig) -> LatencyModel {
        LatencyModel {
            ttft: Spread::from_ms(cfg.ttft_ms, cfg.ttft_std_ms),
            itl: Spread::from_ms(cfg.itl_ms, cfg.itl_std_ms),
            prefill_per_token: cfg.prefill_us_per_token / 1e6,
            lora_load: cfg.lora_load_ms / 1e3,
            cold_start_requests: cfg.cold_start_requests,
            cold_start: cfg.cold_start_ms / 1e3,
        }
    }

    /// Seconds request `seq` (arrival order) waits for a cold server.
    pub fn cold_start(&self, seq: u64) -> f64 {
        if seq < self.cold_start_requests {
            self.cold_start
        } else {
            0.0
        }
    }

    /// Starts a request's clock at its arrival with the sampled time to first token (TTFT +
    /// prefill + adapter offset); [`TokenClock::start`] moves it to the admission.
    pub fn clock(
        &self,
        mut rng: Pcg64Mcg,
        arrived: Instant,
        prompt_tokens: usize,
        lora_offset: f64,
    ) -> TokenClock {
        let first_token = self.ttft.sample(&mut rng)
            + prompt_tokens as f64 * self.prefill_per_token
            + lora_offset;
        TokenClock {
            origin: arrived,
            offset: first_token,
            itl: self.itl,
            rng,
        }
    }

    /// Cost of loading a non-resident adapter (seconds).
    pub fn lora_load(&self) -> f64 {
        self.lora_load
    }
}

/// Deadlines of successive tokens as offsets from one origin, so that the rounding of each
/// sleep never accumulates over a long stream.
#[derive(Debug)]
pub(crate) struct TokenClock {
    origin: Instant,
    offset: f64,
    itl: Spread,
    rng: Pcg64Mcg,
}

impl TokenClock {
    /// The request was admitted at `at` (the queue wait is over) and pays `extra` seconds more
    /// before its first token.
    pub fn start(&mut self, at: Instant, extra: f64) {
        self.origin = at;
        self.offset += extra;
    }

    pub fn deadline(&self) -> Instant {
        if self.offset == 0.0 {
            self.origin
        } else {
            self.origin + Duration::from_secs_f64(self.offset)
        }
    }

    /// Moves to the next token's deadline.
    pub fn advance(&mut self) {
        self.offset += self.itl.sample(&mut self.rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn deadlines_are_absolute_offsets() {
        let model = LatencyModel::new(&LatencyConfig {
            ttft_ms: 50.0,
            itl_ms: 10.0,
            prefill_us_per_token: 100.0,
            ..Default::default()
        });
        let t0 = Instant::now();
        let mut clock = model.clock(Pcg64Mcg::seed_from_u64(1), t0, 100, 0.005);
        let close = |d: Duration, ms: f64| (d.as_secs_f64() * 1e3 - ms).abs() < 1e-3;
        assert!(close(clock.deadline() - t0, 65.0));
        let admitted = t0 + Duration::from_millis(100);
        clock.start(admitted, 0.005);
        assert!(close(clock.deadline() - admitted, 70.0));
        for _ in 0..19 {
            clock.advance();
        }
        assert!(close(clock.deadline() - admitted, 260.0));
    }

    #[test]
    fn samples_are_never_negative() {
        let spread = Spread::from_ms(1.0, 10.0);
        let mut rng = Pcg64Mcg::seed_from_u64(2);
        assert!((0..10_000).all(|_| spread.sample(&mut rng) >= 0.0));
    }
}
