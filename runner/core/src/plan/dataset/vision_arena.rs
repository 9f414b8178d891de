//! `visionarena`: rows of lmarena-ai/VisionArena-Chat, as inference-perf 0.7.0's generator
//! reads them. The prompt is the first user turn of `conversation` (a list of turns, each a list
//! of `{role, content}` messages or one message) whose content is text with more than
//! whitespace; the images are the first `max_images_per_request` items of the `images` column.
//! An item is what Hugging Face's `Image` feature stores, `{bytes, path}`: its bytes (base64 in
//! JSON Lines, binary in Parquet) are passed through unchanged as a `data:` URL when they are
//! PNG, JPEG or WebP and left out otherwise; without bytes, its `path` (or the item itself, a
//! string, as the feature accepts one) must be an http(s) URL, which the request carries
//! verbatim for the model server to fetch. A local file name is refused: the hub's files embed
//! their images' bytes, a path alone is only read relative to wherever `datasets` runs, and the
//! model server cannot read the runner's files. Rows without a prompt or without an image left
//! are skipped; the first `num_rows` usable rows are the pool, which request `i` cycles through
//! (row `i mod rows`).

use std::collections::HashSet;
use std::ops::ControlFlow;
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
const READS: &str = "the columns \"conversation\" (turns of {\"role\", \"content\"}) and \"images\" (a list of {\"bytes\"} or {\"bytes\": null, \"path\": an http(s) URL})";

/// A usable row: its prompt and images, placed at the configured point of the prompt.
#[derive(Debug, Clone)]
pub struct VisionRow {
    pub prompt: String,
    pub images: Vec<ImagePart>,
}

/// An image the requests give by URL, for the model server to fetch, and where the file first
/// names it (its column a path into the row, e.g. `images[0].path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteImage {
    pub url: Arc<str>,
    pub file: String,
    pub row: usize,
    pub column: String,
}

/// The pool of rows of a file, in file order, and the distinct image URLs they send.
#[derive(Debug, Clone)]
pub struct VisionArena {
    pub rows: Vec<VisionRow>,
    pub remote: Vec<RemoteImage>,
}

/// Where an image's content is.
enum Content<'a> {
    Bytes(Vec<u8>),
    Url(&'a str),
}

/// The pool of rows of the file at `path`.
pub fn read(path: &str, config: &VisionArenaConfig) -> Result<VisionArena, DatasetError> {
    let wanted = config.num_rows.max(1) as usize;
    let per_request = config.max_images_per_request.max(1) as usize;
    let mut pool = Vec::new();
    let mut remote = Remote::default();
    rows::for_each(path, |row, value| {
        if pool.len() == wanted {
            return Ok(ControlFlow::Break(()));
        }
        let Some(conversation) = value.get("conversation") else {
            return Err(column_error(path, row, "conversation".into(), "is missing"));
        };
        let Some(images) = value.get("images") else {
            return Err(column_error(path, row, "images".into(), "is missing"));
        };
        let Some(prompt) = first_user_turn(conversation) else {
            return Ok(ControlFlow::Continue(()));
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
            match image_content(image, path, row, k)? {
                Some(Content::Bytes(bytes)) => {
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
                // inference-perf's RemoteImageSpec: the runner never sees the pixels, so it
                // measures nothing.
                Some(Content::Url(url)) => parts.push(ImagePart {
                    at,
                    url: remote.note(url, path, row, || url_column(image, k)),
                    width: 0,
                    height: 0,
                    bytes: 0,
                }),
                None => {}
            }
        }
        if !parts.is_empty() {
            pool.push(VisionRow {
                prompt: prompt.to_owned(),
                images: parts,
            });
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if pool.is_empty() {
        return Err(DatasetError::NoImageRows {
            path: path.into(),
            reads: READS,
        });
    }
    Ok(VisionArena {
        rows: pool,
        remote: remote.images,
    })
}

/// The distinct image URLs met so far, each with where it was first met.
#[derive(Default)]
struct Remote {
    seen: HashSet<Arc<str>>,
    images: Vec<RemoteImage>,
}

impl Remote {
    /// The URL `url`, shared by every row giving it; noted when first met.
    fn note(
        &mut self,
        url: &str,
        file: &str,
        row: usize,
        column: impl FnOnce() -> String,
    ) -> Arc<str> {
        if let Some(seen) = self.seen.get(url) {
            return seen.clone();
        }
        let url: Arc<str> = Arc::from(url);
        self.seen.insert(url.clone());
        self.images.push(RemoteImage {
            url: url.clone(),
            file: file.into(),
            row,
            column: column(),
        });
        url
    }
}

fn column_error(path: &str, row: usize, column: String, problem: &'static str) -> DatasetError {
    DatasetError::Column {
        path: path.into(),
        row,
        column,
        problem,
        data_type: NAME,
        reads: READS,
    }
}

/// The content of `images[k]` of row `row` of the file at `path`: bytes win over a path, as
/// in `datasets`; `None` for an item with neither (or of another shape), which inference-perf
/// skips too.
fn image_content<'a>(
    image: &'a Value,
    path: &str,
    row: usize,
    k: usize,
) -> Result<Option<Content<'a>>, DatasetError> {
    let url = match image {
        Value::String(url) => url,
        Value::Object(fields) => match (fields.get("bytes"), fields.get("path")) {
            (Some(Value::String(encoded)), _) => {
                let bytes = STANDARD.decode(encoded).map_err(|_| {
                    column_error(
                        path,
                        row,
                        format!("images[{k}].bytes"),
                        "is not base64-encoded bytes",
                    )
                })?;
                return Ok(Some(Content::Bytes(bytes)));
            }
            (_, Some(Value::String(url))) => url,
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    if !is_http_url(url) {
        return Err(DatasetError::ImagePath {
            path: path.into(),
            row,
            column: url_column(image, k),
            value: url.clone(),
        });
    }
    Ok(Some(Content::Url(url)))
}

/// The column an item's URL is read from: the item itself when it is a string.
fn url_column(image: &Value, k: usize) -> String {
    match image {
        Value::String(_) => format!("images[{k}]"),
        _ => format!("images[{k}].path"),
    }
}

/// An absolute http(s) URL with a host, which a model server can fetch.
fn is_http_url(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
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

    /// The dataset's columns as pyarrow writes them: nullable lists of nullable structs, an
    /// image's struct of `image_fields`.
    fn schema(image_fields: &str) -> parquet::schema::types::Type {
        parse_message_type(&format!(
            "message schema {{
                OPTIONAL group conversation (LIST) {{
                    REPEATED group list {{
                        OPTIONAL group element {{
                            OPTIONAL BYTE_ARRAY role (UTF8);
                            OPTIONAL BYTE_ARRAY content (UTF8);
                        }}
                    }}
                }}
                OPTIONAL group images (LIST) {{
                    REPEATED group list {{
                        OPTIONAL group element {{ {image_fields} }}
                    }}
                }}
            }}"
        ))
        .unwrap()
    }

    /// The rows as pyarrow writes them: nullable lists of nullable structs, the image bytes
    /// binary.
    fn write_rows_parquet(path: &std::path::Path, rows: &[Row]) {
        let schema = schema("OPTIONAL BYTE_ARRAY bytes;");
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
            let arena = read(path.to_str().unwrap(), &config).unwrap();
            assert!(arena.remote.is_empty());
            let pool = arena.rows;
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
        let pool = read(lines.to_str().unwrap(), &capped).unwrap().rows;
        assert_eq!(pool.len(), 2, "num_rows caps the pool");
        assert_eq!(
            pool[0].images.len(),
            1,
            "max_images_per_request defaults to 1"
        );
        assert_eq!(pool[0].images[0].at, 0, "insertion_point defaults to 0");
    }

    /// The JSON Lines file of `rows` in a new directory.
    fn json_lines(rows: &[Value]) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arena.jsonl");
        let lines: Vec<String> = rows.iter().map(Value::to_string).collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        (dir, path.display().to_string())
    }

    fn asking(prompt: &str, images: Value) -> Value {
        json!({"conversation": [[{"role": "user", "content": prompt}]], "images": images})
    }

    #[test]
    fn images_come_as_bytes_a_path_url_or_a_url_string_each_url_named_once() {
        let png = solid(4, 2, [1, 2, 3], Encoding::Png);
        let cat = "https://images.example.com/cat.png?size=large";
        let (_dir, path) = json_lines(&[
            // Bytes win over a path, as in `datasets` (a relative path beside bytes is a name).
            asking(
                "bytes",
                json!([{"bytes": STANDARD.encode(&png), "path": "cat.png"}]),
            ),
            asking("by path", json!([{"bytes": null, "path": cat}])),
            asking("no image", json!([{"bytes": null, "path": null}, {}, 7])),
            asking(
                "strings",
                json!(["http://127.0.0.1:9/dog.jpg", {"bytes": null, "path": cat}]),
            ),
        ]);
        let config = VisionArenaConfig {
            max_images_per_request: 3,
            ..Default::default()
        };
        let arena = read(&path, &config).unwrap();
        let sent: Vec<(&str, Vec<&str>)> = arena
            .rows
            .iter()
            .map(|r| {
                (
                    r.prompt.as_str(),
                    r.images.iter().map(|i| &*i.url).collect(),
                )
            })
            .collect();
        assert_eq!(
            sent,
            [
                ("bytes", vec![media::data_url(Encoding::Png, &png).as_str()]),
                ("by path", vec![cat]),
                ("strings", vec!["http://127.0.0.1:9/dog.jpg", cat]),
            ]
        );
        // A URL image is not measured (inference-perf's RemoteImageSpec): zeros.
        let remote = &arena.rows[1].images[0];
        assert_eq!((remote.width, remote.height, remote.bytes), (0, 0, 0));
        assert!(Arc::ptr_eq(&remote.url, &arena.rows[2].images[1].url));
        let named: Vec<(&str, usize, &str)> = arena
            .remote
            .iter()
            .map(|r| (&*r.url, r.row, r.column.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                (cat, 1, "images[0].path"),
                ("http://127.0.0.1:9/dog.jpg", 3, "images[0]"),
            ],
            "each distinct URL once, where it first appears"
        );
        assert!(arena.remote.iter().all(|r| r.file == path));
        // Images past max_images_per_request are neither sent nor checked.
        let one = read(&path, &VisionArenaConfig::default()).unwrap();
        assert_eq!(one.remote.len(), 2);
        assert_eq!(one.rows[2].images.len(), 1);
    }

    #[test]
    fn an_image_path_that_is_not_an_http_url_is_refused_naming_row_and_column() {
        for (image, column, value) in [
            (
                json!({"bytes": null, "path": "images/cat.png"}),
                "images[1].path",
                "images/cat.png",
            ),
            (json!("/data/cat.png"), "images[1]", "/data/cat.png"),
            (
                json!({"path": "ftp://host/cat.png"}),
                "images[1].path",
                "ftp://host/cat.png",
            ),
            (json!("https://"), "images[1]", "https://"),
        ] {
            let png = solid(2, 2, [0, 0, 0], Encoding::Png);
            let (_dir, path) = json_lines(&[
                asking("fine", json!([{"bytes": STANDARD.encode(&png)}])),
                asking("bad", json!([{"bytes": STANDARD.encode(&png)}, image])),
            ]);
            let config = VisionArenaConfig {
                max_images_per_request: 2,
                ..Default::default()
            };
            let err = read(&path, &config).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!(
                    "data.path: {path} row 1: column {column:?} is {value:?}, not an http(s) URL"
                )) && err.contains("give the image's bytes instead"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_parquet_image_without_bytes_is_read_from_its_path() {
        let schema = schema("OPTIONAL BYTE_ARRAY bytes; OPTIONAL BYTE_ARRAY path (UTF8);");
        let png = solid(3, 3, [4, 5, 6], Encoding::Png);
        let url = "https://example.com/a.webp";
        // Two rows of one turn and one image each: the first with bytes (and a file name), the
        // second a null `bytes` (definition level 3: the image is there, its bytes are not).
        let leaf = |values: Vec<&[u8]>, definitions: Vec<i16>| Leaf {
            values: values.into_iter().map(ByteArray::from).collect(),
            definitions,
            repetitions: vec![0, 0],
        };
        let columns = [
            leaf(vec![b"user", b"user"], vec![4, 4]),
            leaf(vec![b"one", b"two"], vec![4, 4]),
            leaf(vec![&png], vec![4, 3]),
            leaf(vec![b"one.png", url.as_bytes()], vec![4, 4]),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train-00000-of-00001.parquet");
        write_parquet(&path, schema, columns);
        let arena = read(path.to_str().unwrap(), &VisionArenaConfig::default()).unwrap();
        assert_eq!(
            *arena.rows[0].images[0].url,
            media::data_url(Encoding::Png, &png)
        );
        assert_eq!(&*arena.rows[1].images[0].url, url);
        assert_eq!(
            (arena.remote[0].row, arena.remote[0].column.as_str()),
            (1, "images[0].path")
        );
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
