//! The PromQL of `metrics.type: prometheus` is inference-perf 0.7.0's, character for character:
//! inference-perf itself (from PyPI, in the harness' virtualenv) prints the queries of each
//! server type for a model, filters and window, and ours must be the same list.

use ibench_core::config::ServerType;
use ibench_core::server_metrics::{catalog, filters, promql};
use ibench_testcluster::InferencePerf;

/// Asks inference-perf's model-server clients for their metrics and prints, per metric, the
/// field and its queries, as JSON.
const PEER_QUERIES: &str = r#"
import json, sys
from inference_perf.client.modelserver.vllm_client import vLLMModelServerClient
from inference_perf.client.modelserver.sglang_client import SGlangModelServerClient
from inference_perf.client.modelserver.tgi_client import TGImodelServerClient
server, model, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
user_filters = json.loads(sys.argv[4])
cls = {"vllm": vLLMModelServerClient, "sglang": SGlangModelServerClient, "tgi": TGImodelServerClient}[server]
client = object.__new__(cls)
# The constructors' only contribution to the queries: the label filters.
client.metric_filters = user_filters if server == "tgi" else [f"model_name='{model}'", *user_filters]
metadata = client.get_prometheus_metric_metadata()
print(json.dumps([[field, metric.get_queries(duration, metadata.filters)] for field, metric in metadata]))
"#;

fn peer_queries(
    server: &str,
    model: &str,
    duration: f64,
    user_filters: &[String],
) -> Vec<(String, Vec<String>)> {
    let output = InferencePerf::locate()
        .unwrap()
        .python()
        .args(["-c", PEER_QUERIES, server, model, &duration.to_string()])
        .arg(serde_json::to_string(user_filters).unwrap())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "inference-perf: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn queries_equal_inference_perfs_for_every_server_type() {
    let user_filters = vec![
        "namespace=\"llm\"".to_string(),
        "pod=~\"vllm-.*\"".to_string(),
    ];
    for (server, name) in [
        (ServerType::Vllm, "vllm"),
        (ServerType::Sglang, "sglang"),
        (ServerType::Tgi, "tgi"),
    ] {
        // 17.5 s: Python and this project must both round the window half to even ("18s").
        for duration in [17.5, 3600.0] {
            let model = "meta-llama/Llama-3.1-8B";
            let theirs = peer_queries(name, model, duration, &user_filters);
            let label_filters = filters(server, model, &user_filters);
            let ours: Vec<(String, Vec<String>)> = catalog(server)
                .iter()
                .map(|spec| {
                    (
                        spec.field.to_string(),
                        promql::queries(spec, duration, &label_filters),
                    )
                })
                .collect();
            assert_eq!(ours.len(), theirs.len(), "{name}: fields differ");
            for (mine, peer) in ours.iter().zip(&theirs) {
                assert_eq!(mine, peer, "{name}, window {duration} s");
            }
            eprintln!(
                "{name}: {} metrics, {} queries identical",
                ours.len(),
                ours.iter().map(|(_, q)| q.len()).sum::<usize>()
            );
        }
    }
}
