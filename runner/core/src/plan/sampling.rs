//! Token-length sampling with inference-perf's two samplers: `generate_distribution` (random
//! and synthetic data) and `sample_from_distribution` (shared prefix). Both draw, clip to
//! `[min, max]`, round and clip again; they differ in the types they know and in the uniform
//! and log-normal details.

use rand::RngExt;
use rand_distr::{Distribution as _, LogNormal, Normal, Poisson, StandardNormal};

use crate::config::{Distribution, DistributionType};

#[derive(Debug, Clone)]
pub enum LengthSampler {
    Fixed(u32),
    /// Uniform over `[low, high)`, clipped to `[min, max]`.
    Uniform {
        low: f64,
        high: f64,
        min: f64,
        max: f64,
    },
    Normal {
        dist: Normal<f64>,
        min: f64,
        max: f64,
    },
    /// Log-normal shifted by `shift`, moments matched to `mean - shift` and `std_dev`.
    LogNormal {
        dist: LogNormal<f64>,
        shift: f64,
        min: f64,
        max: f64,
    },
    /// Azzalini's skew normal: location `mean`, scale `std_dev`, shape `skew`.
    SkewNormal {
        mean: f64,
        std_dev: f64,
        delta: f64,
        min: f64,
        max: f64,
    },
    Poisson {
        dist: Poisson<f64>,
        min: f64,
        max: f64,
    },
}

impl LengthSampler {
    /// `generate_distribution` (random and synthetic data): uniform over `[min, max)`,
    /// log-normal shifted by `min`; validation rejects the types it does not know.
    pub fn new(d: &Distribution) -> Self {
        let (min, max) = (d.min as f64, d.max as f64);
        match d.dist_type {
            DistributionType::Uniform => LengthSampler::Uniform {
                low: min,
                high: max,
                min,
                max,
            },
            DistributionType::Lognormal => {
                let shifted_mean = if d.mean - min <= 0.0 {
                    1.0
                } else {
                    d.mean - min
                };
                lognormal(shifted_mean, std_dev(d), min, min, max)
            }
            _ => Self::common(d),
        }
    }

    /// `sample_from_distribution` (shared prefix): uniform over the integers `min..=max`,
    /// unshifted log-normal (a zero deviation gives the mean), skew normal and Poisson too.
    pub fn for_shared_prefix(d: &Distribution) -> Self {
        let (min, max) = (d.min as f64, d.max as f64);
        match d.dist_type {
            DistributionType::Uniform => LengthSampler::Uniform {
                low: min,
                high: max + 1.0,
                min,
                max,
            },
            DistributionType::Lognormal if std_dev(d) <= 0.0 => {
                LengthSampler::Fixed(d.mean.clamp(min, max).round() as u32)
            }
            DistributionType::Lognormal => lognormal(d.mean, std_dev(d), 0.0, min, max),
            DistributionType::SkewNormal => LengthSampler::SkewNormal {
                mean: d.mean,
                std_dev: std_dev(d),
                delta: d.skew / (1.0 + d.skew * d.skew).sqrt(),
                min,
                max,
            },
            DistributionType::Poisson => LengthSampler::Poisson {
                dist: Poisson::new(if d.mean > 0.0 { d.mean } else { 1.0 })
                    .expect("positive lambda"),
                min,
                max,
            },
            _ => Self::common(d),
        }
    }

    /// Fixed and normal, alike in both samplers.
    fn common(d: &Distribution) -> Self {
        match d.dist_type {
            DistributionType::Fixed => {
                LengthSampler::Fixed(d.mean.trunc().clamp(0.0, u32::MAX as f64) as u32)
            }
            _ => LengthSampler::Normal {
                dist: Normal::new(d.mean, std_dev(d)).expect("std_dev >= 0"),
                min: d.min as f64,
                max: d.max as f64,
            },
        }
    }

    pub fn sample(&self, rng: &mut impl rand::Rng) -> u32 {
        let (value, min, max) = match self {
            LengthSampler::Fixed(n) => return *n,
            LengthSampler::Uniform {
                low,
                high,
                min,
                max,
            } => {
                let value = if high > low {
                    rng.random_range(*low..*high)
                } else {
                    *low
                };
                (value, *min, *max)
            }
            LengthSampler::Normal { dist, min, max } => (dist.sample(rng), *min, *max),
            LengthSampler::LogNormal {
                dist,
                shift,
                min,
                max,
            } => (dist.sample(rng) + shift, *min, *max),
            LengthSampler::SkewNormal {
                mean,
                std_dev,
                delta,
                min,
                max,
            } => {
                let u0: f64 = rng.sample(StandardNormal);
                let v: f64 = rng.sample(StandardNormal);
                let u1 = delta * u0 + (1.0 - delta * delta).sqrt() * v;
                let z = if u0 >= 0.0 { u1 } else { -u1 };
                (mean + std_dev * z, *min, *max)
            }
            LengthSampler::Poisson { dist, min, max } => (dist.sample(rng), *min, *max),
        };
        value.clamp(min, max).round().clamp(min, max) as u32
    }
}

/// The standard deviation, or the square root of `variance` when that replaces it.
fn std_dev(d: &Distribution) -> f64 {
    d.variance
        .filter(|_| d.std_dev == 0.0)
        .map_or(d.std_dev, f64::sqrt)
}

/// Log-normal with the given mean and deviation (of the unshifted variable), plus `shift`.
fn lognormal(mean: f64, std_dev: f64, shift: f64, min: f64, max: f64) -> LengthSampler {
    let sigma2 = (1.0 + (std_dev / mean).powi(2)).ln();
    let mu = mean.ln() - sigma2 / 2.0;
    LengthSampler::LogNormal {
        dist: LogNormal::new(mu, sigma2.sqrt()).expect("finite sigma"),
        shift,
        min,
        max,
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
    fn shared_prefix_sampler_knows_more_types() {
        let sample = |d: Distribution, n: u64| -> Vec<u32> {
            let sampler = LengthSampler::for_shared_prefix(&d);
            (0..n)
                .map(|i| sampler.sample(&mut rng(2, Purpose::InputLength, i)))
                .collect()
        };
        let base = Distribution {
            min: 1,
            max: 1000,
            mean: 100.0,
            std_dev: 20.0,
            ..Default::default()
        };
        let uniform = sample(
            Distribution {
                dist_type: DistributionType::Uniform,
                min: 3,
                max: 5,
                ..base.clone()
            },
            3000,
        );
        assert!(
            (3..=5).all(|v| uniform.contains(&v)) && uniform.iter().all(|v| (3..=5).contains(v))
        );
        let poisson = sample(
            Distribution {
                dist_type: DistributionType::Poisson,
                ..base.clone()
            },
            20_000,
        );
        assert!((mean(&poisson) - 100.0).abs() < 1.0, "{}", mean(&poisson));
        // Skew normal's mean is location + scale·δ·√(2/π).
        let skewed = sample(
            Distribution {
                dist_type: DistributionType::SkewNormal,
                skew: 4.0,
                ..base.clone()
            },
            20_000,
        );
        let delta = 4.0 / 17f64.sqrt();
        let expected = 100.0 + 20.0 * delta * (2.0 / std::f64::consts::PI).sqrt();
        assert!((mean(&skewed) - expected).abs() < 1.0, "{}", mean(&skewed));
        let lognormal = sample(
            Distribution {
                dist_type: DistributionType::Lognormal,
                ..base
            },
            20_000,
        );
        assert!(
            (mean(&lognormal) - 100.0).abs() < 1.0,
            "{}",
            mean(&lognormal)
        );
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
