//! `visionarena`: rows of lmarena-ai/VisionArena-Chat, as inference-perf 0.7.0's generator
//! reads them. The prompt is the first user turn of `conversation` (a list of turns, each a list
//! of `{role, content}` messages or one message) whose content is text with more than
//! whitespace; the images are the `images` column's `{bytes}` (base64 in JSON Lines, binary in
//! Parquet), the first `max_images_per_request` of them, passed through unchanged as `data:`
//! URLs when they are PNG, JPEG or WebP and left out otherwise. Rows without a prompt or without
//! an image left are skipped; the first `num_rows` usable rows are the pool, which request `i`
//! cycles through (row `i mod rows`).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::error::DatasetError;
use super::rows;
use crate::config::VisionArenaConfig;
use crate::media;
use crate::plan::request::ImagePart;

const NAME: &str = "visionarena";
const READS: &str = "the columns \"conversation\" (turns of {\"role\", \"content\"}) and \"images\" (a list of {\"bytes\"})";

/// A usable row: its prompt and images, placed at the configured point of the prompt.
#[derive(Debug, Clone)]
pub struct VisionRow {
    pub prompt: String,
    pub images: Vec<ImagePart>,
}

/// The pool of rows of the file at `path`, in file order.
pub fn read(path: &str, config: &VisionArenaConfig) -> Result<Vec<VisionRow>, DatasetError> {
    let wanted = config.num_rows.max(1) as usize;
    let per_request = config.max_images_per_request.max(1) as usize;
    let mut pool = Vec::new();
    let column = |row: usize, column: &str, problem: &'static str| DatasetError::Column {
        path: path.into(),
        row,
        column: column.into(),
        problem,
        data_type: NAME,
        reads: READS,
    };
    let result = rows::for_each(path, |row, value| {
        if pool.len() == wanted {
            return Err(DatasetError::Enough);
        }
        let Some(conversation) = value.get("conversation") else {
            return Err(column(row, "conversation", "is missing"));
        };
        let Some(images) = value.get("images") else {
            return Err(column(row, "images", "is missing"));
        };
        let Some(prompt) = first_user_turn(conversation) else {
            return Ok(());
        };
        let at = char_boundary(prompt, config.insertion_point);
        let mut parts = Vec::new();
        for (k, image) in images
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .take(per_request)
            .enumerate()
        {
            let Some(encoded) = image.get("bytes").and_then(Value::as_str) else {
                continue;
            };
            let bytes = STANDARD.decode(encoded).map_err(|_| {
                column(
                    row,
                    &format!("images[{k}].bytes"),
                    "is not base64-encoded bytes",
                )
            })?;
            if let Some(probe) = media::probe(&bytes) {
                parts.push(ImagePart {
                    at,
                    url: Arc::from(media::data_url(probe.encoding, &bytes)),
                    width: probe.width,
                    height: probe.height,
                    bytes: bytes.len(),
                });
            }
        }
        if !parts.is_empty() {
            pool.push(VisionRow {
                prompt: prompt.to_owned(),
                images: parts,
            });
        }
        Ok(())
    });
    match result {
        Ok(()) | Err(DatasetError::Enough) => {}
        Err(e) => return Err(e),
    }
    if pool.is_empty() {
        return Err(DatasetError::NoImageRows {
            path: path.into(),
            reads: READS,
        });
    }
    Ok(pool)
}

/// The first user message with text beyond whitespace, in turns that are lists of messages
/// (as the dataset declares them) or messages.
fn first_user_turn(conversation: &Value) -> Option<&str> {
    conversation
        .as_array()?
        .iter()
        .flat_map(|turn| match turn {
            Value::Array(messages) => messages.iter().collect(),
            message => vec![message],
        })
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .find_map(|m| {
            m.get("content")
                .and_then(Value::as_str)
                .filter(|c| !c.trim().is_empty())
        })
}

/// The byte offset of inference-perf's insertion point: character `point × length`.
fn char_boundary(text: &str, point: f64) -> usize {
    let index = (point * text.chars().count() as f64) as usize;
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(b, _)| b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Encoding, solid};
    use serde_json::json;

    use super::super::tests::{Leaf, write_parquet};
    use parquet::data_type::ByteArray;
    use parquet::schema::parser::parse_message_type;

    /// A row: its `(role, content)` turns and its images' bytes.
    type Row = (Vec<(&'static str, &'static str)>, Vec<Vec<u8>>);

    fn rows() -> Vec<Row> {
        let png = solid(30, 20, [1, 2, 3], Encoding::Png);
        let jpeg = solid(8, 6, [9, 9, 9], Encoding::Jpeg);
        vec![
            // No user turn: skipped.
            (vec![("assistant", "hello")], vec![png.clone()]),
            (
                vec![("user", "  "), ("user", "what is this?")],
                vec![png.clone(), jpeg.clone()],
            ),
            // No readable image (GIF): skipped.
            (vec![("user", "and this?")], vec![b"GIF89a....".to_vec()]),
            (vec![("user", "héllo")], vec![jpeg]),
            (vec![("user", "last")], vec![png]),
        ]
    }

    /// The rows as pyarrow writes them: nullable lists of nullable structs, the image bytes
    /// binary.
    fn write_rows_parquet(path: &std::path::Path, rows: &[Row]) {
        let schema = parse_message_type(
            "message schema {
                OPTIONAL group conversation (LIST) {
                    REPEATED group list {
                        OPTIONAL group element {
                            OPTIONAL BYTE_ARRAY role (UTF8);
                            OPTIONAL BYTE_ARRAY content (UTF8);
                        }
                    }
                }
                OPTIONAL group images (LIST) {
                    REPEATED group list {
                        OPTIONAL group element {
                            OPTIONAL BYTE_ARRAY bytes;
                        }
                    }
                }
            }",
        )
        .unwrap();
        // The leaf columns in schema order: role, content, image bytes; every list here has
        // an element (definition level 4), the next one at repetition level 1.
        let columns = [0, 1, 2].map(|column| {
            let mut leaf = Leaf::default();
            for row in rows {
                let values: Vec<ByteArray> = match column {
                    0 => row.0.iter().map(|t| ByteArray::from(t.0)).collect(),
                    1 => row.0.iter().map(|t| ByteArray::from(t.1)).collect(),
                    _ => row.1.iter().map(|b| ByteArray::from(b.clone())).collect(),
                };
                for (k, value) in values.into_iter().enumerate() {
                    leaf.values.push(value);
                    leaf.definitions.push(4);
                    leaf.repetitions.push(i16::from(k > 0));
                }
            }
            leaf
        });
        write_parquet(path, schema, columns);
    }

    /// The rows as JSON Lines, turns in the dataset's nesting (each a list of one message) and
    /// image bytes in base64.
    fn write_json_lines(path: &std::path::Path, rows: &[Row]) {
        let lines: Vec<String> = rows
            .iter()
            .map(|(turns, images)| {
                json!({
                    "conversation": turns.iter().map(|(role, content)| json!([{"role": role, "content": content}])).collect::<Vec<_>>(),
                    "images": images.iter().map(|b| json!({"bytes": STANDARD.encode(b), "path": null})).collect::<Vec<_>>(),
                })
                .to_string()
            })
            .collect();
        std::fs::write(path, lines.join("\n")).unwrap();
    }

    #[test]
    fn parquet_and_json_lines_give_the_same_pool() {
        let dir = tempfile::tempdir().unwrap();
        let parquet = dir.path().join("train-00000-of-00001.parquet");
        let lines = dir.path().join("visionarena.jsonl");
        write_rows_parquet(&parquet, &rows());
        write_json_lines(&lines, &rows());
        let config = VisionArenaConfig {
            max_images_per_request: 2,
            insertion_point: 0.5,
            ..Default::default()
        };
        for path in [&parquet, &lines] {
            let pool = read(path.to_str().unwrap(), &config).unwrap();
            let prompts: Vec<&str> = pool.iter().map(|r| r.prompt.as_str()).collect();
            assert_eq!(prompts, ["what is this?", "héllo", "last"], "{path:?}");
            let sizes: Vec<Vec<(u32, u32)>> = pool
                .iter()
                .map(|r| r.images.iter().map(|i| (i.width, i.height)).collect())
                .collect();
            assert_eq!(
                sizes,
                [vec![(30, 20), (8, 6)], vec![(8, 6)], vec![(30, 20)]]
            );
            let first = &pool[0].images[0];
            let png = solid(30, 20, [1, 2, 3], Encoding::Png);
            assert_eq!(
                *first.url,
                media::data_url(Encoding::Png, &png),
                "bytes passed through"
            );
            assert_eq!(first.bytes, png.len());
            assert!(pool[1].images[0].url.starts_with("data:image/jpeg;base64,"));
            // Half of "what is this?" (13 characters) is character 6; of "héllo" character 2.
            assert_eq!(first.at, 6);
            assert_eq!(pool[1].images[0].at, "hé".len());
        }
        let capped = VisionArenaConfig {
            num_rows: 2,
            ..Default::default()
        };
        let pool = read(lines.to_str().unwrap(), &capped).unwrap();
        assert_eq!(pool.len(), 2, "num_rows caps the pool");
        assert_eq!(
            pool[0].images.len(),
            1,
            "max_images_per_request defaults to 1"
        );
        assert_eq!(pool[0].images[0].at, 0, "insertion_point defaults to 0");
    }

    #[test]
    fn a_file_without_the_columns_or_usable_rows_is_refused_with_what_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.jsonl");
        std::fs::write(&path, r#"{"conversations": [], "images": []}"#).unwrap();
        let err = read(path.to_str().unwrap(), &VisionArenaConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 0: column \"conversation\" is missing; data.type visionarena reads the columns \"conversation\""), "{err}");
        std::fs::write(
            &path,
            r#"{"conversation": [{"role": "user", "content": "hi"}], "images": []}"#,
        )
        .unwrap();
        let err = read(path.to_str().unwrap(), &VisionArenaConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("data.path: no row of"), "{err}");
        std::fs::write(
            &path,
            r#"{"conversation": [{"role": "user", "content": "hi"}], "images": [{"bytes": "%%"}]}"#,
        )
        .unwrap();
        let err = read(path.to_str().unwrap(), &VisionArenaConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column \"images[0].bytes\" is not base64-encoded bytes"),
            "{err}"
        );
    }
}
