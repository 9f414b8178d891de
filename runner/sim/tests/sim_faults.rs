//! Fault rates set by configuration, over 2,000 requests: each within 3 standard deviations of
//! its expected count, and exactly what the server says it injected.

use ibench_testkit as common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ibench_sim::{Fault, FaultRates, SimConfig};
use serde_json::Value;
use tokio::sync::Semaphore;

const REQUESTS: usize = 2_000;
const RATE: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Outcome {
    Ok,
    Fault(Fault),
}

async fn one(client: reqwest::Client, url: String) -> Outcome {
    let r = match client
        .post(&url)
        .json(&completion("p q", 4, false))
        .send()
        .await
    {
        Ok(r) => r,
        // No response at all: the server held the request and dropped the connection.
        Err(_) => return Outcome::Fault(Fault::Hang),
    };
    match r.status().as_u16() {
        500 => return Outcome::Fault(Fault::Error500),
        429 => return Outcome::Fault(Fault::Error429),
        503 => return Outcome::Fault(Fault::Error503),
        200 => {}
        other => panic!("unexpected status {other}"),
    }
    let Ok(body) = r.bytes().await else {
        return Outcome::Fault(Fault::Cut);
    };
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => {
            assert_eq!(v["usage"]["completion_tokens"], 4);
            Outcome::Ok
        }
        Err(_) => Outcome::Fault(Fault::Malformed),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_fault_rates_hold_over_2000_requests() {
    let rates = FaultRates {
        error_500: RATE,
        error_429: RATE,
        error_503: RATE,
        hang: RATE,
        cut: RATE,
        malformed: RATE,
        // Completions force no tool call: nothing to fault.
        bad_tool_args: 0.0,
        after_ms: 0,
        every: 0,
    };
    let sim = sim(SimConfig {
        faults: rates,
        hang_timeout_ms: 50,
        seed: Some(11),
        ..Default::default()
    })
    .await;
    let client = common::reqwest_builder(&Default::default())
        .unwrap()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("{}/v1/completions", sim.base_url());
    let limit = Arc::new(Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..REQUESTS {
        let permit = limit.clone().acquire_owned().await.unwrap();
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let outcome = one(client, url).await;
            drop(permit);
            outcome
        });
    }
    let mut counts: HashMap<Outcome, u64> = HashMap::new();
    while let Some(outcome) = tasks.join_next().await {
        *counts.entry(outcome.unwrap()).or_default() += 1;
    }
    let stats = sim.stats();
    let expected = REQUESTS as f64 * RATE;
    let sigma = (REQUESTS as f64 * RATE * (1.0 - RATE)).sqrt();
    for fault in Fault::ALL.into_iter().filter(|f| *f != Fault::BadToolArgs) {
        let seen = counts.get(&Outcome::Fault(fault)).copied().unwrap_or(0);
        assert!(
            (seen as f64 - expected).abs() <= 3.0 * sigma,
            "{fault:?}: {seen} vs {expected} ± {:.1}",
            3.0 * sigma
        );
        assert_eq!(
            seen,
            stats.faults.get(fault),
            "{fault:?}: client and server disagree"
        );
    }
    assert_eq!(counts[&Outcome::Ok], stats.requests_completed);
    assert_eq!(stats.requests_received, REQUESTS as u64);
    assert_eq!(
        stats.faults.total() + stats.requests_completed,
        REQUESTS as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_start_after_the_delay_from_the_first_request() {
    let sim = sim(SimConfig {
        faults: FaultRates {
            error_500: 1.0,
            after_ms: 400,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let client = client();
    let url = format!("{}/v1/completions", sim.base_url());
    // The delay runs from the first request, not from the server's start.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(one(client.clone(), url.clone()).await, Outcome::Ok);
    assert_eq!(one(client.clone(), url.clone()).await, Outcome::Ok);
    tokio::time::sleep(Duration::from_millis(450)).await;
    for _ in 0..3 {
        assert_eq!(
            one(client.clone(), url.clone()).await,
            Outcome::Fault(Fault::Error500)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_can_hit_every_nth_request_only() {
    let sim = sim(SimConfig {
        faults: FaultRates {
            error_500: 1.0,
            every: 3,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let client = client();
    let url = format!("{}/v1/completions", sim.base_url());
    let mut outcomes = Vec::new();
    for _ in 0..7 {
        outcomes.push(one(client.clone(), url.clone()).await);
    }
    let failed: Vec<usize> = (0..7)
        .filter(|&i| outcomes[i] == Outcome::Fault(Fault::Error500))
        .collect();
    assert_eq!(failed, [0, 3, 6], "{outcomes:?}");
}
