//! When hits trip a breaker: `consecutive` and `rate_over_window`, as inference-perf counts
//! them. A fired trigger stays fired.

use std::collections::VecDeque;

use crate::config::{BreakerTrigger, BreakerTriggerKind};

pub(super) enum Trigger {
    Consecutive {
        threshold: u64,
        run: u64,
        fired: bool,
    },
    RateOverWindow {
        window: f64,
        threshold: f64,
        min_samples: usize,
        /// Time and hit of each watched record in the window, oldest first.
        samples: VecDeque<(f64, bool)>,
        hits: usize,
        fired: bool,
    },
}

impl Trigger {
    pub(super) fn new(config: &BreakerTrigger) -> Self {
        match config.kind {
            BreakerTriggerKind::Consecutive => Trigger::Consecutive {
                threshold: config.threshold as u64,
                run: 0,
                fired: false,
            },
            BreakerTriggerKind::RateOverWindow => Trigger::RateOverWindow {
                window: config.window_sec.unwrap_or_default(),
                threshold: config.threshold,
                min_samples: config.min_samples.unwrap_or(0).max(0) as usize,
                samples: VecDeque::new(),
                hits: 0,
                fired: false,
            },
        }
    }

    /// Counts one watched record at Unix time `now`; whether the trigger has fired.
    pub(super) fn update(&mut self, hit: bool, now: f64) -> bool {
        match self {
            Trigger::Consecutive {
                threshold,
                run,
                fired,
            } => {
                *run = if hit { *run + 1 } else { 0 };
                *fired |= *run >= *threshold;
                *fired
            }
            Trigger::RateOverWindow {
                window,
                threshold,
                min_samples,
                samples,
                hits,
                fired,
            } => {
                samples.push_back((now, hit));
                *hits += usize::from(hit);
                let cutoff = now - *window;
                while let Some(&(at, old_hit)) = samples.front()
                    && at < cutoff
                {
                    samples.pop_front();
                    *hits -= usize::from(old_hit);
                }
                if samples.len() >= *min_samples {
                    *fired |= *hits as f64 / samples.len() as f64 >= *threshold;
                }
                *fired
            }
        }
    }
}
