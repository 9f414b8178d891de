//! The rows of a dataset file, one JSON object each, read one at a time: a Parquet file (by its
//! `.parquet` name or its `PAR1` magic), a JSON list of objects (the first character is `[`, as
//! in the `*_conversations.json` files inference-perf's docs name), or else JSON Lines. These
//! are the forms `datasets.load_dataset` reads for inference-perf, which the hub publishes.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::ops::ControlFlow;

use parquet::file::reader::{FileReader, SerializedFileReader};
use serde::Deserializer;
use serde::de::{Error as _, SeqAccess, Visitor};
use serde_json::Value;

use super::error::DatasetError;

/// Calls `f` with each row of the file at `path` (numbered from 0), until it breaks.
pub(super) fn for_each(
    path: &str,
    mut f: impl FnMut(usize, Value) -> Result<ControlFlow<()>, DatasetError>,
) -> Result<(), DatasetError> {
    let read_error = |reason: String| DatasetError::Read {
        path: path.into(),
        reason,
    };
    let mut file = File::open(path).map_err(|e| read_error(e.to_string()))?;
    let mut magic = [0; 4];
    let parquet =
        path.ends_with(".parquet") || (file.read_exact(&mut magic).is_ok() && magic == *b"PAR1");
    file.rewind().map_err(|e| read_error(e.to_string()))?;
    if parquet {
        let reader = SerializedFileReader::new(file)
            .map_err(|e| read_error(format!("not a Parquet file: {e}")))?;
        let rows = reader
            .get_row_iter(None)
            .map_err(|e| read_error(e.to_string()))?;
        for (row, record) in rows.enumerate() {
            let record = record.map_err(|e| read_error(format!("row {row}: {e}")))?;
            if f(row, record.to_json_value())?.is_break() {
                break;
            }
        }
        return Ok(());
    }
    let mut reader = BufReader::new(file);
    let start = reader.fill_buf().map_err(|e| read_error(e.to_string()))?;
    if start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return json_list(path, reader, &mut f);
    }
    let mut row = 0;
    for (line, text) in reader.lines().enumerate() {
        let text = text.map_err(|e| read_error(e.to_string()))?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&text)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| DatasetError::Json {
                path: path.into(),
                at: format!("line {}", line + 1),
                reason: serde_json::from_str::<Value>(&text).err().map_or_else(
                    || "not a JSON object".into(),
                    |e| format!("not a JSON object ({e})"),
                ),
            })?;
        if f(row, value)?.is_break() {
            break;
        }
        row += 1;
    }
    Ok(())
}

/// The elements of a JSON list, parsed one at a time so that a large file is never held whole.
fn json_list(
    path: &str,
    reader: impl Read,
    f: &mut impl FnMut(usize, Value) -> Result<ControlFlow<()>, DatasetError>,
) -> Result<(), DatasetError> {
    let mut stopped = None;
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let parsed = deserializer
        .deserialize_seq(Elements {
            path,
            f,
            stopped: &mut stopped,
        })
        .and_then(|()| deserializer.end());
    match (stopped, parsed) {
        (Some(outcome), _) => outcome,
        (None, Ok(())) => Ok(()),
        (None, Err(e)) => Err(DatasetError::Json {
            path: path.into(),
            at: format!("line {}", e.line()),
            reason: e.to_string(),
        }),
    }
}

struct Elements<'a, F> {
    path: &'a str,
    f: &'a mut F,
    /// Why the parse stopped early, which serde's error cannot carry: `f` broke off, or it
    /// (or the element's shape) refused a row.
    stopped: &'a mut Option<Result<(), DatasetError>>,
}

impl<'de, F: FnMut(usize, Value) -> Result<ControlFlow<()>, DatasetError>> Visitor<'de>
    for Elements<'_, F>
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of JSON objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut row = 0;
        while let Some(value) = seq.next_element::<Value>()? {
            let outcome = match value {
                Value::Object(_) => (self.f)(row, value),
                _ => Err(DatasetError::Json {
                    path: self.path.into(),
                    at: format!("row {row}"),
                    reason: "not a JSON object".into(),
                }),
            };
            match outcome {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => {
                    *self.stopped = Some(Ok(()));
                    return Err(A::Error::custom("enough rows"));
                }
                Err(error) => {
                    *self.stopped = Some(Err(error));
                    return Err(A::Error::custom("refused"));
                }
            }
            row += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Result<Vec<(usize, Value)>, DatasetError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.json");
        std::fs::write(&path, text).unwrap();
        let mut rows = Vec::new();
        for_each(path.to_str().unwrap(), |row, value| {
            rows.push((row, value));
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(rows)
    }

    #[test]
    fn a_json_list_and_json_lines_give_the_same_rows() {
        let list = rows(" \n[{\"a\": 1},\n {\"a\": 2}]\n").unwrap();
        let lines = rows("{\"a\": 1}\n\n{\"a\": 2}\n").unwrap();
        assert_eq!(list, lines);
        assert_eq!(list[1], (1, serde_json::json!({"a": 2})));
    }

    #[test]
    fn a_bad_element_or_a_broken_list_is_named_with_its_place() {
        let error = rows("[{\"a\": 1}, 7]").unwrap_err().to_string();
        assert!(
            error.contains("data.json row 1: not a JSON object"),
            "{error}"
        );
        let error = rows("[{\"a\": 1},\n{\"a\": 2}\n{\"a\": 3}]")
            .unwrap_err()
            .to_string();
        assert!(error.contains("data.json line 3: expected"), "{error}");
        let error = rows("[{\"a\": 1}] {}").unwrap_err().to_string();
        assert!(error.contains("trailing characters"), "{error}");
    }

    #[test]
    fn a_row_refused_by_the_caller_stops_the_list_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.json");
        std::fs::write(&path, "[{}, {}, {}]").unwrap();
        let mut seen = 0;
        let error = for_each(path.to_str().unwrap(), |row, _| {
            seen += 1;
            match row {
                1 => Err(DatasetError::Empty {
                    path: "stop".into(),
                }),
                _ => Ok(ControlFlow::Continue(())),
            }
        })
        .unwrap_err();
        assert!(matches!(error, DatasetError::Empty { path } if path == "stop"));
        assert_eq!(seen, 2);
    }

    #[test]
    fn a_caller_that_has_enough_rows_stops_the_reading_before_a_bad_row() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("list.json", "[{\"a\": 1}, {\"a\": 2}, 7, {\"a\": 3}]"),
            ("lines.jsonl", "{\"a\": 1}\n{\"a\": 2}\nnot json\n"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let mut seen = Vec::new();
            for_each(path.to_str().unwrap(), |row, value| {
                seen.push(value["a"].as_u64().unwrap());
                Ok(if row == 1 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(seen, [1, 2], "{name}");
        }
    }
}
