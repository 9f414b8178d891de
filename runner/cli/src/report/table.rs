//! The readable end-of-run summary, built from the stage reports themselves so that the table
//! never disagrees with the files.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

use ibench_core::report::{ReportFile, stage_report_id};

pub fn summary_tables(files: &[ReportFile]) -> String {
    let stages: Vec<(&str, &Value)> = files
        .iter()
        .filter_map(|f| Some((stage_report_id(&f.name)?, &f.contents)))
        .collect();
    if stages.is_empty() {
        return String::new();
    }
    let mut throughput = Table::new();
    throughput.load_preset(UTF8_FULL_CONDENSED).set_header([
        "Stage",
        "Requested/s",
        "Achieved/s",
        "Sent",
        "OK",
        "Failed",
        "Cancelled",
        "Req/s done",
        "In tok/s",
        "Out tok/s",
    ]);
    let mut latency = Table::new();
    latency.load_preset(UTF8_FULL_CONDENSED).set_header([
        "Stage",
        "Sched delay p50",
        "p99",
        "Latency p50",
        "p99",
        "TTFT p50",
        "p99",
        "ITL p50",
        "p99",
        "TPOT p50",
    ]);
    for (id, report) in stages {
        let load = &report["load_summary"];
        let ok = &report["successes"];
        throughput.add_row([
            id.to_string(),
            number(&load["requested_rate"], 2),
            number(&load["achieved_rate"], 2),
            number(&load["count"], 0),
            number(&ok["count"], 0),
            number(&report["failures"]["count"], 0),
            number(&report["cancelled"]["count"], 0),
            number(&ok["throughput"]["requests_per_sec"], 2),
            number(&ok["throughput"]["input_tokens_per_sec"], 1),
            number(&ok["throughput"]["output_tokens_per_sec"], 1),
        ]);
        let lat = &ok["latency"];
        latency.add_row([
            id.to_string(),
            millis(&load["schedule_delay"]["median"]),
            millis(&load["schedule_delay"]["p99"]),
            millis(&lat["request_latency"]["median"]),
            millis(&lat["request_latency"]["p99"]),
            millis(&lat["time_to_first_token"]["median"]),
            millis(&lat["time_to_first_token"]["p99"]),
            millis(&lat["inter_token_latency"]["median"]),
            millis(&lat["inter_token_latency"]["p99"]),
            millis(&lat["time_per_output_token"]["median"]),
        ]);
    }
    format!("Throughput\n{throughput}\nLatency (ms)\n{latency}\n")
}

fn number(v: &Value, decimals: usize) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{x:.decimals$}"))
}

fn millis(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{:.3}", x * 1e3))
}
