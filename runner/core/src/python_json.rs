//! JSON as inference-perf's Python sees it: text as `json.dumps` writes it (`", "` and `": "`
//! between items), which it sends for object tool arguments and counts for tool definitions,
//! and a value's truth, which decides what it keeps; and whether `json.loads` reads a text.

use serde_json::Value;

/// `json.dumps(value, ensure_ascii=ascii)`.
pub(crate) fn dumps(value: &Value, ascii: bool) -> String {
    let mut out = String::new();
    write(&mut out, value, ascii);
    out
}

/// Whether `json.loads(text)` reads it. Python's parser also takes the literals `NaN` and
/// `Infinity` (which no JSON encoder writes) and unpaired surrogate escapes; those read as
/// malformed here.
pub(crate) fn loads_ok(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// Python's truth of a JSON value.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `repr` of a string: in single quotes, or double ones when it holds `'` and no `"`.
pub(crate) fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's name of a loaded JSON value's type.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn write(out: &mut String, value: &Value, ascii: bool) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(out, item, ascii);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                string(out, key, ascii);
                out.push_str(": ");
                write(out, item, ascii);
            }
            out.push('}');
        }
        Value::String(s) => string(out, s, ascii),
        other => out.push_str(&other.to_string()),
    }
}

fn string(out: &mut String, s: &str, ascii: bool) {
    let quoted = Value::String(s.to_string()).to_string();
    if !ascii || s.is_ascii() {
        out.push_str(&quoted);
        return;
    }
    for c in quoted.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_what_python_writes() {
        let v = json!({"a": [1, "é"], "b": {"c": null}});
        assert_eq!(dumps(&v, true), r#"{"a": [1, "\u00e9"], "b": {"c": null}}"#);
        assert_eq!(dumps(&v, false), r#"{"a": [1, "é"], "b": {"c": null}}"#);
        assert_eq!(dumps(&json!("😀"), true), r#""\ud83d\ude00""#);
    }
}
