//! Reading report values the way inference-perf's validator does (Python `json`/`yaml` loaded
//! values), and writing them in its messages the way Python prints them, so that a
//! `validation.json` of ours reads like one of inference-perf's.

use serde_json::Value;

const REL_TOL: f64 = 1e-6;
const ABS_TOL: f64 = 1e-9;

/// Slack for values two code paths derive from the same inputs: above float noise, far below
/// real drift.
pub fn approx_le(a: f64, b: f64) -> bool {
    a <= b + ABS_TOL + REL_TOL * a.abs().max(b.abs())
}

pub fn approx_eq(a: f64, b: f64) -> bool {
    (a - b).abs() <= ABS_TOL + REL_TOL * a.abs().max(b.abs())
}

/// The value at `path` under nested objects; `None` as soon as a step is missing.
pub fn get<'a>(root: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(root, |node, key| node.as_object()?.get(*key))
}

/// Visits every value in `node`, each before what it holds, with its path: keys joined by
/// dots, `[i]` for list items, `""` for `node` itself.
pub fn walk<'a>(node: &'a Value, path: String, visit: &mut impl FnMut(&str, &'a Value)) {
    visit(&path, node);
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(value, child, visit);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}[{i}]"), visit);
            }
        }
        _ => {}
    }
}

/// A number (an integer or a float; JSON booleans are not numbers).
pub fn number(value: Option<&Value>) -> Option<f64> {
    value?.as_f64()
}

/// A number at `path`.
pub fn number_at(root: &Value, path: &[&str]) -> Option<f64> {
    number(get(root, path))
}

/// The rank a distribution key stands for: `median` is 50, `p90` 90, `p99.9` and `p99p9` 99.9.
pub fn percentile_rank(key: &str) -> Option<f64> {
    if key == "median" {
        return Some(50.0);
    }
    let digits = key.strip_prefix('p')?;
    let (whole, fraction) = match digits.find(['.', 'p']) {
        Some(at) => (&digits[..at], Some(&digits[at + 1..])),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return None;
    }
    match fraction {
        Some(f) => format!("{whole}.{f}").parse().ok(),
        None => whole.parse().ok(),
    }
}

pub(crate) use crate::python_json::type_name;

/// `str()` of a loaded value: integers as integers, floats as Python's shortest repr.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::Number(n) if n.is_f64() => float_repr(n.as_f64().unwrap_or(f64::NAN)),
        Value::Number(n) => n.to_string(),
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `repr()` of a loaded value: strings quoted.
pub fn python_repr(value: &Value) -> String {
    match value {
        Value::String(s) if s.contains('\'') && !s.contains('"') => format!("\"{s}\""),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        other => python_str(other),
    }
}

/// The shortest digits and decimal exponent of a finite, non-zero `x`: 0.00123 is ("123", -3).
fn digits_and_exponent(x: f64, precision: Option<usize>) -> (String, i32) {
    let scientific = match precision {
        Some(p) => format!("{:.*e}", p, x.abs()),
        None => format!("{:e}", x.abs()),
    };
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    (
        mantissa.replace('.', ""),
        exponent.parse().expect("{:e}'s exponent is an integer"),
    )
}

fn exponent_suffix(exponent: i32) -> String {
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("e{sign}{:02}", exponent.abs())
}

/// `digits` with the point after the first, as in `1.5e-05` (no point for one digit).
fn scientific(digits: &str, exponent: i32) -> String {
    let (first, rest) = digits.split_at(1);
    let point = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    format!("{first}{point}{}", exponent_suffix(exponent))
}

/// `digits` × 10^(exponent + 1 − len) written out: ("15", 2) is "150", ("15", -2) "0.015".
fn positional(digits: &str, exponent: i32) -> (String, String) {
    if exponent < 0 {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return ("0".into(), format!("{zeros}{digits}"));
    }
    let whole_len = exponent as usize + 1;
    if digits.len() <= whole_len {
        let padded = format!("{digits:0<whole_len$}");
        (padded, String::new())
    } else {
        let (whole, fraction) = digits.split_at(whole_len);
        (whole.into(), fraction.into())
    }
}

/// Python's `repr(float)`: shortest round-trip digits; positional from 1e-4 to below 1e16,
/// always with a point (`45.0`); scientific outside (`1e-05`, `1.5e+16`).
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, exponent) = digits_and_exponent(x, None);
    if !(-4..16).contains(&exponent) {
        return format!("{sign}{}", scientific(&digits, exponent));
    }
    let (whole, fraction) = positional(&digits, exponent);
    let fraction = if fraction.is_empty() {
        "0".into()
    } else {
        fraction
    };
    format!("{sign}{whole}.{fraction}")
}

/// Python's `format(x, "g")`: 6 significant digits, trailing zeros dropped, scientific below
/// 1e-4 and from 1e6.
pub fn general(x: f64) -> String {
    if !x.is_finite() {
        return float_repr(x);
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0");
    }
    let (digits, exponent) = digits_and_exponent(x, Some(5));
    let digits = digits.trim_end_matches('0');
    if !(-4..6).contains(&exponent) {
        return format!("{sign}{}", scientific(digits, exponent));
    }
    let (whole, fraction) = positional(digits, exponent);
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// A Python list of integers as printed: `[0, 2]`.
pub fn int_list(ids: &[u64]) -> String {
    let items: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_as_python_prints_them() {
        for (x, python) in [
            (45.0, "45.0"),
            (-0.0006548443925566971, "-0.0006548443925566971"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000015, "1.5e-05"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(float_repr(x), python, "{x:?}");
        }
    }

    #[test]
    fn general_format_matches_python() {
        for (x, python) in [
            (45.0, "45"),
            (1234567.0, "1.23457e+06"),
            (999999.0, "999999"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (12.3456789, "12.3457"),
            (0.0, "0"),
            (-3.0, "-3"),
            (1e6, "1e+06"),
        ] {
            assert_eq!(general(x), python, "{x:?}");
        }
    }

    #[test]
    fn values_print_like_loaded_python_values() {
        assert_eq!(python_str(&json!(45)), "45");
        assert_eq!(python_str(&json!(45.0)), "45.0");
        assert_eq!(python_repr(&json!("0.2")), "'0.2'");
        assert_eq!(python_repr(&Value::Null), "None");
        assert_eq!(type_name(&json!([1])), "list");
        assert_eq!(type_name(&json!(1.5)), "float");
    }

    #[test]
    fn percentile_keys_in_both_styles() {
        assert_eq!(percentile_rank("median"), Some(50.0));
        assert_eq!(percentile_rank("p90"), Some(90.0));
        assert_eq!(percentile_rank("p99.9"), Some(99.9));
        assert_eq!(percentile_rank("p0p1"), Some(0.1));
        for not_a_percentile in ["p", "mean", "p9x", "p.5", "p99."] {
            assert_eq!(
                percentile_rank(not_a_percentile),
                None,
                "{not_a_percentile}"
            );
        }
    }

    #[test]
    fn tolerances_are_relative_and_absolute() {
        assert!(approx_eq(1e6, 1e6 + 0.5));
        assert!(!approx_eq(1e6, 1e6 + 2.0));
        assert!(approx_le(1.0 + 1e-7, 1.0));
        assert!(!approx_le(1.0 + 1e-5, 1.0));
    }
}
