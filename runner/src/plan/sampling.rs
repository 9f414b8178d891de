//! Token-length sampling with inference-perf's `generate_distribution` semantics: draw, clip to
//! `[min, max]`, round, clip again.

use rand::RngExt;
use rand_distr::{Distribution as _, LogNormal, Normal};

use crate::config::{Distribution, DistributionType};

#[derive(Debug, Clone)]
pub enum LengthSampler {
    Fixed(u32),
    Uniform {
        min: f64,
        max: f64,
    },
    Normal {
        dist: Normal<f64>,
        min: f64,
        max: f64,
    },
    /// Log-normal shifted by `min`, moments matched to `mean - min` and `std_dev`.
    LogNormal {
        dist: LogNormal<f64>,
        min: f64,
        max: f64,
    },
}

impl LengthSampler {
    /// Builds a sampler from a validated distribution (the `random` generator's types only).
    pub fn new(d: &Distribution) -> Self {
        let std_dev = d
            .variance
            .filter(|_| d.std_dev == 0.0)
            .map_or(d.std_dev, f64::sqrt);
        let (min, max) = (d.min as f64, d.max as f64);
        match d.dist_type {
            DistributionType::Fixed => {
                LengthSampler::Fixed(d.mean.trunc().clamp(0.0, u32::MAX as f64) as u32)
            }
            DistributionType::Uniform => LengthSampler::Uniform { min, max },
            DistributionType::Lognormal => {
                let shifted_mean = if d.mean - min <= 0.0 {
                    1.0
                } else {
                    d.mean - min
                };
                let sigma2 = (1.0 + (std_dev / shifted_mean).powi(2)).ln();
                let mu = shifted_mean.ln() - sigma2 / 2.0;
                LengthSampler::LogNormal {
                    dist: LogNormal::new(mu, sigma2.sqrt()).expect("finite sigma"),
                    min,
                    max,
                }
            }
            // Validation rejects the types the random generator cannot sample; normal is the
            // documented fallback of inference-perf's sampler.
            DistributionType::Normal | DistributionType::SkewNormal | DistributionType::Poisson => {
                LengthSampler::Normal {
                    dist: Normal::new(d.mean, std_dev).expect("std_dev >= 0"),
                    min,
                    max,
                }
            }
        }
    }

    pub fn sample(&self, rng: &mut impl rand::Rng) -> u32 {
        let (value, min, max) = match self {
            LengthSampler::Fixed(n) => return *n,
            LengthSampler::Uniform { min, max } => {
                let value = if max > min {
                    rng.random_range(*min..*max)
                } else {
                    *min
                };
                (value, *min, *max)
            }
            LengthSampler::Normal { dist, min, max } => (dist.sample(rng), *min, *max),
            LengthSampler::LogNormal { dist, min, max } => (dist.sample(rng) + min, *min, *max),
        };
        value.clamp(min, max).round().clamp(min, max) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::rng::{Purpose, rng};

    fn samples(d: Distribution, n: u64) -> Vec<u32> {
        let sampler = LengthSampler::new(&d);
        (0..n)
            .map(|i| sampler.sample(&mut rng(1, Purpose::InputLength, i)))
            .collect()
    }

    fn mean(v: &[u32]) -> f64 {
        v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64
    }

    #[test]
    fn each_type_respects_bounds_and_moments() {
        let base = Distribution {
            min: 10,
            max: 1000,
            mean: 200.0,
            std_dev: 50.0,
            ..Default::default()
        };
        let normal = samples(base.clone(), 20_000);
        assert!(normal.iter().all(|&x| (10..=1000).contains(&x)));
        assert!((mean(&normal) - 200.0).abs() < 2.0, "{}", mean(&normal));

        let fixed = samples(
            Distribution {
                dist_type: DistributionType::Fixed,
                mean: 64.9,
                ..base.clone()
            },
            10,
        );
        assert!(fixed.iter().all(|&x| x == 64));

        let uniform = samples(
            Distribution {
                dist_type: DistributionType::Uniform,
                min: 10,
                max: 20,
                ..base.clone()
            },
            20_000,
        );
        assert!(uniform.iter().all(|&x| (10..=20).contains(&x)));
        assert!((mean(&uniform) - 15.0).abs() < 0.2);

        let lognormal = samples(
            Distribution {
                dist_type: DistributionType::Lognormal,
                ..base.clone()
            },
            50_000,
        );
        assert!(lognormal.iter().all(|&x| (10..=1000).contains(&x)));
        assert!(
            (mean(&lognormal) - 200.0).abs() < 3.0,
            "{}",
            mean(&lognormal)
        );

        let clipped = samples(
            Distribution {
                min: 100,
                max: 110,
                mean: 105.0,
                std_dev: 1000.0,
                ..base
            },
            1000,
        );
        assert!(clipped.iter().all(|&x| (100..=110).contains(&x)));
    }

    #[test]
    fn variance_stands_in_for_std_dev() {
        let d = Distribution {
            min: 0,
            max: 10_000,
            mean: 500.0,
            std_dev: 0.0,
            variance: Some(10_000.0),
            ..Default::default()
        };
        let v = samples(d, 20_000);
        let m = mean(&v);
        let sd =
            (v.iter().map(|&x| (f64::from(x) - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((sd - 100.0).abs() < 3.0, "{sd}");
    }
}
