//! `load.sweep`: find the rate at which the server saturates, then run stages up to it.
//!
//! inference-perf estimates saturation from how fast its in-flight counter falls during a
//! burst, which is unreliable (its #300, #711). Here a burst gives a first estimate of the
//! completion rate (the `saturation_percentile` of its 0.5 s window rates) and the shortest
//! latency seen (≈ the service time); then closed-loop probes confirm it: by Little's law a
//! server whose capacity is C with service time S needs C·S requests in flight, so the first
//! probe keeps twice that in flight and each next probe doubles it, until the throughput stops
//! growing (a plateau: the server is saturated) or the client's concurrency cap is reached. The
//! saturation rate is the best throughput measured, and the report says how it was found.

mod rates;

use std::sync::Arc;
use std::time::Instant;

use crate::interrupt::Interrupt;
use serde::Serialize;

use crate::coordinator::{Engine, LEAD_IN};
use ibench_core::config::{LoadType, SweepConfig, SweepType};
use ibench_core::metrics::StageMetrics;
use ibench_core::plan::{StageKind, StageLoad, StagePlan, rate_load};

pub use rates::{percentile, stage_rates, steady_rate, window_rates};

/// inference-perf's burst: `num_requests` requests over 5 seconds.
const BURST_SECONDS: f64 = 5.0;
/// A probe whose throughput grows less than this over the previous one found the plateau.
const PLATEAU_GAIN: f64 = 1.10;
/// Most closed-loop probes (concurrency doubles each time: up to 32× the first level).
const MAX_PROBES: usize = 6;
/// A probe sends each lane this many requests, and lasts at least [`PROBE_SECONDS`] at the
/// estimated rate, so that its middle 80% is steady.
const PROBE_ROUNDS: u64 = 5;
const PROBE_SECONDS: f64 = 2.0;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(
        "load.sweep: the burst of {sent} requests at {rate} req/s completed only {completed} successfully (at least 10 are needed to measure a rate); check the failures, or raise load.sweep.timeout or num_requests"
    )]
    Burst {
        sent: u64,
        completed: usize,
        rate: f64,
    },
    #[error("load.sweep: interrupted while measuring saturation")]
    Interrupted,
}

/// How the saturation rate was found; printed, and written as `sweep_saturation.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Saturation {
    pub saturation_rate: f64,
    pub method: String,
    pub burst: Burst,
    pub probes: Vec<Probe>,
    #[serde(rename = "type")]
    pub sweep_type: SweepType,
    pub stage_rates: Vec<f64>,
    pub stage_duration: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Burst {
    pub requested_rate: f64,
    pub duration: f64,
    pub sent: u64,
    pub completed: usize,
    pub saturation_percentile: f64,
    /// The percentile of the completion rates of the burst's 0.5 s windows.
    pub completion_rate: f64,
    /// Shortest request latency: the service time without queueing.
    pub min_latency: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub concurrency: u64,
    pub sent: u64,
    pub completed: usize,
    /// Completions per second over the middle 80% of them; null when too few completed.
    pub throughput: Option<f64>,
}

/// Measures saturation with `engine` and returns it with the stages to run. `client_cap` is
/// the most requests the client keeps in flight.
pub async fn find_saturation(
    engine: &Engine,
    load_type: LoadType,
    seed: u64,
    sweep: &SweepConfig,
    client_cap: u64,
    interrupt: &Interrupt,
) -> Result<(Saturation, Vec<Arc<StagePlan>>), SweepError> {
    let probe = StageKind::SweepProbe {
        time_limit: sweep.timeout,
    };
    let burst_rate = sweep.num_requests as f64 / BURST_SECONDS;
    let burst_stage = Arc::new(StagePlan {
        id: 0,
        kind: probe,
        load: rate_load(load_type, burst_rate, BURST_SECONDS, seed, 0),
    });
    tracing::info!(
        rate = burst_rate,
        requests = burst_stage.total_requests(),
        "sweep: measuring saturation with a burst"
    );
    let measured = run(engine, &burst_stage, interrupt).await?;
    let sent = measured.total().sent;
    let ends: Vec<f64> = measured.completions.iter().map(|c| c.end).collect();
    let too_few = || SweepError::Burst {
        sent,
        completed: ends.len(),
        rate: burst_rate,
    };
    let completion_rate = percentile(&window_rates(&ends), sweep.saturation_percentile)
        .or_else(|| steady_rate(&ends))
        .ok_or_else(too_few)?;
    let min_latency = measured
        .completions
        .iter()
        .map(|c| c.latency)
        .reduce(f64::min)
        .ok_or_else(too_few)?;
    let burst = Burst {
        requested_rate: burst_rate,
        duration: BURST_SECONDS,
        sent,
        completed: ends.len(),
        saturation_percentile: sweep.saturation_percentile,
        completion_rate,
        min_latency,
    };
    tracing::info!(
        completion_rate,
        min_latency,
        "sweep: burst done, confirming with closed-loop probes"
    );

    let mut probes: Vec<Probe> = Vec::new();
    let mut level = ((2.0 * completion_rate * min_latency).ceil() as u64).clamp(1, client_cap);
    let mut stop_reason = "the probe limit was reached";
    for k in 0..MAX_PROBES {
        let num_requests =
            (level * PROBE_ROUNDS).max((completion_rate * PROBE_SECONDS).ceil() as u64);
        let stage = Arc::new(StagePlan {
            id: 1 + k,
            kind: probe,
            load: StageLoad::Concurrent {
                num_requests,
                level,
            },
        });
        let measured = run(engine, &stage, interrupt).await?;
        let ends: Vec<f64> = measured.completions.iter().map(|c| c.end).collect();
        let probe = Probe {
            concurrency: level,
            sent: measured.total().sent,
            completed: ends.len(),
            throughput: steady_rate(&ends),
        };
        tracing::info!(concurrency = level, throughput = ?probe.throughput, "sweep: probe done");
        let best_before = best(&probes);
        let gained = match (probe.throughput, best_before) {
            (Some(now), Some(before)) => now > before * PLATEAU_GAIN,
            (Some(_), None) => true,
            (None, _) => false,
        };
        probes.push(probe);
        if k > 0 && !gained {
            stop_reason = "throughput stopped growing with concurrency (the server is saturated)";
            break;
        }
        if level >= client_cap {
            stop_reason = "the client's concurrency cap (load.num_workers × worker_max_concurrency) was reached: the server may have more capacity";
            break;
        }
        level = (level * 2).min(client_cap);
    }
    let (saturation_rate, method) = match best(&probes) {
        Some(rate) => {
            let at = probes
                .iter()
                .find(|p| p.throughput == Some(rate))
                .map_or(0, |p| p.concurrency);
            (
                rate,
                format!(
                    "best closed-loop throughput ({rate:.2} req/s at concurrency {at}); probes stopped because {stop_reason}; burst estimate {completion_rate:.2} req/s"
                ),
            )
        }
        None => (
            completion_rate,
            format!(
                "burst estimate (p{} of 0.5 s completion-rate windows): no closed-loop probe completed enough requests",
                sweep.saturation_percentile
            ),
        ),
    };
    let rates = stage_rates(sweep.sweep_type, saturation_rate, sweep.num_stages as usize);
    let stages = rates
        .iter()
        .enumerate()
        .map(|(id, &rate)| {
            Arc::new(StagePlan {
                id,
                kind: StageKind::Benchmark,
                load: rate_load(load_type, rate, sweep.stage_duration as f64, seed, id),
            })
        })
        .collect();
    let saturation = Saturation {
        saturation_rate,
        method,
        burst,
        probes,
        sweep_type: sweep.sweep_type,
        stage_rates: rates,
        stage_duration: sweep.stage_duration,
    };
    Ok((saturation, stages))
}

fn best(probes: &[Probe]) -> Option<f64> {
    probes.iter().filter_map(|p| p.throughput).reduce(f64::max)
}

async fn run(
    engine: &Engine,
    stage: &Arc<StagePlan>,
    interrupt: &Interrupt,
) -> Result<StageMetrics, SweepError> {
    let metrics = engine
        .run_stage(stage, Instant::now() + LEAD_IN, interrupt)
        .await;
    if interrupt.is_stopped() {
        return Err(SweepError::Interrupted);
    }
    Ok(metrics)
}

impl Saturation {
    /// One line for people.
    pub fn summary(&self) -> String {
        let probes: Vec<String> = self
            .probes
            .iter()
            .map(|p| match p.throughput {
                Some(t) => format!("{} in flight → {t:.2}/s", p.concurrency),
                None => format!("{} in flight → too few completions", p.concurrency),
            })
            .collect();
        format!(
            "Sweep: saturation {:.2} req/s — burst of {} requests at {:.0} req/s completed {:.2}/s (p{} of 0.5 s windows, shortest latency {:.1} ms); closed-loop probes: {}. {}. Stage rates ({}, {} s each): {:?}",
            self.saturation_rate,
            self.burst.sent,
            self.burst.requested_rate,
            self.burst.completion_rate,
            self.burst.saturation_percentile,
            self.burst.min_latency * 1e3,
            probes.join(", "),
            self.method,
            serde_json::to_value(self.sweep_type)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            self.stage_duration,
            self.stage_rates,
        )
    }
}
