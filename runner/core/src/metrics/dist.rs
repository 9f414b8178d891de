//! A mergeable distribution: an HDR histogram (3 significant digits) plus the exact count, sum,
//! sum of squared deviations (for the standard deviation), minimum and maximum. Memory is bounded by the value range, not the number of samples, and two
//! distributions merge without loss, so runner pods can be combined exactly.
//!
//! Percentiles follow numpy's default (linear interpolation between the two nearest ranks), so
//! reports read like inference-perf's; negative values (a request sent early) are kept apart
//! because HDR histograms only hold non-negative values.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

/// What one histogram tick is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Durations in seconds, held with microsecond resolution.
    Seconds,
    /// Counts (tokens, bytes), held exactly below 2048 and to 3 significant digits above.
    Count,
    /// Ratios (an image's width over its height), held to a millionth.
    Ratio,
}

impl Unit {
    fn ticks_per_unit(self) -> f64 {
        match self {
            Unit::Seconds | Unit::Ratio => 1e6,
            Unit::Count => 1.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "DistWire", try_from = "DistWire")]
pub struct Dist {
    unit: Unit,
    positive: Histogram<u64>,
    /// Magnitudes of negative values.
    negative: Option<Histogram<u64>>,
    count: u64,
    sum: f64,
    /// Sum of squared deviations from the mean (Welford's update, Chan's merge), so that the
    /// standard deviation is exact and merges without loss.
    m2: f64,
    min: f64,
    max: f64,
}

/// Beyond any real measurement (146 years in microseconds), far within HDR's range.
const MAX_TICKS: u64 = 1 << 52;

fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is valid")
}

impl Dist {
    pub fn new(unit: Unit) -> Self {
        Dist {
            unit,
            positive: histogram(),
            negative: None,
            count: 0,
            sum: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    pub fn seconds() -> Self {
        Dist::new(Unit::Seconds)
    }

    pub fn counts() -> Self {
        Dist::new(Unit::Count)
    }

    pub fn ratios() -> Self {
        Dist::new(Unit::Ratio)
    }

    pub fn record(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.hold(value, 1);
        let delta = value - self.mean().unwrap_or(0.0);
        self.count += 1;
        self.sum += value;
        self.m2 += delta * (value - self.sum / self.count as f64);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Records `value` `n` times at the cost of once (the zero images of text-only requests).
    pub fn record_n(&mut self, value: f64, n: u64) {
        if n == 0 || !value.is_finite() {
            return;
        }
        let mut same = Dist::new(self.unit);
        same.hold(value, n);
        same.count = n;
        same.sum = value * n as f64;
        same.min = value;
        same.max = value;
        self.merge(&same);
    }

    /// Puts `n` of `value` in the histogram of its sign.
    fn hold(&mut self, value: f64, n: u64) {
        let ticks = ((value.abs() * self.unit.ticks_per_unit()).round() as u64).min(MAX_TICKS);
        let target = if value < 0.0 {
            self.negative.get_or_insert_with(histogram)
        } else {
            &mut self.positive
        };
        // `record_n` grows the histogram; `saturating_record` would clamp to its current range.
        target
            .record_n(ticks, n)
            .expect("auto-resizing histograms hold any value up to MAX_TICKS");
    }

    pub fn merge(&mut self, other: &Dist) {
        debug_assert_eq!(self.unit, other.unit);
        self.positive
            .add(&other.positive)
            .expect("auto-resizing histograms always add");
        if let Some(neg) = &other.negative {
            self.negative
                .get_or_insert_with(histogram)
                .add(neg)
                .expect("auto-resizing histograms always add");
        }
        if let (Some(mine), Some(theirs)) = (self.mean(), other.mean()) {
            let (n, m) = (self.count as f64, other.count as f64);
            self.m2 += other.m2 + (theirs - mine).powi(2) * n * m / (n + m);
        } else {
            self.m2 += other.m2;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// The sample standard deviation (numpy's `std(ddof=1)`); none below two values.
    pub fn stddev(&self) -> Option<f64> {
        (self.count > 1).then(|| (self.m2.max(0.0) / (self.count - 1) as f64).sqrt())
    }

    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// The `p`-th percentile (0–100) with numpy's linear interpolation.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = (p.clamp(0.0, 100.0) / 100.0) * (self.count - 1) as f64;
        let lower = rank.floor() as u64;
        let fraction = rank - lower as f64;
        let low = self.value_at_rank(lower);
        if fraction == 0.0 {
            return Some(low);
        }
        let high = self.value_at_rank((lower + 1).min(self.count - 1));
        Some(low + (high - low) * fraction)
    }

    /// The `rank`-th smallest sample (0-based), as represented by its histogram bucket; the
    /// extremes are exact.
    fn value_at_rank(&self, rank: u64) -> f64 {
        if rank == 0 {
            return self.min;
        }
        if rank + 1 >= self.count {
            return self.max;
        }
        let negatives = self.negative.as_ref().map_or(0, Histogram::len);
        let scale = self.unit.ticks_per_unit();
        let value = if rank < negatives {
            // Negatives in ascending order are magnitudes in descending order.
            let neg = self.negative.as_ref().expect("negatives counted");
            -(bucket_value(neg, negatives - 1 - rank) as f64) / scale
        } else {
            bucket_value(&self.positive, rank - negatives) as f64 / scale
        };
        value.clamp(self.min, self.max)
    }

    /// Compact, exact-merge transport form (HDR V2 deflate, base64).
    pub fn to_wire(&self) -> DistWire {
        DistWire {
            unit: self.unit,
            count: self.count,
            sum: self.sum,
            m2: self.m2,
            min: self.min().unwrap_or(0.0),
            max: self.max().unwrap_or(0.0),
            positive: encode(&self.positive),
            negative: self.negative.as_ref().map(encode),
        }
    }

    pub fn from_wire(wire: &DistWire) -> Result<Self, WireError> {
        let (min, max) = if wire.count == 0 {
            (f64::INFINITY, f64::NEG_INFINITY)
        } else {
            (wire.min, wire.max)
        };
        let dist = Dist {
            unit: wire.unit,
            positive: decode(&wire.positive)?,
            negative: wire.negative.as_deref().map(decode).transpose()?,
            count: wire.count,
            sum: wire.sum,
            m2: wire.m2,
            min,
            max,
        };
        let held = dist.positive.len() + dist.negative.as_ref().map_or(0, Histogram::len);
        if held != wire.count {
            return Err(WireError::CountMismatch {
                declared: wire.count,
                held,
            });
        }
        Ok(dist)
    }
}

impl From<Dist> for DistWire {
    fn from(dist: Dist) -> Self {
        dist.to_wire()
    }
}

impl TryFrom<DistWire> for Dist {
    type Error = WireError;
    fn try_from(wire: DistWire) -> Result<Self, WireError> {
        Dist::from_wire(&wire)
    }
}

fn bucket_value(hist: &Histogram<u64>, rank: u64) -> u64 {
    let mut seen = 0;
    for bucket in hist.iter_recorded() {
        seen += bucket.count_at_value();
        if seen > rank {
            return hist.median_equivalent(bucket.value_iterated_to());
        }
    }
    hist.max()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistWire {
    pub unit: Unit,
    pub count: u64,
    pub sum: f64,
    /// Absent from runners before it was added: their standard deviations read as 0.
    #[serde(default)]
    pub m2: f64,
    pub min: f64,
    pub max: f64,
    pub positive: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("histogram is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("histogram cannot be decoded: {0:?}")]
    Decode(hdrhistogram::serialization::DeserializeError),
    #[error("histogram holds {held} samples but declares {declared}")]
    CountMismatch { declared: u64, held: u64 },
}

fn encode(hist: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(hist, &mut bytes)
        .expect("serialising to memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode(text: &str) -> Result<Histogram<u64>, WireError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
    let mut hist: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(WireError::Decode)?;
    hist.auto(true);
    Ok(hist)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy.percentile(values, p) with the default linear method.
    fn numpy_percentile(sorted: &[f64], p: f64) -> f64 {
        crate::metrics::interpolated_quantile(sorted, p / 100.0).unwrap()
    }

    #[test]
    fn standard_deviation_is_exact_and_survives_merging_and_the_wire() {
        let values: Vec<f64> = (0..1000)
            .map(|i| 0.05 + ((i * 7919) % 1000) as f64 * 1e-4)
            .collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let exact = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let mut whole = Dist::seconds();
        values.iter().for_each(|&v| whole.record(v));
        let close = |d: &Dist| (d.stddev().unwrap() - exact).abs() <= 1e-12 * exact;
        assert!(close(&whole), "{:?} != {exact}", whole.stddev());
        let (mut left, mut right) = (Dist::seconds(), Dist::seconds());
        values[..300].iter().for_each(|&v| left.record(v));
        values[300..].iter().for_each(|&v| right.record(v));
        left.merge(&right);
        assert!(close(&left), "merged: {:?} != {exact}", left.stddev());
        let wired = Dist::from_wire(&left.to_wire()).unwrap();
        assert!(close(&wired));
        let mut one = Dist::seconds();
        one.record(1.0);
        assert_eq!(one.stddev(), None, "no sample deviation of one value");
    }

    #[test]
    fn small_integers_match_numpy_exactly() {
        let values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0];
        let mut dist = Dist::counts();
        values.iter().for_each(|&v| dist.record(v));
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0, 0.1, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.9, 100.0] {
            assert_eq!(
                dist.percentile(p).unwrap(),
                numpy_percentile(&sorted, p),
                "p{p}"
            );
        }
        assert_eq!(
            (dist.min(), dist.max(), dist.mean()),
            (Some(1.0), Some(9.0), Some(3.9))
        );
    }

    #[test]
    fn latencies_within_hdr_precision_and_merging_equals_recording_together() {
        let values: Vec<f64> = (0..10_000)
            .map(|i| 0.001 + (i as f64 * 7.3 % 1000.0) * 1e-3)
            .collect();
        let (mut a, mut b, mut all) = (Dist::seconds(), Dist::seconds(), Dist::seconds());
        for (i, &v) in values.iter().enumerate() {
            all.record(v);
            if i % 3 == 0 { a.record(v) } else { b.record(v) }
        }
        a.merge(&b);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for p in [1.0, 50.0, 90.0, 99.0, 99.9] {
            let exact = numpy_percentile(&sorted, p);
            assert!(
                (all.percentile(p).unwrap() - exact).abs() <= exact * 1e-3 + 1e-6,
                "p{p}"
            );
            assert_eq!(a.percentile(p), all.percentile(p));
        }
        assert_eq!(a.count(), 10_000);
        assert!((a.sum() - all.sum()).abs() < 1e-9);
    }

    #[test]
    fn negative_values_sort_before_positive_ones() {
        let mut dist = Dist::seconds();
        for v in [-0.002, -0.001, 0.0, 0.001, 0.003] {
            dist.record(v);
        }
        assert_eq!(dist.percentile(0.0), Some(-0.002));
        assert_eq!(dist.percentile(25.0), Some(-0.001));
        assert_eq!(dist.percentile(50.0), Some(0.0));
        assert_eq!(dist.percentile(75.0), Some(0.001));
        assert!((dist.percentile(12.5).unwrap() + 0.0015).abs() < 1e-9);
    }

    #[test]
    fn a_value_recorded_n_times_is_n_samples_of_it() {
        let mut once_each = Dist::counts();
        let mut at_once = Dist::counts();
        for v in [2.0, 5.0] {
            once_each.record(v);
            at_once.record(v);
        }
        (0..4).for_each(|_| once_each.record(0.0));
        at_once.record_n(0.0, 4);
        at_once.record_n(7.0, 0);
        assert_eq!(at_once.count(), 6);
        assert_eq!(at_once.sum(), 7.0);
        let (a, b) = (at_once.stddev().unwrap(), once_each.stddev().unwrap());
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
        for p in [0.0, 25.0, 50.0, 75.0, 90.0, 100.0] {
            assert_eq!(at_once.percentile(p), once_each.percentile(p), "p{p}");
        }
        assert_eq!((at_once.min(), at_once.max()), (Some(0.0), Some(5.0)));
    }

    #[test]
    fn wire_round_trip_is_lossless_and_checked() {
        let mut dist = Dist::seconds();
        for i in 0..500 {
            dist.record(i as f64 * 1e-4 - 0.01);
        }
        let wire = dist.to_wire();
        let back =
            Dist::from_wire(&serde_json::from_str(&serde_json::to_string(&wire).unwrap()).unwrap())
                .unwrap();
        for p in [0.0, 5.0, 50.0, 99.0, 100.0] {
            assert_eq!(back.percentile(p), dist.percentile(p));
        }
        let empty = Dist::from_wire(&Dist::counts().to_wire()).unwrap();
        assert_eq!(empty.percentile(50.0), None);
        let forged = DistWire { count: 7, ..wire };
        assert!(matches!(
            Dist::from_wire(&forged),
            Err(WireError::CountMismatch { .. })
        ));
    }
}
