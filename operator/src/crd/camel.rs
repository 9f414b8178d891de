//! `Camel<T>`: a runner config section (snake_case, as in inference-perf YAML) presented with
//! Kubernetes camelCase field names, so that the CRD and the runner share one set of types.
//!
//! Renaming is guided by `T`'s JSON schema: only declared field names change, never the keys of
//! free-form maps (`api.headers`) nor unknown keys (which the runner's checks then report).

use std::any::TypeId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Bounds given to every list, string and map of a runner section that has none, so that CEL
/// rules have a bounded cost and no field can carry an unbounded amount of data.
pub const DEFAULT_MAX_ITEMS: u64 = 256;
pub const DEFAULT_MAX_LENGTH: u64 = 2048;
pub const DEFAULT_MAX_PROPERTIES: u64 = 64;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Camel<T>(pub T);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Camel,
    Snake,
}

/// `base_url` → `baseUrl`.
pub fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A runner config path (`load.stages[0].num_requests`) in CRD terms (`load.stages[0].numRequests`).
pub fn camel_path(path: &str) -> String {
    path.split('.')
        .map(|segment| match segment.find('[') {
            Some(bracket) => format!("{}{}", camel(&segment[..bracket]), &segment[bracket..]),
            None => camel(segment),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The runner config's sections, as `spec` fields of the resource.
const SECTIONS: [&str; 8] = [
    "server",
    "api",
    "data",
    "load",
    "report",
    "storage",
    "tokenizer",
    "inputs",
];

/// A runner's message in the resource's terms: each runner config path in it
/// (`set server.model_name`, `load.fail_fast: false`) becomes the field a user edits
/// (`spec.server.modelName`, `spec.load.failFast`). A path starts a word and is snake_case or
/// nested: URLs and file names (`s3://bucket/load.csv`, `report.json`) stay as they are.
pub fn resource_terms(message: &str) -> String {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_.[]".contains(c);
    let mut out = String::with_capacity(message.len() + 16);
    let mut rest = message;
    let mut previous: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        let starts_word = previous.is_none_or(|p| p.is_whitespace() || "(`'\"".contains(p));
        if starts_word && is_path_char(c) {
            let len = rest.find(|c: char| !is_path_char(c)).unwrap_or(rest.len());
            let token = rest[..len].trim_end_matches('.');
            // A field of a section is snake_case or nested: `report.json` is a file name.
            let is_config_path = token.split_once('.').is_some_and(|(section, field)| {
                SECTIONS.contains(&section)
                    && field.starts_with(|c: char| c.is_ascii_lowercase())
                    && field.contains(['_', '.', '['])
            });
            if is_config_path {
                out.push_str("spec.");
                out.push_str(&camel_path(token));
            } else {
                out.push_str(token);
            }
            rest = &rest[token.len()..];
            previous = token.chars().last();
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
        previous = Some(c);
    }
    out
}

/// `T`'s schema with every subschema inline, computed once per type.
fn snake_schema<T: JsonSchema + 'static>() -> Arc<Value> {
    static CACHE: LazyLock<Mutex<HashMap<TypeId, Arc<Value>>>> = LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .entry(TypeId::of::<T>())
        .or_insert_with(|| {
            let generator = SchemaSettings::draft2020_12()
                .with(|s| s.inline_subschemas = true)
                .into_generator();
            Arc::new(generator.into_root_schema_for::<T>().to_value())
        })
        .clone()
}

impl<T: Serialize + JsonSchema + 'static> Serialize for Camel<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.0).map_err(S::Error::custom)?;
        rename_keys(&mut value, &snake_schema::<T>(), Case::Camel);
        value.serialize(serializer)
    }
}

impl<'de, T: DeserializeOwned + JsonSchema + 'static> Deserialize<'de> for Camel<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        rename_keys(&mut value, &snake_schema::<T>(), Case::Snake);
        serde_json::from_value(value)
            .map(Camel)
            .map_err(D::Error::custom)
    }
}

impl<T: JsonSchema> JsonSchema for Camel<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Camel{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        // Inline everything so the renaming below reaches every nested type; the caller's
        // transforms (e.g. kube's structural rewrites) still run over the result.
        let mut inner = generator
            .settings()
            .clone()
            .with(|s| s.inline_subschemas = true)
            .into_generator();
        let mut value = T::json_schema(&mut inner).to_value();
        camelize_schema(&mut value);
        Schema::try_from(value).expect("a camelized schema is still a schema")
    }
}

/// Renames the declared field names of `value` (guided by the snake_case `schema`) to `to`.
fn rename_keys(value: &mut Value, schema: &Value, to: Case) {
    match value {
        Value::Object(map) => {
            let Some(object) = variant(schema, |s| {
                s.get("properties").is_some()
                    || s.get("additionalProperties").is_some_and(Value::is_object)
            }) else {
                return;
            };
            let properties = object.get("properties").and_then(Value::as_object);
            let free_form = object.get("additionalProperties").filter(|s| s.is_object());
            for (key, mut child) in std::mem::take(map) {
                let declared = properties.and_then(|p| match to {
                    Case::Camel => p.get_key_value(&key),
                    Case::Snake => p.iter().find(|(snake, _)| camel(snake) == key),
                });
                let (name, child_schema) = match declared {
                    Some((snake, s)) => (
                        if to == Case::Camel {
                            camel(snake)
                        } else {
                            snake.clone()
                        },
                        Some(s),
                    ),
                    None => (key, free_form),
                };
                if let Some(s) = child_schema {
                    rename_keys(&mut child, s, to);
                }
                map.insert(name, child);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) =
                variant(schema, |s| s.get("items").is_some_and(Value::is_object))
                    .and_then(|s| s.get("items"))
            {
                items
                    .iter_mut()
                    .for_each(|item| rename_keys(item, item_schema, to));
            }
        }
        _ => {}
    }
}

/// The first schema satisfying `wanted`, looking through `anyOf`/`oneOf`/`allOf` (how schemars
/// encodes `Option` and documented enums). The schemas here are inlined: no `$ref` to resolve
/// against a root.
fn variant(schema: &Value, wanted: impl Fn(&Value) -> bool + Copy) -> Option<&Value> {
    ibench_core::config::schema_variant(schema, schema, wanted)
}

/// Rewrites a snake_case schema for the CRD: camelCase property names (also in `required` and
/// in `default` values), no `additionalProperties: false` (not allowed next to `properties` in
/// a structural schema; the apiserver prunes unknown fields instead), and default bounds.
fn camelize_schema(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    // Defaults first, while this node and its children still carry the snake_case names.
    if let Some(mut default) = object.get("default").cloned() {
        rename_keys(&mut default, &Value::Object(object.clone()), Case::Camel);
        object.insert("default".into(), default);
    }
    if object.get("additionalProperties") == Some(&Value::Bool(false)) {
        object.remove("additionalProperties");
    }
    for key in ["additionalProperties", "items"] {
        if let Some(sub) = object.get_mut(key) {
            camelize_schema(sub);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(list)) = object.get_mut(key) {
            list.iter_mut().for_each(camelize_schema);
        }
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        let renamed: Map<String, Value> = std::mem::take(properties)
            .into_iter()
            .map(|(name, mut sub)| {
                camelize_schema(&mut sub);
                (camel(&name), sub)
            })
            .collect();
        *properties = renamed;
    }
    if let Some(Value::Array(required)) = object.get_mut("required") {
        for name in required.iter_mut() {
            if let Value::String(s) = name {
                *s = camel(s);
            }
        }
    }
    add_bounds(object);
}

fn add_bounds(object: &mut Map<String, Value>) {
    let has_type = |t: &str| match object.get("type") {
        Some(Value::String(s)) => s == t,
        Some(Value::Array(types)) => types.iter().any(|v| v == t),
        _ => false,
    };
    let bound = if has_type("array") {
        Some(("maxItems", DEFAULT_MAX_ITEMS))
    } else if has_type("string") && !object.contains_key("enum") {
        Some(("maxLength", DEFAULT_MAX_LENGTH))
    } else if has_type("object")
        && object
            .get("additionalProperties")
            .is_some_and(Value::is_object)
    {
        Some(("maxProperties", DEFAULT_MAX_PROPERTIES))
    } else {
        None
    };
    if let Some((key, max)) = bound {
        object.entry(key).or_insert(Value::from(max));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_messages_name_the_resources_fields() {
        for (message, expected) in [
            (
                "cannot determine the model: GET http://10.0.0.1:8000/v1/models failed: connection refused; set server.model_name",
                "cannot determine the model: GET http://10.0.0.1:8000/v1/models failed: connection refused; set spec.server.modelName",
            ),
            (
                "no connection opened; or set load.fail_fast: false for a late server.",
                "no connection opened; or set spec.load.failFast: false for a late server.",
            ),
            (
                "load.stages[2].num_requests (`data.trace.file`) and 'report.request_lifecycle.per_request'",
                "spec.load.stages[2].numRequests (`spec.data.trace.file`) and 'spec.report.requestLifecycle.perRequest'",
            ),
            (
                "cannot fetch s3://bucket/load.csv: report.json, summary.json, load. api_key",
                "cannot fetch s3://bucket/load.csv: report.json, summary.json, load. api_key",
            ),
        ] {
            assert_eq!(resource_terms(message), expected);
        }
    }
    use ibench_core::config::{
        ApiConfig, LoadConfig, LoadStage, LoraSplit, ReportConfig, ServerConfig,
    };
    use serde_json::json;

    #[test]
    fn camel_names_and_paths() {
        assert_eq!(camel("base_url"), "baseUrl");
        assert_eq!(camel("api_key_secret_ref"), "apiKeySecretRef");
        assert_eq!(camel("type"), "type");
        assert_eq!(
            camel_path("load.stages[3].num_requests"),
            "load.stages[3].numRequests"
        );
        assert_eq!(
            camel_path("load.lora_traffic_split[0].split"),
            "load.loraTrafficSplit[0].split"
        );
        assert_eq!(camel_path("server"), "server");
    }

    #[test]
    fn round_trip_renames_declared_fields_only() {
        let api = ApiConfig {
            headers: Some([("X-Tenant_ID".to_string(), "a".to_string())].into()),
            ..Default::default()
        };
        let camel_json = serde_json::to_value(Camel(api.clone())).unwrap();
        assert_eq!(
            camel_json,
            json!({"type": "completion", "streaming": false, "headers": {"X-Tenant_ID": "a"}})
        );
        let back: Camel<ApiConfig> = serde_json::from_value(camel_json).unwrap();
        assert_eq!(back.0, api);

        let load = LoadConfig {
            stages: vec![LoadStage {
                num_requests: Some(5),
                concurrency_level: Some(2),
                ..Default::default()
            }],
            lora_traffic_split: Some(vec![LoraSplit {
                name: "a".into(),
                split: 1.0,
            }]),
            ..Default::default()
        };
        let camel_json = serde_json::to_value(Camel(load.clone())).unwrap();
        assert_eq!(
            camel_json["stages"][0],
            json!({"numRequests": 5, "concurrencyLevel": 2})
        );
        assert_eq!(camel_json["loraTrafficSplit"][0]["split"], json!(1.0));
        assert!(camel_json.get("workerMaxConcurrency").is_some());
        let back: Camel<LoadConfig> = serde_json::from_value(camel_json).unwrap();
        assert_eq!(back.0, load);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = serde_json::from_value::<Camel<ServerConfig>>(
            json!({"baseUrl": "http://x", "bogus": 1}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn schema_is_camel_case_with_camel_defaults_and_bounds() {
        let schema = schemars::schema_for!(Camel<ReportConfig>).to_value();
        let lifecycle = &schema["properties"]["requestLifecycle"];
        assert!(
            lifecycle["properties"].get("perAdapterStage").is_some(),
            "{lifecycle:#}"
        );
        assert!(lifecycle.get("additionalProperties").is_none());
        assert_eq!(
            lifecycle["properties"]["percentiles"]["maxItems"],
            json!(DEFAULT_MAX_ITEMS)
        );
        let default = &schema["properties"]["requestLifecycle"]["default"];
        assert_eq!(default["perAdapter"], json!(true), "{default:#}");
        assert!(default.get("per_adapter").is_none());

        let server = schemars::schema_for!(Camel<ServerConfig>).to_value();
        assert_eq!(server["required"], json!(["baseUrl"]));
        assert_eq!(
            server["properties"]["baseUrl"]["maxLength"],
            json!(DEFAULT_MAX_LENGTH)
        );
        let api = schemars::schema_for!(Camel<ApiConfig>).to_value();
        let headers = variant(&api["properties"]["headers"], |s| {
            s.get("additionalProperties").is_some()
        })
        .unwrap();
        assert_eq!(headers["maxProperties"], json!(DEFAULT_MAX_PROPERTIES));
    }
}
