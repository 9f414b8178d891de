//! Finds every unknown key and unsupported value in a raw config document, by walking it next to
//! the JSON schema of [`Config`](super::Config). Serde stops at the first error; users fixing a
//! config want them all, each with the full path and, where it is a typo, the key they meant.

use serde_json::{Map, Value};

use super::error::Issue;

/// inference-perf keys that are valid there but not implemented here: refusing them loudly is
/// better than ignoring part of what the user asked for.
const UNSUPPORTED_KEYS: &[(&str, &str)] = &[
    (
        "data.otel_trace_replay.hf_dataset_path",
        "traces from a Hugging Face dataset",
    ),
    (
        "data.weka_trace_replay.hf_dataset_path",
        "traces from a Hugging Face dataset",
    ),
    (
        "data.weka_trace_replay.num_dataset_entries",
        "traces from a Hugging Face dataset",
    ),
    (
        "data.synthetic_agentic.bad_tool_call_handling",
        "replacing malformed live tool calls (synthetic transcripts are generated text, live answers are not sent back)",
    ),
    (
        "data.visionarena.hf_dataset_name",
        "reading from the Hugging Face hub (give the dataset file as data.path)",
    ),
    (
        "data.visionarena.hf_split",
        "reading from the Hugging Face hub (give the dataset file as data.path)",
    ),
    (
        "data.visionarena.hf_data_files",
        "reading from the Hugging Face hub (give the dataset file as data.path)",
    ),
];

/// inference-perf's other names for keys (serde aliases, which the schema does not list):
/// `(path of the object, alias, key)`.
const ALIASES: &[(&str, &str, &str)] = &[
    (
        "data.shared_prefix",
        "num_unique_system_prompts",
        "num_groups",
    ),
    (
        "data.shared_prefix",
        "num_users_per_system_prompt",
        "num_prompts_per_group",
    ),
];

/// inference-perf enum values that are valid there but not implemented here.
const UNSUPPORTED_VALUES: &[(&str, &str, &str)] = &[];

/// Checks `doc` against `schema` (a schemars root schema with `$defs`), returning one issue per
/// unknown key or unsupported enum value.
pub fn check(doc: &Value, schema: &Value) -> Vec<Issue> {
    let mut issues = Vec::new();
    walk(doc, schema, schema, "", &mut issues);
    issues
}

fn walk(value: &Value, schema: &Value, root: &Value, path: &str, issues: &mut Vec<Issue>) {
    match value {
        Value::Object(map) => {
            if let Some(object_schema) = variant(schema, root, |s| {
                s.get("properties").is_some()
                    || s.get("additionalProperties").is_some_and(Value::is_object)
            }) {
                walk_object(map, object_schema, root, path, issues);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) =
                variant(schema, root, |s| s.get("items").is_some()).and_then(|s| s.get("items"))
            {
                for (index, item) in items.iter().enumerate() {
                    walk(item, item_schema, root, &format!("{path}[{index}]"), issues);
                }
            }
        }
        Value::String(text) => check_enum_value(text, schema, root, path, issues),
        _ => {}
    }
}

fn walk_object(
    map: &Map<String, Value>,
    schema: &Value,
    root: &Value,
    path: &str,
    issues: &mut Vec<Issue>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    let free_form = schema.get("additionalProperties").filter(|s| s.is_object());
    for (key, child) in map {
        let child_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let generic = strip_indices(path);
        let canonical = ALIASES
            .iter()
            .find(|(at, alias, _)| *at == generic && alias == key)
            .map_or(key.as_str(), |(_, _, canonical)| canonical);
        if let Some(child_schema) = properties.and_then(|p| p.get(canonical)).or(free_form) {
            walk(child, child_schema, root, &child_path, issues);
        } else if let Some((_, feature)) = UNSUPPORTED_KEYS
            .iter()
            .find(|(p, _)| *p == strip_indices(&child_path))
        {
            issues.push(Issue::new(
                child_path,
                format!("{feature} is not supported yet; remove this key"),
            ));
        } else {
            let known: Vec<&str> = properties
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            issues.push(Issue::new(child_path, unknown_key_message(key, &known)));
        }
    }
}

fn check_enum_value(text: &str, schema: &Value, root: &Value, path: &str, issues: &mut Vec<Issue>) {
    let Some(names) = allowed_values(schema, root) else {
        return;
    };
    if names.contains(&text) {
        return;
    }
    let generic = strip_indices(path);
    let message = match UNSUPPORTED_VALUES
        .iter()
        .find(|(p, v, _)| *p == generic && *v == text)
    {
        Some((_, _, feature)) => format!("{feature} ({text}) is not supported yet"),
        None => {
            let hint = closest(text, &names)
                .map(|c| format!(", did you mean {c}?"))
                .unwrap_or_default();
            format!(
                "unknown value {text:?}{hint} (expected one of: {})",
                names.join(", ")
            )
        }
    };
    issues.push(Issue::new(path.to_string(), message));
}

/// The string values an enum schema allows: schemars writes `enum: [...]`, or `oneOf` of
/// `const`s when the variants are documented.
fn allowed_values<'a>(schema: &'a Value, root: &'a Value) -> Option<Vec<&'a str>> {
    if let Some(values) =
        variant(schema, root, |s| s.get("enum").is_some()).and_then(|s| s["enum"].as_array())
    {
        return Some(values.iter().filter_map(Value::as_str).collect());
    }
    let options = variant(schema, root, |s| {
        s.get("oneOf")
            .and_then(Value::as_array)
            .is_some_and(|o| o.iter().all(|v| v.get("const").is_some()))
    })?;
    Some(
        options["oneOf"]
            .as_array()?
            .iter()
            .filter_map(|v| v["const"].as_str())
            .collect(),
    )
}

fn unknown_key_message(key: &str, known: &[&str]) -> String {
    match closest(key, known) {
        Some(suggestion) => format!("unknown field, did you mean {suggestion}?"),
        None if known.is_empty() => "unknown field".to_string(),
        None => format!("unknown field (expected one of: {})", known.join(", ")),
    }
}

fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `load.stages[3].rate` → `load.stages.rate`, the form used by the tables above.
fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            _ if !in_index => out.push(c),
            _ => {}
        }
    }
    out
}

/// Resolves `$ref` and looks through `anyOf`/`oneOf`/`allOf` (schemars' encoding of `Option`)
/// for the first schema satisfying `wanted`. Also used by the operator, on inlined schemas.
pub fn variant<'a>(
    schema: &'a Value,
    root: &'a Value,
    wanted: impl Fn(&Value) -> bool + Copy,
) -> Option<&'a Value> {
    let schema = resolve(schema, root);
    if wanted(schema) {
        return Some(schema);
    }
    ["anyOf", "oneOf", "allOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(Value::as_array))
        .flatten()
        .find_map(|s| variant(s, root, wanted))
}

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    match schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/"))
    {
        Some(pointer) => root
            .pointer(&format!("/{pointer}"))
            .map_or(schema, |s| resolve(s, root)),
        None => schema,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn issues(doc: Value) -> Vec<String> {
        let schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap();
        check(&doc, &schema)
            .into_iter()
            .map(|i| i.to_string())
            .collect()
    }

    #[test]
    fn typo_in_a_list_item_names_the_full_path_and_the_intended_key() {
        let found = issues(json!({"load": {"stages": [{"rate": 1, "duration": 2}, {"rat": 5}]}}));
        assert_eq!(
            found,
            vec!["load.stages[1].rat: unknown field, did you mean rate?"]
        );
    }

    #[test]
    fn every_unknown_key_is_listed() {
        let found =
            issues(json!({"serverr": {}, "api": {"streamin": true}, "load": {"nm_workers": 2}}));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found.contains(&"api.streamin: unknown field, did you mean streaming?".to_string())
        );
        assert!(
            found
                .contains(&"load.nm_workers: unknown field, did you mean num_workers?".to_string())
        );
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("serverr: unknown field, did you mean server?"))
        );
    }

    #[test]
    fn inference_perf_features_we_lack_are_named_not_supported() {
        let found = issues(json!({"data": {"type": "visionarena",
            "visionarena": {"hf_split": "train"},
            "multimodal": {"video": {"representation": "png_frames"}, "audio": {}, "image": {"representation": "webp"}},
            "shared_prefix": {"multimodal": {"image": {"count": {"mean": 1}}}},
            "weka_trace_replay": {"hf_dataset_path": "org/traces"}}}));
        assert!(
            !found
                .iter()
                .any(|f| f.starts_with("data.multimodal") || f.starts_with("data.shared_prefix")),
            "video, audio, WebP images and media in shared prefixes are built: {found:?}"
        );
        assert!(
            found.contains(
                &"data.visionarena.hf_split: reading from the Hugging Face hub (give the dataset file as data.path) is not supported yet; remove this key"
                    .to_string()
            ),
            "{found:?}"
        );
        assert!(
            found.contains(
                &"data.weka_trace_replay.hf_dataset_path: traces from a Hugging Face dataset is not supported yet; remove this key"
                    .to_string()
            ),
            "{found:?}"
        );
    }

    #[test]
    fn inference_perf_aliases_are_known_keys() {
        let found = issues(json!({"data": {"shared_prefix": {
            "num_unique_system_prompts": 2, "num_users_per_system_prompt": 3, "question_len": 5}}}));
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn free_form_maps_accept_any_key() {
        assert!(issues(json!({"api": {"headers": {"X-Anything": "1"}}})).is_empty());
    }

    #[test]
    fn misspelt_enum_value_gets_a_suggestion() {
        let found = issues(json!({"load": {"type": "poison"}}));
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("load.type: unknown value \"poison\", did you mean poisson?"),
            "{found:?}"
        );
    }
}
