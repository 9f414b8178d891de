//! The config written back as inference-perf 0.7.0 writes it (`config.yaml` beside the
//! reports, and what the operator hands its runners): its key names and shorthand forms where
//! this project's types hold the same setting another way. Read back, it is the same config.

use serde_json::{Value, json};

use super::distribution::{Distribution, fixed};
use super::types::{Config, DEFAULT_OUTPUT_LEN, DEFAULT_QUESTION_LEN, DEFAULT_SYSTEM_PROMPT_LEN};

/// `shared_prefix` keys under the names inference-perf writes them (it reads both).
const SHARED_PREFIX_NAMES: [(&str, &str); 2] = [
    ("num_groups", "num_unique_system_prompts"),
    ("num_prompts_per_group", "num_users_per_system_prompt"),
];

/// `shared_prefix` lengths with inference-perf's defaults: written as a number when fixed.
const SHARED_PREFIX_LENGTHS: [(&str, i64); 3] = [
    ("system_prompt_len", DEFAULT_SYSTEM_PROMPT_LEN),
    ("question_len", DEFAULT_QUESTION_LEN),
    ("output_len", DEFAULT_OUTPUT_LEN),
];

pub fn echo_yaml(config: &Config) -> String {
    let mut echo = serde_json::to_value(config).expect("the config serialises");
    if let Some(Value::Object(shared)) = echo.pointer_mut("/data/shared_prefix") {
        for (ours, theirs) in SHARED_PREFIX_NAMES {
            if let Some(value) = shared.remove(ours) {
                shared.insert(theirs.into(), value);
            }
        }
        for (key, default) in SHARED_PREFIX_LENGTHS {
            let length = match shared.get(key) {
                None => json!(default),
                Some(given) => fixed_length_of(given).map_or_else(|| given.clone(), |n| json!(n)),
            };
            shared.insert(key.into(), length);
        }
    }
    serde_yaml::to_string(&echo).expect("JSON values serialise")
}

/// `n` when `distribution` is exactly what the shorthand `n` reads as.
fn fixed_length_of(distribution: &Value) -> Option<i64> {
    let parsed: Distribution = serde_json::from_value(distribution.clone()).ok()?;
    (parsed == fixed(parsed.min)).then_some(parsed.min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_document;

    #[test]
    fn shared_prefix_is_written_as_inference_perf_writes_it_and_reads_back_the_same() {
        let config = from_document(json!({
            "server": {"base_url": "http://127.0.0.1:8000"},
            "data": {"type": "shared_prefix", "shared_prefix": {
                "num_groups": 3, "num_prompts_per_group": 4, "system_prompt_len": 20,
                "question_len": {"type": "uniform", "min": 5, "max": 9, "mean": 7, "std_dev": 1},
            }},
            "load": {"stages": [{"rate": 1, "duration": 1}]},
        }))
        .unwrap();
        let yaml = echo_yaml(&config);
        let echo: Value = serde_yaml::from_str(&yaml).unwrap();
        let shared = &echo["data"]["shared_prefix"];
        assert_eq!(shared["num_unique_system_prompts"], 3);
        assert_eq!(shared["num_users_per_system_prompt"], 4);
        assert_eq!(shared["system_prompt_len"], 20);
        assert_eq!(shared["question_len"]["type"], "uniform");
        assert_eq!(shared["output_len"], DEFAULT_OUTPUT_LEN);
        assert!(shared.get("num_groups").is_none());
        assert_eq!(echo["load"]["circuit_breakers"], json!([]));

        let mut read_back = from_document(echo).unwrap();
        // The default output length was written out; it reads as the same length.
        let shared = read_back.data.shared_prefix.as_mut().unwrap();
        assert_eq!(shared.output_len.take(), Some(fixed(DEFAULT_OUTPUT_LEN)));
        assert_eq!(read_back, config);
    }
}
