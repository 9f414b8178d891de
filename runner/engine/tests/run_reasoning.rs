//! A reasoning model's stream: thinking (`reasoning_content` deltas) before the answer. Time to
//! first token is the first token of any kind, as vLLM's own benchmark takes it; the answer's
//! first token is `time_to_first_output_token`; thinking tokens are output tokens, as the
//! server counts them. Real HTTP over loopback to `ibench sim` acting as a reasoning model.

use ibench_sim::{LatencyConfig, SimConfig};
use ibench_testkit as common;

const TTFT_MS: f64 = 30.0;
const ITL_MS: f64 = 10.0;
const THINKING: usize = 4;
const OUTPUT: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_counts_as_output_and_the_answer_has_its_own_first_token_time() {
    let sim = common::sim(SimConfig {
        reasoning_tokens: THINKING,
        latency: LatencyConfig {
            ttft_ms: TTFT_MS,
            itl_ms: ITL_MS,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        &format!(
            "api: {{type: chat, streaming: true}}\ndata:\n  type: random\n  input_distribution: {{min: 20, max: 20, mean: 20, std_dev: 0}}\n  output_distribution: {{min: {OUTPUT}, max: {OUTPUT}, mean: {OUTPUT}, std_dev: 0}}\nload: {{stages: [{{rate: 10, duration: 1}}]}}"
        ),
    );
    let outcome = common::run(config).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    let successes = &summary["successes"];
    assert_eq!(successes["count"], 10, "{summary}");
    // The server counts thinking in completion_tokens; so does the client.
    assert_eq!(
        successes["output_len"]["mean"], OUTPUT as f64,
        "{successes}"
    );
    assert_eq!(successes["token_count_mismatches"], 0, "{successes}");
    let median = |metric: &str| {
        successes["latency"][metric]["median"]
            .as_f64()
            .unwrap_or_else(|| panic!("{metric}: {successes}"))
            * 1000.0
    };
    let ttft = median("time_to_first_token");
    assert!(
        (TTFT_MS - 1.0..TTFT_MS + 10.0).contains(&ttft),
        "time to the first thinking token: {ttft} ms"
    );
    let answer = median("time_to_first_output_token");
    let expected = TTFT_MS + THINKING as f64 * ITL_MS;
    assert!(
        (expected - 1.0..expected + 10.0).contains(&answer),
        "time to the first answer token: {answer} ms, expected about {expected} ms"
    );
    let itl = median("inter_token_latency");
    assert!((ITL_MS - 1.0..ITL_MS + 5.0).contains(&itl), "{itl} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_thinking_both_first_token_times_agree() {
    let sim = common::sim_with_latency(TTFT_MS, ITL_MS).await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(
        &sim.base_url(),
        dir.path(),
        "api: {type: chat, streaming: true}\nload: {stages: [{rate: 10, duration: 1}]}",
    );
    let outcome = common::run(config).await;
    let latency = &common::report(&outcome, "summary_lifecycle_metrics")["successes"]["latency"];
    assert_eq!(
        latency["time_to_first_token"], latency["time_to_first_output_token"],
        "{latency}"
    );
}
