//! `load.slo_search`: the highest rate whose stage meets every `report.slo` threshold.
//!
//! Probe stages at one rate each: first `max_rate` (done if it passes), then `min_rate` (done
//! if it fails), then the middle of the bracket between the highest passing and the lowest
//! failing rate, until the bracket is within `tolerance` of its passing end or `max_probes`
//! ran. Each probe is judged by the same verdict as `slo_verdict.json` (the stage's own
//! histograms), and is a stage of the reports, so the evidence is in the usual files.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use ibench_core::config::{LoadType, SloConfig, SloScope, SloSearchConfig};
use ibench_core::metrics::{RunMetrics, StageMetrics};
use ibench_core::plan::{StageKind, StagePlan, rate_load};
use ibench_core::report::{slo_met, slo_verdict};

use crate::coordinator::{Engine, LEAD_IN};
use crate::interrupt::Interrupt;

/// The report file (`.json` added when written).
pub const SLO_MAX_RATE_FILE: &str = "slo_max_rate";

#[derive(Debug, Clone, Serialize)]
pub struct SloSearch {
    /// The highest rate probed that met every objective; `null` when even `min_rate` missed.
    pub max_rate: Option<f64>,
    /// The lowest rate probed that missed one; `null` when `max_rate` met them all.
    pub lowest_failing_rate: Option<f64>,
    /// Why the search ended.
    pub stopped: &'static str,
    pub probes: Vec<Probe>,
}

/// One probe stage: `stage_{stage_id}` in the reports.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub stage_id: usize,
    pub rate: f64,
    pub passed: bool,
    /// The failed checks, as in `slo_verdict.json`.
    pub failed: Vec<String>,
}

/// Runs the probes; the search and the probe stages' metrics (every probe a stage).
pub async fn find_max_rate(
    engine: &Engine,
    load_type: LoadType,
    seed: u64,
    search: &SloSearchConfig,
    slo: &SloConfig,
    interrupt: &Interrupt,
) -> (SloSearch, RunMetrics) {
    let per_stage = SloConfig {
        scope: SloScope::Stages,
        ..slo.clone()
    };
    let mut run = RunMetrics::default();
    let mut probes: Vec<Probe> = Vec::new();
    let (mut passing, mut failing): (Option<f64>, Option<f64>) = (None, None);
    let stopped = loop {
        let rate = match (passing, failing) {
            (_, None) if probes.is_empty() => search.max_rate,
            (None, Some(_)) if probes.len() == 1 => search.min_rate,
            (Some(_), None) => break "max_rate met every objective",
            (None, Some(_)) => break "min_rate missed an objective",
            (Some(low), Some(high)) if (high - low) / low <= search.tolerance => {
                break "the bracket is within the tolerance";
            }
            (Some(low), Some(high)) => (low + high) / 2.0,
            (None, None) => unreachable!("every probe passes or fails"),
        };
        if probes.len() as i64 >= search.max_probes {
            break "max_probes ran";
        }
        let stage = Arc::new(StagePlan {
            id: probes.len(),
            kind: StageKind::Benchmark,
            load: rate_load(load_type, rate, search.stage_duration, seed, probes.len()),
        });
        tracing::info!(rate, probe = probes.len(), "slo search: probing");
        let metrics: StageMetrics = engine
            .run_stage(&stage, Instant::now() + LEAD_IN, interrupt)
            .await;
        let verdict = slo_verdict(
            &RunMetrics {
                stages: vec![metrics.clone()],
                ..Default::default()
            },
            &per_stage,
        );
        run.push(metrics);
        if interrupt.is_stopped() {
            break "interrupted";
        }
        let passed = slo_met(&verdict);
        if passed {
            passing = Some(passing.map_or(rate, |p: f64| p.max(rate)));
        } else {
            failing = Some(failing.map_or(rate, |f: f64| f.min(rate)));
        }
        probes.push(Probe {
            stage_id: stage.id,
            rate,
            passed,
            failed: verdict["failed"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect(),
        });
    };
    tracing::info!(max_rate = ?passing, stopped, probes = probes.len(), "slo search done");
    (
        SloSearch {
            max_rate: passing,
            lowest_failing_rate: failing,
            stopped,
            probes,
        },
        run,
    )
}
