//! Timing of the latency model and the capacity queue, measured by a client on its own runtime
//! against the server on its own thread. Tests here run one at a time so they do not disturb
//! each other's timings.

use ibench_testkit as common;

use std::time::Duration;

use common::*;
use ibench_sim::{LatencyConfig, LoraConfig, SimConfig};
use serde_json::json;

fn run<F: Future>(test: F) -> F::Output {
    let _serial = timing_lock();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(test)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// TTFT 50 ms and ITL 10 ms for 20 tokens: first token at 50 ± 10 ms, end at 240 ± 30 ms.
/// Each of 5 runs is measured; their median is checked, so that one scheduling hiccup of a
/// loaded machine cannot fail the test while a systematic error still does.
#[test]
fn streamed_tokens_follow_ttft_and_itl() {
    run(async {
        let latency = LatencyConfig {
            ttft_ms: 50.0,
            itl_ms: 10.0,
            ..Default::default()
        };
        let sim = sim(SimConfig {
            latency,
            seed: Some(1),
            ..Default::default()
        })
        .await;
        let client = client();
        let url = format!("{}/v1/completions", sim.base_url());
        stream(&client, &url, &completion("warm up", 1, true), &[]).await;
        let (mut ttfts, mut totals) = (vec![], vec![]);
        for _ in 0..5 {
            let s = stream(&client, &url, &completion("a b c", 20, true), &[]).await;
            assert!(s.done);
            assert_eq!(s.token_times.len(), 20);
            ttfts.push(ms(s.ttft.unwrap()));
            totals.push(ms(s.total));
        }
        let (ttft, total) = (median(ttfts.clone()), median(totals.clone()));
        assert!(
            (ttft - 50.0).abs() <= 10.0,
            "median TTFT {ttft:.1} ms of {ttfts:?}"
        );
        assert!(
            (total - 240.0).abs() <= 30.0,
            "median total {total:.1} ms of {totals:?}"
        );

        // Non-streamed: the whole answer arrives at the last token's deadline.
        let mut whole = vec![];
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let r = client
                .post(&url)
                .json(&completion("a b c", 20, false))
                .send()
                .await
                .unwrap();
            r.bytes().await.unwrap();
            whole.push(ms(started.elapsed()));
        }
        let total = median(whole.clone());
        assert!(
            (total - 240.0).abs() <= 30.0,
            "median whole response {total:.1} ms of {whole:?}"
        );
    })
}

/// With max_num_seqs 2, a third concurrent request waits (num_requests_waiting 1) and gets its
/// first token one service time after the first two.
#[test]
fn a_third_request_waits_for_one_of_two_slots() {
    run(async {
        let latency = LatencyConfig {
            ttft_ms: 200.0,
            ..Default::default()
        };
        let sim = sim(SimConfig {
            latency,
            max_num_seqs: Some(2),
            seed: Some(1),
            ..Default::default()
        })
        .await;
        let client = client();
        let url = format!("{}/v1/completions", sim.base_url());
        let l = "model_name=\"ibench-sim\"";
        let spawn = |client: reqwest::Client| {
            let url = url.clone();
            tokio::spawn(async move {
                let sent = std::time::Instant::now();
                let s = stream(&client, &url, &completion("p", 1, true), &[]).await;
                sent + s.ttft.unwrap()
            })
        };
        let first = [spawn(client.clone()), spawn(client.clone())];
        let running = format!("vllm:num_requests_running{{{l}}}");
        assert!(
            wait_until(Duration::from_secs(2), async || parse_metrics(
                &sim.metrics_text()
            )[&running]
                == 2.0)
            .await
        );
        let third = spawn(client.clone());
        let mut seen = None;
        let waiting_seen = wait_until(Duration::from_millis(150), async || {
            let m = metrics(&client, &sim).await;
            seen = Some((
                m[&format!("vllm:num_requests_running{{{l}}}")],
                m[&format!("vllm:num_requests_waiting{{{l}}}")],
            ));
            seen == Some((2.0, 1.0))
        })
        .await;
        assert!(waiting_seen, "running/waiting last seen {seen:?}");
        let [a, b] = first;
        let earliest = a.await.unwrap().min(b.await.unwrap());
        let third_first_token = third.await.unwrap();
        let gap = ms(third_first_token - earliest);
        assert!(
            (gap - 200.0).abs() <= 30.0,
            "third request's first token came {gap:.1} ms after the first two's"
        );
        let m = metrics(&client, &sim).await;
        assert_eq!(m[&format!("vllm:num_requests_waiting{{{l}}}")], 0.0);
        assert_eq!(sim.stats().max_in_flight, 3);
    })
}

/// Adapter offsets and load cost add to the first token; max_loras 1 reloads on every switch.
#[test]
fn lora_offsets_and_loading() {
    run(async {
        let sim = sim(SimConfig {
            latency: LatencyConfig {
                ttft_ms: 10.0,
                lora_load_ms: 40.0,
                ..Default::default()
            },
            loras: vec![
                LoraConfig {
                    name: "a".into(),
                    ttft_offset_ms: 30.0,
                },
                LoraConfig {
                    name: "b".into(),
                    ttft_offset_ms: 0.0,
                },
            ],
            max_loras: Some(1),
            seed: Some(1),
            ..Default::default()
        })
        .await;
        let client = client();
        let url = format!("{}/v1/completions", sim.base_url());
        stream(&client, &url, &completion("warm up", 1, true), &[]).await;
        let mut got = vec![];
        for (model, expected) in [
            ("a", 80.0),
            ("a", 40.0),
            ("b", 50.0),
            ("a", 80.0),
            ("ibench-sim", 10.0),
        ] {
            let body = json!({"model": model, "prompt": "p", "max_tokens": 1, "stream": true});
            let ttft = ms(stream(&client, &url, &body, &[]).await.ttft.unwrap());
            got.push((model, expected, ttft));
        }
        let bad: Vec<_> = got
            .iter()
            .filter(|(_, expected, ttft)| (ttft - expected).abs() > 15.0)
            .collect();
        assert!(bad.is_empty(), "(model, expected ms, measured ms): {got:?}");
    })
}
