//! `ibench sim` flags: each one overrides the same setting of the optional YAML file.

use std::net::IpAddr;
use std::path::PathBuf;

use super::config::{LoraConfig, MetricsDialect, SimConfig, SimConfigError, SimTls};

/// Port used when neither the flag nor the file gives one (vLLM's default).
const DEFAULT_PORT: u16 = 8000;

/// Command-line options of `ibench sim`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimArgs {
    /// YAML file with any SimConfig settings; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to bind [default: 127.0.0.1].
    #[arg(long)]
    pub host: Option<IpAddr>,
    /// Port to listen on [default: 8000].
    #[arg(long)]
    pub port: Option<u16>,
    /// Base model name [default: ibench-sim].
    #[arg(long)]
    pub model: Option<String>,
    /// LoRA adapter to serve, with an optional time-to-first-token offset (repeatable; replaces the file's list).
    #[arg(long = "lora", value_name = "NAME[:OFFSET_MS]", value_parser = parse_lora)]
    pub loras: Vec<LoraConfig>,
    /// Mean time to first token, milliseconds.
    #[arg(long)]
    pub ttft_ms: Option<f64>,
    /// Standard deviation of the time to first token, milliseconds.
    #[arg(long)]
    pub ttft_std_ms: Option<f64>,
    /// Mean inter-token latency, milliseconds.
    #[arg(long)]
    pub itl_ms: Option<f64>,
    /// Standard deviation of the inter-token latency, milliseconds.
    #[arg(long)]
    pub itl_std_ms: Option<f64>,
    /// Prefill cost per prompt token, microseconds.
    #[arg(long)]
    pub prefill_us_per_token: Option<f64>,
    /// Cost of loading a non-resident LoRA adapter, milliseconds.
    #[arg(long)]
    pub lora_load_ms: Option<f64>,
    /// The first N requests wait --cold-start-ms more for their first token (a cold server).
    #[arg(long)]
    pub cold_start_requests: Option<u64>,
    /// Extra time to first token of the first --cold-start-requests requests, milliseconds.
    #[arg(long)]
    pub cold_start_ms: Option<f64>,
    /// Requests processed at once; the rest wait in a FIFO queue.
    #[arg(long)]
    pub max_num_seqs: Option<usize>,
    /// Bound of the waiting queue (429 beyond it).
    #[arg(long)]
    pub max_waiting: Option<usize>,
    /// KV cache size in tokens, for vllm:kv_cache_usage_perc [default: 1024 per --max-num-seqs slot].
    #[arg(long)]
    pub kv_cache_tokens: Option<usize>,
    /// Metric names served at /metrics: vLLM's, SGLang's or TGI's [default: vllm].
    #[arg(long, value_enum)]
    pub metrics_dialect: Option<MetricsDialect>,
    /// LoRA adapters resident at once.
    #[arg(long)]
    pub max_loras: Option<usize>,
    /// Fraction of requests answered 500.
    #[arg(long)]
    pub fault_500: Option<f64>,
    /// Fraction of requests answered 429.
    #[arg(long)]
    pub fault_429: Option<f64>,
    /// Fraction of requests answered 503.
    #[arg(long)]
    pub fault_503: Option<f64>,
    /// Fraction of requests never answered (until the client gives up or hang_timeout_ms).
    #[arg(long)]
    pub fault_hang: Option<f64>,
    /// Fraction of responses whose connection is closed half-way.
    #[arg(long)]
    pub fault_cut: Option<f64>,
    /// Fraction of responses with invalid JSON.
    #[arg(long)]
    pub fault_malformed: Option<f64>,
    /// Fraction of requests forcing a tool call answered with arguments that are not JSON.
    #[arg(long)]
    pub fault_bad_tool_args: Option<f64>,
    /// Inject the faults above only into requests arriving this long after the first one,
    /// milliseconds: a server that breaks mid-run [default: 0].
    #[arg(long)]
    pub fault_after_ms: Option<u64>,
    /// Inject them only into every Nth request in arrival order: one bad replica of N.
    #[arg(long)]
    pub fault_every: Option<u64>,
    /// Close connections idle (no request, no bytes) this long, milliseconds [default: 60000].
    #[arg(long)]
    pub idle_timeout_ms: Option<u64>,
    /// Close connections whose request head takes longer than this, milliseconds [default: 10000].
    #[arg(long)]
    pub header_read_timeout_ms: Option<u64>,
    /// Seed of all random choices (latencies, output lengths and words, faults).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads of the server runtime [default: 1].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Act as a reasoning model: the first N tokens of each streamed chat answer are
    /// `reasoning_content` [default: 0].
    #[arg(long, value_name = "N")]
    pub reasoning_tokens: Option<usize>,
    /// Answer every request with this header carrying a fresh session token, as a router
    /// keeping session affinity does.
    #[arg(long, value_name = "HEADER")]
    pub session_token_header: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by these PEM CA certificates (mutual TLS).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Serve HTTP/1.1 only (by default HTTP/2 too: h2c with prior knowledge, ALPN h2 over TLS).
    #[arg(long)]
    pub http1_only: bool,
}

impl SimArgs {
    /// The file's settings (or the defaults) with every given flag applied.
    pub fn to_config(&self) -> Result<SimConfig, SimConfigError> {
        let mut cfg = match &self.config {
            Some(path) => SimConfig::from_yaml_file(path)?,
            None => SimConfig::default(),
        };
        fn set<T: Clone>(target: &mut T, flag: &Option<T>) {
            if let Some(v) = flag {
                *target = v.clone();
            }
        }
        set(&mut cfg.host, &self.host);
        cfg.port = self.port.or(cfg.port).or(Some(DEFAULT_PORT));
        set(&mut cfg.model, &self.model);
        if !self.loras.is_empty() {
            cfg.loras = self.loras.clone();
        }
        let l = &mut cfg.latency;
        set(&mut l.ttft_ms, &self.ttft_ms);
        set(&mut l.ttft_std_ms, &self.ttft_std_ms);
        set(&mut l.itl_ms, &self.itl_ms);
        set(&mut l.itl_std_ms, &self.itl_std_ms);
        set(&mut l.prefill_us_per_token, &self.prefill_us_per_token);
        set(&mut l.lora_load_ms, &self.lora_load_ms);
        set(&mut l.cold_start_requests, &self.cold_start_requests);
        set(&mut l.cold_start_ms, &self.cold_start_ms);
        cfg.max_num_seqs = self.max_num_seqs.or(cfg.max_num_seqs);
        cfg.max_waiting = self.max_waiting.or(cfg.max_waiting);
        cfg.kv_cache_tokens = self.kv_cache_tokens.or(cfg.kv_cache_tokens);
        set(&mut cfg.metrics_dialect, &self.metrics_dialect);
        cfg.max_loras = self.max_loras.or(cfg.max_loras);
        let f = &mut cfg.faults;
        set(&mut f.error_500, &self.fault_500);
        set(&mut f.error_429, &self.fault_429);
        set(&mut f.error_503, &self.fault_503);
        set(&mut f.hang, &self.fault_hang);
        set(&mut f.cut, &self.fault_cut);
        set(&mut f.malformed, &self.fault_malformed);
        set(&mut f.bad_tool_args, &self.fault_bad_tool_args);
        set(&mut f.after_ms, &self.fault_after_ms);
        set(&mut f.every, &self.fault_every);
        set(&mut cfg.idle_timeout_ms, &self.idle_timeout_ms);
        set(
            &mut cfg.header_read_timeout_ms,
            &self.header_read_timeout_ms,
        );
        cfg.seed = self.seed.or(cfg.seed);
        set(&mut cfg.threads, &self.threads);
        set(&mut cfg.reasoning_tokens, &self.reasoning_tokens);
        if let Some(header) = &self.session_token_header {
            cfg.session_token_header = Some(header.clone());
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            cfg.tls = Some(SimTls {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
            });
        }
        cfg.http1_only |= self.http1_only;
        cfg.validate()?;
        Ok(cfg)
    }
}

fn parse_lora(arg: &str) -> Result<LoraConfig, String> {
    let (name, offset) = match arg.split_once(':') {
        Some((name, ms)) => (
            name,
            ms.parse::<f64>()
                .map_err(|e| format!("offset {ms:?} is not a number of milliseconds: {e}"))?,
        ),
        None => (arg, 0.0),
    };
    Ok(LoraConfig {
        name: name.to_string(),
        ttft_offset_ms: offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimArgs,
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sim.yaml");
        std::fs::write(
            &path,
            "model: from-file\nport: 9000\nlatency: {ttft_ms: 5, itl_ms: 2}\nmax_num_seqs: 4\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "x",
            "--config",
            path.to_str().unwrap(),
            "--itl-ms",
            "7",
            "--lora",
            "a:12.5",
            "--lora",
            "b",
            "--fault-cut",
            "0.1",
        ]);
        let cfg = cli.sim.to_config().unwrap();
        assert_eq!((cfg.model.as_str(), cfg.port), ("from-file", Some(9000)));
        assert_eq!((cfg.latency.ttft_ms, cfg.latency.itl_ms), (5.0, 7.0));
        assert_eq!(cfg.max_num_seqs, Some(4));
        assert_eq!(
            cfg.loras,
            vec![
                LoraConfig {
                    name: "a".into(),
                    ttft_offset_ms: 12.5
                },
                LoraConfig {
                    name: "b".into(),
                    ttft_offset_ms: 0.0
                }
            ]
        );
        assert_eq!(cfg.faults.cut, 0.1);
        assert_eq!(
            Cli::parse_from(["x"]).sim.to_config().unwrap().port,
            Some(DEFAULT_PORT)
        );
        assert!(
            Cli::parse_from(["x", "--fault-500", "2"])
                .sim
                .to_config()
                .is_err()
        );
    }
}
