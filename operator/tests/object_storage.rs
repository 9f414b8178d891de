//! Files in and reports out through the operator, with real servers from the test harness:
//! traces from a PersistentVolumeClaim and from `s3://`, ShareGPT from `gs://` with a tokenizer
//! from a ConfigMap, merged reports and per-request records in the buckets, and every bad bucket
//! or input ending the run before stage 0 with no credential anywhere.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use ibench_operator::crd::{self, InferenceBenchmark};
use ibench_testcluster::{OversizedObjectServer, shared_gcs, shared_s3};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret};
use kube::Api;
use kube::api::PostParams;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// The two 30,000-request runs take the machine; one at a time.
static HEAVY: Mutex<()> = Mutex::const_new(());

const ROWS: usize = 30_000;
const TRACE_SECONDS: f64 = 40.0;

/// An AzurePublicDataset trace: `ROWS` rows spread over `TRACE_SECONDS`, with irregular gaps
/// and token counts; returns the CSV and `(offset seconds, context tokens)` per row.
fn trace() -> (String, Vec<(f64, u64)>) {
    let mut csv = String::from("TIMESTAMP,ContextTokens,GeneratedTokens\n");
    let mut rows = Vec::with_capacity(ROWS);
    let step_us = (TRACE_SECONDS * 1e6 / ROWS as f64) as u64;
    for i in 0..ROWS as u64 {
        // Gaps of 0.5 to 1.5 steps, whole microseconds, so offsets stay exact in the CSV.
        let offset_us = i * step_us + (i * 7919 % step_us) / 2;
        let context = 100 + (i * 37 % 200);
        let generated = 10 + (i * 13 % 8);
        let seconds = offset_us / 1_000_000;
        csv.push_str(&format!(
            "2024-05-10 14:{:02}:{:02}.{:06}0,{context},{generated}\n",
            seconds / 60,
            seconds % 60,
            offset_us % 1_000_000
        ));
        rows.push((offset_us as f64 / 1e6, context));
    }
    (csv, rows)
}

/// A Secret with the S3 server's keys (and the GCS server's service account), as `envFrom`
/// gives them to the runners and the operator reads them.
async fn bucket_secret(client: &kube::Client, ns: &str, name: &str, s3_secret: &str) {
    let (s3, gcs) = (shared_s3().await, shared_gcs().await);
    let mut data = BTreeMap::from([
        ("AWS_ACCESS_KEY_ID".to_string(), s3.access_key().to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), s3_secret.to_string()),
    ]);
    data.extend(gcs.env().into_iter().map(|(k, v)| (k.to_string(), v)));
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        string_data: Some(data),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("creating the bucket Secret");
}

/// A hostPath PersistentVolume holding `file` as `name`, and a claim bound to it.
async fn claim_with_file(
    client: &kube::Client,
    ns: &str,
    claim: &str,
    name: &str,
    file: &str,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), file).unwrap();
    let pv_name = format!("{ns}-{claim}");
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": {"name": pv_name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": dir.path().display().to_string(), "type": "Directory"},
        }
    }))
    .unwrap();
    Api::<PersistentVolume>::all(client.clone())
        .create(&PostParams::default(), &pv)
        .await
        .expect("creating the PersistentVolume");
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": claim},
        "spec": {
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": "",
            "volumeName": pv_name,
            "resources": {"requests": {"storage": "1Gi"}},
        }
    }))
    .unwrap();
    Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pvc)
        .await
        .expect("creating the claim");
    dir
}

fn trace_spec(base_url: &str, trace_file: &str, runners: i32) -> Value {
    json!({
        "server": {"baseUrl": base_url, "modelName": "m"},
        "data": {"type": "random", "trace": {"file": trace_file}},
        "load": {
            "type": "trace_replay",
            "trace": {"file": trace_file},
            "stages": [{"rate": ROWS as f64 / TRACE_SECONDS, "duration": TRACE_SECONDS as i64 + 1}],
            "stageTeardownGraceSeconds": 20.0,
        },
        "runners": {"parallelism": runners},
    })
}

/// Creates benchmark `name` and waits up to `seconds` for its run to succeed.
async fn run_to_success(
    cp: &ibench_testcluster::ControlPlane,
    operator: &Operator,
    client: &kube::Client,
    ns: &str,
    name: &str,
    spec: Value,
    seconds: u64,
) -> InferenceBenchmark {
    operator.wait_ready().await;
    create_benchmark(client, ns, name, spec)
        .await
        .expect("accepted");
    let ib = wait_benchmark(
        cp,
        operator,
        ns,
        name,
        Duration::from_secs(seconds),
        is_finished,
    )
    .await;
    assert!(succeeded(&ib), "{:?}\n{}", ib.status, operator.log_tail(40));
    ib
}

fn succeeded(ib: &InferenceBenchmark) -> bool {
    is_finished(ib) && condition(ib, crd::CONDITION_SUCCEEDED).is_some_and(|c| c.status == "True")
}

/// A > 1 MiB trace of 30,000 rows on a PersistentVolumeClaim, three runners, the merged report
/// and the per-request records (streamed by each runner as it runs) in S3: every row is in the
/// records exactly once, planned at its trace offset, sent close to it, with its token count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_on_a_volume_is_replayed_by_three_runners_into_s3() {
    let _heavy = HEAVY.lock().await;
    let (cp, ns, client, sim, operator) = setup("os-trace-pvc").await;
    let s3 = shared_s3().await;
    let bucket = s3.bucket("trace-pvc").await.unwrap();
    bucket_secret(&client, &ns, "buckets", s3.secret_key()).await;
    let (csv, rows) = trace();
    assert!(
        csv.len() > 1 << 20,
        "the trace is over 1 MiB ({} bytes)",
        csv.len()
    );
    let _volume = claim_with_file(&client, &ns, "traces", "day1.csv", &csv).await;

    let mut spec = trace_spec(&sim.base_url(), "/inputs/day1.csv", 3);
    spec["files"] = json!([{"path": "/inputs", "persistentVolumeClaim": {"claimName": "traces"}}]);
    spec["storage"] = json!({"simpleStorageService": {
        "bucketName": bucket, "path": "replays", "endpointUrl": s3.endpoint(),
        "regionName": s3.region(), "addressingStyle": "path",
    }});
    spec["storageSecretRef"] = json!({"name": "buckets"});
    spec["report"] = json!({"requestLifecycle": {"perRequest": true}});
    let ib = run_to_success(cp, &operator, &client, &ns, "replay", spec, 240).await;

    let report = ib.status.as_ref().unwrap().report.clone().unwrap();
    assert_eq!(report.per_request_entries, Some(ROWS as i64));
    let folder = "replays/replay-g1";
    assert_eq!(report.objects, [format!("s3://{bucket}/{folder}/")]);
    let bytes = s3
        .store(&bucket)
        .unwrap()
        .get(&ObjectPath::from(format!(
            "{folder}/summary_lifecycle_metrics.json"
        )))
        .await
        .expect("the merged summary is in the bucket")
        .bytes()
        .await
        .unwrap();
    let summary: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(summary["load_summary"]["count"], ROWS, "{summary}");
    assert_eq!(summary["successes"]["count"], ROWS, "{summary}");
    let prompt_tokens: u64 = rows.iter().map(|(_, c)| c).sum();
    assert_eq!(
        sim.stats().prompt_tokens,
        prompt_tokens,
        "every row's token count reached the server"
    );
    check_per_request_records(&s3.store(&bucket).unwrap(), &bucket, folder, &rows).await;

    // Each runner states its peak memory when it finishes (the figure to size pods with).
    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await
        .unwrap();
    let mut runners = 0;
    for pod in pods {
        let name = pod.metadata.name.unwrap_or_default();
        let log = cp
            .container_log(&ns, &name, ibench_operator::desired::CONTAINER)
            .unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("peak_memory_mib=")) {
            eprintln!("{name}: {line}");
            runners += 1;
        }
    }
    assert_eq!(runners, 3, "every runner logs its peak memory");
}

/// The per-request records of the run in `folder`, one list per runner's part, as its
/// manifest lists them (each part's entry count checked).
async fn per_request_parts(
    store: &dyn object_store::ObjectStore,
    bucket: &str,
    folder: &str,
) -> Vec<Vec<Value>> {
    let read = |key: String| async move {
        let got = store.get(&ObjectPath::from(key.clone())).await;
        let got = got.unwrap_or_else(|e| panic!("{key}: {e}"));
        got.bytes().await.unwrap()
    };
    let manifest: Value = serde_json::from_slice(
        &read(format!(
            "{folder}/per_request_lifecycle_metrics.manifest.json"
        ))
        .await,
    )
    .unwrap();
    let mut records = Vec::new();
    for part in manifest["parts"].as_array().unwrap() {
        let mut part_records: Vec<Value> = Vec::new();
        for url in part["objects"].as_array().unwrap() {
            let key = url.as_str().unwrap();
            let key = key
                .strip_prefix(&format!("s3://{bucket}/"))
                .unwrap_or_else(|| panic!("{key} is not in the run's bucket"));
            let entries: Vec<Value> = serde_json::from_slice(&read(key.to_string()).await)
                .unwrap_or_else(|e| panic!("{key} is not a JSON list: {e}"));
            part_records.extend(entries);
        }
        assert_eq!(part["entries"], part_records.len(), "{part}");
        records.push(part_records);
    }
    let total: usize = records.iter().map(Vec::len).sum();
    assert_eq!(manifest["entries"], total, "{manifest}");
    records
}

/// The manifest's parts, read as one, hold one record per trace row: planned at the row's
/// offset (±1 ms), with its token count, sent close to when it was planned.
async fn check_per_request_records(
    store: &dyn object_store::ObjectStore,
    bucket: &str,
    folder: &str,
    rows: &[(f64, u64)],
) {
    let parts = per_request_parts(store, bucket, folder).await;
    assert_eq!(parts.len(), 3, "one part per runner");
    let mut records: Vec<Value> = parts.into_iter().flatten().collect();
    assert_eq!(records.len(), ROWS, "every row once");

    let time = |r: &Value, key: &str| r[key].as_f64().unwrap_or_else(|| panic!("{key}: {r}"));
    let start = records
        .iter()
        .map(|r| time(r, "scheduled_time"))
        .fold(f64::INFINITY, f64::min);
    records.sort_by(|a, b| time(a, "scheduled_time").total_cmp(&time(b, "scheduled_time")));
    let mut delays = Vec::with_capacity(ROWS);
    for (record, (offset, context)) in records.iter().zip(rows) {
        let planned = time(record, "scheduled_time") - start;
        assert!(
            (planned - offset).abs() <= 1e-3,
            "planned at {planned:.6} s, the trace says {offset:.6} s: {record}"
        );
        assert_eq!(record["info"]["input_tokens"], *context, "{record}");
        assert!(record["error"].is_null(), "{record}");
        delays.push(time(record, "start_time") - time(record, "scheduled_time"));
    }
    delays.sort_by(f64::total_cmp);
    let (median, p99) = (delays[ROWS / 2], delays[ROWS * 99 / 100]);
    eprintln!(
        "send delay: median {:.3} ms, p99 {:.3} ms",
        median * 1e3,
        p99 * 1e3
    );
    assert!(
        delays[0] >= -1e-3 && median < 5e-3,
        "sent at the planned time: median delay {median} s, earliest {} s",
        delays[0]
    );
}

/// The same trace from an `s3://` URL, its digest pinned: three runners fetch it, agree on it,
/// and send every row with its token count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_from_s3_is_replayed_by_three_runners() {
    let _heavy = HEAVY.lock().await;
    let (cp, ns, client, sim, operator) = setup("os-trace-s3").await;
    let s3 = shared_s3().await;
    let bucket = s3.bucket("trace-url").await.unwrap();
    bucket_secret(&client, &ns, "buckets", s3.secret_key()).await;
    let (csv, rows) = trace();
    s3.store(&bucket)
        .unwrap()
        .put(&ObjectPath::from("traces/day1.csv"), csv.clone().into())
        .await
        .unwrap();
    let url = format!("s3://{bucket}/traces/day1.csv");
    let mut spec = trace_spec(&sim.base_url(), &url, 3);
    spec["inputs"] = json!({
        "s3": {"endpointUrl": s3.endpoint(), "regionName": s3.region()},
        "sha256": {url.clone(): sha256_hex(csv.as_bytes())},
    });
    spec["storageSecretRef"] = json!({"name": "buckets"});
    let ib = run_to_success(cp, &operator, &client, &ns, "replay", spec, 240).await;
    assert_eq!(
        ib.status
            .as_ref()
            .unwrap()
            .summary
            .as_ref()
            .unwrap()
            .requests,
        ROWS as i64
    );
    let prompt_tokens: u64 = rows.iter().map(|(_, c)| c).sum();
    assert_eq!(
        sim.stats().prompt_tokens,
        prompt_tokens,
        "every row's token count reached the server"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// ShareGPT conversations from `gs://`, counted with a `tokenizer.json` mounted from a
/// ConfigMap, two runners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharegpt_from_gcs_with_a_tokenizer_from_a_config_map() {
    let (cp, ns, client, sim, operator) = setup("os-sharegpt").await;
    let gcs = shared_gcs().await;
    let bucket = gcs.bucket("datasets").await.unwrap();
    bucket_secret(&client, &ns, "buckets", "unused").await;
    let words: Vec<&str> = (0..40).map(ibench_core::tokenize::word).collect();
    let conversations: Vec<Value> = (0..50)
        .map(|i| {
            let prompt = words[..10 + i % 20].join(" ");
            let answer = words[..5 + i % 10].join(" ");
            json!({"conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": answer}]})
        })
        .collect();
    gcs.put_object(
        &bucket,
        "sharegpt/conversations.json",
        serde_json::to_vec(&conversations).unwrap(),
    )
    .await
    .unwrap();
    let tokenizer = ibench_testkit::word_level_tokenizer_json();
    let config_map: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "tokenizer"},
        "data": {"tokenizer.json": tokenizer},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
    let spec = json!({
        "server": {"baseUrl": sim.base_url(), "modelName": "m"},
        "data": {"type": "shareGPT", "path": format!("gs://{bucket}/sharegpt/conversations.json")},
        "tokenizer": {"pretrainedModelNameOrPath": "/tokenizer/tokenizer.json"},
        "files": [{"path": "/tokenizer/tokenizer.json", "configMap": {"name": "tokenizer", "key": "tokenizer.json"}}],
        "load": {"type": "constant", "stages": [{"rate": 20.0, "duration": 3}]},
        "storageSecretRef": {"name": "buckets"},
        "runners": {"parallelism": 2},
    });
    run_to_success(cp, &operator, &client, &ns, "sharegpt", spec, 120).await;
    let report = config_maps(&client, &ns)
        .await
        .into_iter()
        .find(|cm| cm.metadata.name.as_deref() == Some("sharegpt-report"))
        .expect("the report ConfigMap");
    let summary = report_json(&report, "summary_lifecycle_metrics.json");
    assert_eq!(summary["successes"]["count"], 60, "{summary}");
    // Prompts are the conversations' first turns, measured with the mounted tokenizer (whose
    // words are the simulator's): lengths 10 to 29 tokens.
    let prompt = &summary["successes"]["prompt_tokens"];
    assert!(
        prompt["min"].as_f64().unwrap() >= 10.0 && prompt["max"].as_f64().unwrap() <= 29.0,
        "{prompt}"
    );
    assert_eq!(
        summary["successes"]["token_count_mismatches"], 0,
        "{summary}"
    );
}

/// Missing bucket, wrong credentials, unreachable endpoint, a digest mismatch, an object over
/// the size limit: each run fails before stage 0 with the URL and the cause in its condition,
/// nothing hangs, and the credentials appear in no status, event, ConfigMap or log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_buckets_and_inputs_fail_before_stage_0_and_leak_no_credential() {
    let (cp, ns, client, sim, operator) = setup("os-bad").await;
    let s3 = shared_s3().await;
    let bucket = s3.bucket("bad-inputs").await.unwrap();
    let (csv, _) = trace();
    s3.store(&bucket)
        .unwrap()
        .put(&ObjectPath::from("traces/day1.csv"), csv.clone().into())
        .await
        .unwrap();
    bucket_secret(&client, &ns, "buckets", s3.secret_key()).await;
    let wrong_secret = "wr0ng-s3cret-that-must-not-leak";
    bucket_secret(&client, &ns, "wrong-buckets", wrong_secret).await;
    let huge = OversizedObjectServer::start(1 << 32).await.unwrap();
    let closed = free_port();
    let trace_url = format!("s3://{bucket}/traces/day1.csv");
    let reports = |bucket: &str, endpoint: &str| json!({"simpleStorageService": {"bucketName": bucket, "endpointUrl": endpoint, "regionName": s3.region()}});
    let s3_inputs = json!({"s3": {"endpointUrl": s3.endpoint(), "regionName": s3.region()}});
    let base = |file: &str| {
        let mut spec = trace_spec(&sim.base_url(), file, 2);
        spec["load"]["stages"] = json!([{"rate": 10.0, "duration": 2}]);
        spec["storageSecretRef"] = json!({"name": "buckets"});
        spec
    };
    let huge_url = huge.url("traces/huge.csv");
    let mut cases: Vec<(&str, Value, Vec<String>)> = Vec::new();
    let mut spec = base(&trace_url);
    spec["inputs"] = s3_inputs.clone();
    spec["storage"] = reports("no-such-bucket-for-ibench", s3.endpoint());
    cases.push((
        "missing-bucket",
        spec,
        vec!["s3://no-such-bucket-for-ibench/".into()],
    ));
    let mut spec = base(&trace_url);
    spec["inputs"] = s3_inputs.clone();
    spec["storageSecretRef"] = json!({"name": "wrong-buckets"});
    cases.push((
        "wrong-credentials",
        spec,
        vec![trace_url.clone(), "access denied (403)".into()],
    ));
    let mut spec = base(&trace_url);
    spec["inputs"] = s3_inputs.clone();
    spec["storage"] = reports(&bucket, &format!("http://127.0.0.1:{closed}"));
    cases.push((
        "unreachable",
        spec,
        vec![format!("s3://{bucket}/"), "endpoint unreachable".into()],
    ));
    let mut spec = base(&trace_url);
    spec["inputs"] = s3_inputs.clone();
    spec["inputs"]["sha256"] = json!({trace_url.clone(): "0".repeat(64)});
    cases.push((
        "digest-mismatch",
        spec,
        vec![
            trace_url.clone(),
            format!("but inputs.sha256 expects {}", "0".repeat(64)),
        ],
    ));
    let spec = base(&huge_url);
    cases.push((
        "too-large",
        spec,
        vec![
            huge_url.clone(),
            "is 4294967296 bytes, more than spec.inputs.maxBytes".into(),
        ],
    ));

    operator.wait_ready().await;
    for (name, spec, _) in &cases {
        create_benchmark(&client, &ns, name, spec.clone())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, _, needles) in &cases {
        let ib = wait_benchmark(cp, &operator, &ns, name, Duration::from_secs(150), |ib| {
            is_finished(ib)
        })
        .await;
        let status = ib.status.clone().unwrap();
        let succeeded = condition(&ib, crd::CONDITION_SUCCEEDED).unwrap();
        assert_eq!(succeeded.status, "False", "{name}: {status:?}");
        for needle in needles {
            assert!(
                succeeded.message.contains(needle.as_str()),
                "{name}: {needle:?} not in {:?}",
                succeeded.message
            );
        }
        assert!(
            status.start_time.is_none(),
            "{name} failed before stage 0, yet started: {status:?}"
        );
    }
    drop(huge);

    // No credential anywhere a user (or an attacker with read access) looks.
    let secrets = [s3.secret_key().to_string(), wrong_secret.to_string()];
    let mut seen = String::new();
    for cm in config_maps(&client, &ns).await {
        seen.push_str(&serde_json::to_string(&cm.data).unwrap());
    }
    for ib in Api::<InferenceBenchmark>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await
        .unwrap()
    {
        seen.push_str(&serde_json::to_string(&ib.status).unwrap());
    }
    seen.push_str(&cp.diagnostics(&ns).await);
    seen.push_str(&operator.log());
    for secret in &secrets {
        assert!(
            !seen.contains(secret.as_str()),
            "a credential leaked into the cluster's objects or logs"
        );
    }
}

/// Agents and conversations over three runners, records and reports in S3. Conversation replay
/// keeps every conversation on one runner: each session of the per-request records (split by
/// runner) is in one runner's part only, its rounds one after another. A trace-session replay
/// of an agent trace from `s3://` counts every session once in its merged session reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_stay_on_one_runner_and_merged_sessions_count_once() {
    let (cp, ns, client, sim, operator) = setup("os-sessions").await;
    let s3 = shared_s3().await;
    let bucket = s3.bucket("sessions").await.unwrap();
    bucket_secret(&client, &ns, "buckets", s3.secret_key()).await;
    let store = s3.store(&bucket).unwrap();
    let storage = json!({"simpleStorageService": {
        "bucketName": bucket, "path": "sessions", "endpointUrl": s3.endpoint(),
        "regionName": s3.region(), "addressingStyle": "path",
    }});
    let fixed = |n: i64| json!({"type": "fixed", "min": n, "max": n, "mean": n, "stdDev": 0});
    const TURNS: u64 = 36;
    let conversations = json!({
        "server": {"baseUrl": sim.base_url(), "modelName": "m"},
        "api": {"type": "completion", "streaming": true},
        "data": {"type": "conversation_replay", "conversationReplay": {
            "seed": 7, "numConversations": 9, "sharedSystemPromptLen": 50,
            "turnsPerConversation": {"type": "uniform", "min": 2, "max": 4},
            "inputTokensPerTurn": fixed(20), "outputTokensPerTurn": fixed(10),
            "toolCallLatencySec": {"type": "uniform", "min": 0, "max": 1},
        }},
        "load": {"type": "concurrent", "stages": [{"numRequests": TURNS, "concurrencyLevel": 9}]},
        "report": {"requestLifecycle": {"perRequest": true}},
        "storage": storage, "storageSecretRef": {"name": "buckets"},
        "runners": {"parallelism": 3},
    });
    run_to_success(cp, &operator, &client, &ns, "convs", conversations, 180).await;
    let parts = per_request_parts(&store, &bucket, "sessions/convs-g1").await;
    assert_eq!(parts.len(), 3, "one part per runner");
    let mut runner_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut rounds: BTreeMap<String, Vec<(u64, f64, f64)>> = BTreeMap::new();
    for (runner, records) in parts.iter().enumerate() {
        assert!(!records.is_empty(), "runner {runner} ran no turn");
        for record in records {
            let info = &record["info"]["extra_info"];
            let session = info["user_session"]
                .as_str()
                .unwrap_or_else(|| panic!("{record}"));
            let first = *runner_of.entry(session.to_string()).or_insert(runner);
            assert_eq!(
                first, runner,
                "{session} ran on runners {first} and {runner}"
            );
            let time = |key: &str| record[key].as_f64().unwrap_or_else(|| panic!("{record}"));
            let round = info["chat_round"].as_u64().unwrap();
            rounds.entry(session.to_string()).or_default().push((
                round,
                time("start_time"),
                time("end_time"),
            ));
            assert!(record["error"].is_null(), "{record}");
        }
    }
    assert_eq!(rounds.values().map(Vec::len).sum::<usize>() as u64, TURNS);
    for (session, turns) in &mut rounds {
        turns.sort_by(|a, b| a.1.total_cmp(&b.1));
        for pair in turns.windows(2) {
            assert!(
                pair[1].0 > pair[0].0 && pair[1].1 >= pair[0].2,
                "{session}: round {} started before round {} ended: {turns:?}",
                pair[1].0,
                pair[0].0
            );
        }
    }
    assert_eq!(sim.stats().requests_received, TURNS);

    // The agent trace, duplicated to 12 sessions, 4 a runner.
    let trace = std::fs::read(repo().join("configs/traces/otel/support-agent.json")).unwrap();
    store
        .put(&ObjectPath::from("traces/support-agent.json"), trace.into())
        .await
        .unwrap();
    const SESSIONS: usize = 12;
    let agents = json!({
        "server": {"baseUrl": sim.base_url(), "modelName": "m"},
        "api": {"type": "chat", "streaming": true},
        "data": {"type": "otel_trace_replay", "otelTraceReplay": {
            "traceFiles": [format!("s3://{bucket}/traces/support-agent.json")],
            "duplicateSessionsTarget": SESSIONS,
        }},
        "inputs": {"s3": {"endpointUrl": s3.endpoint(), "regionName": s3.region()}},
        "load": {"type": "trace_session_replay", "stages": [
            {"concurrentSessions": 4, "numSessions": SESSIONS, "timeout": 60},
        ]},
        "report": {"sessionLifecycle": {"summary": true, "perSession": true}},
        "storage": storage, "storageSecretRef": {"name": "buckets"},
        "runners": {"parallelism": 3},
    });
    run_to_success(cp, &operator, &client, &ns, "agents", agents, 180).await;
    let read = |key: &str| {
        let store = &store;
        let key = format!("sessions/agents-g1/{key}");
        async move {
            let got = store.get(&ObjectPath::from(key.clone())).await;
            let bytes = got.unwrap_or_else(|e| panic!("{key}: {e}")).bytes().await;
            serde_json::from_slice::<Value>(&bytes.unwrap()).unwrap()
        }
    };
    let per_session = read("per_session_lifecycle_metrics.json").await;
    let ids = ibench_testkit::distinct_session_ids(&per_session);
    assert_eq!(ids.len(), SESSIONS, "every session once: {per_session}");
    assert_eq!(per_session.as_array().unwrap().len(), SESSIONS);
    let summary = read("summary_session_lifecycle_metrics.json").await;
    assert_eq!(
        (&summary["num_sessions"], &summary["num_sessions_succeeded"]),
        (&json!(SESSIONS), &json!(SESSIONS)),
        "{summary}"
    );
    // Three model calls a session, each reaching the server once.
    assert_eq!(sim.stats().requests_received, TURNS + 3 * SESSIONS as u64);
}
