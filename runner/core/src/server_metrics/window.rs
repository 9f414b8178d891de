//! A metric's figures over a window, from scrapes the runner took itself: the quantities the
//! PromQL queries of [`promql`](super::promql) estimate, computed exactly from the samples.
//!
//! Differences from Prometheus, on purpose: a counter's increase is the sum of its steps
//! between the last scrape before the window and the last one in it, with no extrapolation to
//! the window's edges (Prometheus scales the observed increase by up to the sampled share of
//! the window); a counter's `avg` is its mean rate over the window (PromQL's one-step subquery
//! gives the same); a gauge exported by several servers is combined per scrape as its
//! [`Fleet`](super::Fleet) says, where a Prometheus query reports its first series.

use crate::metrics::interpolated_quantile;

use super::catalog::{Fleet, MetricKind, MetricSpec};
use super::matchers::Matcher;
use super::timeseries::SeriesStore;
use super::{MetricValue, round6};

/// Seconds since the Unix epoch: `(start, end]`, as a PromQL range vector ending at `end`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start: f64,
    pub end: f64,
}

impl Window {
    fn duration(&self) -> f64 {
        (self.end - self.start).max(f64::MIN_POSITIVE)
    }
}

pub fn figures(
    store: &SeriesStore,
    spec: &MetricSpec,
    matchers: &[Matcher],
    window: Window,
) -> MetricValue {
    let value = match spec.kind {
        MetricKind::Counter => {
            let total = spec
                .sample_names()
                .iter()
                .map(|name| increase(store, name, matchers, window))
                .sum::<f64>();
            let rate = total / window.duration();
            MetricValue {
                total,
                avg: rate,
                per_second: rate,
                ..MetricValue::default()
            }
        }
        MetricKind::Gauge => gauge(store, spec, matchers, window),
        MetricKind::Histogram => histogram(store, spec.name, matchers, window),
    };
    MetricValue {
        total: round6(value.total),
        avg: round6(value.avg),
        median: round6(value.median),
        p90: round6(value.p90),
        p99: round6(value.p99),
        per_second: round6(value.per_second),
    }
}

/// Index of the last tick at or before `window.start` (the baseline), else of the first tick.
fn first_tick(store: &SeriesStore, window: Window) -> usize {
    store
        .ticks
        .partition_point(|t| t.time <= window.start)
        .saturating_sub(1)
}

fn ticks_in(store: &SeriesStore, window: Window) -> impl Iterator<Item = &super::timeseries::Tick> {
    store
        .ticks
        .iter()
        .skip(first_tick(store, window))
        .take_while(move |t| t.time <= window.end)
}

/// Sum over the selected series of each one's increase.
fn increase(store: &SeriesStore, name: &str, matchers: &[Matcher], window: Window) -> f64 {
    store
        .select(name, matchers)
        .into_iter()
        .map(|(id, _, target)| series_increase(store, id, target, window))
        .sum()
}

/// Steps up are added, a drop is a reset (the new value is all increase), and a series its
/// server answered without counts as 0 (not created yet), so its first requests are not lost.
fn series_increase(store: &SeriesStore, id: u32, target: usize, window: Window) -> f64 {
    let mut previous: Option<f64> = None;
    let mut total = 0.0;
    for tick in ticks_in(store, window) {
        let Some(value) = store.value_at(tick, id, target) else {
            continue;
        };
        let value = value.unwrap_or(0.0);
        if let Some(before) = previous {
            total += if value >= before {
                value - before
            } else {
                value
            };
        }
        previous = Some(value);
    }
    total
}

fn gauge(
    store: &SeriesStore,
    spec: &MetricSpec,
    matchers: &[Matcher],
    window: Window,
) -> MetricValue {
    let series = store.select(spec.name, matchers);
    let mut values: Vec<f64> = store
        .ticks
        .iter()
        .filter(|t| t.time > window.start && t.time <= window.end)
        .filter_map(|tick| {
            let present: Vec<f64> = series
                .iter()
                .filter_map(|(id, _, target)| store.value_at(tick, *id, *target).flatten())
                .collect();
            if present.is_empty() {
                return None;
            }
            let sum: f64 = present.iter().sum();
            Some(match spec.fleet {
                Fleet::Sum => sum,
                Fleet::Mean => sum / present.len() as f64,
            })
        })
        .collect();
    if values.is_empty() {
        return MetricValue::default();
    }
    let avg = values.iter().sum::<f64>() / values.len() as f64;
    values.sort_by(f64::total_cmp);
    let quantile = |sorted: &[f64], q| interpolated_quantile(sorted, q).unwrap_or_default();
    MetricValue {
        avg,
        // PromQL's quantile_over_time interpolates as numpy does.
        median: quantile(&values, 0.5),
        p90: quantile(&values, 0.9),
        p99: quantile(&values, 0.99),
        ..MetricValue::default()
    }
}

fn histogram(store: &SeriesStore, name: &str, matchers: &[Matcher], window: Window) -> MetricValue {
    let count = increase(store, &format!("{name}_count"), matchers, window);
    let sum = increase(store, &format!("{name}_sum"), matchers, window);
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    let bucket_name = format!("{name}_bucket");
    for (id, key, target) in store.select(&bucket_name, matchers) {
        let Some(bound) = key.labels.get("le").and_then(|le| parse_bound(le)) else {
            continue;
        };
        let added = series_increase(store, id, target, window);
        match buckets.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, n)) => *n += added,
            None => buckets.push((bound, added)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let q = |q: f64| histogram_quantile(q, &buckets).unwrap_or(0.0);
    MetricValue {
        avg: if count > 0.0 { sum / count } else { 0.0 },
        median: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        per_second: count / window.duration(),
        total: 0.0,
    }
}

fn parse_bound(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        text => text.parse().ok(),
    }
}

/// PromQL's `histogram_quantile` over cumulative `(upper bound, count)` buckets, sorted.
fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let (last_bound, total) = *buckets.last()?;
    if buckets.len() < 2 || last_bound != f64::INFINITY || total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let at = buckets.iter().position(|(_, count)| *count >= rank)?;
    if at == buckets.len() - 1 {
        return Some(buckets[at - 1].0);
    }
    let (upper, count) = buckets[at];
    if at == 0 && upper <= 0.0 {
        return Some(upper);
    }
    let (lower, below) = if at == 0 { (0.0, 0.0) } else { buckets[at - 1] };
    let in_bucket = count - below;
    if in_bucket <= 0.0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / in_bucket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_metrics::exposition::parse;

    fn store(bodies: &[(f64, &[Option<&str>])]) -> SeriesStore {
        let mut store = SeriesStore::new(vec!["a:1".into(), "b:1".into()]);
        for (time, answers) in bodies {
            let answers = answers
                .iter()
                .map(|b| b.map(|b| parse(b).unwrap()))
                .collect();
            store.record(*time, answers, &|_| true);
        }
        store
    }

    fn spec(kind: MetricKind, name: &'static str, fleet: Fleet) -> MetricSpec {
        MetricSpec {
            field: "f",
            kind,
            name,
            fleet,
        }
    }

    #[test]
    fn a_counter_counts_steps_resets_late_series_and_skips_missed_scrapes() {
        let s = store(&[
            (0.0, &[Some("x_total 10\n"), Some("y 1\n")]),
            (1.0, &[Some("x_total 15\n"), Some("x_total 2\n")]),
            (2.0, &[None, Some("x_total 5\n")]),
            (3.0, &[Some("x_total 3\n"), Some("x_total 6\n")]),
        ]);
        let counter = spec(MetricKind::Counter, "x", Fleet::Sum);
        let all = figures(
            &s,
            &counter,
            &[],
            Window {
                start: 0.5,
                end: 3.0,
            },
        );
        // a: 10 → 15 (+5) → reset to 3 (+3); b: absent (0) → 2 → 5 → 6 (+6).
        assert_eq!(all.total, 14.0);
        assert_eq!(all.per_second, 14.0 / 2.5);
        let only_b = figures(
            &s,
            &counter,
            &[Matcher::parse("instance=\"b:1\"").unwrap()],
            Window {
                start: 0.0,
                end: 2.0,
            },
        );
        assert_eq!(only_b.total, 5.0);
    }

    fn gauges(queue: u32, usage: f64) -> String {
        format!("# TYPE q gauge\nq {queue}\n# TYPE u gauge\nu {usage}\n")
    }

    #[test]
    fn gauges_combine_servers_per_scrape_then_take_quantiles_over_time() {
        let s = store(&[
            (1.0, &[Some(&gauges(1, 0.2)), Some(&gauges(3, 0.4))]),
            (2.0, &[Some(&gauges(2, 0.6)), Some(&gauges(2, 0.8))]),
            (3.0, &[Some(&gauges(0, 0.1)), None]),
        ]);
        let queue = figures(
            &s,
            &spec(MetricKind::Gauge, "q", Fleet::Sum),
            &[],
            Window {
                start: 0.0,
                end: 3.0,
            },
        );
        // Per scrape: 4, 4, 0; sorted 0, 4, 4.
        assert_eq!(queue.avg, round6(8.0 / 3.0));
        assert_eq!(queue.median, 4.0);
        assert_eq!(queue.p90, 4.0);
        let usage = figures(
            &s,
            &spec(MetricKind::Gauge, "u", Fleet::Mean),
            &[],
            Window {
                start: 1.5,
                end: 3.0,
            },
        );
        assert_eq!(usage.avg, round6((0.7 + 0.1) / 2.0));
    }

    #[test]
    fn histogram_quantiles_interpolate_within_buckets_like_promql() {
        let body = |n0: u32, n1: u32, n2: u32, sum: f64| {
            format!(
                "# TYPE h histogram\nh_bucket{{le=\"0.1\"}} {n0}\nh_bucket{{le=\"1\"}} {n1}\nh_bucket{{le=\"+Inf\"}} {n2}\nh_sum {sum}\nh_count {n2}\n"
            )
        };
        let (before, after) = (body(5, 5, 5, 0.25), body(15, 105, 115, 60.25));
        let s = store(&[(0.0, &[Some(&before), None]), (10.0, &[Some(&after), None])]);
        let h = figures(
            &s,
            &spec(MetricKind::Histogram, "h", Fleet::Sum),
            &[],
            Window {
                start: 0.0,
                end: 10.0,
            },
        );
        // Increases: ≤0.1: 10, ≤1: 100, +Inf: 110; sum 60.
        assert_eq!(h.avg, round6(60.0 / 110.0));
        assert_eq!(h.median, round6(0.1 + 0.9 * (55.0 - 10.0) / 90.0));
        assert_eq!(
            h.p99, 1.0,
            "a rank in the +Inf bucket reads the highest finite bound"
        );
        assert_eq!(h.per_second, 11.0);
        assert_eq!(
            histogram_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
    }
}
