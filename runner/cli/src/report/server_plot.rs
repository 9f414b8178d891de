//! The time-axis companion of `ibench report --plot`, for runs that scraped the server's
//! metrics: the client's request latency per stage above the server's queue, running requests,
//! KV-cache usage and preemptions, all against seconds since the run's first scrape.

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use super::plot::{Axes, Series, draw_panel, titled_canvas};

pub const SIZE: (u32, u32) = (1600, 1700);

/// A server panel: timeseries fields drawn as lines.
struct Panel {
    title: &'static str,
    y_label: &'static str,
    fields: &'static [(&'static str, &'static str)],
    scale: f64,
}

const SERVER_PANELS: [Panel; 3] = [
    Panel {
        title: "Server: requests waiting and running",
        y_label: "Requests",
        fields: &[
            ("queue_length", "waiting"),
            ("num_requests_running", "running"),
        ],
        scale: 1.0,
    },
    Panel {
        title: "Server: KV-cache usage",
        y_label: "KV cache used (%)",
        fields: &[("kv_cache_usage", "KV cache")],
        scale: 100.0,
    },
    Panel {
        title: "Server: preemptions (cumulative)",
        y_label: "Preemptions",
        fields: &[("num_preemptions_total", "preemptions")],
        scale: 1.0,
    },
];

type Line = (String, Vec<(f64, f64)>);

pub fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    series: &[Series],
) -> Result<(), String> {
    let text = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let root = titled_canvas(
        root,
        "Client latency and server state over time (x: seconds since the first scrape)",
        28,
    )?;
    let with_server: Vec<(&Series, &Value)> = series
        .iter()
        .filter_map(|s| Some((s, s.server.as_ref()?)))
        .collect();
    let mut panels: Vec<(&str, &str, Vec<Line>)> = vec![(
        "Client: request latency per stage (p50, p99)",
        "Latency (ms)",
        with_server
            .iter()
            .flat_map(|(s, ts)| client_lines(s, ts))
            .collect(),
    )];
    for panel in &SERVER_PANELS {
        let lines = with_server
            .iter()
            .flat_map(|(s, ts)| {
                panel.fields.iter().map(move |(field, label)| {
                    (
                        format!("{} {label}", s.name),
                        server_points(ts, field, panel.scale),
                    )
                })
            })
            .filter(|(_, points)| !points.is_empty())
            .collect();
        panels.push((panel.title, panel.y_label, lines));
    }
    let x_max = panels
        .iter()
        .flat_map(|(_, _, lines)| lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.0)))
        .fold(0.0, f64::max);
    for (area, (title, y_label, lines)) in root.split_evenly((panels.len(), 1)).iter().zip(&panels)
    {
        let axes = Axes {
            title,
            x_label: "Seconds since the first scrape",
            y_label,
            x_max,
        };
        draw_panel(area, &axes, lines, SeriesLabelPosition::UpperLeft, false)?;
    }
    root.present().map_err(text)
}

/// Seconds since the first scrape of a timeseries report.
fn origin(timeseries: &Value) -> f64 {
    timeseries["points"][0]["time"].as_f64().unwrap_or(0.0)
}

fn server_points(timeseries: &Value, field: &str, scale: f64) -> Vec<(f64, f64)> {
    let t0 = origin(timeseries);
    timeseries["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["time"].as_f64()? - t0, p[field].as_f64()? * scale)))
        .collect()
}

/// Each stage's client latency percentile held flat over the stage's window.
fn client_lines(series: &Series, timeseries: &Value) -> Vec<Line> {
    let t0 = origin(timeseries);
    let windows: Vec<(u64, f64, f64)> = timeseries["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s["stage_id"].as_u64()?,
                s["start_time"].as_f64()? - t0,
                s["end_time"].as_f64()? - t0,
            ))
        })
        .collect();
    ["median", "p99"]
        .iter()
        .map(|key| {
            let mut points = Vec::new();
            for (id, start, end) in &windows {
                let name = format!("stage_{id}_lifecycle_metrics");
                let Some(stage) = series.stages.iter().find(|f| f.name == name) else {
                    continue;
                };
                if let Some(ms) =
                    stage.contents["successes"]["latency"]["request_latency"][key].as_f64()
                {
                    points.extend([(*start, ms * 1e3), (*end, ms * 1e3)]);
                }
            }
            (
                format!(
                    "{} client {}",
                    series.name,
                    if *key == "median" { "p50" } else { "p99" }
                ),
                points,
            )
        })
        .collect()
}
