//! Statistics of a whole run: per stage, per adapter. This is also what a runner pod ships to the
//! operator, which merges the pods' runs into one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::bucket::{Bucket, RecordOptions};
use super::latencies::seconds_between;
use super::record::{Clock, Outcome, RequestRecord};
use super::session::SessionRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Completed,
    /// Interrupted before its plan was done; the rest is accounted as cancelled.
    Interrupted,
    /// A session stage cut off by its `timeout`; the rest is accounted as cancelled.
    TimedOut,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInfo {
    pub id: usize,
    pub requested_rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u64>,
    /// Requests planned in this stage (by this runner, or by all once merged).
    pub planned: u64,
    pub status: StageStatus,
    /// Unix times when the stage started and ended.
    pub start: f64,
    pub end: f64,
    /// A session stage's `timeout`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageMetrics {
    pub info: StageInfo,
    /// Requests sent to the base model.
    pub base: Bucket,
    /// Requests sent to each LoRA adapter.
    pub adapters: BTreeMap<String, Bucket>,
    /// Every successful request's completion, for stages that keep them (a sweep's probes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub completions: Vec<Completion>,
    /// A session stage's sessions, in the order they ended (per runner).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionRecord>,
}

/// When a successful request ended and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Unix time of the end.
    pub end: f64,
    /// Seconds from send to end.
    pub latency: f64,
}

impl StageMetrics {
    /// All of the stage's requests, whatever their adapter.
    pub fn total(&self) -> Bucket {
        let mut total = self.base.clone();
        self.adapters.values().for_each(|b| total.merge(b));
        total
    }

    fn merge(&mut self, other: &StageMetrics) {
        self.info.planned += other.info.planned;
        if other.info.status != StageStatus::Completed {
            self.info.status = other.info.status;
        }
        self.info.start = self.info.start.min(other.info.start);
        self.info.end = self.info.end.max(other.info.end);
        self.base.merge(&other.base);
        for (name, bucket) in &other.adapters {
            self.adapters.entry(name.clone()).or_default().merge(bucket);
        }
        self.completions.extend_from_slice(&other.completions);
        self.sessions.extend_from_slice(&other.sessions);
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunMetrics {
    pub stages: Vec<StageMetrics>,
    /// The circuit breaker that stopped the run; merged, the first to trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<BreakerTrip>,
    /// `load.warmup`'s requests, apart from the stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<StageMetrics>,
}

/// A circuit breaker's trip: which, where and when (the run stopped then).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerTrip {
    pub name: String,
    pub stage_id: usize,
    /// Unix time.
    pub time: f64,
    /// Under the operator: the runner whose requests tripped it (the others were stopped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<u32>,
}

impl RunMetrics {
    /// Adds another runner's view of the same plan (stages matched by id).
    pub fn merge(&mut self, other: &RunMetrics) {
        if let Some(trip) = &other.circuit_breaker
            && self
                .circuit_breaker
                .as_ref()
                .is_none_or(|mine| trip.time < mine.time)
        {
            self.circuit_breaker = Some(trip.clone());
        }
        match (&mut self.warmup, &other.warmup) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.warmup = Some(theirs.clone()),
            _ => {}
        }
        for stage in &other.stages {
            match self.stages.iter_mut().find(|s| s.info.id == stage.info.id) {
                Some(mine) => mine.merge(stage),
                None => self.stages.push(stage.clone()),
            }
        }
        self.stages.sort_by_key(|s| s.info.id);
    }

    pub fn push(&mut self, stage: StageMetrics) {
        self.merge(&RunMetrics {
            stages: vec![stage],
            ..Default::default()
        });
    }

    /// Every request of every stage.
    pub fn total(&self) -> Bucket {
        let mut total = Bucket::default();
        self.stages.iter().for_each(|s| total.merge(&s.total()));
        total
    }

    /// One adapter's requests across all stages.
    pub fn adapter_total(&self, name: &str) -> Bucket {
        let mut total = Bucket::default();
        self.stages
            .iter()
            .filter_map(|s| s.adapters.get(name))
            .for_each(|b| total.merge(b));
        total
    }

    pub fn adapter_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .stages
            .iter()
            .flat_map(|s| s.adapters.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// A worker's statistics for the stage it is running.
#[derive(Debug, Clone)]
pub struct StageRecorder {
    base: Bucket,
    adapters: Vec<Bucket>,
    clock: Clock,
    options: RecordOptions,
    completions: Option<Vec<Completion>>,
    sessions: Vec<SessionRecord>,
}

impl StageRecorder {
    pub fn new(adapter_count: usize, clock: Clock, options: RecordOptions) -> Self {
        StageRecorder {
            base: Bucket::default(),
            adapters: vec![Bucket::default(); adapter_count],
            clock,
            options,
            completions: None,
            sessions: Vec::new(),
        }
    }

    /// Keeps each success's [`Completion`] (bounded by the stage's requests).
    pub fn keep_completions(&mut self) {
        self.completions.get_or_insert_with(Vec::new);
    }

    pub fn record(&mut self, record: &RequestRecord) {
        if let (Some(completions), Some(start), Outcome::Success(_)) =
            (&mut self.completions, record.start, &record.outcome)
        {
            completions.push(Completion {
                end: self.clock.epoch(record.end),
                latency: seconds_between(start, record.end),
            });
        }
        let bucket = match record.adapter {
            Some(i) => &mut self.adapters[i],
            None => &mut self.base,
        };
        bucket.record(record, &self.clock, &self.options);
    }

    pub fn record_session(&mut self, session: SessionRecord) {
        self.sessions.push(session);
    }

    /// Counts `count` requests planned and never sent, without an adapter: the caller need not
    /// draw each one's adapter (see the engine's remaining-schedule accounting).
    pub fn not_sent(&mut self, count: u64) {
        self.base.cancelled.not_sent += count;
    }

    pub fn merge(&mut self, other: &StageRecorder) {
        if let (Some(mine), Some(theirs)) = (&mut self.completions, &other.completions) {
            mine.extend_from_slice(theirs);
        }
        self.base.merge(&other.base);
        for (mine, theirs) in self.adapters.iter_mut().zip(&other.adapters) {
            mine.merge(theirs);
        }
        self.sessions.extend_from_slice(&other.sessions);
    }

    /// Requests recorded so far (sent or not).
    pub fn accounted(&self) -> u64 {
        self.base.accounted() + self.adapters.iter().map(Bucket::accounted).sum::<u64>()
    }

    pub fn into_metrics(self, info: StageInfo, adapter_names: &[String]) -> StageMetrics {
        StageMetrics {
            info,
            base: self.base,
            adapters: adapter_names.iter().cloned().zip(self.adapters).collect(),
            completions: self.completions.unwrap_or_default(),
            sessions: self.sessions,
        }
    }
}
