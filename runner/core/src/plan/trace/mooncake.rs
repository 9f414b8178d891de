//! Mooncake traces (FAST'25; what aiperf replays): JSON Lines of
//! `{"timestamp": 27482, "input_length": 6955, "output_length": 52, "hash_ids": [46, 47, …]}`,
//! `timestamp` in milliseconds from the trace's start, lengths in tokens. Each hash id names one
//! block of `block_size` prompt tokens; lines whose ids start alike share that prompt prefix.
//!
//! Lines must be in time order: a trace is recorded that way, so a timestamp earlier than the
//! line before is a damaged or concatenated file, which sorting would hide.

use std::io::BufRead;
use std::path::Path;

use serde_json::{Map, Value};

use super::{TraceError, TraceRow};

/// The fields a line may have; anything else would be silently dropped from the replay.
const FIELDS: [&str; 4] = ["timestamp", "input_length", "output_length", "hash_ids"];

pub fn read(path: &Path, block_size: u32) -> Result<Vec<TraceRow>, TraceError> {
    let display = path.display().to_string();
    let io_error = |source| TraceError::Io {
        path: display.clone(),
        source,
    };
    let file = std::io::BufReader::new(std::fs::File::open(path).map_err(io_error)?);
    let mut rows = Vec::new();
    let mut first_ms = None;
    let mut previous_ms = f64::NEG_INFINITY;
    for (n, line) in file.lines().enumerate() {
        let line = line.map_err(io_error)?;
        if line.trim().is_empty() {
            continue;
        }
        let row_error = |reason: String| TraceError::Row {
            path: display.clone(),
            line: n as u64 + 1,
            reason,
        };
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&line) else {
            return Err(row_error(
                "not a JSON object (one request per line: timestamp, input_length, output_length, hash_ids)".into(),
            ));
        };
        let (timestamp, row) = parse(&fields, block_size).map_err(row_error)?;
        if timestamp < previous_ms {
            return Err(row_error(format!(
                "timestamp {timestamp} is earlier than the line before ({previous_ms}): lines must be in time order; sort the file by timestamp"
            )));
        }
        previous_ms = timestamp;
        let first = *first_ms.get_or_insert(timestamp);
        rows.push(TraceRow {
            offset: (timestamp - first) / 1000.0,
            ..row
        });
    }
    if rows.is_empty() {
        return Err(TraceError::Empty { path: display });
    }
    Ok(rows)
}

/// A line's timestamp (ms) and its row (offset not yet known).
fn parse(fields: &Map<String, Value>, block_size: u32) -> Result<(f64, TraceRow), String> {
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "unknown field `{unknown}`; a Mooncake line has {}",
            FIELDS.join(", ")
        ));
    }
    let required = |name: &str, what: &str| {
        fields
            .get(name)
            .ok_or_else(|| format!("missing field `{name}` ({what})"))
    };
    let timestamp = required("timestamp", "milliseconds from the trace's start")?
        .as_f64()
        .filter(|t| t.is_finite() && *t >= 0.0)
        .ok_or_else(|| "`timestamp` must be a number of milliseconds >= 0".to_string())?;
    let tokens = |name: &str, min: u64| -> Result<u32, String> {
        let value = required(name, "tokens")?;
        value
            .as_u64()
            .filter(|n| *n >= min)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("`{name}` must be an integer >= {min}, got {value}"))
    };
    let input_length = tokens("input_length", 0)?;
    // A server refuses to generate nothing: such a line could only fail.
    let output_length = tokens("output_length", 1)?;
    let hash_ids = match fields.get("hash_ids") {
        None | Some(Value::Null) => Box::default(),
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|id| {
                id.as_u64()
                    .ok_or_else(|| format!("`hash_ids` must hold integers >= 0, got {id}"))
            })
            .collect::<Result<Box<[u64]>, String>>()?,
        Some(other) => {
            return Err(format!(
                "`hash_ids` must be a list of integers, got {other}"
            ));
        }
    };
    if !hash_ids.is_empty() {
        let needed = input_length.div_ceil(block_size) as usize;
        if hash_ids.len() != needed {
            return Err(format!(
                "`hash_ids` has {} blocks of {block_size} tokens, but input_length {input_length} needs {needed} (the last one may be partial); fix the line, or set the trace's block_size to the one it was made with",
                hash_ids.len()
            ));
        }
    }
    Ok((
        timestamp,
        TraceRow {
            offset: 0.0,
            context_tokens: input_length,
            generated_tokens: output_length,
            hash_ids,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn trace(text: &str, block_size: u32) -> Result<Vec<TraceRow>, TraceError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        read(file.path(), block_size)
    }

    #[test]
    fn offsets_follow_timestamps_and_blocks_cover_the_input() {
        let rows = trace(
            "{\"timestamp\": 1000, \"input_length\": 1025, \"output_length\": 7, \"hash_ids\": [0, 1, 2]}\n\
             \n\
             {\"timestamp\": 1000, \"input_length\": 512, \"output_length\": 1, \"hash_ids\": [0]}\n\
             {\"timestamp\": 3500.5, \"input_length\": 40, \"output_length\": 3}\n",
            512,
        )
        .unwrap();
        let offsets: Vec<f64> = rows.iter().map(|r| r.offset).collect();
        assert_eq!(offsets[..2], [0.0, 0.0]);
        assert!((offsets[2] - 2.5005).abs() < 1e-12, "{offsets:?}");
        assert_eq!(
            (
                rows[0].context_tokens,
                rows[0].generated_tokens,
                &*rows[0].hash_ids
            ),
            (1025, 7, &[0, 1, 2][..])
        );
        assert!(rows[2].hash_ids.is_empty());
    }

    /// The error of the second line of a trace whose first line is valid.
    fn second_line_error(line: &str, block_size: u32) -> String {
        let text = format!(
            "{{\"timestamp\": 500, \"input_length\": 3, \"output_length\": 2, \"hash_ids\": [9]}}\n{line}\n"
        );
        let error = trace(&text, block_size).unwrap_err().to_string();
        assert!(error.contains(", line 2: "), "{error}");
        error.split(", line 2: ").nth(1).unwrap().to_string()
    }

    #[test]
    fn bad_lines_name_the_line_and_the_field() {
        for (line, block_size, expected) in [
            (
                r#"{"input_length": 3, "output_length": 2}"#,
                512,
                "missing field `timestamp` (milliseconds from the trace's start)",
            ),
            (
                r#"{"timestamp": 400, "input_length": 3, "output_length": 2}"#,
                512,
                "timestamp 400 is earlier than the line before (500): lines must be in time order; sort the file by timestamp",
            ),
            (
                r#"{"timestamp": 600, "input_length": -3, "output_length": 2}"#,
                512,
                "`input_length` must be an integer >= 0, got -3",
            ),
            (
                r#"{"timestamp": 600, "input_length": 3, "output_length": 0}"#,
                512,
                "`output_length` must be an integer >= 1, got 0",
            ),
            (
                r#"{"timestamp": 600, "input_length": 3}"#,
                512,
                "missing field `output_length` (tokens)",
            ),
            (
                r#"{"timestamp": 600, "input_length": 1030, "output_length": 2, "hash_ids": [1, 2]}"#,
                512,
                "`hash_ids` has 2 blocks of 512 tokens, but input_length 1030 needs 3",
            ),
            (
                r#"{"timestamp": 600, "input_length": 30, "output_length": 2, "hash_ids": [1, "a"]}"#,
                16,
                "`hash_ids` must hold integers >= 0, got \"a\"",
            ),
            (
                r#"{"timestamp": 600, "input_length": 3, "output_length": 2, "session_id": "s"}"#,
                512,
                "unknown field `session_id`",
            ),
            ("[1, 2]", 512, "not a JSON object"),
        ] {
            let error = second_line_error(line, block_size);
            assert!(error.starts_with(expected), "{line}: {error}");
        }
        assert!(matches!(trace("\n\n", 512), Err(TraceError::Empty { .. })));
    }
}
