//! The arithmetic of a sweep: completion rates from completion times, and inference-perf's
//! stage-rate formulas.

use ibench_core::config::SweepType;

/// Width of the windows a burst's completion rate is sampled in (inference-perf samples its
/// in-flight counter every 0.5 s).
pub const WINDOW_SECONDS: f64 = 0.5;

/// The rate of the middle 80% of completions: the ramp-up before the first completions and the
/// drain after the last sends would both pull a whole-span average down.
pub fn steady_rate(ends: &[f64]) -> Option<f64> {
    let mut ends = ends.to_vec();
    ends.sort_by(f64::total_cmp);
    let n = ends.len();
    if n < 10 {
        return None;
    }
    let (low, high) = (n / 10, n - 1 - n / 10);
    let span = ends[high] - ends[low];
    (span > 0.0).then(|| (high - low) as f64 / span)
}

/// Completion rates in consecutive [`WINDOW_SECONDS`] windows between the first and the last
/// completion, the partial first and last windows left out.
pub fn window_rates(ends: &[f64]) -> Vec<f64> {
    let (Some(first), Some(last)) = (
        ends.iter().copied().reduce(f64::min),
        ends.iter().copied().reduce(f64::max),
    ) else {
        return Vec::new();
    };
    let windows = ((last - first) / WINDOW_SECONDS).floor() as usize;
    let mut counts = vec![0u64; windows.max(1)];
    for &end in ends {
        let w = ((end - first) / WINDOW_SECONDS) as usize;
        if w < counts.len() {
            counts[w] += 1;
        }
    }
    counts
        .iter()
        .skip(1)
        .take(windows.saturating_sub(2))
        .map(|&c| c as f64 / WINDOW_SECONDS)
        .collect()
}

/// numpy's default percentile (linear interpolation between closest ranks).
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    ibench_core::metrics::interpolated_quantile(&sorted, p / 100.0)
}

/// inference-perf's stage rates up to `saturation`, rounded to 2 decimals: linear
/// `linspace(1, sat, n)`, geometric `1 + sat − geomspace(sat, 1, n)` (dense near saturation).
pub fn stage_rates(sweep_type: SweepType, saturation: f64, stages: usize) -> Vec<f64> {
    let round2 = |r: f64| (r * 100.0).round() / 100.0;
    // numpy's linspace/geomspace: n points, both ends included (one point: the start).
    let fraction = |k: usize| {
        if stages > 1 {
            k as f64 / (stages - 1) as f64
        } else {
            0.0
        }
    };
    (0..stages)
        .map(|k| match sweep_type {
            SweepType::Linear => round2(1.0 + (saturation - 1.0) * fraction(k)),
            SweepType::Geometric => {
                let g = saturation * (1.0 / saturation).powf(fraction(k));
                round2(1.0 + saturation - g)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_rates_follow_numpy_linspace_and_geomspace() {
        assert_eq!(
            stage_rates(SweepType::Linear, 200.0, 5),
            [1.0, 50.75, 100.5, 150.25, 200.0]
        );
        // 1 + 100 - geomspace(100, 1, 3) = 1 + 100 - [100, 10, 1]
        assert_eq!(
            stage_rates(SweepType::Geometric, 100.0, 3),
            [1.0, 91.0, 100.0]
        );
        let geometric = stage_rates(SweepType::Geometric, 37.123, 6);
        assert_eq!((geometric[0], geometric[5]), (1.0, 37.12));
        assert!(geometric.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(stage_rates(SweepType::Linear, 9.0, 1), [1.0]);
    }

    #[test]
    fn steady_rate_ignores_ramp_and_drain() {
        // 100/s for 2 s, with a slow start and a slow tail.
        let mut ends: Vec<f64> = (0..200).map(|i| 1.0 + i as f64 * 0.01).collect();
        ends.extend([0.1, 0.5, 5.0, 9.0]);
        let rate = steady_rate(&ends).unwrap();
        assert!((rate - 100.0).abs() < 2.0, "{rate}");
        assert_eq!(steady_rate(&[1.0, 2.0]), None);
    }

    #[test]
    fn window_rates_and_percentiles() {
        let ends: Vec<f64> = (0..300).map(|i| i as f64 * 0.01).collect();
        let rates = window_rates(&ends);
        assert_eq!(rates.len(), 3);
        assert!(rates.iter().all(|&r| (r - 100.0).abs() < 1e-9), "{rates:?}");
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), Some(2.5));
        assert_eq!(percentile(&[5.0], 95.0), Some(5.0));
        assert_eq!(percentile(&[], 95.0), None);
    }
}
