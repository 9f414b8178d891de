//! The real-server matrix: `ibench run` for 20 s at a fixed rate against each HTTP stack a model
//! server is reached through, all on loopback and started here through ibench-testcluster:
//! uvicorn + FastAPI (under vLLM's and SGLang's OpenAI servers) streaming in vLLM's shapes with
//! uvicorn's default 5 s keep-alive; nginx as a gateway in front of `ibench sim` (buffering off,
//! 1 s keep-alive on both sides, so idle connections close mid-run), plain, with TLS from a
//! private CA, and requiring a client certificate; the simulator itself (hyper/axum, the stack
//! under TGI's router); an HTTP/1.0 server answering with `Connection: close`; and one writing
//! chunked bodies a byte at a time.
//!
//! Each case checks that every request is accounted for (sent = successes = what the server
//! counted, no failure label at all) and that ibench's latency percentiles agree with those of a
//! reference client (httpx) sending the same requests at the same rate to the same server
//! (see [`Tolerance`]).

use std::path::Path;

use ibench_engine::sweep::percentile;
use ibench_sim::SimServer;
use ibench_testcluster::{
    ClientTls, GatewayTls, ModelServer, ModelServerKind, Nginx, ReferenceLoad, ReferenceRun,
    reference_client,
};
use ibench_testkit as common;
use ibench_testkit::pki::{Pki, ibench_run_without_machine_trust, write_pki};
use serde_json::Value;

/// Seconds of each `ibench run`.
const DURATION: u32 = 20;
/// Seconds of the reference client's run before it: enough requests for a p90.
const REFERENCE_DURATION: u32 = 4;
/// Model servers and the simulator: the first token after 20 ms, the next every 10 ms.
const TTFT_MS: u32 = 20;
const ITL_MS: u32 = 10;
/// Idle connections to and from a gateway close after this.
const GATEWAY_KEEPALIVE_MS: u32 = 1000;

/// How far ibench's percentile may be from the reference client's, in seconds or as a share of
/// the reference, whichever is larger; `below` when ibench measures less, `above` when more.
///
/// Both clients time the same thing (send → first text chunk, send → end of body) on the same
/// server, whose 20 ms + 10 ms a token dominate; what differs is each client's own delay between
/// a byte's arrival and its timestamp, and that only makes a client measure *more*. httpx parses
/// lines and JSON in Python on asyncio: measured (2 cores, 8 cases at once) 0.4–5.3 ms above
/// ibench, and 17 ms at a p90 when eight Python clients and servers started together; `below`
/// leaves room for that on a busier machine. ibench above httpx can only come from the server
/// itself being slower during ibench's run than during the reference's (they run one after the
/// other, beside other cases); the one-byte server, whose Python writes a byte at a time, was
/// 27 ms slower at p50 for ibench's prompt reads than for httpx's, so its latencies are compared
/// net of its own (`net_of_server`).
#[derive(Debug, Clone, Copy)]
struct Tolerance {
    below: (f64, f64),
    above: (f64, f64),
}

const TOLERANCE: Tolerance = Tolerance {
    below: (0.010, 0.25),
    above: (0.005, 0.15),
};

/// One case: where the load goes and how.
struct Case<'a> {
    name: &'a str,
    base_url: String,
    chat: bool,
    rate: u32,
    max_tokens: u32,
    /// Extra `server:` keys for ibench (TLS files).
    server_yaml: String,
    tls: Option<ClientTls>,
    /// Model name the reference client sends (ibench asks /v1/models).
    model: &'a str,
    /// The server's latency is its CPU share, which depends on how its client reads: both runs
    /// hold the timing lock, and ibench's latencies are compared net of the server's own times.
    server_bound_by_cpu: bool,
}

impl Case<'_> {
    fn plain(name: &str, base_url: String, rate: u32, max_tokens: u32) -> Case<'_> {
        Case {
            name,
            base_url,
            chat: false,
            rate,
            max_tokens,
            server_yaml: String::new(),
            tls: None,
            model: "matrix-model",
            server_bound_by_cpu: false,
        }
    }
}

/// What ibench measured, from its summary.
#[derive(Debug)]
struct IbenchRun {
    sent: u64,
    successes: u64,
    failures: u64,
    labels: Value,
    latency_p50: f64,
    latency_p90: f64,
    ttft_p50: f64,
    ttft_p90: f64,
}

fn ibench_config(dir: &Path, case: &Case, rate: u32, duration: u32) -> std::path::PathBuf {
    let reports = dir.join(case.name);
    let config = dir.join(format!("{}.yaml", case.name));
    let api = if case.chat { "chat" } else { "completion" };
    let tokens = case.max_tokens;
    std::fs::write(
        &config,
        format!(
            "server:\n  type: vllm\n  base_url: {}\n  ignore_eos: true\n{}\
             api:\n  type: {api}\n  streaming: true\n\
             data:\n  type: random\n  input_distribution: {{min: 10, max: 10, mean: 10, std_dev: 0}}\n  \
             output_distribution: {{min: {tokens}, max: {tokens}, mean: {tokens}, std_dev: 0}}\n\
             load:\n  type: constant\n  stages: [{{rate: {rate}, duration: {duration}}}]\n\
             storage:\n  local_storage:\n    path: {}\n",
            case.base_url,
            case.server_yaml,
            reports.display()
        ),
    )
    .unwrap();
    config
}

/// `ibench run` of `case` for `duration` s; its exit status, output and summary.
async fn ibench(dir: &Path, case: &Case<'_>, duration: u32) -> (bool, String, Value) {
    let config = ibench_config(dir, case, case.rate, duration);
    let output = tokio::task::spawn_blocking(move || {
        ibench_run_without_machine_trust(env!("CARGO_BIN_EXE_ibench"), &config)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = common::output_text(&output);
    let summary = dir.join(case.name).join("summary_lifecycle_metrics.json");
    let summary = std::fs::read_to_string(&summary)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or_else(|e| panic!("{}: no summary ({e}): {text}", case.name));
    (output.status.success(), text, summary)
}

fn ibench_run(summary: &Value) -> IbenchRun {
    let latency = &summary["successes"]["latency"];
    let seconds = |metric: &str, stat: &str| latency[metric][stat].as_f64().unwrap_or(f64::NAN);
    IbenchRun {
        sent: summary["load_summary"]["count"].as_u64().unwrap(),
        successes: summary["successes"]["count"].as_u64().unwrap(),
        failures: summary["failures"]["count"].as_u64().unwrap(),
        labels: summary["failures"]["by_label"].clone(),
        latency_p50: seconds("request_latency", "median"),
        latency_p90: seconds("request_latency", "p90"),
        ttft_p50: seconds("time_to_first_token", "median"),
        ttft_p90: seconds("time_to_first_token", "p90"),
    }
}

async fn reference(case: &Case<'_>) -> ReferenceRun {
    let load = ReferenceLoad {
        base_url: case.base_url.clone(),
        rate: f64::from(case.rate),
        count: case.rate * REFERENCE_DURATION,
        chat: case.chat,
        max_tokens: case.max_tokens,
        model: case.model.into(),
        tls: case.tls.clone(),
    };
    let run = reference_client(&load)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    assert_eq!(
        (run.ok, run.failures.as_slice()),
        (run.sent, &[][..]),
        "{}: the reference client failed requests: {run:?}",
        case.name
    );
    run
}

/// The percentiles of ibench that differ from the reference's by more than `tolerance`. The p90s
/// are bounded above only: httpx's tail holds its own event loop's lag (73 ms against the
/// server's 20 ms TTFT when it ran while the other cases' Python servers started), a client
/// can only add to a latency, and ibench's tail must not exceed that of a slower client.
fn disagreements(
    ibench: &IbenchRun,
    reference: &ReferenceRun,
    tolerance: Tolerance,
) -> Vec<String> {
    let pairs = [
        (
            "request latency p50",
            ibench.latency_p50,
            reference.latency.p50,
            true,
        ),
        (
            "request latency p90",
            ibench.latency_p90,
            reference.latency.p90,
            false,
        ),
        ("TTFT p50", ibench.ttft_p50, reference.ttft.p50, true),
        ("TTFT p90", ibench.ttft_p90, reference.ttft.p90, false),
    ];
    pairs
        .into_iter()
        .filter(|&(_, ours, theirs, both_ways)| both_ways || ours > theirs.unwrap_or(f64::NAN))
        .filter_map(|(what, ours, theirs, _)| {
            let theirs = theirs.unwrap_or(f64::NAN);
            let (absolute, relative) = if ours < theirs {
                tolerance.below
            } else {
                tolerance.above
            };
            let allowed = absolute.max(relative * theirs);
            let within = (ours - theirs).abs() <= allowed;
            (!within).then(|| {
                format!(
                    "{what}: ibench {:.1} ms, httpx {:.1} ms (allowed {:.1} ms this way)",
                    ours * 1e3,
                    theirs * 1e3,
                    allowed * 1e3
                )
            })
        })
        .collect()
}

/// The server that counts the completions of a case.
#[derive(Clone, Copy)]
enum Server<'a> {
    Python(&'a ModelServer),
    Sim(&'a SimServer),
}

impl Server<'_> {
    /// Completions it has answered so far.
    async fn served(self) -> u64 {
        match self {
            Server::Python(server) => {
                let count = server.count().await.unwrap();
                assert_eq!(
                    count.received,
                    count.completed,
                    "completions asked for but not finished: {}",
                    server.log_tail(20)
                );
                count.completed
            }
            Server::Sim(sim) => sim.stats().requests_received,
        }
    }

    /// Each completion's time to its first event and to its end on the server itself, in the
    /// order they finished (seconds).
    async fn timings(self) -> Vec<[f64; 2]> {
        match self {
            Server::Python(server) => {
                let count = server.count().await.unwrap();
                let seconds = |[first, last]: [f64; 2]| [first / 1e3, last / 1e3];
                count.timings_ms.into_iter().map(seconds).collect()
            }
            Server::Sim(_) => Vec::new(),
        }
    }
}

/// `run`'s percentiles as if the server had been as fast during it as during the reference's
/// first `reference_sent` completions: the client's own share is what the clients are compared
/// on, and a CPU-bound server's speed depends on how its client reads.
fn net_of_server(run: IbenchRun, timings: &[[f64; 2]], reference_sent: u64) -> IbenchRun {
    let (during_reference, during_run) = timings.split_at(reference_sent as usize);
    let server = |timings: &[[f64; 2]], which: usize, q: f64| {
        let values: Vec<f64> = timings.iter().map(|t| t[which]).collect();
        percentile(&values, q * 100.0).unwrap_or(f64::NAN)
    };
    let shift = |which, q| server(during_reference, which, q) - server(during_run, which, q);
    eprintln!(
        "server's own TTFT p50/p90, latency p50/p90 (ms): during the reference {:.1?}, during ibench {:.1?}",
        [(0, 0.5), (0, 0.9), (1, 0.5), (1, 0.9)].map(|(w, q)| server(during_reference, w, q) * 1e3),
        [(0, 0.5), (0, 0.9), (1, 0.5), (1, 0.9)].map(|(w, q)| server(during_run, w, q) * 1e3),
    );
    IbenchRun {
        ttft_p50: run.ttft_p50 + shift(0, 0.5),
        ttft_p90: run.ttft_p90 + shift(0, 0.9),
        latency_p50: run.latency_p50 + shift(1, 0.5),
        latency_p90: run.latency_p90 + shift(1, 0.9),
        ..run
    }
}

/// The reference client's run, then ibench's; asserts that every request ibench sent succeeded
/// and was counted by `server`, and that the latencies agree.
async fn check(dir: &Path, case: &Case<'_>, server: Server<'_>) {
    // One reference client at a time: eight Python clients and servers starting at once on two
    // cores delayed httpx's own timestamps by up to 17 ms (its TTFT p90 40 ms against ibench's
    // 23 ms on the same server); ibench's runs still overlap each other and a reference run.
    let alone = common::timing_lock().await;
    let reference = reference(case).await;
    // A server whose latency is its CPU share must have the same share during both runs.
    let _alone = case.server_bound_by_cpu.then_some(alone);
    let before = server.served().await;
    assert_eq!(before, reference.sent, "{}: the server's count", case.name);
    let (ok, text, summary) = ibench(dir, case, DURATION).await;
    assert!(ok, "{}: {text}", case.name);
    let run = ibench_run(&summary);
    let served = server.served().await - before;
    eprintln!(
        "{}: ibench {run:?}; httpx {reference:?}; server counted {served}",
        case.name
    );
    let expected = u64::from(case.rate * DURATION);
    assert_eq!(
        (run.sent, run.successes, run.failures, served),
        (expected, expected, 0, expected),
        "{}: sent, successes, failures and the server's count; failure labels {}",
        case.name,
        run.labels
    );
    assert_eq!(run.labels, serde_json::json!({}), "{}", case.name);
    // The server waits this long before its first token and its last: no client can see them
    // sooner (1 ms for the percentile's interpolation and timer granularity).
    let first = f64::from(TTFT_MS) / 1e3 - 0.001;
    let last = first + f64::from((case.max_tokens - 1) * ITL_MS) / 1e3;
    assert!(
        run.ttft_p50 >= first && run.latency_p50 >= last,
        "{}: faster than the server's own delays ({first} s, {last} s): {run:?}",
        case.name
    );
    let run = if case.server_bound_by_cpu {
        let timings = server.timings().await;
        assert_eq!(
            timings.len() as u64,
            reference.sent + served,
            "{}",
            case.name
        );
        net_of_server(run, &timings, reference.sent)
    } else {
        run
    };
    let disagreements = disagreements(&run, &reference, TOLERANCE);
    assert!(
        disagreements.is_empty(),
        "{}: {disagreements:#?}",
        case.name
    );
}

async fn model_server_case(kind: ModelServerKind, name: &str, chat: bool, rate: u32, tokens: u32) {
    let dir = tempfile::tempdir().unwrap();
    let server = ModelServer::start(kind, TTFT_MS, ITL_MS).await.unwrap();
    let mut case = Case::plain(name, server.base_url(), rate, tokens);
    case.chat = chat;
    if kind == ModelServerKind::OneByteChunks {
        case.server_bound_by_cpu = true;
    }
    check(dir.path(), &case, Server::Python(&server)).await;
}

async fn hyper_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let sim = common::sim_with_latency(f64::from(TTFT_MS), f64::from(ITL_MS)).await;
    let mut case = Case::plain("sim", sim.base_url(), 10, 12);
    case.model = "ibench-sim";
    check(dir.path(), &case, Server::Sim(&sim)).await;
}

/// TLS of a gateway case: the PKI, and whether nginx requires a client certificate.
#[derive(Clone, Copy)]
struct Tls<'a> {
    pki: &'a Pki,
    client_cert: bool,
}

/// nginx in front of the simulator, with TLS as `tls` asks (ibench and the reference client
/// given the CA, and the client certificate when it is required), 1 s keep-alive both ways.
async fn gateway_case(name: &str, tls: Option<Tls<'_>>) {
    let dir = tempfile::tempdir().unwrap();
    let sim = common::sim_with_latency(f64::from(TTFT_MS), f64::from(ITL_MS)).await;
    let upstream = sim.base_url().rsplit_once(':').unwrap().1.parse().unwrap();
    let gateway_tls = tls.map(|tls| GatewayTls {
        cert: tls.pki.server_cert.clone(),
        key: tls.pki.server_key.clone(),
        client_ca: tls.client_cert.then(|| tls.pki.ca.clone()),
    });
    let nginx = Nginx::gateway(upstream, GATEWAY_KEEPALIVE_MS, gateway_tls)
        .await
        .unwrap();
    let mut case = Case::plain(name, nginx.base_url(), 10, 12);
    case.model = "ibench-sim";
    if let Some(Tls { pki, client_cert }) = tls {
        case.server_yaml = format!("  ca_cert_path: {}\n", pki.ca.display());
        let mut client = ClientTls {
            ca: pki.ca.clone(),
            cert_and_key: None,
        };
        if client_cert {
            client.cert_and_key = Some((pki.client_cert.clone(), pki.client_key.clone()));
            // Without the certificate first: nginx accepts the handshake (TLS 1.3 checks the
            // client's certificate after it), then answers every request 400.
            // The model is named: its discovery (GET /v1/models) would fail first, with the same
            // HTTP 400.
            let refused_name = format!("{name}-without-client-certificate");
            let mut refused = Case::plain(
                &refused_name,
                case.base_url.clone(),
                case.rate,
                case.max_tokens,
            );
            refused.server_yaml = format!("{}  model_name: ibench-sim\n", case.server_yaml);
            let (ok, text, summary) = ibench(dir.path(), &refused, 1).await;
            let refused = ibench_run(&summary);
            assert!(!ok, "{name}: {text}");
            eprintln!("{name} without a client certificate: {}", refused.labels);
            // inference-perf's label for a 400 is "other"; nginx's page says why.
            let other = &refused.labels["other"];
            assert!(
                refused.successes == 0
                    && refused.failures == refused.sent
                    && other["count"].as_u64() == Some(refused.sent)
                    && other["messages"][0]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("No required SSL certificate was sent")),
                "{name}: {refused:?}: {text}"
            );
            assert_eq!(sim.stats().requests_received, 0, "{name}");
            case.server_yaml += &format!(
                "  cert_path: {}\n  key_path: {}\n",
                pki.client_cert.display(),
                pki.client_key.display()
            );
        }
        case.tls = Some(client);
    }
    let refused_before = nginx.access_log().unwrap().len();
    check(dir.path(), &case, Server::Sim(&sim)).await;
    let log = nginx.access_log().unwrap();
    let completions: Vec<_> = log[refused_before..]
        .iter()
        .filter(|a| a.method == "POST")
        .collect();
    assert!(
        completions.len() == (case.rate * (REFERENCE_DURATION + DURATION)) as usize
            && completions.iter().all(|a| a.status == 200),
        "{name}: nginx's access log: {completions:?}\n{}",
        nginx.error_log_tail(20)
    );
    let connections: std::collections::HashSet<u64> =
        completions.iter().map(|a| a.connection).collect();
    eprintln!("{name}: {} client connections", connections.len());
}

/// Runs every case at once (each is mostly waiting on its server's timers, and one after the
/// other they would take minutes), then fails with every case that failed.
async fn all(cases: Vec<(&'static str, tokio::task::JoinHandle<()>)>) {
    let mut failed = Vec::new();
    for (name, case) in cases {
        if let Err(e) = case.await {
            failed.push(format!("{name}: {e}"));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_servers_uvicorn_http_1_0_and_one_byte_chunks() {
    all(vec![
        (
            "uvicorn + FastAPI, completions",
            tokio::spawn(model_server_case(
                ModelServerKind::Uvicorn,
                "uvicorn-completions",
                false,
                10,
                12,
            )),
        ),
        (
            "uvicorn + FastAPI, chat",
            tokio::spawn(model_server_case(
                ModelServerKind::Uvicorn,
                "uvicorn-chat",
                true,
                10,
                12,
            )),
        ),
        (
            "HTTP/1.0 with Connection: close",
            tokio::spawn(model_server_case(
                ModelServerKind::Http10,
                "http10",
                false,
                10,
                12,
            )),
        ),
    ])
    .await;
    // After the others, whose Python servers and clients would take its CPU: 125.9 ms against
    // httpx's 94.2 ms at p90 when it ran beside them, and 113 against 89 ms at p50.
    all(vec![
        // Fewer tokens and requests: writing each byte on its own costs the Python server
        // ~20 µs a byte (~1 KB a response), and a saturated server would measure its own queue.
        (
            "chunked bodies in one-byte writes",
            tokio::spawn(model_server_case(
                ModelServerKind::OneByteChunks,
                "one-byte-chunks",
                false,
                5,
                4,
            )),
        ),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_simulator_and_nginx_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let pki: &'static Pki = Box::leak(Box::new(write_pki(dir.path())));
    all(vec![
        ("hyper (ibench sim)", tokio::spawn(hyper_simulator())),
        ("nginx gateway", tokio::spawn(gateway_case("nginx", None))),
        (
            "nginx gateway, TLS",
            tokio::spawn(gateway_case(
                "nginx-tls",
                Some(Tls {
                    pki,
                    client_cert: false,
                }),
            )),
        ),
        (
            "nginx gateway, mutual TLS",
            tokio::spawn(gateway_case(
                "nginx-mtls",
                Some(Tls {
                    pki,
                    client_cert: true,
                }),
            )),
        ),
    ])
    .await;
}
