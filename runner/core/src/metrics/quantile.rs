//! The one exact quantile every report here uses where it has all the values at hand.

/// The `q` quantile (0 to 1) of `sorted` by linear interpolation between the closest ranks:
/// numpy's default `percentile` (inference-perf's summaries) and PromQL's
/// `quantile_over_time`, which agree. `None` for no values.
pub fn interpolated(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = q * last as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(last);
    Some(sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - lower as f64))
}

#[cfg(test)]
mod tests {
    use super::interpolated;

    #[test]
    fn interpolates_between_the_closest_ranks_as_numpy_does() {
        // numpy.percentile([1, 2, 3, 4], [0, 50, 90, 100]) = 1, 2.5, 3.7, 4.
        let values = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(interpolated(&values, 0.0), Some(1.0));
        assert_eq!(interpolated(&values, 0.5), Some(2.5));
        assert!((interpolated(&values, 0.9).unwrap() - 3.7).abs() < 1e-12);
        assert_eq!(interpolated(&values, 1.0), Some(4.0));
        assert_eq!(interpolated(&[5.0], 0.95), Some(5.0));
        assert_eq!(interpolated(&[], 0.5), None);
    }
}
