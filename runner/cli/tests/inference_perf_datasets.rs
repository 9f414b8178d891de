//! The datasets inference-perf reads from a local file without the Hugging Face hub
//! (`infinity_instruct`, `billsum_conversations`) give the same prompts, `max_tokens` and order
//! here as there: inference-perf 0.7.0's own data generators (from PyPI, in the harness'
//! virtualenv) read the same file with the same word-level tokenizer, and request `i` of this
//! project's plan must be their `i`-th prompt.

use std::path::Path;

use ibench_core::config::ResolvedConfig;
use ibench_core::plan::Plan;
use ibench_testcluster::InferencePerf;
use serde_json::{Value, json};

/// Prints the first `count` prompts and `max_tokens` of inference-perf's completion data for a
/// data type, file, tokenizer and length limits, as JSON; fewer if its rows run out
/// (`infinity_instruct` reads the file once, and its generator then fails).
const PEER_PROMPTS: &str = r#"
import json, sys
from inference_perf.config import APIConfig, APIType, CustomTokenizerConfig, DataConfig, DataGenType, Distribution
from inference_perf.utils.custom_tokenizer import CustomTokenizer
from inference_perf.datagen.dataset.hf_billsum_datagen import BillsumConversationsDataGenerator
from inference_perf.datagen.dataset.infinity_instruct_datagen import InfinityInstructDataGenerator
data_type, path, tokenizer, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
limits = {key: Distribution(**value) for key, value in json.loads(sys.argv[5]).items()}
generator_type = {
    "infinity_instruct": InfinityInstructDataGenerator,
    "billsum_conversations": BillsumConversationsDataGenerator,
}[data_type]
generator = generator_type(
    APIConfig(type=APIType.Completion),
    DataConfig(type=DataGenType(data_type), path=path, **limits),
    CustomTokenizer(CustomTokenizerConfig(pretrained_model_name_or_path=tokenizer)),
)
asked = []
try:
    for data in generator.get_data():
        asked.append([data.prompt, data.max_tokens])
        if len(asked) == count:
            break
except RuntimeError:
    pass
print(json.dumps(asked))
"#;

/// A data type over a file, with `input_distribution`/`output_distribution` limits (an object
/// of either or both, or empty).
struct Case<'a> {
    data_type: &'a str,
    path: &'a Path,
    limits: &'a Value,
}

/// How many prompts each tool is asked for: more than any file here has, so that the order
/// after the last row shows too.
const COUNT: u64 = 15;

fn peer_prompts(case: &Case, tokenizer: &Path) -> Vec<(String, u64)> {
    let output = InferencePerf::locate()
        .unwrap()
        .python()
        .env("HF_HUB_OFFLINE", "1")
        .args(["-c", PEER_PROMPTS, case.data_type])
        .args([case.path, tokenizer])
        .args([COUNT.to_string(), case.limits.to_string()])
        .output()
        .unwrap();
    let text = ibench_testkit::output_text(&output);
    assert!(output.status.success(), "inference-perf: {text}");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn our_prompts(case: &Case, tokenizer: &Path) -> Vec<(String, u64)> {
    let mut data = json!({"type": case.data_type, "path": case.path});
    for (key, value) in case.limits.as_object().unwrap() {
        data[key] = value.clone();
    }
    let doc = json!({
        "data": data,
        "tokenizer": {"pretrained_model_name_or_path": tokenizer},
        "server": {"type": "vllm", "base_url": "http://127.0.0.1:9"},
        "load": {"stages": [{"rate": 1, "duration": 1}]},
    });
    let config = ibench_core::config::from_document(doc).unwrap();
    let plan = Plan::build(&ResolvedConfig::resolve(config, chrono::Local::now())).unwrap();
    (0..COUNT)
        .map(|i| {
            let request = plan.data.request(0, i);
            (request.prompt, u64::from(request.max_tokens))
        })
        .collect()
}

/// Rows inference-perf skips in one way or another, between rows it asks.
fn awkward_rows() -> Value {
    let turns = |turns: &[(&str, Option<&str>)]| -> Value {
        let turns: Vec<Value> = turns
            .iter()
            .map(|(from, value)| json!({"from": from, "value": value}))
            .collect();
        json!({ "conversations": turns })
    };
    json!([
        turns(&[("human", Some("the first row")), ("gpt", Some("one"))]),
        {"conversations": null},
        {"conversations": []},
        turns(&[("human", Some("a lonely turn"))]),
        turns(&[("human", Some("")), ("gpt", Some("an empty prompt"))]),
        turns(&[("system", Some("be brief")), ("human", Some("hi there")), ("gpt", Some("hello you"))]),
        turns(&[("human", Some("left")), ("gpt", Some("x")), ("human", Some("open"))]),
        turns(&[("human", None), ("gpt", Some("w z"))]),
        turns(&[("gpt", Some("a gpt opening")), ("human", Some("b c d"))]),
        turns(&[("human", Some("a question of many words in it")), ("gpt", Some("a b c d e f"))]),
        turns(&[("human", Some("short question")), ("gpt", Some("two words"))]),
    ])
}

#[test]
fn conversation_datasets_ask_what_inference_perf_asks() {
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = ibench_testkit::write_word_level_tokenizer(dir.path());
    let samples = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/datasets"
    ));
    // inference-perf reads a `.json` file, JSON Lines or a JSON list.
    let infinity_sample = dir.path().join("infinity_instruct.json");
    std::fs::copy(
        samples.join("infinity-instruct-sample.jsonl"),
        &infinity_sample,
    )
    .unwrap();
    let awkward = dir.path().join("awkward.json");
    std::fs::write(&awkward, awkward_rows().to_string()).unwrap();
    let billsum_sample = samples.join("billsum-conversations-sample.json");
    let no_limits = json!({});
    let limits = json!({
        "input_distribution": {"min": 2, "max": 6},
        "output_distribution": {"min": 2, "max": 5},
    });
    let cases = [
        ("infinity_instruct", &infinity_sample, &no_limits),
        ("infinity_instruct", &awkward, &no_limits),
        ("infinity_instruct", &awkward, &limits),
        ("billsum_conversations", &billsum_sample, &no_limits),
        ("billsum_conversations", &awkward, &no_limits),
        ("billsum_conversations", &awkward, &limits),
    ];
    for (data_type, path, limits) in cases {
        let case = Case {
            data_type,
            path,
            limits,
        };
        let name = format!("{data_type} {} {limits}", path.display());
        let theirs = peer_prompts(&case, &tokenizer);
        let ours = our_prompts(&case, &tokenizer);
        assert!(
            theirs.len() >= 2,
            "{name}: too few prompts to compare: {theirs:?}"
        );
        assert_eq!(ours[..theirs.len()], theirs[..], "{name}");
        if theirs.len() < ours.len() {
            // infinity_instruct's rows ran out there; here they start over.
            assert_eq!(data_type, "infinity_instruct", "{name}");
            assert_eq!(ours[theirs.len()], theirs[0], "{name}");
        }
    }
}
