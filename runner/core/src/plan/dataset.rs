//! Datasets inference-perf streams from the Hugging Face hub, read here from `data.path` (a
//! local file, or the local copy of an object URL fetched before the run): a Parquet file, as
//! the hub publishes them, or JSON Lines (`.jsonl`, `.json`), as `datasets` saves them.
//!
//! `cnn_dailymail`: each row's `article` is a prompt and the token count of its `highlights`
//! is `max_tokens`; rows with either empty or null are skipped, and
//! `input_distribution`/`output_distribution` `min` and `max` filter them. inference-perf takes
//! the first row before the first request, so the requests start at the second row and the
//! first comes last.

use std::fs::File;
use std::io::{BufRead, BufReader};

use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;

use super::share_gpt::{Limits, SharePair};
use crate::config::Distribution;
use crate::tokenize::Tokenizer;

/// The columns `cnn_dailymail` reads: the prompt and the text whose length is `max_tokens`.
const CNN_PROMPT: &str = "article";
const CNN_COMPLETION: &str = "highlights";

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("data.path: cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "data.path: {path} line {line}: not a JSON object ({reason}); give a Parquet file or JSON Lines"
    )]
    Json {
        path: String,
        line: usize,
        reason: String,
    },
    #[error(
        "data.path: {path} row {row}: column {column:?} {problem}; data.type {data_type} reads the columns {CNN_PROMPT:?} and {CNN_COMPLETION:?}"
    )]
    Column {
        path: String,
        row: usize,
        column: &'static str,
        problem: &'static str,
        data_type: &'static str,
    },
    #[error(
        "data.path: no row of {path} has a prompt and an answer within the length limits of data.input_distribution/output_distribution"
    )]
    Empty { path: String },
}

/// The prompts of a `cnn_dailymail` file, in inference-perf's order.
pub fn cnn_dailymail(
    path: &str,
    tokenizer: &Tokenizer,
    input: Option<&Distribution>,
    output: Option<&Distribution>,
) -> Result<Vec<SharePair>, DatasetError> {
    let (input, output) = (Limits::of(input, 1), Limits::of(output, 1));
    let mut pairs = Vec::new();
    let mut first = None;
    for_each_row(path, |row, value| {
        let text = |column: &'static str| -> Result<Option<String>, DatasetError> {
            let problem = match value.get(column) {
                None => "is missing",
                Some(Value::Null) => return Ok(None),
                Some(Value::String(text)) => return Ok(Some(text.clone())),
                Some(_) => "is not text",
            };
            Err(DatasetError::Column {
                path: path.into(),
                row,
                column,
                problem,
                data_type: "cnn_dailymail",
            })
        };
        let (Some(prompt), Some(completion)) = (text(CNN_PROMPT)?, text(CNN_COMPLETION)?) else {
            return Ok(());
        };
        let (prompt_tokens, output_tokens) =
            (tokenizer.count(&prompt), tokenizer.count(&completion));
        let pair = (!prompt.is_empty()
            && input.admit(prompt_tokens)
            && output.admit(output_tokens))
        .then(|| SharePair {
            prompt,
            output_tokens: output_tokens.min(u32::MAX as usize) as u32,
        });
        match row {
            0 => first = Some(pair),
            _ => pairs.extend(pair),
        }
        Ok(())
    })?;
    pairs.extend(first.flatten());
    if pairs.is_empty() {
        return Err(DatasetError::Empty { path: path.into() });
    }
    Ok(pairs)
}

/// Calls `f` with each row of the file (numbered from 0) as a JSON object, reading the file
/// row by row.
fn for_each_row(
    path: &str,
    mut f: impl FnMut(usize, Value) -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    let read_error = |reason: String| DatasetError::Read {
        path: path.into(),
        reason,
    };
    let file = File::open(path).map_err(|e| read_error(e.to_string()))?;
    if path.ends_with(".parquet") {
        let reader = SerializedFileReader::new(file)
            .map_err(|e| read_error(format!("not a Parquet file: {e}")))?;
        let rows = reader
            .get_row_iter(None)
            .map_err(|e| read_error(e.to_string()))?;
        for (row, record) in rows.enumerate() {
            let record = record.map_err(|e| read_error(format!("row {row}: {e}")))?;
            f(row, record.to_json_value())?;
        }
        return Ok(());
    }
    let mut row = 0;
    for (line, text) in BufReader::new(file).lines().enumerate() {
        let text = text.map_err(|e| read_error(e.to_string()))?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&text)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| DatasetError::Json {
                path: path.into(),
                line: line + 1,
                reason: serde_json::from_str::<Value>(&text)
                    .err()
                    .map_or_else(|| "another JSON value".into(), |e| e.to_string()),
            })?;
        f(row, value)?;
        row += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jsonl(rows: &[Value]) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cnn.jsonl");
        let text: Vec<String> = rows.iter().map(Value::to_string).collect();
        std::fs::write(&path, text.join("\n")).unwrap();
        (dir, path.display().to_string())
    }

    #[test]
    fn articles_are_prompts_from_the_second_row_on_and_highlights_set_lengths() {
        let (_dir, path) = jsonl(&[
            json!({"id": "0", "article": "first one", "highlights": "a b c"}),
            json!({"id": "1", "article": "second article here", "highlights": "x y"}),
            json!({"id": "2", "article": null, "highlights": "skipped"}),
            json!({"id": "3", "article": "", "highlights": "empty"}),
            json!({"id": "4", "article": "long long long long long long", "highlights": "z"}),
        ]);
        let pairs = cnn_dailymail(&path, &Tokenizer::BuiltIn, None, None).unwrap();
        let prompts: Vec<(&str, u32)> = pairs
            .iter()
            .map(|p| (p.prompt.as_str(), p.output_tokens))
            .collect();
        assert_eq!(
            prompts,
            [
                ("second article here", 2),
                ("long long long long long long", 1),
                ("first one", 3)
            ]
        );
        let short = Distribution {
            min: 1,
            max: 3,
            ..Default::default()
        };
        let filtered = cnn_dailymail(&path, &Tokenizer::BuiltIn, Some(&short), None).unwrap();
        assert_eq!(filtered.len(), 2);
    }

    #[test]
    fn a_missing_column_or_a_bad_line_is_named_with_its_row() {
        let (_dir, path) = jsonl(&[
            json!({"article": "a", "highlights": "b"}),
            json!({"article": "a", "summary": "b"}),
        ]);
        let error = cnn_dailymail(&path, &Tokenizer::BuiltIn, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cnn.jsonl row 1: column \"highlights\" is missing"),
            "{error}"
        );
        let (_dir, path) = jsonl(&[json!({"article": "a", "highlights": "b"}), json!([1])]);
        let error = cnn_dailymail(&path, &Tokenizer::BuiltIn, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cnn.jsonl line 2: not a JSON object"),
            "{error}"
        );
        let error = cnn_dailymail("/nonexistent.parquet", &Tokenizer::BuiltIn, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("data.path: cannot read /nonexistent.parquet"),
            "{error}"
        );
    }
}
