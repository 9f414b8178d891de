//! The config rules of inference-perf's validation matrix that apply to the supported sections,
//! plus ours, checked through the entry point users hit (`load_file`; `ibench validate` in the
//! ibench crate's `commands` tests).

use std::io::Write;

use ibench_core::config::{self, ConfigError};

fn load(yaml: &str) -> Result<config::Config, ConfigError> {
    load_with(yaml, &[])
}

fn load_with(yaml: &str, overrides: &[&str]) -> Result<config::Config, ConfigError> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(yaml.as_bytes()).unwrap();
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    config::load_file(file.path(), &overrides)
}

/// Every issue as `path: message`.
fn issues(yaml: &str) -> Vec<String> {
    match load(yaml) {
        Ok(_) => vec![],
        Err(e) => e.issues().iter().map(ToString::to_string).collect(),
    }
}

fn assert_issue(yaml: &str, expected: &str) {
    let found = issues(yaml);
    assert!(
        found.iter().any(|i| i.contains(expected)),
        "expected an issue containing {expected:?}, got {found:?}"
    );
}

const SERVER: &str = "server:\n  type: vllm\n  base_url: http://127.0.0.1:8000\n";

fn with_server(rest: &str) -> String {
    format!("{SERVER}{rest}")
}

#[test]
fn inference_perf_style_configs_load_with_their_defaults() {
    let config = load(&with_server(
        "api:\n  type: chat\n  streaming: true\ndata:\n  type: random\n  input_distribution: {min: 10, max: 100, mean: 50, std_dev: 10}\n  output_distribution: {min: 10, max: 100, mean: 50, std_dev: 10}\nload:\n  type: poisson\n  stages:\n  - rate: 10\n    duration: 30\n  - rate: 20\n    duration: 30\nreport:\n  request_lifecycle:\n    summary: true\n    per_stage: true\n    per_request: false\n",
    ))
    .unwrap();
    assert_eq!(config.load.interval, 1.0);
    assert_eq!(config.load.worker_max_concurrency, 100);
    assert_eq!(config.load.worker_max_tcp_connections, 2500);
    assert!(config.server.unwrap().ignore_eos);
    assert!(config.report.request_lifecycle.per_adapter);
    assert_eq!(config.report.request_lifecycle.percentiles.len(), 11);
}

#[test]
fn unknown_keys_name_the_full_path_and_the_intended_key() {
    let found = issues(&with_server(
        "load:\n  stages:\n  - rat: 5\n    duration: 10\n",
    ));
    assert_eq!(
        found,
        vec!["load.stages[0].rat: unknown field, did you mean rate?"]
    );
}

#[test]
fn every_problem_is_listed_at_once() {
    let found = issues(
        "load:\n  type: concurrent\n  stages:\n  - rate: 5\n    num_requests: 0\n  lora_traffic_split:\n  - {name: a, split: 0.5}\n  - {name: b, split: 0.4}\n",
    );
    for expected in [
        "server: missing",
        "load.stages[0].rate: not allowed with load.type concurrent",
        "load.stages[0].num_requests: must be > 0",
        "load.stages[0].concurrency_level: required",
        "load.lora_traffic_split: splits must sum to 1.0, got 0.9",
    ] {
        assert!(
            found.iter().any(|f| f.starts_with(expected)),
            "missing {expected:?} in {found:?}"
        );
    }
}

#[test]
fn stage_rules_of_rate_based_and_concurrent_types() {
    assert_issue(
        &with_server("load:\n  stages: []\n"),
        "load.stages: at least one stage is required",
    );
    assert_issue(
        &with_server("load:\n  stages:\n  - rate: 0\n    duration: 10\n"),
        "load.stages[0].rate: must be > 0",
    );
    assert_issue(
        &with_server("load:\n  stages:\n  - rate: -1\n    duration: 10\n"),
        "load.stages[0].rate: must be > 0",
    );
    assert_issue(
        &with_server("load:\n  stages:\n  - rate: 1\n    duration: 0\n"),
        "load.stages[0].duration: must be > 0",
    );
    assert_issue(
        &with_server("load:\n  stages:\n  - duration: 5\n"),
        "load.stages[0].rate: required",
    );
    assert_issue(
        &with_server(
            "load:\n  type: poisson\n  stages:\n  - rate: 1\n    duration: 5\n    concurrency_level: 3\n",
        ),
        "load.stages[0].concurrency_level: only allowed with load.type concurrent",
    );
    assert_issue(
        &with_server(
            "load:\n  type: concurrent\n  stages:\n  - num_requests: 10\n    concurrency_level: 2\n    duration: 4\n",
        ),
        "load.stages[0].duration: not allowed with load.type concurrent",
    );
    assert_issue(
        &with_server(
            "load:\n  type: concurrent\n  stages:\n  - num_requests: 10\n    concurrency_level: 2\n  sweep: {type: linear}\n",
        ),
        "load.sweep: only with load.type constant or poisson, not concurrent",
    );
    assert_issue(
        &with_server("load:\n  type: trace_replay\n  stages:\n  - rate: 1\n    duration: 5\n"),
        "load.trace: required with load.type trace_replay",
    );
    let mooncake = |data_block: &str, load_block: &str| {
        with_server(&format!(
            "data:\n  type: random\n  trace: {{file: t.jsonl, format: Mooncake{data_block}}}\nload:\n  type: trace_replay\n  trace: {{file: t.jsonl, format: Mooncake{load_block}}}\n  stages:\n  - rate: 1\n    duration: 5\n"
        ))
    };
    assert_eq!(
        issues(&mooncake(", block_size: 64", ", block_size: 64")),
        Vec::<String>::new()
    );
    assert_issue(
        &mooncake(", block_size: 0", ""),
        "data.trace.block_size: must be between 1 and 1000000 (tokens per hash id), got 0",
    );
    assert_issue(
        &mooncake(", block_size: 64", ""),
        "load.trace.block_size: 512 but data.trace.block_size is 64 for the same file",
    );
    assert_issue(
        &with_server(
            "load:\n  type: trace_replay\n  trace: {file: t.csv, block_size: 64}\n  stages:\n  - rate: 1\n    duration: 5\n",
        ),
        "load.trace.block_size: only read with format Mooncake, not AzurePublicDataset; remove it",
    );
    assert_issue(
        &with_server("load:\n  stages:\n  - rate: 1\n    duration: 1.5\n"),
        "load.stages[0].duration: invalid type",
    );
    assert!(
        issues(&with_server(
            "load:\n  type: concurrent\n  stages:\n  - num_requests: 10\n    concurrency_level: 2\n"
        ))
        .is_empty()
    );
}

#[test]
fn lora_split_rules() {
    let split = |a: f64, b: f64| {
        with_server(&format!(
            "load:\n  stages:\n  - rate: 1\n    duration: 1\n  lora_traffic_split:\n  - name: x\n    split: {a}\n  - name: y\n    split: {b}\n"
        ))
    };
    assert_issue(&split(0.5, 0.4), "splits must sum to 1.0, got 0.9");
    assert_issue(&split(0.5, 0.6), "splits must sum to 1.0");
    assert!(issues(&split(0.3, 0.7)).is_empty());
    let three = with_server(
        "load:\n  stages:\n  - rate: 1\n    duration: 1\n  lora_traffic_split:\n  - {name: a, split: 0.1}\n  - {name: b, split: 0.2}\n  - {name: c, split: 0.7}\n",
    );
    assert!(
        issues(&three).is_empty(),
        "0.1 + 0.2 + 0.7 is 1.0 within 1e-9"
    );
    let duplicate = with_server(
        "load:\n  stages:\n  - rate: 1\n    duration: 1\n  lora_traffic_split:\n  - {name: a, split: 0.5}\n  - {name: a, split: 0.5}\n",
    );
    assert_issue(
        &duplicate,
        "load.lora_traffic_split[1].name: adapter \"a\" is listed twice",
    );
}

#[test]
fn data_and_distribution_rules() {
    let random = |input: &str| {
        with_server(&format!(
            "load:\n  stages:\n  - rate: 1\n    duration: 1\ndata:\n  type: random\n  input_distribution: {input}\n  output_distribution: {{min: 1, max: 10, mean: 5, std_dev: 1}}\n"
        ))
    };
    assert_issue(
        &random("{min: 20, max: 10, mean: 15}"),
        "data.input_distribution.min: must be <= max",
    );
    assert_issue(
        &random("{min: 1, max: 10, mean: 5, std_dev: -1}"),
        "data.input_distribution.std_dev: must be >= 0",
    );
    assert_issue(
        &random("{min: 1, max: 10, mean: 5, std_dev: 2, variance: 4}"),
        "set either variance or std_dev",
    );
    assert_issue(
        &random("{min: 1, max: 10, mean: 50}"),
        "data.input_distribution.mean: must lie within [min, max]",
    );
    assert_issue(
        &random("{min: 1, max: 10, mean: 5, type: skew_normal}"),
        "data.input_distribution.type: not supported for data.type random or synthetic",
    );
    assert!(
        issues(&random(
            "{min: 1, max: 10, mean: 5, std_dev: 0, variance: 4}"
        ))
        .is_empty()
    );
    assert!(
        issues(&random("{min: 1, max: 10, mean: 50, type: uniform}")).is_empty(),
        "mean is free for uniform"
    );
    assert_issue(
        &with_server("load:\n  stages:\n  - rate: 1\n    duration: 1\ndata:\n  type: random\n"),
        "data.input_distribution: required by data.type random",
    );
    assert_issue(
        &with_server(
            "load:\n  stages:\n  - rate: 1\n    duration: 1\ndata:\n  type: mock\n  input_distribution: {min: 1, max: 2, mean: 1}\n",
        ),
        "data.input_distribution: not used by data.type mock",
    );
}

#[test]
fn server_and_unsupported_sections() {
    let stages = "load:\n  stages:\n  - rate: 1\n    duration: 1\n";
    assert_issue(stages, "server: missing");
    assert_issue(
        &format!("server:\n  base_url: localhost:8000\n{stages}"),
        "server.base_url",
    );
    assert_issue(
        &format!("server:\n  base_url: http://127.0.0.1:8000/v1\n{stages}"),
        "server.base_url: must not end in /v1",
    );
    assert_issue(
        &with_server(&format!("{stages}data:\n  type: visionarena\n")),
        "data.path: required by data.type visionarena",
    );
    assert_issue(
        &with_server(&format!("{stages}data:\n  type: visionarena\n")),
        "data.visionarena: required by data.type visionarena",
    );
    let anthropic = load(&with_server(&format!(
        "{stages}api:\n  type: anthropic_messages\n"
    )))
    .unwrap();
    assert_eq!(anthropic.api.api_type, config::ApiType::AnthropicMessages);
    assert_issue(
        &with_server("load:\n  type: poison\n  stages:\n  - rate: 1\n    duration: 1\n"),
        "did you mean poisson?",
    );
}

#[test]
fn metrics_section_rules() {
    let stages = "load:\n  stages:\n  - rate: 1\n    duration: 1\n";
    let with = |metrics: &str| with_server(&format!("{stages}metrics:\n{metrics}"));
    // inference-perf's shape loads unchanged, with its defaults.
    let config = load(&with(
        "  type: prometheus\n  prometheus:\n    url: http://prometheus:9090\n    filters: ['namespace=\"llm\"']\n",
    ))
    .unwrap();
    let prometheus = config.metrics.unwrap().prometheus.unwrap();
    assert_eq!(prometheus.scrape_interval, 15);
    assert!(config.report.prometheus.summary && !config.report.prometheus.per_stage);
    assert!(issues(&with("  type: scrape\n")).is_empty());
    assert_issue(
        &with(
            "  type: prometheus\n  prometheus:\n    url: http://p:9090\n    google_managed: true\n",
        ),
        "metrics.prometheus: set exactly one of url (a Prometheus server) or google_managed: true",
    );
    assert_issue(
        &with("  type: prometheus\n  prometheus:\n    scrape_interval: 5\n"),
        "metrics.prometheus: set exactly one of url",
    );
    assert_issue(
        &with("  type: prometheus\n"),
        "metrics.prometheus: required with metrics.type prometheus",
    );
    assert_issue(
        &with(
            "  type: prometheus\n  prometheus:\n    url: prometheus:9090\n    scrape_interval: 0\n",
        ),
        "metrics.prometheus.url",
    );
    assert_issue(
        &with(
            "  type: prometheus\n  prometheus:\n    url: http://p:9090\n    scrape_interval: 0\n",
        ),
        "metrics.prometheus.scrape_interval: must be >= 1",
    );
    assert_issue(
        &with("  type: scrape\n  scrape:\n    interval: 0\n    filters: [namespace]\n"),
        "metrics.scrape.interval: must be > 0",
    );
    assert_issue(
        &with("  type: scrape\n  scrape:\n    filters: [namespace]\n"),
        "metrics.scrape.filters[0]: \"namespace\": expected label=\"value\"",
    );
    assert_issue(
        &with("  type: scrape\n  prometheus:\n    url: http://p:9090\n"),
        "metrics.prometheus: only read with metrics.type prometheus",
    );
    assert_issue(&with("  type: graphite\n"), "metrics.type");
}

#[test]
fn scrape_pods_rules() {
    let with = |pods: &str| {
        with_server(&format!(
            "load:\n  stages:\n  - rate: 1\n    duration: 1\nmetrics:\n  type: scrape\n  scrape:\n{pods}"
        ))
    };
    // The operator's runners read the config as a document; the rules are the same.
    let document_issues = |yaml: &str| -> Vec<String> {
        match config::from_document(serde_yaml::from_str(yaml).unwrap()) {
            Ok(_) => vec![],
            Err(e) => e.issues().iter().map(ToString::to_string).collect(),
        }
    };
    let valid = with("    pods: {service: vllm, port: 8000}\n");
    assert!(document_issues(&valid).is_empty());
    let config = config::from_document(
        serde_yaml::from_str(&with(
            "    pods: {selector: {app: vllm}, port: 8000, path: /stats}\n",
        ))
        .unwrap(),
    )
    .unwrap();
    let pods = config.metrics.unwrap().scrape.unwrap().pods.unwrap();
    assert_eq!(pods.url("10.0.0.7"), "http://10.0.0.7:8000/stats");
    assert_eq!(pods.url("fd00::7"), "http://[fd00::7]:8000/stats");
    // From the command line there is no Kubernetes API to find pods with.
    assert_issue(
        &valid,
        "metrics.scrape.pods: only under the operator (an InferenceBenchmark's spec.metrics); from the command line list the endpoints in metrics.scrape.urls",
    );
    for (pods, expected) in [
        (
            "    pods: {service: vllm, selector: {app: vllm}, port: 8000}\n",
            "metrics.scrape.pods: set exactly one of service (a Service's pods) or selector (pod labels)",
        ),
        (
            "    pods: {port: 8000}\n",
            "metrics.scrape.pods: set exactly one of service",
        ),
        (
            "    pods: {service: vllm, port: 0}\n",
            "metrics.scrape.pods.port: must be the pods' metrics port, 1 to 65535",
        ),
        (
            "    pods: {service: vllm, port: 8000, path: metrics}\n",
            "metrics.scrape.pods.path: must start with '/' (e.g. /metrics), got \"metrics\"",
        ),
        (
            "    urls: [http://127.0.0.1:8000/metrics]\n    pods: {service: vllm, port: 8000}\n",
            "metrics.scrape.pods: set either urls (fixed endpoints) or pods",
        ),
        ("    pods: {service: vllm}\n", "metrics.scrape.pods"),
    ] {
        let found = document_issues(&with(pods));
        assert!(
            found.iter().any(|i| i.contains(expected)),
            "{pods}: expected {expected:?}, got {found:?}"
        );
    }
}

#[test]
fn slo_rules() {
    let with = |slo: &str| {
        with_server(&format!(
            "load:\n  stages:\n  - rate: 1\n    duration: 1\nreport:\n  slo:\n{slo}"
        ))
    };
    let config = load(&with(
        "    thresholds:\n    - {metric: time_to_first_token, stat: p99.9, max: 0.5}\n    - {metric: schedule_delay, stat: median, max: 0.001}\n",
    ))
    .unwrap();
    let slo = config.report.slo.unwrap();
    assert_eq!(slo.scope, config::SloScope::StagesAndRun);
    assert_eq!(
        config::SloStat::parse(slo.thresholds[0].stat.as_deref().unwrap()),
        Some(config::SloStat::Percentile(99.9))
    );
    assert_issue(
        &with("    thresholds: []\n"),
        "report.slo.thresholds: list at least one threshold",
    );
    assert_issue(
        &with("    thresholds:\n    - {metric: failure_ratio, min: 0.5, max: 0.1}\n"),
        "report.slo.thresholds[0]: min 0.5 is above max 0.1: no value can meet it",
    );
    assert_issue(
        &with("    thresholds:\n    - {metric: requests_per_sec, min: -1}\n"),
        "report.slo.thresholds[0].min: must be a finite number >= 0",
    );
    assert_issue(
        &with("    thresholds:\n    - {metric: ttft, stat: p99, max: 1}\n"),
        "report.slo.thresholds[0].metric",
    );
    assert_issue(
        &with("    scope: everywhere\n    thresholds:\n    - {metric: failure_ratio, max: 0}\n"),
        "report.slo.scope",
    );
}

#[test]
fn sweep_rules() {
    let valid = with_server(
        "load:\n  type: poisson\n  sweep: {type: geometric, num_requests: 500, num_stages: 4, stage_duration: 30}\n",
    );
    let config = load(&valid).unwrap();
    let sweep = config.load.sweep.unwrap();
    assert_eq!((sweep.timeout, sweep.saturation_percentile), (60.0, 95.0));
    assert_issue(
        &with_server("load:\n  sweep: {num_stages: 3}\n"),
        "load.sweep: missing field `type`",
    );
    let found = issues(&with_server(
        "load:\n  sweep: {type: linear, num_requests: 0, num_stages: 0, stage_duration: -1, timeout: 0, saturation_percentile: 120}\n  stages:\n  - rate: 1\n    duration: 1\n",
    ));
    for expected in [
        "load.sweep.num_requests: must be > 0",
        "load.sweep.num_stages: must be > 0",
        "load.sweep.stage_duration: must be > 0",
        "load.sweep.timeout: must be > 0 seconds",
        "load.sweep.saturation_percentile: must be within (0, 100]",
        "load.stages: a sweep generates the stages; remove load.stages or load.sweep",
    ] {
        assert!(
            found.iter().any(|f| f.contains(expected)),
            "{expected}: {found:?}"
        );
    }
    assert_issue(
        &with_server(
            "load:\n  type: trace_replay\n  trace: {file: t.csv}\n  sweep: {type: linear}\n",
        ),
        "load.sweep: only with load.type constant or poisson, not trace_replay",
    );
}

#[test]
fn data_generator_rules() {
    let stages = "load:\n  stages:\n  - rate: 1\n    duration: 1\n";
    let config = load(&with_server(&format!(
        "{stages}data:\n  type: shared_prefix\n  shared_prefix:\n    num_unique_system_prompts: 4\n    num_users_per_system_prompt: 2\n    system_prompt_len: 64\n    question_len: {{type: skew_normal, mean: 20, std_dev: 5, min: 1, max: 50, skew: 2}}\n    enable_multi_turn_chat: true\n"
    )))
    .unwrap();
    let shared = config.data.shared_prefix.unwrap();
    assert_eq!((shared.num_groups, shared.num_prompts_per_group), (4, 2));
    assert_eq!(shared.system_prompt_len, Some(config::fixed_length(64)));
    assert!(
        load(&with_server(&format!(
            "{stages}data:\n  type: synthetic\n  corpus_file_path: corpus.txt\n  input_distribution: {{mean: 100, min: 10, max: 200}}\n  output_distribution: {{mean: 10, min: 1, max: 20}}\n"
        )))
        .is_ok()
    );
    for (data, expected) in [
        (
            "type: shared_prefix",
            "data.shared_prefix: required by data.type shared_prefix",
        ),
        (
            "type: shareGPT",
            "data.path: required by data.type shareGPT: a ShareGPT JSON file",
        ),
        (
            "type: infinity_instruct",
            "data.path: required by data.type infinity_instruct: rows with conversations",
        ),
        (
            "type: billsum_conversations\n  corpus_file_path: c.txt\n  path: b.json",
            "data.corpus_file_path: not used by data.type billsum_conversations",
        ),
        (
            "type: synthetic",
            "data.input_distribution: required by data.type synthetic",
        ),
        (
            "type: random\n  corpus_file_path: c.txt\n  input_distribution: {mean: 5}\n  output_distribution: {mean: 5}",
            "data.corpus_file_path: not used by data.type random",
        ),
        (
            "type: shared_prefix\n  shared_prefix: {question_len: 5, question_distribution: {mean: 5}}",
            "data.shared_prefix.question_distribution: set either question_len or question_distribution",
        ),
        (
            "type: shared_prefix\n  shared_prefix: {num_groups: 0}",
            "data.shared_prefix.num_groups: must be > 0",
        ),
        (
            "type: shared_prefix\n  shared_prefix: {system_prompt_len: {mean: 5, maxx: 3}}",
            "maxx",
        ),
        (
            "type: random\n  input_distribution: {type: poisson, mean: 5}\n  output_distribution: {mean: 5}",
            "data.input_distribution.type: not supported for data.type random or synthetic",
        ),
    ] {
        assert_issue(
            &with_server(&format!("{stages}data:\n  {data}\n")),
            expected,
        );
    }
}

#[test]
fn multimodal_keys_load_and_bad_values_name_the_field_and_the_fix() {
    let stages = "load:\n  stages: [{rate: 1, duration: 1}]\n";
    let image = "multimodal:\n    image:\n      count: {type: uniform, min: 1, max: 3}\n      resolutions: [{resolution: 720p, weight: 2}, {resolution: {height: 64, width: 32}}]\n      insertion_point: 0.5\n      representation: jpeg\n";
    let config = load(&with_server(&format!(
        "{stages}api:\n  type: chat\ndata:\n  type: synthetic\n  {image}"
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    let image_config = config.data.multimodal.unwrap().image.unwrap();
    // Video and audio in every form inference-perf reads them.
    let media = "multimodal:\n    video: {count: {type: fixed, mean: 1, min: 1, max: 1}, representation: jpeg_frames, profiles: {resolution: 360p, frames: 4}}\n    audio: {count: {type: fixed, mean: 2, min: 2, max: 2}, durations: 2.5, insertion_point: 1}\n    image: {representation: webp}\n";
    let multimodal = load(&with_server(&format!(
        "{stages}api:\n  type: chat\ndata:\n  type: synthetic\n  {media}"
    )))
    .unwrap_or_else(|e| panic!("{e}"))
    .data
    .multimodal
    .unwrap();
    let video = multimodal.video.unwrap();
    assert_eq!(
        video.representation,
        config::VideoRepresentation::JpegFrames
    );
    let profile = video.profiles.unwrap()[0].profile;
    assert_eq!((profile.resolution.width, profile.frames), (640, 4));
    let audio = multimodal.audio.unwrap();
    assert_eq!(audio.durations.unwrap()[0].duration, 2.5);
    assert_eq!(audio.insertion_point, Some(1.0));
    assert_eq!(
        multimodal.image.unwrap().representation,
        config::ImageRepresentation::Webp
    );
    // inference-perf's default representation, mp4, up to the encoder's largest frame.
    let mp4 = "multimodal:\n    video: {count: {type: fixed, mean: 1, min: 1, max: 1}, profiles: [{profile: {resolution: 4k, frames: 2}}, {profile: {resolution: {height: 3840, width: 2160}, frames: 1}}]}\n";
    let video = load(&with_server(&format!(
        "{stages}api:\n  type: chat\ndata:\n  type: synthetic\n  output_distribution: {{mean: 5}}\n  {mp4}"
    )))
    .unwrap_or_else(|e| panic!("{e}"))
    .data
    .multimodal
    .unwrap()
    .video
    .unwrap();
    assert_eq!(video.representation, config::VideoRepresentation::Mp4);
    // inference-perf requires output_distribution beside data.multimodal (and does not use it).
    load(&with_server(&format!(
        "{stages}api:\n  type: chat\ndata:\n  type: synthetic\n  input_distribution: {{min: 5, max: 5, mean: 5}}\n  output_distribution: {{min: 5, max: 5, mean: 5}}\n  {image}"
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(image_config.resolutions.unwrap()[0].resolution.height, 720);
    assert_eq!(
        image_config.representation,
        config::ImageRepresentation::Jpeg
    );
    for (api, data, expected) in [
        (
            "completion",
            format!("type: synthetic\n  {image}"),
            "api.type: data.multimodal sends media as chat content parts",
        ),
        (
            "chat",
            format!("type: random\n  input_distribution: {{mean: 5}}\n  output_distribution: {{mean: 5}}\n  {image}"),
            "data.multimodal: used by data.type synthetic and shared_prefix only",
        ),
        (
            "chat",
            format!("type: synthetic\n  corpus_file_path: sonnets.txt\n  {image}"),
            "data.corpus_file_path: not used by data.type synthetic; with data.multimodal, prompts are random text",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {image: {resolutions: [{resolution: {height: 0, width: 20000}}]}}".to_string(),
            "data.multimodal.image.resolutions[0].resolution.width: must be 1 to 16384 pixels, got 20000",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {image: {resolutions: [{resolution: 360p, weight: 0}]}}".to_string(),
            "data.multimodal.image.resolutions: every weight is 0",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {image: {insertion_point: 1.5}}".to_string(),
            "data.multimodal.image.insertion_point: must be within [0, 1]",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {image: {count: {type: fixed, mean: 1, min: -1, max: 1}}}".to_string(),
            "data.multimodal.image.count.min: must be >= 0",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {video: {count: {mean: 1}, profiles: {resolution: {height: 4000, width: 2000}, frames: 2}}}".to_string(),
            "data.multimodal.video.profiles[0].profile.resolution: 2000×4000 is not what the H.264 encoder takes: sides of 16 to 3840 pixels, the shorter at most 2160; use another resolution, or representation: png_frames or jpeg_frames",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {video: {profiles: {resolution: {height: 8, width: 64}, frames: 2}}}".to_string(),
            "data.multimodal.video.profiles[0].profile.resolution: 64×8 is not what the H.264 encoder takes: sides of 16 to 3840",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {video: {representation: png_frames, profiles: [{profile: {resolution: 360p, frames: 0}}]}}".to_string(),
            "data.multimodal.video.profiles[0].profile.frames: must be 1 to 4096, got 0",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {video: {representation: jpeg_frames, profiles: []}}".to_string(),
            "data.multimodal.video.profiles: lists nothing; give at least one or remove it for 512×512, 10 frames",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {video: {representation: png_frames, profiles: {resolution: {height: 0, width: 8}, frames: 2}}}".to_string(),
            "data.multimodal.video.profiles[0].profile.resolution.height: must be 1 to 16384 pixels, got 0",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {audio: {durations: [{duration: -1}]}}".to_string(),
            "data.multimodal.audio.durations[0].duration: must be more than 0 and at most 3600 seconds, got -1",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {audio: {durations: [{duration: 1, weight: -2}]}}".to_string(),
            "data.multimodal.audio.durations[0].weight: must be a finite number >= 0, got -2",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {audio: {insertion_point: -0.5}}".to_string(),
            "data.multimodal.audio.insertion_point: must be within [0, 1]",
        ),
        (
            "completion",
            "type: shared_prefix\n  shared_prefix: {multimodal: {image: {count: {mean: 1}}}}".to_string(),
            "api.type: data.shared_prefix.multimodal sends media as chat content parts",
        ),
        (
            "chat",
            "type: shared_prefix\n  shared_prefix: {enable_multi_turn_chat: true, multimodal: {audio: {count: {mean: 1}}}}".to_string(),
            "data.shared_prefix.enable_multi_turn_chat: multi-turn conversations are text only",
        ),
        (
            "chat",
            "type: shared_prefix\n  shared_prefix: {multimodal: {video: {count: {mean: 1}, profiles: {resolution: {height: 2162, width: 2162}, frames: 1}}}}".to_string(),
            "data.shared_prefix.multimodal.video.profiles[0].profile.resolution: 2162×2162 is not what the H.264 encoder takes",
        ),
        (
            "chat",
            "type: synthetic\n  multimodal: {audio: {durations: ten}}".to_string(),
            "data.multimodal.audio.durations: invalid type: string \"ten\", expected a duration in seconds or a list of {duration, weight}",
        ),
        (
            "completion",
            "type: visionarena\n  path: va.parquet\n  visionarena: {}".to_string(),
            "api.type: data.type visionarena sends media as chat content parts",
        ),
        (
            "chat",
            "type: visionarena\n  path: va.parquet\n  visionarena: {num_rows: 0, max_images_per_request: 0, insertion_point: 2}".to_string(),
            "data.visionarena.num_rows: must be > 0, got 0",
        ),
        (
            "chat",
            "type: visionarena\n  path: va.parquet\n  visionarena: {max_images_per_request: 0}".to_string(),
            "data.visionarena.max_images_per_request: must be > 0, got 0",
        ),
        (
            "chat",
            "type: visionarena\n  path: va.parquet\n  visionarena: {insertion_point: 2}".to_string(),
            "data.visionarena.insertion_point: must be within [0, 1]",
        ),
        (
            "chat",
            "type: visionarena\n  path: va.parquet\n  visionarena: {}\n  input_distribution: {mean: 5}".to_string(),
            "data.input_distribution: not used by data.type visionarena",
        ),
        (
            "chat",
            "type: visionarena\n  path: va.parquet\n  visionarena: {hf_dataset_name: lmarena-ai/VisionArena-Chat}".to_string(),
            "data.visionarena.hf_dataset_name: reading from the Hugging Face hub (give the dataset file as data.path) is not supported yet",
        ),
    ] {
        assert_issue(
            &with_server(&format!("{stages}api:\n  type: {api}\ndata:\n  {data}")),
            expected,
        );
    }
}

#[test]
fn conversation_replay_keys_load_and_bad_values_name_the_field_and_the_fix() {
    let stages =
        "load:\n  type: concurrent\n  stages: [{num_requests: 10, concurrency_level: 2}]\n";
    let config = load(&with_server(&format!(
        "{stages}data:\n  type: conversation_replay\n  conversation_replay:\n    seed: 7\n    num_conversations: 3\n    turns_per_conversation: {{type: uniform, min: 2, max: 4}}\n    tool_call_latency_sec: {{type: fixed, mean: 1, min: 0, max: 1}}\n    max_model_len: 4096\n"
    )))
    .unwrap();
    let replay = config.data.conversation_replay.unwrap();
    assert_eq!(
        (replay.seed, replay.num_conversations, replay.max_model_len),
        (7, 3, Some(4096))
    );
    // inference-perf's defaults.
    assert_eq!(replay.shared_system_prompt_len, 8359);
    assert!(replay.input_tokens_per_turn.is_none());
    let replay_data = |keys: &str| {
        with_server(&format!(
            "{stages}data:\n  type: conversation_replay\n  conversation_replay: {{{keys}}}\n"
        ))
    };
    for (keys, expected) in [
        (
            "num_conversations: 0",
            "data.conversation_replay.num_conversations: must be > 0",
        ),
        (
            "shared_system_prompt_len: -1",
            "data.conversation_replay.shared_system_prompt_len: must be >= 0 tokens",
        ),
        (
            "turns_per_conversation: {type: uniform, min: 0, max: 3}",
            "data.conversation_replay.turns_per_conversation.min: must be >= 1",
        ),
        (
            "turns_per_conversation: {type: fixed, mean: 0}",
            "data.conversation_replay.turns_per_conversation.mean: must be >= 1",
        ),
        (
            "tool_call_latency_sec: {type: uniform, min: -1, max: 3}",
            "data.conversation_replay.tool_call_latency_sec.min: must be >= 0",
        ),
        (
            "output_tokens_per_turn: {type: uniform, min: 10, max: 900}, max_model_len: 1000",
            "data.conversation_replay.output_tokens_per_turn.max: output_tokens_per_turn.max (900) leaves no room for a prompt within max_model_len (1000) after reserving the 200 token safety buffer; lower it below 800 or raise max_model_len",
        ),
        (
            "max_model_len: 300",
            "data.conversation_replay.max_model_len: output_tokens_per_turn (default) (256) leaves no room",
        ),
        (
            "max_model_len: 0",
            "data.conversation_replay.max_model_len: must be > 0 tokens, got 0; remove it for the default 225000",
        ),
        (
            "num_conversations: 2000000",
            "data.conversation_replay.num_conversations: 2000000 is beyond the limit of 1000000 conversations",
        ),
        (
            "turns: 3",
            "data.conversation_replay.turns: unknown field, did you mean",
        ),
    ] {
        assert_issue(&replay_data(keys), expected);
    }
    assert_issue(
        &with_server(&format!("{stages}data:\n  type: conversation_replay\n")),
        "data.conversation_replay: required by data.type conversation_replay",
    );
    assert_issue(
        &with_server(&format!(
            "{stages}api: {{type: chat}}\ndata:\n  type: conversation_replay\n  conversation_replay: {{}}\n"
        )),
        "api.type: data.type conversation_replay sends completions only (as inference-perf); set api.type: completion",
    );
    assert_issue(
        &with_server(&format!(
            "{stages}data:\n  type: random\n  input_distribution: {{mean: 5}}\n  output_distribution: {{mean: 5}}\n  conversation_replay: {{}}\n"
        )),
        "data.conversation_replay: not used by data.type random",
    );
    assert_issue(
        &with_server(
            "load:\n  sweep: {type: linear}\ndata:\n  type: conversation_replay\n  conversation_replay: {}\n",
        ),
        "load.sweep: not available with data.type conversation_replay",
    );
}

#[test]
fn inference_perf_storage_sections_load_and_resolve() {
    let config = load(&with_server(
        "load:\n  stages:\n  - rate: 1\n    duration: 1\nstorage:\n  google_cloud_storage:\n    bucket_name: reports\n    path: runs/{timestamp}\n    report_file_prefix: a-\n  simple_storage_service:\n    bucket_name: reports\n    endpoint_url: http://127.0.0.1:9000\n    region_name: us-east-1\n    addressing_style: path\n",
    ))
    .unwrap();
    let s3 = config.storage.simple_storage_service.as_ref().unwrap();
    assert_eq!(s3.addressing_style, Some(config::AddressingStyle::Path));
    assert!(config.storage.has_object_storage());
    for (section, expected) in [
        (
            "storage:\n  simple_storage_service:\n    bucket_name: a/b\n",
            "storage.simple_storage_service.bucket_name: must be a bucket name",
        ),
        (
            "storage:\n  simple_storage_service:\n    bucket_name: b\n    endpoint_url: minio:9000\n",
            "storage.simple_storage_service.endpoint_url",
        ),
        (
            "storage:\n  google_cloud_storage:\n    path: x\n",
            "bucket_name",
        ),
        (
            "storage:\n  simple_storage_service:\n    bucket_name: b\n    addressing_style: sideways\n",
            "addressing_style",
        ),
    ] {
        assert_issue(
            &with_server(&format!(
                "load:\n  stages:\n  - rate: 1\n    duration: 1\n{section}"
            )),
            expected,
        );
    }
}

#[test]
fn input_files_may_be_object_urls_with_digests() {
    let trace = "load:\n  type: trace_replay\n  trace:\n    file: s3://traces/day1.csv\n  stages:\n  - rate: 1\n    duration: 1\n";
    let digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let config = load(&with_server(&format!(
        "{trace}inputs:\n  max_bytes: 1000\n  sha256:\n    s3://traces/day1.csv: {digest}\n"
    )))
    .unwrap();
    assert_eq!(
        config::input_files(&config),
        [("load.trace.file", "s3://traces/day1.csv".to_string())]
    );
    for (yaml, expected) in [
        (
            trace.replace("s3://traces/day1.csv", "s3://traces"),
            "load.trace.file: s3://traces: must name a bucket and an object",
        ),
        (
            trace.replace("s3://traces/day1.csv", "ftp://h/day1.csv"),
            "unsupported URL scheme ftp://",
        ),
        (
            format!("{trace}inputs:\n  sha256:\n    s3://traces/day2.csv: {digest}\n"),
            "the config names no such file",
        ),
        (
            format!("{trace}inputs:\n  sha256:\n    s3://traces/day1.csv: ABC\n"),
            "64 lowercase hex digits",
        ),
        (
            format!("{trace}inputs:\n  max_bytes: 0\n  timeout: -1\n"),
            "inputs.max_bytes: must be > 0",
        ),
        (
            format!("{trace}inputs:\n  timeout: -1\n"),
            "inputs.timeout: must be > 0 seconds",
        ),
        (
            format!("{trace}inputs:\n  s3:\n    endpoint_url: nope\n"),
            "inputs.s3.endpoint_url",
        ),
    ] {
        assert_issue(&with_server(&yaml), expected);
    }
}

#[test]
fn goodput_and_tokenizer_rules() {
    let stages = "load:\n  stages:\n  - rate: 1\n    duration: 1\n";
    let config = load(&with_server(&format!(
        "{stages}api: {{streaming: true}}\nreport:\n  goodput:\n    constraints: {{ttft: 0.5, tpot: 0.05, request_latency: 10}}\n"
    )))
    .unwrap();
    let constraints = config.report.goodput.unwrap().constraints;
    assert_eq!(
        constraints.set(),
        [("ttft", 0.5), ("tpot", 0.05), ("request_latency", 10.0)]
    );
    for (yaml, expected) in [
        (
            "report:\n  goodput:\n    constraints: {ttf: 0.5}\n",
            "report.goodput.constraints.ttf: unknown field, did you mean ttft?",
        ),
        (
            "report:\n  goodput:\n    constraints: {ttft: 0.5}\n",
            "report.goodput.constraints.ttft: needs streamed responses to measure; set api.streaming: true",
        ),
        (
            "api: {streaming: true}\nreport:\n  goodput:\n    constraints: {ntpot: -1}\n",
            "report.goodput.constraints.ntpot: must be > 0 seconds",
        ),
        (
            "tokenizer: {pretrained_model_name_or_path: ''}\n",
            "tokenizer.pretrained_model_name_or_path: must not be empty",
        ),
        (
            "tokenizer: {pretrained_model_name_or_path: /models/llama, token: hf_x}\n",
            "tokenizer.token: not used",
        ),
    ] {
        assert_issue(&with_server(&format!("{stages}{yaml}")), expected);
    }
    assert!(
        load(&with_server(&format!(
            "{stages}tokenizer: {{pretrained_model_name_or_path: /models/llama/tokenizer.json}}\n"
        )))
        .is_ok(),
        "a path is checked when the run loads it, not by validation (the operator validates without the file)"
    );
}

#[test]
fn overrides_are_validated_like_the_file() {
    let base = with_server("load:\n  stages:\n  - rate: 1\n    duration: 1\n");
    let config = load_with(&base, &["load.stages[0].rate=25", "api.streaming=true"]).unwrap();
    assert_eq!(config.load.stages[0].rate, Some(25.0));
    assert!(config.api.streaming);
    let err = load_with(&base, &["load.stages[0].rat=25"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("load.stages[0].rat: unknown field, did you mean rate?"),
        "{err}"
    );
}

#[test]
fn response_size_cap_is_positive_with_a_default() {
    assert_issue(
        &with_server("api: {max_response_bytes: 0}\nload: {stages: [{rate: 1, duration: 1}]}\n"),
        "api.max_response_bytes: must be > 0",
    );
    let config = load(&with_server(
        "api: {max_response_bytes: 1024}\nload: {stages: [{rate: 1, duration: 1}]}\n",
    ))
    .unwrap();
    assert_eq!(config.api.max_response_bytes(), 1024);
    let config = load(&with_server("load: {stages: [{rate: 1, duration: 1}]}\n")).unwrap();
    assert_eq!(
        config.api.max_response_bytes(),
        config::DEFAULT_MAX_RESPONSE_BYTES
    );
}

#[test]
fn a_negative_base_seed_resolves_to_itself() {
    let config = load(&with_server(
        "load: {base_seed: -1, stages: [{rate: 1, duration: 1}]}\n",
    ))
    .unwrap();
    let resolved = config::ResolvedConfig::resolve(config, chrono::Local::now());
    assert_eq!(resolved.base_seed(), -1);
    assert_eq!(resolved.seed, u64::MAX, "the plan uses the seed's bits");
}

#[test]
fn retries_and_per_request_fields_name_the_bad_key() {
    let stages = "load:\n  stages: [{rate: 1, duration: 1}]\n";
    assert_issue(
        &with_server(&format!("{stages}  request_retries: -1\n")),
        "load.request_retries: must be >= 0, got -1",
    );
    assert_issue(
        &with_server(&format!("{stages}  request_retry_backoff_sec: -0.5\n")),
        "load.request_retry_backoff_sec: must be >= 0",
    );
    assert_issue(
        &with_server(&format!(
            "{stages}report:\n  request_lifecycle:\n    per_request_fields: {{request: false, chunks: true}}\n"
        )),
        "report.request_lifecycle.per_request_fields.chunks",
    );
    let config = load(&with_server(&format!(
        "{stages}  request_retries: 2\n  request_retry_backoff_sec: 0\nreport:\n  request_lifecycle:\n    per_request_fields: {{computed_metrics: true}}\n"
    )))
    .unwrap();
    assert_eq!(config.load.request_retries, 2);
    let fields = config.report.request_lifecycle.per_request_fields;
    assert!(fields.computed_metrics && fields.request && fields.response_chunks);
}

#[test]
fn inference_perf_tokenizer_chat_template_and_session_report_keys() {
    let stages = "load:\n  stages: [{rate: 1, duration: 1}]\n";
    assert_issue(
        &with_server(&format!("{stages}tokenizer:\n  load_timeout: 0\n")),
        "tokenizer.load_timeout: must be a number of seconds > 0, got 0",
    );
    assert_issue(
        &with_server(&format!(
            "{stages}data:\n  type: synthetic\n  use_chat_template: true\n"
        )),
        "data.use_chat_template: only supported by the 'random' data generator and would be ignored by type 'synthetic'. Unset it or set data.type to 'random'",
    );
    assert_issue(
        &with_server(&format!(
            "{stages}data:\n  type: random\n  use_chat_template: true\n"
        )),
        "data.use_chat_template: needs the tokenizer whose chat template wraps each prompt",
    );
    assert_issue(
        &with_server(&format!(
            "{stages}api:\n  type: chat\ndata:\n  type: random\n  use_chat_template: true\ntokenizer:\n  pretrained_model_name_or_path: /models/x\n"
        )),
        "data.use_chat_template: needs api.type completion",
    );
    // As inference-perf's tooling writes them: every key, defaults included.
    let config = load(&with_server(&format!(
        "{stages}data:\n  use_chat_template: false\ntokenizer:\n  load_timeout: 12.5\nreport:\n  session_lifecycle: {{summary: true, per_stage: false, per_session: true}}\n"
    )))
    .unwrap();
    assert!(!config.data.use_chat_template);
    assert_eq!(config.tokenizer.unwrap().load_timeout, 12.5);
    let sessions = config.report.session_lifecycle;
    assert!(sessions.summary && !sessions.per_stage && sessions.per_session);
}

#[test]
fn trace_session_replay_stage_and_data_rules() {
    let data = "api: {type: chat}\ndata:\n  type: otel_trace_replay\n  otel_trace_replay:\n    trace_directory: traces\n";
    let session = |stage: &str| {
        with_server(&format!(
            "{data}load:\n  type: trace_session_replay\n  stages:\n  - {stage}\n"
        ))
    };
    let ok = load(&session(
        "concurrent_sessions: 5\n    session_rate: 2\n    num_sessions: 10\n    timeout: 30",
    ))
    .unwrap();
    let stage = &ok.load.stages[0];
    assert_eq!(
        (
            stage.concurrent_sessions,
            stage.session_rate,
            stage.num_sessions,
            stage.timeout
        ),
        (Some(5), Some(2.0), Some(10), Some(30.0))
    );
    assert_eq!(ok.data.otel_trace_replay.unwrap().max_wait_ms, 15000);
    assert!(
        load(&session("concurrent_sessions: 0")).is_ok(),
        "0 = all at once"
    );
    assert_issue(
        &session("session_rate: 1"),
        "load.stages[0].concurrent_sessions: required with load.type trace_session_replay",
    );
    assert_issue(
        &session("concurrent_sessions: 2\n    session_rate: 3"),
        "load.stages[0].session_rate: 3 cannot exceed concurrent_sessions (2)",
    );
    assert_issue(
        &session("concurrent_sessions: -1"),
        "load.stages[0].concurrent_sessions: must be >= 0",
    );
    assert_issue(
        &session("concurrent_sessions: 1\n    num_sessions: 0"),
        "load.stages[0].num_sessions: must be > 0",
    );
    assert_issue(
        &session("concurrent_sessions: 1\n    timeout: 0"),
        "load.stages[0].timeout: must be > 0 seconds",
    );
    assert_issue(
        &session("concurrent_sessions: 1\n    rate: 1"),
        "load.stages[0].rate: not allowed with load.type trace_session_replay",
    );
    assert_issue(
        &with_server(
            "load:\n  stages:\n  - rate: 1\n    duration: 1\n    concurrent_sessions: 3\n",
        ),
        "load.stages[0].concurrent_sessions: only allowed with load.type trace_session_replay",
    );
    // The data type and the load type go together, both ways.
    assert_issue(
        &with_server(&format!(
            "{data}load:\n  stages:\n  - rate: 1\n    duration: 1\n"
        )),
        "load.type: data.type otel_trace_replay requires load.type trace_session_replay, not constant",
    );
    assert_issue(
        &with_server(
            "load:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 1\n",
        ),
        "load.type: trace_session_replay replays sessions; it needs data.type otel_trace_replay, weka_trace_replay or synthetic_agentic, not mock",
    );
    let sources = |otel: &str| {
        with_server(&format!(
            "api: {{type: chat}}\ndata:\n  type: otel_trace_replay\n  otel_trace_replay:\n{otel}load:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 1\n"
        ))
    };
    assert_issue(
        &sources("    include_errors: false\n"),
        "set trace_directory",
    );
    assert_issue(
        &sources("    trace_directory: a\n    trace_files: [b.json]\n"),
        "data.otel_trace_replay.trace_files: choose one source",
    );
    assert_issue(
        &sources("    trace_files: ['*.json']\n"),
        "data.otel_trace_replay.trace_files: *.json is a pattern",
    );
    assert_issue(
        &sources("    trace_directory: a\n    max_wait_ms: -1\n"),
        "data.otel_trace_replay.max_wait_ms: must be >= 0",
    );
    assert_issue(
        &sources("    trace_directory: a\n    filter: \"lambda x: len(x['spans']) > 5 for\"\n"),
        "data.otel_trace_replay.filter: not Python: ",
    );
    assert_issue(
        &sources("    trace_directory: a\n    hf_dataset_path: org/set\n"),
        "data.otel_trace_replay.hf_dataset_path: traces from a Hugging Face dataset is not supported yet",
    );
    assert_issue(
        &with_server(
            "api: {type: completion}\ndata:\n  type: otel_trace_replay\n  otel_trace_replay:\n    trace_directory: a\nload:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 1\n",
        ),
        "api.type: data.type otel_trace_replay sends each call's recorded messages, which the completions API cannot carry: set api.type to chat (or anthropic_messages), as inference-perf requires",
    );
    assert_issue(
        &with_server(
            "data:\n  otel_trace_replay:\n    trace_directory: a\nload:\n  stages:\n  - rate: 1\n    duration: 1\n",
        ),
        "data.otel_trace_replay: not used by data.type mock",
    );
}

#[test]
fn weka_trace_replay_keys_are_inference_perfs_and_checked() {
    let weka = |keys: &str| {
        with_server(&format!(
            "data:\n  type: weka_trace_replay\n  weka_trace_replay:\n{keys}load:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 1\n"
        ))
    };
    let ok = load(&weka(
        "    trace_directory: traces\n    datagen_workers: 4\n    include_errors: false\n",
    ))
    .unwrap();
    let config = ok.data.weka_trace_replay.unwrap();
    assert_eq!(
        (
            config.trace_idle_gap_cap_seconds,
            config.default_block_size,
            config.max_wait_ms
        ),
        (60.0, 64, 15000),
        "inference-perf's defaults"
    );
    assert_issue(&weka("    default_block_size: 64\n"), "set trace_directory");
    assert_issue(
        &weka("    trace_directory: a\n    trace_files: [b.json]\n"),
        "data.weka_trace_replay.trace_files: choose one source",
    );
    assert_issue(
        &weka("    trace_directory: a\n    default_block_size: 0\n"),
        "data.weka_trace_replay.default_block_size: must be > 0",
    );
    assert_issue(
        &weka("    trace_directory: a\n    datagen_workers: 0\n"),
        "data.weka_trace_replay.datagen_workers: must be > 0",
    );
    assert!(
        load(&weka(
            "    trace_directory: a\n    filter: \"lambda x: x['num_turns'] > 2\"\n"
        ))
        .is_ok()
    );
    assert_issue(
        &weka("    trace_directory: a\n    filter: \"lambda x: x['num_turns'] >\"\n"),
        "data.weka_trace_replay.filter: not Python: ",
    );
    assert_issue(
        &weka("    trace_directory: a\n    filter: \"x['num_turns'] > 2\"\n"),
        "data.weka_trace_replay.filter: must be a lambda of one argument",
    );
    assert_issue(
        &weka("    trace_directory: a\n    filter: \"lambda x: x['id'].split('-')\"\n"),
        "data.weka_trace_replay.filter: the method .split() is not supported in filters here",
    );
    assert_issue(
        &weka("    trace_directory: a\n    ignore_trace_delays: true\n"),
        "data.weka_trace_replay.ignore_trace_delays: inference-perf 0.7.0 accepts it but never applies it",
    );
    assert_issue(
        &with_server(
            "data:\n  type: weka_trace_replay\n  weka_trace_replay:\n    trace_directory: a\nload:\n  stages:\n  - rate: 1\n    duration: 1\n",
        ),
        "load.type: data.type weka_trace_replay requires load.type trace_session_replay, not constant",
    );
}

#[test]
fn session_model_and_predecessor_wait_keys_follow_inference_perfs_rules() {
    let lengths = "    num_sessions: 3\n    input_tokens_per_turn: {type: fixed, mean: 200}\n    output_tokens_per_turn: {type: fixed, mean: 100}\n";
    for (data_type, source) in [
        ("otel_trace_replay", "    trace_directory: a\n"),
        ("weka_trace_replay", "    trace_files: [a.json]\n"),
        ("synthetic_agentic", lengths),
    ] {
        let doc = |keys: &str| {
            with_server(&format!(
                "api: {{type: chat}}\ndata:\n  type: {data_type}\n  {data_type}:\n{source}{keys}load:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 1\n"
            ))
        };
        let section = format!("data.{data_type}");
        let config = load(&doc("")).unwrap();
        let data = &config.data;
        let keys = match data_type {
            "otel_trace_replay" => data.otel_trace_replay.as_ref().unwrap().replay_keys(),
            "weka_trace_replay" => data.weka_trace_replay.as_ref().unwrap().replay_keys(),
            _ => data.synthetic_agentic.as_ref().unwrap().replay_keys(),
        };
        assert_eq!(
            (
                keys.use_static_model,
                keys.static_model_name,
                keys.model_mapping,
                keys.predecessor_wait_timeout_sec
            ),
            (false, "", None, 3600.0),
            "{data_type}: inference-perf's defaults"
        );
        load(&doc(
            "    use_static_model: true\n    static_model_name: m\n    model_mapping: {gpt-4: llama}\n    predecessor_wait_timeout_sec: 0\n",
        ))
        .unwrap();
        // A static name beside a mapping is accepted (and unused), as inference-perf has it.
        load(&doc(
            "    static_model_name: m\n    model_mapping: {a: b}\n",
        ))
        .unwrap();
        for (keys, issue) in [
            (
                "    use_static_model: true\n",
                "static_model_name: is required when use_static_model is true",
            ),
            (
                "    use_static_model: true\n    static_model_name: ''\n",
                "static_model_name: is required when use_static_model is true",
            ),
            (
                "    static_model_name: m\n",
                "static_model_name: is set but use_static_model is false",
            ),
            (
                "    static_model_name: m\n    model_mapping: {}\n",
                "static_model_name: is set but use_static_model is false",
            ),
            (
                "    model_mapping: {a: ''}\n",
                "model_mapping.a: maps to an empty model name",
            ),
            (
                "    predecessor_wait_timeout_sec: -1\n",
                "predecessor_wait_timeout_sec: must be >= 0 seconds",
            ),
        ] {
            assert_issue(&doc(keys), &format!("{section}.{issue}"));
        }
    }
}

#[test]
fn otel_replay_message_keys_are_inference_perfs_and_checked() {
    let doc = |keys: &str| {
        with_server(&format!(
            "api: {{type: chat}}\ndata:\n  type: otel_trace_replay\n  otel_trace_replay:\n    trace_directory: a\n{keys}load:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 1\n"
        ))
    };
    let defaults = load(&doc("")).unwrap().data.otel_trace_replay.unwrap();
    assert_eq!(
        (
            defaults.tool_choice_mode,
            defaults.disable_output_substitution,
            defaults.inject_random_session_id,
            defaults.attribute_to_header_map,
        ),
        (
            ibench_core::config::ToolChoiceMode::ForceRecorded,
            false,
            false,
            None
        ),
        "inference-perf's defaults"
    );
    let set = load(&doc(
        "    tool_choice_mode: as_recorded\n    disable_output_substitution: true\n    attribute_to_header_map: {tenant.id: x-tenant}\n",
    ))
    .unwrap()
    .data
    .otel_trace_replay
    .unwrap();
    assert_eq!(
        set.tool_choice_mode,
        ibench_core::config::ToolChoiceMode::AsRecorded
    );
    for (keys, issue) in [
        (
            "    disable_output_substitution: true\n    inject_random_session_id: true\n",
            "disable_output_substitution: cannot be combined with inject_random_session_id",
        ),
        (
            "    disable_output_substitution: true\n    duplicate_sessions_target: 4\n",
            "disable_output_substitution: cannot be combined with duplicate_sessions_target",
        ),
        (
            "    attribute_to_header_map: {tenant.id: 'x tenant'}\n",
            "attribute_to_header_map.tenant.id: \"x tenant\" is not an HTTP header name",
        ),
    ] {
        assert_issue(&doc(keys), &format!("data.otel_trace_replay.{issue}"));
    }
}

#[test]
fn synthetic_agentic_keys_are_inference_perfs_and_checked() {
    let synthetic = |keys: &str| {
        with_server(&format!(
            "data:\n  type: synthetic_agentic\n  synthetic_agentic:\n{keys}load:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 1\n"
        ))
    };
    let lengths = "    input_tokens_per_turn: {type: fixed, mean: 200}\n    output_tokens_per_turn: {type: fixed, mean: 100}\n";
    let with = |keys: &str| synthetic(&format!("    num_sessions: 3\n{lengths}{keys}"));
    let ok = load(&with(
        "    theme_mix: {generic: 2, research_rag: {weight: 1}}\n",
    ))
    .unwrap();
    let config = ok.data.synthetic_agentic.unwrap();
    assert_eq!(
        (
            config.turns_per_session.mean,
            config.fanout_probability,
            config.seed,
            config.shared_system_prompt_len,
            config.max_depth,
            config.max_events_per_session,
            config.max_wait_ms,
            config.override_tool_call_max_tokens,
        ),
        (1.0, 0.0, 42, 1000, 2, 64, 15000, false),
        "inference-perf's defaults"
    );
    assert_eq!(config.theme_mix["generic"].weight, 2.0, "a bare weight");
    assert_eq!(
        config.theme_mix["research_rag"].weight, 1.0,
        "a weight block"
    );
    assert_eq!(
        load(&with(""))
            .unwrap()
            .data
            .synthetic_agentic
            .unwrap()
            .theme_mix
            .len(),
        4
    );

    assert_issue(
        &synthetic(lengths),
        "data.synthetic_agentic.num_sessions: required",
    );
    assert_issue(
        &synthetic("    num_sessions: 3\n    output_tokens_per_turn: {type: fixed, mean: 100}\n"),
        "data.synthetic_agentic.input_tokens_per_turn: required",
    );
    assert_issue(
        &with("    num_sessions: 0\n").replace("    num_sessions: 3\n", ""),
        "data.synthetic_agentic.num_sessions: must be > 0",
    );
    assert_issue(
        &with("    fanout_probability: 1.5\n"),
        "data.synthetic_agentic.fanout_probability: must be within [0, 1]",
    );
    assert_issue(
        &with("    max_events_per_session: 0\n"),
        "data.synthetic_agentic.max_events_per_session: must be >= 1",
    );
    assert_issue(
        &with("    theme_mix: {sre: 1}\n"),
        "data.synthetic_agentic.theme_mix.sre: unknown theme; the themes are generic, code_change_task",
    );
    assert_issue(
        &with("    theme_mix: {generic: -1}\n"),
        "data.synthetic_agentic.theme_mix.generic: theme_mix weights must all be >= 0",
    );
    assert_issue(
        &with("    theme_mix: {generic: 0}\n"),
        "data.synthetic_agentic.theme_mix: theme_mix weights must sum to a positive value",
    );
    assert_issue(
        &with("    theme_mix: {}\n"),
        "data.synthetic_agentic.theme_mix: theme_mix must be non-empty",
    );
    assert_issue(
        &with("    tool_loop_depth: {type: uniform, min: 3, max: 1}\n"),
        "data.synthetic_agentic.tool_loop_depth.min: must be <= max",
    );
    assert_issue(
        &with("    context_compaction: {trigger_tokens: {type: fixed, mean: 100}}\n"),
        "target_tokens",
    );
    for (key, why) in [
        (
            "inject_random_session_id: true",
            "inject_random_session_id: is pinned to false",
        ),
        (
            "duplicate_sessions_target: 10",
            "duplicate_sessions_target: is pinned to unset",
        ),
        (
            "skip_invalid_files: true",
            "skip_invalid_files: is pinned to false",
        ),
        ("include_errors: false", "include_errors: is pinned to true"),
        (
            "bad_tool_call_handling: use_recorded",
            "bad_tool_call_handling: replacing malformed live tool calls",
        ),
    ] {
        assert_issue(
            &with(&format!("    {key}\n")),
            &format!("data.synthetic_agentic.{why}"),
        );
    }
    let as_recorded = load(&with("    tool_choice_mode: as_recorded\n")).unwrap();
    assert_eq!(
        as_recorded.data.synthetic_agentic.unwrap().tool_choice_mode,
        ibench_core::config::ToolChoiceMode::AsRecorded
    );
    assert_issue(
        &with("    num_sessions: 200000\n").replace("    num_sessions: 3\n", ""),
        "data.synthetic_agentic.num_sessions: 1.28e7 is beyond the limit of 1e7 calls",
    );
    // inference-perf's projection: 1000 head + 8 × 380 catalog + 1 turn × (200 + 2 × (100 +
    // 1 × 100)) + 100 output = 4740.
    load(&with("    max_model_len: 4740\n")).unwrap();
    assert_issue(
        &with("    max_model_len: 4739\n"),
        "data.synthetic_agentic.max_model_len: max_model_len (4739) is too small for this configuration: the peak request is ~4740 tokens",
    );
    assert_issue(
        &with_server(&format!(
            "data:\n  type: synthetic_agentic\n  synthetic_agentic:\n    num_sessions: 3\n{lengths}load:\n  stages:\n  - rate: 1\n    duration: 1\n"
        )),
        "load.type: data.type synthetic_agentic requires load.type trace_session_replay",
    );
    assert_issue(
        &with_server(
            "data:\n  type: synthetic_agentic\nload:\n  type: trace_session_replay\n  stages:\n  - concurrent_sessions: 1\n",
        ),
        "data.synthetic_agentic: required by data.type synthetic_agentic",
    );
}
