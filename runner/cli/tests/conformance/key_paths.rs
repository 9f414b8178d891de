//! The shape of a report file as a set of key paths (`successes.latency.request_latency.p99`,
//! `[].info.response_metrics.chunk_times[]`), to compare two tools' files key for key.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// Every leaf's path; list items share one path (`[]`), and an empty object or list is a leaf
/// of its own so that `extra_info: {}` on one side and nothing on the other still differ.
pub fn key_paths(value: &Value) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    walk(value, String::new(), &mut paths);
    paths
}

fn walk(value: &Value, path: String, paths: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(child, child_path, paths);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                walk(item, format!("{path}[]"), paths);
            }
        }
        _ => {
            paths.insert(path);
        }
    }
}

/// A JSON or YAML report file, parsed.
pub fn read_report(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parsed = if path.extension().is_some_and(|e| e == "yaml") {
        serde_yaml::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_items_share_a_path_and_empty_containers_are_leaves() {
        let paths = key_paths(&json!({"a": [{"b": 1}, {"c": 2}], "d": {}, "e": [], "f": null}));
        let expected: BTreeSet<String> = ["a[].b", "a[].c", "d", "e", "f"].map(String::from).into();
        assert_eq!(paths, expected);
    }
}
