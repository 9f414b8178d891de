//! Datasets inference-perf reads with `datasets.load_dataset`, read here from `data.path` (a
//! local file, or the local copy of an object URL fetched before the run) in the forms the hub
//! publishes and inference-perf's docs name: Parquet, JSON Lines or a JSON list (see [`rows`]).
//! Each row gives at most one prompt and the token count of its answer as `max_tokens`; rows
//! inference-perf skips (a null or empty prompt, …) are skipped, and
//! `input_distribution`/`output_distribution` `min` and `max` filter the rest.
//!
//! - `cnn_dailymail`: the `article` is the prompt, the `highlights` the answer.
//! - `billsum_conversations`: `conversations` (`[{from, value}, …]`, at least two turns): the
//!   first turn's `value` is the prompt, the second's the answer, whoever speaks them.
//! - `infinity_instruct`: `conversations` ending in a `gpt` turn, the answer; the turns before
//!   it, joined by newlines, are the prompt.
//!
//! inference-perf takes the first row before the first request: `cnn_dailymail` (cycled) and
//! `billsum_conversations` (restarted from the top when it runs out) ask it after the others,
//! so the requests start at the second row and the first comes last; `infinity_instruct` reads
//! the file once and never asks it (inference-perf stops when the rows run out; here they start
//! over from the second).

mod error;
mod rows;
mod vision_arena;

pub use error::DatasetError;
pub use vision_arena::{RemoteImage, VisionRow, read as read_vision_arena};

use std::ops::ControlFlow;

use serde_json::Value;

use super::share_gpt::{Limits, SharePair};
use crate::config::{DataType, Distribution};
use crate::tokenize::Tokenizer;

/// The datasets read here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    CnnDailymail,
    InfinityInstruct,
    BillsumConversations,
}

/// What is wrong with a row: its column (a path into it) and how.
struct Problem {
    column: String,
    problem: &'static str,
}

/// A row's prompt and answer, or `None` for a row inference-perf skips.
type Exchange = Option<(String, String)>;

impl Dataset {
    /// The dataset a data type reads, if it is one of these.
    pub fn of(data_type: DataType) -> Option<Dataset> {
        match data_type {
            DataType::CnnDailymail => Some(Dataset::CnnDailymail),
            DataType::InfinityInstruct => Some(Dataset::InfinityInstruct),
            DataType::BillsumConversations => Some(Dataset::BillsumConversations),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Dataset::CnnDailymail => "cnn_dailymail",
            Dataset::InfinityInstruct => "infinity_instruct",
            Dataset::BillsumConversations => "billsum_conversations",
        }
    }

    fn reads(self) -> &'static str {
        match self {
            Dataset::CnnDailymail => "the columns \"article\" and \"highlights\"",
            _ => "the column \"conversations\": a list of {\"from\", \"value\"} turns",
        }
    }

    fn exchange(self, row: &Value) -> Result<Exchange, Problem> {
        match self {
            Dataset::CnnDailymail => {
                let (prompt, answer) = (text(row, "article")?, text(row, "highlights")?);
                Ok(prompt
                    .zip(answer)
                    .map(|(p, a)| (p.to_owned(), a.to_owned())))
            }
            Dataset::BillsumConversations => {
                let turns = match conversations(row)? {
                    Some(turns) if turns.len() >= 2 => turns,
                    _ => return Ok(None),
                };
                let (prompt, answer) = (turn_value(&turns[0], 0)?, turn_value(&turns[1], 1)?);
                Ok(prompt
                    .zip(answer)
                    .map(|(p, a)| (p.to_owned(), a.to_owned())))
            }
            Dataset::InfinityInstruct => {
                let Some((last, asked)) = conversations(row)?.and_then(|t| t.split_last()) else {
                    return Ok(None);
                };
                if turn(last, asked.len())?.get("from").and_then(Value::as_str) != Some("gpt") {
                    return Ok(None);
                }
                let Some(answer) = turn_value(last, asked.len())? else {
                    return Ok(None);
                };
                let mut prompt = Vec::with_capacity(asked.len());
                for (k, asked) in asked.iter().enumerate() {
                    let Some(value) = turn_value(asked, k)? else {
                        return Ok(None);
                    };
                    prompt.push(value);
                }
                Ok(Some((prompt.join("\n"), answer.to_owned())))
            }
        }
    }
}

/// A text column: `None` when null.
fn text<'a>(row: &'a Value, column: &str) -> Result<Option<&'a str>, Problem> {
    let problem = match row.get(column) {
        None => "is missing",
        Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => return Ok(Some(text)),
        Some(_) => "is not text",
    };
    Err(Problem {
        column: column.into(),
        problem,
    })
}

/// The `conversations` column: `None` when null.
fn conversations(row: &Value) -> Result<Option<&[Value]>, Problem> {
    let problem = match row.get("conversations") {
        None => "is missing",
        Some(Value::Null) => return Ok(None),
        Some(Value::Array(turns)) => return Ok(Some(turns)),
        Some(_) => "is not a list of turns",
    };
    Err(Problem {
        column: "conversations".into(),
        problem,
    })
}

/// Turn `k` of a conversation.
fn turn(turn: &Value, k: usize) -> Result<&serde_json::Map<String, Value>, Problem> {
    turn.as_object().ok_or_else(|| Problem {
        column: format!("conversations[{k}]"),
        problem: "is not a {\"from\", \"value\"} object",
    })
}

/// The `value` of turn `k`: `None` when missing or null (which `datasets` reads a missing
/// field as).
fn turn_value(value: &Value, k: usize) -> Result<Option<&str>, Problem> {
    match turn(value, k)?.get("value") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Problem {
            column: format!("conversations[{k}].value"),
            problem: "is not text",
        }),
    }
}

/// The prompts of a dataset file, in inference-perf's order.
pub fn read(
    dataset: Dataset,
    path: &str,
    tokenizer: &Tokenizer,
    input: Option<&Distribution>,
    output: Option<&Distribution>,
) -> Result<Vec<SharePair>, DatasetError> {
    // An answer of no tokens cannot be asked for (max_tokens >= 1).
    let (input, output) = (Limits::of(input, 1), Limits::of(output, 1));
    let mut pairs = Vec::new();
    let mut first = None;
    rows::for_each(path, |row, value| {
        let exchange = dataset
            .exchange(&value)
            .map_err(|Problem { column, problem }| DatasetError::Column {
                path: path.into(),
                row,
                column,
                problem,
                data_type: dataset.name(),
                reads: dataset.reads(),
            })?;
        let pair = exchange.and_then(|(prompt, answer)| {
            let (prompt_tokens, output_tokens) =
                (tokenizer.count(&prompt), tokenizer.count(&answer));
            (!prompt.is_empty() && input.admit(prompt_tokens) && output.admit(output_tokens)).then(
                || SharePair {
                    prompt,
                    output_tokens: output_tokens.min(u32::MAX as usize) as u32,
                },
            )
        });
        match row {
            0 => first = Some(pair),
            _ => pairs.extend(pair),
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if dataset != Dataset::InfinityInstruct {
        pairs.extend(first.flatten());
    }
    if pairs.is_empty() {
        return Err(DatasetError::Empty { path: path.into() });
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    fn jsonl(name: &str, rows: &[Value]) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let text: Vec<String> = rows.iter().map(Value::to_string).collect();
        std::fs::write(&path, text.join("\n")).unwrap();
        (dir, path.display().to_string())
    }

    /// Rows of `conversations` (None: null) as pyarrow writes them to the hub: a nullable list
    /// of nullable `{from, value}` structs.
    fn conversations_parquet(rows: &[Option<Vec<(&str, &str)>>]) -> (tempfile::TempDir, String) {
        let schema = parse_message_type(
            "message schema {
                OPTIONAL group conversations (LIST) {
                    REPEATED group list {
                        OPTIONAL group element {
                            OPTIONAL BYTE_ARRAY from (UTF8);
                            OPTIONAL BYTE_ARRAY value (UTF8);
                        }
                    }
                }
            }",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train-00000-of-00001.parquet");
        let columns = [0, 1].map(|field| {
            // Definition level 4: a present field of a present turn; 1: an empty list; 0: a
            // null one. Repetition level 1: the next turn of the same list.
            let mut leaf = Leaf::default();
            for row in rows {
                let turns = match row {
                    None => &[][..],
                    Some(turns) => turns.as_slice(),
                };
                if turns.is_empty() {
                    leaf.definitions.push(i16::from(row.is_some()));
                    leaf.repetitions.push(0);
                }
                for (k, turn) in turns.iter().enumerate() {
                    leaf.values
                        .push(ByteArray::from(if field == 0 { turn.0 } else { turn.1 }));
                    leaf.definitions.push(4);
                    leaf.repetitions.push(i16::from(k > 0));
                }
            }
            leaf
        });
        write_parquet(&path, schema, columns);
        (dir, path.display().to_string())
    }

    /// The values and levels of one leaf column of byte arrays.
    #[derive(Default)]
    pub(super) struct Leaf {
        pub values: Vec<ByteArray>,
        pub definitions: Vec<i16>,
        pub repetitions: Vec<i16>,
    }

    /// A Parquet file of one row group with these leaf columns, in schema order.
    pub(super) fn write_parquet(
        path: &std::path::Path,
        schema: parquet::schema::types::Type,
        columns: impl IntoIterator<Item = Leaf>,
    ) {
        let file = std::fs::File::create(path).unwrap();
        let properties = Arc::new(WriterProperties::builder().build());
        let mut writer = SerializedFileWriter::new(file, Arc::new(schema), properties).unwrap();
        let mut group = writer.next_row_group().unwrap();
        for leaf in columns {
            let mut column = group.next_column().unwrap().unwrap();
            column
                .typed::<ByteArrayType>()
                .write_batch(
                    &leaf.values,
                    Some(&leaf.definitions),
                    Some(&leaf.repetitions),
                )
                .unwrap();
            column.close().unwrap();
        }
        group.close().unwrap();
        writer.close().unwrap();
    }

    fn asked(pairs: &[SharePair]) -> Vec<(&str, u32)> {
        pairs
            .iter()
            .map(|p| (p.prompt.as_str(), p.output_tokens))
            .collect()
    }

    fn read_all(dataset: Dataset, path: &str) -> Result<Vec<SharePair>, DatasetError> {
        read(dataset, path, &Tokenizer::BuiltIn, None, None)
    }

    #[test]
    fn articles_are_prompts_from_the_second_row_on_and_highlights_set_lengths() {
        let (_dir, path) = jsonl(
            "cnn.jsonl",
            &[
                json!({"id": "0", "article": "first one", "highlights": "a b c"}),
                json!({"id": "1", "article": "second article here", "highlights": "x y"}),
                json!({"id": "2", "article": null, "highlights": "skipped"}),
                json!({"id": "3", "article": "", "highlights": "empty"}),
                json!({"id": "4", "article": "long long long long long long", "highlights": "z"}),
            ],
        );
        let pairs = read_all(Dataset::CnnDailymail, &path).unwrap();
        assert_eq!(
            asked(&pairs),
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
        let filtered = read(
            Dataset::CnnDailymail,
            &path,
            &Tokenizer::BuiltIn,
            Some(&short),
            None,
        )
        .unwrap();
        assert_eq!(filtered.len(), 2);
    }

    #[test]
    fn a_missing_column_or_a_bad_line_is_named_with_its_row() {
        let (_dir, path) = jsonl(
            "cnn.jsonl",
            &[
                json!({"article": "a", "highlights": "b"}),
                json!({"article": "a", "summary": "b"}),
            ],
        );
        let error = read_all(Dataset::CnnDailymail, &path)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cnn.jsonl row 1: column \"highlights\" is missing"),
            "{error}"
        );
        let (_dir, path) = jsonl(
            "cnn.jsonl",
            &[json!({"article": "a", "highlights": "b"}), json!([1])],
        );
        let error = read_all(Dataset::CnnDailymail, &path)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cnn.jsonl line 2: not a JSON object"),
            "{error}"
        );
        let error = read_all(Dataset::CnnDailymail, "/nonexistent.parquet")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("data.path: cannot read /nonexistent.parquet"),
            "{error}"
        );
    }

    /// `(from, value)` turns as a `conversations` row.
    fn conversation(turns: &[(&str, &str)]) -> Value {
        let turns: Vec<Value> = turns
            .iter()
            .map(|(from, value)| json!({"from": from, "value": value}))
            .collect();
        json!({ "conversations": turns })
    }

    #[test]
    fn billsum_asks_the_first_turn_with_the_second_as_answer_the_first_row_last() {
        let rows = [
            conversation(&[("human", "first bill"), ("gpt", "a b c")]),
            conversation(&[
                ("human", "second bill text"),
                ("gpt", "x y"),
                ("human", "more"),
            ]),
            conversation(&[("human", "only one turn")]),
            json!({"conversations": null}),
            conversation(&[("gpt", "spoken by anyone"), ("human", "z")]),
            conversation(&[("human", ""), ("gpt", "empty prompt")]),
        ];
        let (_dir, path) = jsonl("billsum.jsonl", &rows);
        let expected = [
            ("second bill text", 2),
            ("spoken by anyone", 1),
            ("first bill", 3),
        ];
        assert_eq!(
            asked(&read_all(Dataset::BillsumConversations, &path).unwrap()),
            expected
        );
        // The same rows as a JSON list, as inference-perf's billsum_conversations.json.
        let (_dir, list) = jsonl("billsum.json", &[json!(rows)]);
        assert_eq!(
            asked(&read_all(Dataset::BillsumConversations, &list).unwrap()),
            expected
        );
        let long_answers = Distribution {
            min: 2,
            max: 10,
            ..Default::default()
        };
        let filtered = read(
            Dataset::BillsumConversations,
            &path,
            &Tokenizer::BuiltIn,
            None,
            Some(&long_answers),
        )
        .unwrap();
        assert_eq!(
            asked(&filtered),
            [("second bill text", 2), ("first bill", 3)]
        );
    }

    #[test]
    fn infinity_instruct_asks_the_turns_before_a_closing_gpt_answer_never_the_first_row() {
        let (_dir, path) = jsonl(
            "infinity.jsonl",
            &[
                conversation(&[("human", "never asked"), ("gpt", "a")]),
                conversation(&[
                    ("human", "q1"),
                    ("gpt", "a1"),
                    ("human", "q2"),
                    ("gpt", "x y z"),
                ]),
                conversation(&[("human", "no answer"), ("gpt", "a"), ("human", "left open")]),
                json!({"conversations": []}),
                json!({"conversations": [{"from": "human"}, {"from": "gpt", "value": "w"}]}),
                json!({"conversations": [{"from": "human", "value": null}, {"from": "gpt", "value": "w"}]}),
                conversation(&[("system", "be brief"), ("human", "hi"), ("gpt", "")]),
                conversation(&[("system", "be brief"), ("human", "hi"), ("gpt", "hello")]),
            ],
        );
        let pairs = read_all(Dataset::InfinityInstruct, &path).unwrap();
        assert_eq!(asked(&pairs), [("q1\na1\nq2", 3), ("be brief\nhi", 1)]);
        let (_dir, path) = jsonl(
            "infinity.jsonl",
            &[conversation(&[
                ("human", "only the first row"),
                ("gpt", "a"),
            ])],
        );
        assert!(matches!(
            read_all(Dataset::InfinityInstruct, &path),
            Err(DatasetError::Empty { .. })
        ));
    }

    #[test]
    fn conversations_come_from_the_hubs_parquet_layout() {
        let (_dir, path) = conversations_parquet(&[
            Some(vec![("human", "zero"), ("gpt", "a")]),
            Some(vec![
                ("human", "one two"),
                ("gpt", "b c"),
                ("human", "three"),
                ("gpt", "d e f"),
            ]),
            None,
            Some(vec![("human", "four"), ("gpt", "g")]),
        ]);
        assert_eq!(
            asked(&read_all(Dataset::InfinityInstruct, &path).unwrap()),
            [("one two\nb c\nthree", 3), ("four", 1)]
        );
        assert_eq!(
            asked(&read_all(Dataset::BillsumConversations, &path).unwrap()),
            [("one two", 2), ("four", 1), ("zero", 1)]
        );
    }

    #[test]
    fn a_malformed_conversation_is_named_with_its_row_and_turn() {
        let cases = [
            (json!({"turns": []}), "column \"conversations\" is missing"),
            (
                json!({"conversations": "hi"}),
                "column \"conversations\" is not a list of turns",
            ),
            (
                json!({"conversations": [{"from": "human", "value": "q"}, "gpt: a"]}),
                "column \"conversations[1]\" is not a {\"from\", \"value\"} object",
            ),
            (
                json!({"conversations": [{"from": "human", "value": 7}, {"from": "gpt", "value": "a"}]}),
                "column \"conversations[0].value\" is not text",
            ),
        ];
        for dataset in [Dataset::InfinityInstruct, Dataset::BillsumConversations] {
            for (row, expected) in &cases {
                let first = conversation(&[("human", "q"), ("gpt", "a")]);
                let (_dir, path) = jsonl("conv.jsonl", &[first, row.clone()]);
                let error = read_all(dataset, &path).unwrap_err().to_string();
                assert!(
                    error.contains(&format!("conv.jsonl row 1: {expected}"))
                        && error.contains(dataset.name()),
                    "{error}"
                );
            }
        }
    }
}
