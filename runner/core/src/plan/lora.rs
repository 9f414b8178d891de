//! Choosing each request's LoRA adapter from `load.lora_traffic_split`.

use crate::config::LoraSplit;

use super::rng::{Purpose, unit};

#[derive(Debug, Clone)]
pub struct LoraTable {
    names: Vec<String>,
    /// Running sums of the splits; the last is the total (1.0 within tolerance).
    cumulative: Vec<f64>,
}

impl LoraTable {
    pub fn new(splits: &[LoraSplit]) -> Self {
        let names = splits.iter().map(|s| s.name.clone()).collect();
        let cumulative = splits
            .iter()
            .scan(0.0, |sum, s| {
                *sum += s.split;
                Some(*sum)
            })
            .collect();
        LoraTable { names, cumulative }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The adapter (index into [`names`](Self::names)) of request `index` of stage `stage`.
    /// Stages draw independently: prompts repeat from stage to stage (as in inference-perf),
    /// adapter choices do not, so the traffic split holds over the whole run.
    pub fn pick(&self, seed: u64, stage: usize, index: u64) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let u = unit(
            seed ^ (stage as u64).wrapping_mul(0xA076_1D64_78BD_642F),
            Purpose::Adapter,
            index,
        ) * total;
        self.cumulative
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.names.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_follow_the_splits_within_three_sigma() {
        let table = LoraTable::new(&[
            LoraSplit {
                name: "a".into(),
                split: 0.5,
            },
            LoraSplit {
                name: "b".into(),
                split: 0.3,
            },
            LoraSplit {
                name: "c".into(),
                split: 0.2,
            },
        ]);
        let n = 100_000u64;
        let mut counts = [0u64; 3];
        for i in 0..n {
            counts[table.pick(9, (i % 3) as usize, i / 3)] += 1;
        }
        for (count, p) in counts.iter().zip([0.5, 0.3, 0.2]) {
            let sigma = (n as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (*count as f64 - n as f64 * p).abs() < 3.0 * sigma,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn zero_split_adapters_get_nothing() {
        let table = LoraTable::new(&[
            LoraSplit {
                name: "a".into(),
                split: 0.0,
            },
            LoraSplit {
                name: "b".into(),
                split: 1.0,
            },
        ]);
        assert!((0..1000).all(|i| table.pick(1, 0, i) == 1));
    }
}
