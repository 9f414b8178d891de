//! What the simulator serves and how it behaves: one struct, readable from YAML, that the CLI
//! flags override and the tests build directly.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::metrics::MetricsDialect;
pub use crate::tls::SimTls;

/// Complete simulator configuration. Every field has a default, so a YAML file only names what
/// it changes and tests can write `SimConfig { seed: Some(1), ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Address to bind. Loopback unless deliberately changed.
    pub host: IpAddr,
    /// Port to bind; `None` picks a free port (the library default; the CLI defaults to 8000).
    pub port: Option<u16>,
    /// Name of the base model, served in `/v1/models` and accepted in requests.
    pub model: String,
    /// LoRA adapters served on top of the base model.
    pub loras: Vec<LoraConfig>,
    /// Adapters that can be resident at once; using a non-resident one evicts the least recently
    /// used and costs `latency.lora_load_ms`. `None`: no limit (each adapter loads once).
    pub max_loras: Option<usize>,
    pub latency: LatencyConfig,
    /// Requests processed at once (vLLM's `--max-num-seqs`); later ones wait in a FIFO queue.
    /// `None`: unlimited.
    pub max_num_seqs: Option<usize>,
    /// Bound of the waiting queue; requests arriving to a full queue get 429. `None`: unbounded.
    pub max_waiting: Option<usize>,
    /// Size of the KV cache in tokens, for `kv_cache_usage_perc`: a running request holds its
    /// prompt and output. `None`: 1024 per `max_num_seqs` slot (2^20 when unlimited).
    pub kv_cache_tokens: Option<usize>,
    /// Whose metric names `/metrics` serves: vLLM's, SGLang's or TGI's.
    pub metrics_dialect: MetricsDialect,
    /// Output tokens when a request gives no `max_tokens` (vLLM's completions default).
    pub default_max_tokens: u32,
    /// Longest prompt + output accepted (400 beyond, like vLLM); also bounds a response's size.
    pub max_model_len: u32,
    pub faults: FaultRates,
    /// A hung request (fault `hang`) is dropped without an answer after this long, so that a
    /// client that never gives up cannot hold a connection forever.
    pub hang_timeout_ms: u64,
    /// A connection with no request in progress and no bytes moving for this long is closed
    /// (uvicorn's keep-alive timeout is 5 s, nginx's 75 s).
    pub idle_timeout_ms: u64,
    /// A connection whose request head has not arrived whole this long after its first byte is
    /// closed (slowloris).
    pub header_read_timeout_ms: u64,
    /// Seed of every random choice; `None` draws one at start (logged).
    pub seed: Option<u64>,
    /// Threads of the server's own runtime. 1 runs a single-threaded event loop.
    pub threads: usize,
    /// Keep the first N API requests (arrival time, model, raw body) for [`super::SimServer::requests`].
    /// `None` keeps nothing per request.
    pub record_requests: Option<usize>,
    /// Serve HTTPS instead of HTTP.
    pub tls: Option<SimTls>,
    /// Serve HTTP/1.1 only: no HTTP/2 with prior knowledge on plain TCP, no `h2` in ALPN.
    pub http1_only: bool,
    /// A reasoning model: the first N tokens of each streamed chat answer come as
    /// `reasoning_content` deltas (counted in `completion_tokens`, as vLLM does).
    pub reasoning_tokens: usize,
    /// Answer every API request with this header carrying a session token, as a router keeping
    /// session affinity does; a fresh one (`sess-<arrival order>`) each time, so a client's
    /// echo shows which answer it kept.
    pub session_token_header: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: None,
            model: "ibench-sim".to_string(),
            loras: Vec::new(),
            max_loras: None,
            latency: LatencyConfig::default(),
            max_num_seqs: None,
            max_waiting: None,
            kv_cache_tokens: None,
            metrics_dialect: MetricsDialect::default(),
            default_max_tokens: 16,
            max_model_len: 32768,
            faults: FaultRates::default(),
            hang_timeout_ms: 600_000,
            idle_timeout_ms: 60_000,
            header_read_timeout_ms: 10_000,
            seed: None,
            threads: 1,
            record_requests: None,
            tls: None,
            http1_only: false,
            reasoning_tokens: 0,
            session_token_header: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    pub name: String,
    /// Added to the time to first token of every request for this adapter.
    #[serde(default)]
    pub ttft_offset_ms: f64,
}

/// Latency model; all times in milliseconds except the per-token prefill cost. Zero everywhere
/// (the default) answers as fast as possible without touching a timer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyConfig {
    /// Time to first token (mean, standard deviation of a normal distribution cut at 0).
    pub ttft_ms: f64,
    pub ttft_std_ms: f64,
    /// Inter-token latency, sampled for each token after the first.
    pub itl_ms: f64,
    pub itl_std_ms: f64,
    /// Prefill cost per prompt token, added to the time to first token.
    pub prefill_us_per_token: f64,
    /// Cost of loading a LoRA adapter that is not resident, added to the time to first token.
    pub lora_load_ms: f64,
    /// The first `cold_start_requests` API requests (in arrival order) wait `cold_start_ms`
    /// more for their first token: a server whose caches and compiled kernels are cold.
    pub cold_start_requests: u64,
    pub cold_start_ms: f64,
}

/// Fraction of valid requests answered with each fault (drawn independently of the request
/// content; the sum must not exceed 1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRates {
    pub error_500: f64,
    pub error_429: f64,
    pub error_503: f64,
    pub hang: f64,
    pub cut: f64,
    pub malformed: f64,
    /// Of requests forcing a tool call: answered with arguments that are not JSON.
    pub bad_tool_args: f64,
    /// Drawn faults hit only requests arriving this long after the server's first API
    /// request: a server that breaks mid-run (forced faults by header apply at once).
    pub after_ms: u64,
    /// Drawn faults hit only every `every`-th request in arrival order (0 and 1: any): one bad
    /// replica of `every` behind a round-robin balancer.
    pub every: u64,
}

impl FaultRates {
    pub(crate) fn total(&self) -> f64 {
        self.error_500
            + self.error_429
            + self.error_503
            + self.hang
            + self.cut
            + self.malformed
            + self.bad_tool_args
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimConfigError {
    #[error("cannot read simulator config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("simulator config {path} is not valid: {source}")]
    Yaml {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("invalid simulator configuration: {0}")]
    Invalid(String),
}

/// Tokens of KV cache per `max_num_seqs` slot when `kv_cache_tokens` is not given.
const KV_TOKENS_PER_SLOT: usize = 1024;

impl SimConfig {
    pub fn kv_cache_tokens(&self) -> usize {
        self.kv_cache_tokens.unwrap_or(match self.max_num_seqs {
            Some(slots) => slots.max(1) * KV_TOKENS_PER_SLOT,
            None => 1 << 20,
        })
    }

    pub fn from_yaml_file(path: &Path) -> Result<SimConfig, SimConfigError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SimConfigError::Read {
            path: display.clone(),
            source,
        })?;
        if text.trim().is_empty() {
            return Ok(SimConfig::default());
        }
        serde_yaml::from_str(&text).map_err(|source| SimConfigError::Yaml {
            path: display,
            source,
        })
    }

    pub fn validate(&self) -> Result<(), SimConfigError> {
        let invalid = |msg: String| Err(SimConfigError::Invalid(msg));
        if self.model.is_empty() {
            return invalid("model must not be empty".into());
        }
        for (i, lora) in self.loras.iter().enumerate() {
            if lora.name.is_empty()
                || lora.name == self.model
                || self.loras[..i].iter().any(|l| l.name == lora.name)
            {
                return invalid(format!(
                    "LoRA name {:?} must be non-empty and distinct from the model and other adapters",
                    lora.name
                ));
            }
            if !(lora.ttft_offset_ms.is_finite() && lora.ttft_offset_ms >= 0.0) {
                return invalid(format!("LoRA {:?}: ttft_offset_ms must be >= 0", lora.name));
            }
        }
        let l = &self.latency;
        for (name, v) in [
            ("ttft_ms", l.ttft_ms),
            ("ttft_std_ms", l.ttft_std_ms),
            ("itl_ms", l.itl_ms),
            ("itl_std_ms", l.itl_std_ms),
            ("prefill_us_per_token", l.prefill_us_per_token),
            ("lora_load_ms", l.lora_load_ms),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return invalid(format!(
                    "latency.{name} must be a finite number >= 0, got {v}"
                ));
            }
        }
        let f = &self.faults;
        for (name, v) in [
            ("error_500", f.error_500),
            ("error_429", f.error_429),
            ("error_503", f.error_503),
            ("hang", f.hang),
            ("cut", f.cut),
            ("malformed", f.malformed),
            ("bad_tool_args", f.bad_tool_args),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return invalid(format!(
                    "faults.{name} must be a fraction in [0, 1], got {v}"
                ));
            }
        }
        if f.total() > 1.0 + 1e-9 {
            return invalid(format!("fault fractions add up to {} > 1", f.total()));
        }
        for (name, v) in [
            ("max_num_seqs", self.max_num_seqs),
            ("max_loras", self.max_loras),
        ] {
            if v == Some(0) {
                return invalid(format!("{name} must be at least 1"));
            }
        }
        if self.threads == 0 {
            return invalid("threads must be at least 1".into());
        }
        if let Some(name) = &self.session_token_header
            && hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            return invalid(format!(
                "session_token_header {name:?} is not an HTTP header name"
            ));
        }
        if self.idle_timeout_ms == 0 || self.header_read_timeout_ms == 0 {
            return invalid("idle_timeout_ms and header_read_timeout_ms must be at least 1".into());
        }
        if self.default_max_tokens == 0 || self.max_model_len == 0 {
            return invalid("default_max_tokens and max_model_len must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_names_only_what_it_changes_and_rejects_typos() {
        let cfg: SimConfig = serde_yaml::from_str(
            "model: m\nlatency: {ttft_ms: 50}\nloras: [{name: a, ttft_offset_ms: 5}]",
        )
        .unwrap();
        assert_eq!(cfg.model, "m");
        assert_eq!(cfg.latency.ttft_ms, 50.0);
        assert_eq!(cfg.loras[0].ttft_offset_ms, 5.0);
        assert_eq!(cfg.default_max_tokens, 16);
        assert!(serde_yaml::from_str::<SimConfig>("latency: {ttft: 50}").is_err());
    }

    #[test]
    fn validation_rejects_impossible_values() {
        assert!(SimConfig::default().validate().is_ok());
        let mut cfg = SimConfig::default();
        cfg.faults.error_500 = 0.7;
        cfg.faults.hang = 0.4;
        assert!(cfg.validate().is_err());
        let cfg = SimConfig {
            loras: vec![LoraConfig {
                name: "ibench-sim".into(),
                ttft_offset_ms: 0.0,
            }],
            ..Default::default()
        };
        assert!(cfg.validate().is_err());
        let cfg = SimConfig {
            max_num_seqs: Some(0),
            ..Default::default()
        };
        assert!(cfg.validate().is_err());
    }
}
