//! `--set dotted.key=value` overrides, applied to the raw document before any check so that an
//! override is validated exactly like the file. Values are YAML: `5`, `true`, `[1, 2]`, `{a: 1}`.

use serde_json::Value;

use super::error::ConfigError;

pub fn apply(mut doc: Value, overrides: &[String]) -> Result<Value, ConfigError> {
    for arg in overrides {
        let fail = |reason: String| ConfigError::Override {
            arg: arg.clone(),
            reason,
        };
        let (key, raw) = arg
            .split_once('=')
            .ok_or_else(|| fail("expected dotted.key=value".into()))?;
        let value: Value =
            serde_yaml::from_str(raw).map_err(|e| fail(format!("value is not YAML: {e}")))?;
        let segments = parse_key(key).map_err(fail)?;
        set(&mut doc, &segments, value).map_err(fail)?;
    }
    Ok(doc)
}

#[derive(Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn parse_key(key: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if name.is_empty() {
            return Err(format!("empty key segment in {key:?}"));
        }
        segments.push(Segment::Key(name.to_string()));
        while !rest.is_empty() {
            let (index, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("unclosed [ in {key:?}"))?;
            let index = index
                .parse()
                .map_err(|_| format!("list index {index:?} is not a number"))?;
            segments.push(Segment::Index(index));
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    Ok(segments)
}

fn set(target: &mut Value, segments: &[Segment], value: Value) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        *target = value;
        return Ok(());
    };
    match first {
        Segment::Key(name) => {
            if target.is_null() {
                *target = Value::Object(Default::default());
            }
            let map = target
                .as_object_mut()
                .ok_or_else(|| format!("{name}: parent is not a mapping"))?;
            set(map.entry(name.clone()).or_insert(Value::Null), rest, value)
        }
        Segment::Index(index) => {
            if target.is_null() {
                *target = Value::Array(Vec::new());
            }
            let list = target
                .as_array_mut()
                .ok_or_else(|| format!("[{index}]: parent is not a list"))?;
            if *index == list.len() {
                list.push(Value::Null);
            }
            let len = list.len();
            let slot = list
                .get_mut(*index)
                .ok_or_else(|| format!("index {index} is past the end of a list of {len}"))?;
            set(slot, rest, value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_nested_keys_list_items_and_yaml_values() {
        let doc = json!({"load": {"stages": [{"rate": 1, "duration": 5}]}});
        let out = apply(
            doc,
            &[
                "load.stages[0].rate=7.5".into(),
                "load.stages[1]={rate: 2, duration: 3}".into(),
                "api.streaming=true".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"load": {"stages": [{"rate": 7.5, "duration": 5}, {"rate": 2, "duration": 3}]}, "api": {"streaming": true}})
        );
    }

    #[test]
    fn rejects_malformed_overrides_with_the_reason() {
        for (arg, reason) in [
            ("load.type", "expected dotted.key=value"),
            ("load.stages[x].rate=1", "not a number"),
            ("load.stages[4].rate=1", "past the end"),
        ] {
            let err = apply(json!({"load": {"stages": []}}), &[arg.to_string()])
                .unwrap_err()
                .to_string();
            assert!(err.contains(reason), "{arg}: {err}");
        }
    }
}
