//! Scrapes of the model servers kept over a run: each series once, and per scrape only numbers,
//! so an hour at one scrape a second stays in tens of megabytes.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::catalog::{MetricKind, MetricSpec};
use super::exposition::Sample;
use super::matchers::Matcher;

/// A series: its metric name and labels, `instance` included (which server it came from).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// One round of scrapes: every target asked at `time`.
#[derive(Debug, Clone, Default)]
pub struct Tick {
    /// Unix seconds.
    pub time: f64,
    /// Targets that answered with metrics, by index into [`SeriesStore::targets`].
    pub answered: Vec<usize>,
    pub values: Vec<(u32, f64)>,
}

#[derive(Debug, Clone, Default)]
pub struct SeriesStore {
    /// Instance names (`host:port`) of the scraped targets.
    pub targets: Vec<String>,
    series: Vec<(SeriesKey, usize)>,
    index: HashMap<SeriesKey, u32>,
    pub ticks: Vec<Tick>,
}

impl SeriesStore {
    pub fn new(targets: Vec<String>) -> SeriesStore {
        SeriesStore {
            targets,
            ..SeriesStore::default()
        }
    }

    /// Records one round; `answers[i]` is target i's samples, `None` when it could not be
    /// scraped or was not asked (its series keep their last value rather than read as reset).
    /// Only names in `keep` are stored.
    pub fn record(
        &mut self,
        time: f64,
        answers: Vec<Option<Vec<Sample>>>,
        keep: &dyn Fn(&str) -> bool,
    ) {
        let mut tick = Tick {
            time,
            ..Tick::default()
        };
        for (target, answer) in answers.into_iter().enumerate() {
            let Some(samples) = answer else { continue };
            tick.answered.push(target);
            for sample in samples.into_iter().filter(|s| keep(&s.name)) {
                let mut labels = sample.labels;
                labels
                    .entry("instance".into())
                    .or_insert_with(|| self.targets[target].clone());
                let key = SeriesKey {
                    name: sample.name,
                    labels,
                };
                let id = match self.index.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id = self.series.len() as u32;
                        self.series.push((key.clone(), target));
                        self.index.insert(key, id);
                        id
                    }
                };
                tick.values.push((id, sample.value));
            }
        }
        tick.values.sort_by_key(|(id, _)| *id);
        self.ticks.push(tick);
    }

    /// The index of the target with this instance name, added if new (pods found during the
    /// run join the store as they appear).
    pub fn target(&mut self, instance: &str) -> usize {
        match self.targets.iter().position(|t| t == instance) {
            Some(index) => index,
            None => {
                self.targets.push(instance.to_string());
                self.targets.len() - 1
            }
        }
    }

    /// Series named `name` whose labels pass every matcher, with the target each came from.
    pub fn select(&self, name: &str, matchers: &[Matcher]) -> Vec<(u32, &SeriesKey, usize)> {
        self.series
            .iter()
            .enumerate()
            .filter(|(_, (key, _))| {
                key.name == name && matchers.iter().all(|m| m.matches(&key.labels))
            })
            .map(|(id, (key, target))| (id as u32, key, *target))
            .collect()
    }

    /// A series' value at a tick: `Some(None)` when its target answered without it (not
    /// created yet, or reset away), `None` when its target did not answer.
    pub fn value_at(&self, tick: &Tick, id: u32, target: usize) -> Option<Option<f64>> {
        if !tick.answered.contains(&target) {
            return None;
        }
        let found = tick.values.binary_search_by_key(&id, |(i, _)| *i);
        Some(found.ok().map(|at| tick.values[at].1))
    }
}

/// The time series' report file (`.json` added when written).
pub const TIMESERIES_FILE: &str = "server_metrics_timeseries";

/// Keeps every other point of a time series report (the first always), doubling its
/// `thinned_to_every` (1 when absent): for the places where its size is bounded.
pub fn thin(report: &mut Value) {
    let every = report["thinned_to_every"].as_u64().unwrap_or(1) * 2;
    if let Some(points) = report.get_mut("points").and_then(Value::as_array_mut) {
        let kept: Vec<Value> = std::mem::take(points).into_iter().step_by(2).collect();
        *points = kept;
    }
    report["thinned_to_every"] = json!(every);
}

/// `server_metrics_timeseries.json`: per scrape, each figure's value summed over the fleet
/// (gauges as [`Fleet`](super::Fleet) says; counters and histogram counts as running totals),
/// with the stages' windows, so a plot can lay the server's queue under the client's latency.
pub fn timeseries_report(
    store: &SeriesStore,
    specs: &[MetricSpec],
    matchers: &[Matcher],
    stages: &[(usize, f64, f64)],
    errors: &[String],
) -> Value {
    let columns: Vec<(&MetricSpec, Vec<(u32, usize)>)> = specs
        .iter()
        .map(|spec| {
            let ids = spec
                .value_names()
                .iter()
                .flat_map(|n| store.select(n, matchers))
                .map(|(id, _, target)| (id, target))
                .collect();
            (spec, ids)
        })
        .filter(|(_, ids): &(_, Vec<_>)| !ids.is_empty())
        .collect();
    let points: Vec<Value> = store
        .ticks
        .iter()
        .map(|tick| {
            let mut row = Map::new();
            row.insert("time".into(), json!(tick.time));
            for (spec, ids) in &columns {
                let values: Vec<f64> = ids
                    .iter()
                    .filter_map(|(id, target)| store.value_at(tick, *id, *target).flatten())
                    .collect();
                if values.is_empty() {
                    continue;
                }
                let sum: f64 = values.iter().sum();
                let value = match (spec.kind, spec.fleet) {
                    (MetricKind::Gauge, super::Fleet::Mean) => sum / values.len() as f64,
                    _ => sum,
                };
                row.insert(spec.field.into(), json!(value));
            }
            Value::Object(row)
        })
        .collect();
    let fields: Map<String, Value> = columns
        .iter()
        .map(|(spec, _)| {
            let kind = match spec.kind {
                MetricKind::Counter => "counter",
                MetricKind::Gauge => "gauge",
                MetricKind::Histogram => "histogram_count",
            };
            (
                spec.field.to_string(),
                json!({"metric": spec.name, "kind": kind}),
            )
        })
        .collect();
    let mut report = json!({
        "targets": store.targets,
        "stages": stages.iter().map(|(id, start, end)| json!({"stage_id": id, "start_time": start, "end_time": end})).collect::<Vec<_>>(),
        "fields": fields,
        "points": points,
    });
    if !errors.is_empty() {
        report["errors"] = json!(errors);
    }
    report
}
