//! When each request of a rate-based stage is sent, as an offset from the stage start.

use std::sync::Arc;

use rand::RngExt;
use rand_distr::{Distribution as _, Exp};

use super::rng::{PlanRng, Purpose, rng};
use super::shard::{Routing, Shard};

#[derive(Debug, Clone)]
pub enum Arrivals {
    /// Request `i` at `i / rate`: evenly spaced (inference-perf's "constant" is jittered).
    Constant { rate: f64, count: u64 },
    /// Exponential gaps with mean `1 / rate` while the arrival time is below `duration`.
    Poisson {
        rate: f64,
        duration: f64,
        seed: u64,
        stage: u64,
        count: u64,
    },
    /// Offsets of trace rows, in order.
    Trace { offsets: Arc<[f64]>, count: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    pub index: u64,
    /// Seconds after the stage start.
    pub offset: f64,
}

impl Arrivals {
    pub fn constant(rate: f64, duration: f64) -> Self {
        // The epsilon keeps 0.1 * 30 from becoming 2.9999… requests.
        Arrivals::Constant {
            rate,
            count: (rate * duration + 1e-9).floor() as u64,
        }
    }

    pub fn poisson(rate: f64, duration: f64, seed: u64, stage: u64) -> Self {
        let count = poisson_offsets(rate, duration, seed, stage).count() as u64;
        Arrivals::Poisson {
            rate,
            duration,
            seed,
            stage,
            count,
        }
    }

    pub fn trace(offsets: Arc<[f64]>, count: u64) -> Self {
        Arrivals::Trace {
            count: count.min(offsets.len() as u64),
            offsets,
        }
    }

    /// Requests in the whole stage.
    pub fn count(&self) -> u64 {
        match self {
            Arrivals::Constant { count, .. }
            | Arrivals::Poisson { count, .. }
            | Arrivals::Trace { count, .. } => *count,
        }
    }

    /// The offset of the last arrival, plus nothing: sending is over once it has gone.
    pub fn last_offset(&self) -> f64 {
        match self {
            Arrivals::Constant { rate, count } => count.saturating_sub(1) as f64 / rate,
            Arrivals::Poisson {
                rate,
                duration,
                seed,
                stage,
                ..
            } => poisson_offsets(*rate, *duration, *seed, *stage)
                .last()
                .unwrap_or(0.0),
            Arrivals::Trace { offsets, count } => {
                offsets[..*count as usize].last().copied().unwrap_or(0.0)
            }
        }
    }

    /// This shard's arrivals in time order.
    pub fn iter(&self, shard: Shard, routing: Routing) -> Box<dyn Iterator<Item = Arrival> + Send> {
        match self.clone() {
            Arrivals::Constant { rate, count } => {
                Box::new(routing.indices(shard, count).map(move |index| Arrival {
                    index,
                    offset: index as f64 / rate,
                }))
            }
            Arrivals::Poisson {
                rate,
                duration,
                seed,
                stage,
                ..
            } => Box::new(
                poisson_offsets(rate, duration, seed, stage)
                    .enumerate()
                    .map(|(index, offset)| Arrival {
                        index: index as u64,
                        offset,
                    })
                    .filter(move |a| routing.contains(shard, a.index)),
            ),
            Arrivals::Trace { offsets, count } => {
                Box::new(routing.indices(shard, count).map(move |index| Arrival {
                    index,
                    offset: offsets[index as usize],
                }))
            }
        }
    }
}

/// Every shard walks the same sequence of gaps (cheap: a few ns each) and keeps its own
/// arrivals, so the offsets never depend on how requests are split.
fn poisson_offsets(rate: f64, duration: f64, seed: u64, stage: u64) -> impl Iterator<Item = f64> {
    let exp = Exp::new(rate).expect("validated: rate > 0");
    let mut rng: PlanRng = rng(seed, Purpose::Arrivals, stage);
    let _ = rng.random::<u64>(); // decorrelate from other users of the same stream index
    std::iter::successors(Some(exp.sample(&mut rng)), move |t| {
        Some(t + exp.sample(&mut rng))
    })
    .take_while(move |&t| t < duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_arrivals_are_evenly_spaced_and_counted() {
        let arrivals = Arrivals::constant(200.0, 2.0);
        assert_eq!(arrivals.count(), 400);
        let all: Vec<_> = arrivals.iter(Shard::WHOLE, Routing::Request).collect();
        assert_eq!(all.len(), 400);
        assert!(
            all.windows(2)
                .all(|w| ((w[1].offset - w[0].offset) - 0.005).abs() < 1e-12)
        );
        assert!((arrivals.last_offset() - 1.995).abs() < 1e-12);
        assert_eq!(Arrivals::constant(0.1, 30.0).count(), 3);
    }

    #[test]
    fn shards_partition_the_same_arrivals() {
        for arrivals in [
            Arrivals::constant(50.0, 3.0),
            Arrivals::poisson(50.0, 3.0, 7, 1),
            Arrivals::trace(vec![0.0, 0.5, 0.7, 2.0].into(), 3),
        ] {
            let whole: Vec<_> = arrivals.iter(Shard::WHOLE, Routing::Request).collect();
            assert_eq!(whole.len() as u64, arrivals.count());
            let mut merged: Vec<_> = (0..4)
                .flat_map(|w| {
                    arrivals
                        .iter(Shard::new(4, w), Routing::Request)
                        .collect::<Vec<_>>()
                })
                .collect();
            merged.sort_by_key(|a| a.index);
            assert_eq!(merged, whole);
        }
    }

    #[test]
    fn poisson_is_seeded_per_stage_and_bounded_by_duration() {
        let a: Vec<_> = Arrivals::poisson(100.0, 10.0, 1, 0)
            .iter(Shard::WHOLE, Routing::Request)
            .collect();
        assert_eq!(
            a,
            Arrivals::poisson(100.0, 10.0, 1, 0)
                .iter(Shard::WHOLE, Routing::Request)
                .collect::<Vec<_>>()
        );
        assert_ne!(
            a,
            Arrivals::poisson(100.0, 10.0, 1, 1)
                .iter(Shard::WHOLE, Routing::Request)
                .collect::<Vec<_>>()
        );
        assert!(a.iter().all(|x| x.offset < 10.0));
        assert!(
            (a.len() as f64 - 1000.0).abs() < 4.0 * 1000f64.sqrt(),
            "{}",
            a.len()
        );
    }
}
