//! Mooncake trace replay end to end against the simulator (real HTTP over loopback): requests
//! leave at the trace's timestamps, prompts have exactly `input_length` tokens made of the
//! blocks their `hash_ids` name (the same id, the same text), `max_tokens` is
//! `output_length`, and every token is accounted for.

use ibench_testkit as common;

use std::collections::HashMap;
use std::io::Write;

use ibench_sim::SimConfig;
use serde_json::Value;

const BLOCK: usize = 16;

/// (timestamp ms, input_length, hash_ids); output_length is 1 + the line's index, which
/// identifies the line of each request.
const LINES: [(u64, usize, &[u64]); 10] = [
    (1000, 40, &[1, 2, 3]),
    (1012, 48, &[1, 2, 4]),
    (1037, 20, &[1, 5]),
    (1250, 16, &[6]),
    (1262, 33, &[1, 2, 7]),
    (1500, 7, &[]),
    (1500, 16, &[1]),
    (1750, 40, &[1, 2, 3]),
    (2123, 32, &[6, 8]),
    (2500, 5, &[9]),
];

fn mooncake_trace() -> tempfile::NamedTempFile {
    let mut trace = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    for (i, (timestamp, input, ids)) in LINES.iter().enumerate() {
        let line = serde_json::json!({
            "timestamp": timestamp, "input_length": input, "output_length": 1 + i, "hash_ids": ids,
        });
        writeln!(trace, "{line}").unwrap();
    }
    trace
}

fn config_yaml(trace: &str, api: &str) -> String {
    format!(
        "api: {api}\nload: {{type: trace_replay, stages: [{{rate: 4, duration: 2}}], trace: {{file: '{trace}', format: Mooncake, block_size: {BLOCK}}}, num_workers: 2, base_seed: 11, worker_realtime_priority: true}}\ndata: {{type: random, trace: {{file: '{trace}', format: Mooncake, block_size: {BLOCK}}}}}\nreport: {{request_lifecycle: {{per_request: true}}}}"
    )
}

/// The line a request body came from, by its `max_tokens`.
fn line_of(body: &Value) -> usize {
    body["max_tokens"].as_u64().unwrap() as usize - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mooncake_prompts_share_the_blocks_their_hash_ids_name_and_tokens_are_exact() {
    let sim = common::sim(SimConfig {
        record_requests: Some(100),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let trace = mooncake_trace();
    let yaml = config_yaml(&trace.path().display().to_string(), "{type: completion}");
    let outcome = common::run(common::config(&sim.base_url(), dir.path(), &yaml)).await;

    let mut prompts: HashMap<usize, Vec<String>> = HashMap::new();
    for request in sim.requests() {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let words = body["prompt"]
            .as_str()
            .unwrap()
            .split(' ')
            .map(String::from);
        let line = line_of(&body);
        assert!(
            prompts.insert(line, words.collect()).is_none(),
            "line {line} sent twice"
        );
    }
    assert_eq!(prompts.len(), LINES.len());
    for (i, (_, input, ids)) in LINES.iter().enumerate() {
        let words = &prompts[&i];
        assert_eq!(words.len(), *input, "line {i}");
        for (j, (_, other_input, other_ids)) in LINES.iter().enumerate() {
            let shared = ids
                .iter()
                .zip(*other_ids)
                .take_while(|(a, b)| a == b)
                .count();
            let other = &prompts[&j];
            // Tokens of the shared blocks, as far as both prompts reach.
            let common = (shared * BLOCK).min(*input).min(*other_input);
            assert_eq!(words[..common], other[..common], "lines {i} and {j}");
            // The first block they do not share differs (random words: 16 of them never
            // coincide).
            let end = ((shared + 1) * BLOCK).min(*input).min(*other_input);
            if shared < ids.len().min(other_ids.len()) && end > common + 1 {
                assert_ne!(words[common..end], other[common..end], "lines {i} and {j}");
            }
        }
    }

    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    let successes = &summary["successes"];
    assert_eq!(successes["count"], LINES.len());
    let inputs: usize = LINES.iter().map(|l| l.1).sum();
    let outputs: usize = (1..=LINES.len()).sum();
    let stats = sim.stats();
    assert_eq!(
        (
            stats.prompt_tokens as usize,
            stats.completion_tokens as usize
        ),
        (inputs, outputs)
    );
    assert_eq!(successes["prompt_tokens"]["total"], inputs, "{successes:#}");
    assert_eq!(
        successes["output_tokens"]["total"], outputs,
        "{successes:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mooncake_requests_leave_at_their_timestamps() {
    let _serial = common::timing_lock().await;
    let trace = mooncake_trace();
    let yaml = config_yaml(
        &trace.path().display().to_string(),
        "{type: chat, streaming: true}",
    );
    common::within_three_attempts(async || {
        let sim = common::sim(SimConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        common::run(common::config(&sim.base_url(), dir.path(), &yaml)).await;
        let entries = common::per_request(dir.path());
        assert_eq!(entries.len(), LINES.len());
        let times = |key: &str| -> Vec<(usize, f64)> {
            entries
                .iter()
                .map(|entry| {
                    let body = serde_json::from_str(entry["request"].as_str().unwrap()).unwrap();
                    (line_of(&body), entry[key].as_f64().unwrap())
                })
                .collect()
        };
        let first =
            |times: &[(usize, f64)]| times.iter().map(|t| t.1).fold(f64::INFINITY, f64::min);
        // The plan: exactly the trace's offsets (up to the float precision of Unix seconds).
        let planned = times("scheduled_time");
        let start = first(&planned);
        for &(line, at) in &planned {
            let offset = (LINES[line].0 - LINES[0].0) as f64 / 1000.0;
            assert!(
                (at - start - offset).abs() < 1e-5,
                "line {line}: planned at {}",
                at - start
            );
        }
        // The sends: within 2 ms of the plan (a VM's vCPU may be paused now and then: three
        // attempts).
        let late = planned
            .iter()
            .zip(times("start_time"))
            .map(|(&(line, planned), (_, sent))| (line, sent - planned))
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap();
        if late.1.abs() < 0.002 {
            Ok(())
        } else {
            Err(format!(
                "line {}: sent {:.2} ms off its timestamp",
                late.0,
                late.1 * 1e3
            ))
        }
    })
    .await;
}
