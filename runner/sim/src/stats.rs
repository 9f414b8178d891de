//! Exact server-side counters for tests (beyond the Prometheus metrics) and the opt-in,
//! bounded log of raw requests.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::faults::Fault;

/// Snapshot of a server's counters, see [`super::SimServer::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Every POST to /v1/completions or /v1/chat/completions, valid or not.
    pub requests_received: u64,
    /// Those of `requests_received` that came over HTTP/2.
    pub requests_http2: u64,
    /// Valid requests per served model name (base model and adapters), faulted or not.
    pub requests_by_model: BTreeMap<String, u64>,
    /// Requests answered 400, 404, 413 or 429 (queue full): invalid or not admitted.
    pub requests_rejected: u64,
    /// Requests served to the end without a fault (the client may still have left early).
    pub requests_completed: u64,
    /// Prompt and completion tokens of the completed requests.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// API requests between arrival of their head and their last byte being handed to the
    /// connection (or their abandonment).
    pub in_flight: u64,
    /// Highest `in_flight` seen since start.
    pub max_in_flight: u64,
    pub faults: FaultCounts,
}

/// Injected faults by kind, whether drawn or forced by header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub error_500: u64,
    pub error_429: u64,
    pub error_503: u64,
    pub hang: u64,
    pub cut: u64,
    pub malformed: u64,
    pub bad_tool_args: u64,
}

impl FaultCounts {
    pub fn get(&self, fault: Fault) -> u64 {
        match fault {
            Fault::Error500 => self.error_500,
            Fault::Error429 => self.error_429,
            Fault::Error503 => self.error_503,
            Fault::Hang => self.hang,
            Fault::Cut => self.cut,
            Fault::Malformed => self.malformed,
            Fault::BadToolArgs => self.bad_tool_args,
        }
    }

    pub fn total(&self) -> u64 {
        Fault::ALL.into_iter().map(|f| self.get(f)).sum()
    }
}

/// One API request as it arrived (kept only with `record_requests`).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Arrival order, from 0; also what the seeded random choices of the request derive from.
    pub seq: u64,
    /// When its head arrived.
    pub arrived: Instant,
    /// `arrived` relative to the server's start.
    pub offset: Duration,
    pub path: &'static str,
    /// The `model` field, if the body parsed.
    pub model: Option<String>,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

#[derive(Debug)]
pub(crate) struct Stats {
    received: AtomicU64,
    received_http2: AtomicU64,
    /// Indexed like the served models.
    by_model: Box<[AtomicU64]>,
    rejected: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    faults: [AtomicU64; 7],
    log: Option<(usize, Mutex<Vec<RecordedRequest>>)>,
}

/// An API request in flight; counted out when dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Stats>);

impl Stats {
    pub fn new(models: usize, record_requests: Option<usize>) -> Arc<Stats> {
        Arc::new(Stats {
            received: AtomicU64::new(0),
            received_http2: AtomicU64::new(0),
            by_model: (0..models).map(|_| AtomicU64::new(0)).collect(),
            rejected: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            faults: Default::default(),
            log: record_requests.map(|max| (max, Mutex::new(Vec::with_capacity(max.min(1 << 16))))),
        })
    }

    pub fn arrive(self: &Arc<Self>, http2: bool) -> InFlight {
        self.received.fetch_add(1, Ordering::Relaxed);
        if http2 {
            self.received_http2.fetch_add(1, Ordering::Relaxed);
        }
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(self.clone())
    }

    pub fn valid(&self, model: usize) {
        self.by_model[model].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn fault(&self, fault: Fault) {
        self.faults[fault.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn recording(&self) -> bool {
        self.log.is_some()
    }

    pub fn record(&self, entry: RecordedRequest) {
        if let Some((max, log)) = &self.log {
            let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
            if log.len() < *max {
                log.push(entry);
            }
        }
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        let Some((_, log)) = &self.log else {
            return Vec::new();
        };
        let mut entries = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
        entries.sort_by_key(|e| e.seq);
        entries
    }

    /// Snapshot; the completion totals come from the metrics, the single source of truth.
    pub fn snapshot(
        &self,
        model_names: &[String],
        completed: u64,
        prompt_tokens: u64,
        completion_tokens: u64,
    ) -> SimStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let faults = |f: Fault| load(&self.faults[f.index()]);
        SimStats {
            requests_received: load(&self.received),
            requests_http2: load(&self.received_http2),
            requests_by_model: model_names
                .iter()
                .cloned()
                .zip(self.by_model.iter().map(load))
                .collect(),
            requests_rejected: load(&self.rejected),
            requests_completed: completed,
            prompt_tokens,
            completion_tokens,
            in_flight: load(&self.in_flight),
            max_in_flight: load(&self.max_in_flight),
            faults: FaultCounts {
                error_500: faults(Fault::Error500),
                error_429: faults(Fault::Error429),
                error_503: faults(Fault::Error503),
                hang: faults(Fault::Hang),
                cut: faults(Fault::Cut),
                malformed: faults(Fault::Malformed),
                bad_tool_args: faults(Fault::BadToolArgs),
            },
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
