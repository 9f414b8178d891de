//! Helpers shared by the simulator's integration tests: a real HTTP client over loopback and a
//! small server-sent-events reader.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ibench::sim::{SimConfig, SimServer};
use serde_json::{Value, json};

pub async fn start(config: SimConfig) -> SimServer {
    SimServer::start(config).await.expect("simulator starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

pub fn completion(prompt: &str, max_tokens: u32, stream: bool) -> Value {
    json!({"model": "ibench-sim", "prompt": prompt, "max_tokens": max_tokens, "ignore_eos": true, "stream": stream,
           "stream_options": {"include_usage": true}})
}

/// The text a completion or chat chunk (or whole response) carries.
pub fn text_of(v: &Value) -> String {
    let choice = &v["choices"][0];
    for path in [&choice["text"], &choice["delta"]["content"], &choice["message"]["content"]] {
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

pub async fn stream(client: &reqwest::Client, url: &str, body: &Value, headers: &[(&str, &str)]) -> Streamed {
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
                    let data = event.trim_end().strip_prefix("data: ").expect("data line").to_string();
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
    let text = client.get(format!("{}/metrics", sim.base_url())).send().await.unwrap().text().await.unwrap();
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
