//! Helpers for runner tests: a simulator on loopback, configs from YAML, in-process runs, a
//! static file server, a plain HTTP client with a server-sent-events reader for the
//! simulator's own tests, and PyAV's decoding of a video.

pub mod bpe;
pub mod pki;
pub mod pyav;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ibench_core::config::{Config, ResolvedConfig};
use ibench_core::plan::Shard;
use ibench_engine::benchmark::{Benchmark, Outcome};
use ibench_sim::{LatencyConfig, SimConfig, SimServer};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Timing-sensitive tests of one binary run one at a time, so they do not steal each other's
/// CPU on a 2-core machine.
/// (An async lock: the guard is held across the test's awaits.)
pub async fn timing_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Runs a timing check up to three times and passes on the first success. A 2-core machine
/// running other work can preempt a worker for a few milliseconds at any time; a broken engine
/// fails every attempt, an interrupted one does not fail twice in a row. All failures are
/// reported if none succeeds.
pub async fn within_three_attempts<F: AsyncFnMut() -> Result<(), String>>(mut check: F) {
    let mut failures = Vec::new();
    for attempt in 1..=3 {
        match check().await {
            Ok(()) => {
                if !failures.is_empty() {
                    eprintln!("passed on attempt {attempt} after: {failures:?}");
                }
                return;
            }
            Err(reason) => failures.push(reason),
        }
    }
    panic!("failed three attempts: {failures:#?}");
}

pub async fn sim(config: SimConfig) -> SimServer {
    SimServer::start(SimConfig {
        threads: 1,
        ..config
    })
    .await
    .expect("simulator starts")
}

/// A default simulator that keeps the first `requests` requests (`SimServer::requests`).
pub async fn recording_sim(requests: usize) -> SimServer {
    sim(SimConfig {
        record_requests: Some(requests),
        ..Default::default()
    })
    .await
}

/// A simulator that differs from the default only in its time to first token and inter-token
/// latency (milliseconds, without jitter).
pub async fn sim_with_latency(ttft_ms: f64, itl_ms: f64) -> SimServer {
    sim(SimConfig {
        latency: LatencyConfig {
            ttft_ms,
            itl_ms,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
}

/// A config from YAML (snake_case, inference-perf format) pointing at `base_url`, with its
/// reports in `report_dir`.
pub fn config(base_url: &str, report_dir: &std::path::Path, yaml: &str) -> Config {
    let mut doc: serde_json::Value = serde_yaml::from_str(yaml).expect("test YAML parses");
    doc["server"] = serde_json::json!({"type": "vllm", "base_url": base_url});
    doc["storage"] =
        serde_json::json!({"local_storage": {"path": report_dir.display().to_string()}});
    ibench_core::config::from_document(doc).unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

pub async fn run(config: Config) -> Outcome {
    let resolved = ResolvedConfig::resolve(config, chrono::Local::now());
    let benchmark = Benchmark::prepare(resolved, Shard::WHOLE)
        .await
        .expect("benchmark prepares");
    benchmark
        .run(&CancellationToken::new())
        .await
        .expect("benchmark runs")
}

/// The report file `name` (without `.json`) of a run.
pub fn report<'a>(outcome: &'a Outcome, name: &str) -> &'a serde_json::Value {
    &outcome
        .files
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no report {name}"))
        .contents
}

/// Per-request entries written by a run with `per_request: true`.
pub fn per_request(report_dir: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(report_dir.join("per_request_lifecycle_metrics.json"))
        .expect("per-request report");
    serde_json::from_str(&text).expect("per-request report is JSON")
}

/// The distinct session ids of a `per_session_lifecycle_metrics` report, sorted: as many as
/// the sessions it counts once each.
pub fn distinct_session_ids(per_session: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = per_session
        .as_array()
        .expect("per-session report is a list")
        .iter()
        .map(|s| s["session_id"].as_str().expect("session_id is a string"))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A reqwest client builder with the runner's TLS settings (reqwest has no crypto provider of
/// its own here).
pub use ibench_engine::reqwest_builder;

pub fn client() -> reqwest::Client {
    reqwest_builder(&Default::default())
        .unwrap()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn completion(prompt: &str, max_tokens: u32, stream: bool) -> Value {
    json!({"model": "ibench-sim", "prompt": prompt, "max_tokens": max_tokens, "ignore_eos": true, "stream": stream,
           "stream_options": {"include_usage": true}})
}

/// The text a completion or chat chunk (or whole response) carries.
pub fn text_of(v: &Value) -> String {
    let choice = &v["choices"][0];
    for path in [
        &choice["text"],
        &choice["delta"]["content"],
        &choice["message"]["content"],
    ] {
        if let Some(s) = path.as_str() {
            return s.to_string();
        }
    }
    String::new()
}

/// One streamed response, read to its end (or to the connection's failure).
#[derive(Debug)]
pub struct Streamed {
    pub status: u16,
    /// Raw `data:` payloads in order, `[DONE]` included.
    pub events: Vec<String>,
    /// Concatenated text of the parsable chunks.
    pub text: String,
    /// Send → first chunk with non-empty text.
    pub ttft: Option<Duration>,
    /// Send → end of body.
    pub total: Duration,
    /// Arrival time (since send) of each chunk with text.
    pub token_times: Vec<Duration>,
    pub usage: Option<Value>,
    pub done: bool,
    /// The body ended with an error (connection closed mid-way).
    pub failed: bool,
    pub malformed_events: usize,
}

pub async fn stream(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Streamed {
    let start = Instant::now();
    let mut req = client.post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send().await.expect("response head");
    let status = resp.status().as_u16();
    let mut s = Streamed {
        status,
        events: vec![],
        text: String::new(),
        ttft: None,
        total: Duration::ZERO,
        token_times: vec![],
        usage: None,
        done: false,
        failed: false,
        malformed_events: 0,
    };
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let now = start.elapsed();
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
                    let event = String::from_utf8(buf.drain(..pos + 2).collect()).unwrap();
                    let data = event
                        .trim_end()
                        .strip_prefix("data: ")
                        .expect("data line")
                        .to_string();
                    if data == "[DONE]" {
                        s.done = true;
                    } else {
                        match serde_json::from_str::<Value>(&data) {
                            Ok(v) => {
                                let t = text_of(&v);
                                if !t.is_empty() {
                                    s.ttft.get_or_insert(now);
                                    s.token_times.push(now);
                                    s.text.push_str(&t);
                                }
                                if !v["usage"].is_null() {
                                    s.usage = Some(v["usage"].clone());
                                }
                            }
                            Err(_) => s.malformed_events += 1,
                        }
                    }
                    s.events.push(data);
                }
            }
            Ok(None) => break,
            Err(_) => {
                s.failed = true;
                break;
            }
        }
    }
    s.total = start.elapsed();
    s
}

/// Prometheus text → value by `name{labels}` as written.
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

pub async fn metrics(client: &reqwest::Client, sim: &SimServer) -> HashMap<String, f64> {
    let text = client
        .get(format!("{}/metrics", sim.base_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    parse_metrics(&text)
}

/// Polls `cond` every 5 ms for at most `limit`.
pub async fn wait_until(limit: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// Reads one request (head and `Content-Length` body) from `socket`; returns its head.
pub async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    // A request of these tests is a few KiB; 1,000 reads is far beyond it.
    for _ in 0..1000 {
        let read = tokio::io::AsyncReadExt::read(socket, &mut chunk)
            .await
            .ok()?;
        if read == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..read]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length: usize = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return Some(head);
            }
        }
    }
    None
}

/// What a [`file_server`] answers for a path.
#[derive(Debug, Clone)]
pub enum Served {
    /// 200 with these bytes.
    File(Vec<u8>),
    /// 302 to this location.
    Redirect(String),
}

/// A static HTTP/1.1 server on loopback (any path it does not serve is a 404), and the paths
/// asked of it.
pub struct FileServer {
    pub base_url: String,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FileServer {
    /// The request targets (paths) asked so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// Serves `files` (request path → answer), one request a connection.
pub async fn file_server(files: Vec<(&str, Served)>) -> FileServer {
    use tokio::io::AsyncWriteExt;
    let files: std::sync::Arc<HashMap<String, Served>> = std::sync::Arc::new(
        files
            .into_iter()
            .map(|(path, served)| (path.to_string(), served))
            .collect(),
    );
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let log = asked.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (files, log) = (files.clone(), log.clone());
            tokio::spawn(async move {
                let Some(head) = read_request(&mut socket).await else {
                    return;
                };
                let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                log.lock().unwrap().push(path.clone());
                let (status, extra, body) = match files.get(&path) {
                    Some(Served::File(bytes)) => ("200 OK", String::new(), bytes.clone()),
                    Some(Served::Redirect(to)) => {
                        ("302 Found", format!("location: {to}\r\n"), Vec::new())
                    }
                    None => ("404 Not Found", String::new(), b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                if socket.write_all(head.as_bytes()).await.is_ok() {
                    let _ = socket.write_all(&body).await;
                }
            });
        }
    });
    FileServer { base_url, asked }
}

/// A word-level `tokenizer.json` whose vocabulary is the built-in tokenizer's words, so that
/// the simulator (which counts with the built-in tokenizer) agrees with it.
pub fn word_level_tokenizer_json() -> String {
    let mut vocab = serde_json::Map::new();
    vocab.insert("[UNK]".into(), 0.into());
    for i in 0..ibench_core::tokenize::VOCAB_SIZE {
        vocab.insert(ibench_core::tokenize::word(i).into(), (i + 1).into());
    }
    json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
    })
    .to_string()
}

/// `ibench run --config <config>` with the given binary (an integration test's
/// `env!("CARGO_BIN_EXE_ibench")`), run to its end.
pub fn ibench_run(ibench: &str, config: &std::path::Path) -> std::process::Output {
    std::process::Command::new(ibench)
        .args(["run", "--config"])
        .arg(config)
        .output()
        .expect("ibench starts")
}

/// A directory holding [`word_level_tokenizer_json`] as `tokenizer.json`, with the
/// `tokenizer_config.json` that lets `transformers` load it offline (for inference-perf), made
/// in `dir`.
pub fn write_word_level_tokenizer(dir: &std::path::Path) -> std::path::PathBuf {
    let tokenizer = dir.join("tokenizer");
    std::fs::create_dir_all(&tokenizer).unwrap();
    std::fs::write(
        tokenizer.join("tokenizer.json"),
        word_level_tokenizer_json(),
    )
    .unwrap();
    std::fs::write(
        tokenizer.join("tokenizer_config.json"),
        r#"{"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]", "model_max_length": 1000000}"#,
    )
    .unwrap();
    tokenizer
}

/// A finished command's stdout and stderr, for assertions and their messages.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The errors of a `validation.json`: the global ones, then every file's.
pub fn validation_errors(validation: &Value) -> Vec<&Value> {
    std::iter::once(&validation["global"])
        .chain(
            validation["reports"]
                .as_object()
                .into_iter()
                .flat_map(|r| r.values()),
        )
        .flat_map(|group| group["errors"].as_array().into_iter().flatten())
        .collect()
}
