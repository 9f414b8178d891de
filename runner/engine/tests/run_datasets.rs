//! Hugging Face datasets read from files in their published formats, end to end against the
//! simulator: every prompt comes from the file, in inference-perf's order, with its answer's
//! length as `max_tokens`.

use std::sync::Arc;

use ibench_testkit as common;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::{Value, json};

/// `(article, highlights)` rows: highlights of 1, 2 and 3 words.
const ROWS: [(&str, &str); 3] = [
    ("the first article of the file", "one"),
    ("a second story about rivers", "two words"),
    ("third and last piece", "three words here"),
];

/// The rows as a snappy-compressed Parquet file with the dataset's columns, as the hub has it.
fn write_parquet(path: &std::path::Path) {
    let schema = parse_message_type(
        "message schema { REQUIRED BYTE_ARRAY article (UTF8); REQUIRED BYTE_ARRAY highlights (UTF8); REQUIRED BYTE_ARRAY id (UTF8); }",
    )
    .unwrap();
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer =
        SerializedFileWriter::new(file, Arc::new(schema), Arc::new(properties)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let columns: [Vec<&str>; 3] = [
        ROWS.iter().map(|r| r.0).collect(),
        ROWS.iter().map(|r| r.1).collect(),
        vec!["a", "b", "c"],
    ];
    for values in columns {
        let mut column = group.next_column().unwrap().unwrap();
        let bytes: Vec<ByteArray> = values.iter().map(|v| ByteArray::from(*v)).collect();
        column
            .typed::<ByteArrayType>()
            .write_batch(&bytes, None, None)
            .unwrap();
        column.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
}

fn write_json_lines(path: &std::path::Path) {
    let lines: Vec<String> = ROWS
        .iter()
        .map(|(article, highlights)| {
            json!({"article": article, "highlights": highlights}).to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// Runs 12 requests of `data` with one worker (which sends in plan order) against a recording
/// simulator; returns each request's prompt (a chat request's one user message) and
/// `max_tokens`, in the order sent.
async fn asked(api: &str, data: &str) -> Vec<(String, u64)> {
    let sim = common::recording_sim(100).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "api: {{type: {api}}}\ndata: {data}\nload: {{stages: [{{rate: 12, duration: 1}}], num_workers: 1, base_seed: 2}}"
    );
    let outcome = common::run(common::config(&sim.base_url(), dir.path(), &yaml)).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 12, "{data}");
    let mut requests = sim.requests();
    assert_eq!(requests.len(), 12, "{data}");
    requests.sort_by_key(|r| r.seq);
    requests
        .iter()
        .map(|request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let prompt = match api {
                "chat" => {
                    assert_eq!(body["messages"].as_array().map(Vec::len), Some(1), "{body}");
                    assert_eq!(body["messages"][0]["role"], "user");
                    &body["messages"][0]["content"]
                }
                _ => &body["prompt"],
            };
            let prompt = prompt.as_str().unwrap().to_string();
            (prompt, body["max_tokens"].as_u64().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cnn_dailymail_prompts_come_from_parquet_and_json_lines_files() {
    let files = tempfile::tempdir().unwrap();
    let parquet = files.path().join("train-00000-of-00001.parquet");
    write_parquet(&parquet);
    let json_lines = files.path().join("train.jsonl");
    write_json_lines(&json_lines);
    for file in [parquet, json_lines] {
        let data = format!("{{type: cnn_dailymail, path: '{}'}}", file.display());
        let mut seen = Vec::new();
        for (prompt, max_tokens) in asked("completion", &data).await {
            let row = ROWS
                .iter()
                .position(|r| r.0 == prompt)
                .unwrap_or_else(|| panic!("{prompt:?} is not a row of {}", file.display()));
            assert_eq!(max_tokens, row as u64 + 1, "the highlights' length");
            seen.push(row);
        }
        // The second row first, the first last.
        assert_eq!(seen[..3], [1, 2, 0], "{}", file.display());
    }
}

/// infinity_instruct rows as JSON Lines: the first is never asked, the third has no answer.
const INFINITY_ROWS: &str = r#"{"conversations": [{"from": "human", "value": "the opening row"}, {"from": "gpt", "value": "never asked"}]}
{"conversations": [{"from": "human", "value": "first question"}, {"from": "gpt", "value": "one"}, {"from": "human", "value": "follow up"}, {"from": "gpt", "value": "two words"}]}
{"conversations": [{"from": "human", "value": "unanswered"}, {"from": "gpt", "value": "x"}, {"from": "human", "value": "left open"}]}
{"conversations": [{"from": "human", "value": "second question"}, {"from": "gpt", "value": "three words here"}]}
"#;

/// billsum_conversations rows as the JSON list inference-perf reads: the third has one turn.
const BILLSUM_ROWS: &str = r#"[
  {"conversations": [{"from": "human", "value": "bill zero"}, {"from": "gpt", "value": "one"}]},
  {"conversations": [{"from": "human", "value": "bill one text"}, {"from": "gpt", "value": "two words"}]},
  {"conversations": [{"from": "human", "value": "a bill with no summary"}]},
  {"conversations": [{"from": "human", "value": "bill three"}, {"from": "gpt", "value": "three words here"}]}
]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinity_instruct_asks_the_turns_before_each_answer_from_json_lines() {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("infinity.jsonl");
    std::fs::write(&path, INFINITY_ROWS).unwrap();
    let data = format!("{{type: infinity_instruct, path: '{}'}}", path.display());
    let expected = [
        ("first question\none\nfollow up", 2),
        ("second question", 3),
    ];
    for api in ["completion", "chat"] {
        for (k, (prompt, max_tokens)) in asked(api, &data).await.iter().enumerate() {
            assert_eq!(
                (prompt.as_str(), *max_tokens),
                expected[k % 2],
                "{api} request {k}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billsum_conversations_asks_first_turns_from_a_json_list_the_first_row_last() {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("billsum_conversations.json");
    std::fs::write(&path, BILLSUM_ROWS).unwrap();
    let data = format!(
        "{{type: billsum_conversations, path: '{}', output_distribution: {{min: 1, max: 2}}}}",
        path.display()
    );
    let expected = [("bill one text", 2), ("bill zero", 1)];
    for (k, (prompt, max_tokens)) in asked("completion", &data).await.iter().enumerate() {
        assert_eq!(
            (prompt.as_str(), *max_tokens),
            expected[k % 2],
            "request {k}: the summary of three words is filtered out, the first row comes last"
        );
    }
}

#[tokio::test]
async fn a_dataset_without_its_column_is_refused_naming_file_row_and_column() {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("bad.jsonl");
    std::fs::write(&path, "{\"article\": \"a\", \"summary\": \"b\"}\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "data: {{type: cnn_dailymail, path: '{}'}}\nload: {{stages: [{{rate: 1, duration: 1}}]}}",
        path.display()
    );
    let config = common::config("http://127.0.0.1:9", dir.path(), &yaml);
    let resolved = ibench_core::config::ResolvedConfig::resolve(config, chrono::Local::now());
    let Err(error) = ibench_core::plan::Plan::build(&resolved) else {
        panic!("a dataset without its column is refused");
    };
    let error = error.to_string();
    assert!(
        error.contains("bad.jsonl row 0: column \"highlights\" is missing"),
        "{error}"
    );
}
