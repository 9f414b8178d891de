//! PromQL label matchers (`namespace="llm"`, `pod=~"vllm-.*"`), checked when a config is
//! validated and applied to scraped series when the runner scrapes servers itself.

use std::collections::BTreeMap;

use regex::Regex;

#[derive(Debug, Clone)]
pub struct Matcher {
    label: String,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Equal(String),
    NotEqual(String),
    Matches(Regex),
    NotMatches(Regex),
}

impl Matcher {
    /// One matcher, as PromQL writes it inside braces: `label op "value"` with `op` one of `=`,
    /// `!=`, `=~`, `!~` and the value in double, single or back quotes.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let usage = "expected label=\"value\" (or !=, =~, !~), e.g. namespace=\"llm\"";
        let at = text
            .find(['=', '!'])
            .ok_or_else(|| format!("{text:?}: {usage}"))?;
        let label = text[..at].trim();
        let valid_label = label
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if label.is_empty() || !valid_label {
            return Err(format!("{text:?}: {label:?} is not a label name; {usage}"));
        }
        let rest = &text[at..];
        let (op, quoted) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v.trim())))
            .ok_or_else(|| format!("{text:?}: {usage}"))?;
        let value = unquote(quoted)
            .ok_or_else(|| format!("{text:?}: the value must be quoted; {usage}"))?;
        let regex = || {
            // PromQL anchors regular expressions at both ends.
            Regex::new(&format!("^(?:{value})$"))
                .map_err(|e| format!("{text:?}: not a regular expression: {e}"))
        };
        let test = match op {
            "=" => Test::Equal(value),
            "!=" => Test::NotEqual(value),
            "=~" => Test::Matches(regex()?),
            _ => Test::NotMatches(regex()?),
        };
        Ok(Matcher {
            label: label.to_string(),
            test,
        })
    }

    /// A missing label has the empty value, as in PromQL.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.label).map_or("", String::as_str);
        match &self.test {
            Test::Equal(v) => value == v,
            Test::NotEqual(v) => value != v,
            Test::Matches(r) => r.is_match(value),
            Test::NotMatches(r) => !r.is_match(value),
        }
    }
}

fn unquote(text: &str) -> Option<String> {
    let quote = text
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let inner = text.strip_prefix(quote)?.strip_suffix(quote)?;
    if quote == '`' {
        return Some(inner.to_string());
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c if c == quote => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// All matchers of a list, or the first one that does not parse.
pub fn parse_all(texts: &[String]) -> Result<Vec<Matcher>, String> {
    texts.iter().map(|t| Matcher::parse(t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_operator_and_quote() {
        let l = labels(&[("model_name", "llama"), ("pod", "vllm-1")]);
        for (text, expected) in [
            ("model_name='llama'", true),
            ("model_name=\"llama\"", true),
            ("model_name != `llama`", false),
            ("pod=~\"vllm-.*\"", true),
            ("pod=~\"vllm\"", false),
            ("pod!~'x.*'", true),
            ("namespace=\"\"", true),
            ("namespace=\"a\\\"b\"", false),
        ] {
            assert_eq!(
                Matcher::parse(text).unwrap().matches(&l),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_matchers_say_what_is_expected() {
        for text in ["model_name", "9x=\"a\"", "a=b", "a=\"b", "a=~\"(\""] {
            let e = Matcher::parse(text).unwrap_err();
            assert!(e.starts_with(&format!("{text:?}")), "{e}");
        }
    }
}
