//! `ibench report --plot`: latency and throughput against the achieved rate, stage by stage,
//! one line per report directory — as SVG and PNG. Text is drawn with DejaVu Sans, shipped in
//! `assets/fonts` (its licence beside it), so the PNG needs no system fonts.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use ibench_core::report::ReportFile;
use ibench_core::server_metrics::timeseries::TIMESERIES_FILE;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const SIZE: (u32, u32) = (1800, 1900);

/// One report directory's stage reports (named `stage_<id>_lifecycle_metrics`), in order of
/// achieved rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub stages: Vec<ReportFile>,
    /// `server_metrics_timeseries.json`, when the run scraped the server's metrics.
    pub server: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot read report directory {dir}: {source}")]
    Read { dir: String, source: std::io::Error },
    #[error("{file} is not a lifecycle report: {source}")]
    Json {
        file: String,
        source: serde_json::Error,
    },
    #[error(
        "{dir} has no stage_<n>_lifecycle_metrics.json files (written when report.request_lifecycle.per_stage is true)"
    )]
    NoStages { dir: String },
    #[error("cannot draw {file}: {reason}")]
    Draw { file: String, reason: String },
}

/// The stage reports of a report directory, named after the directory.
pub fn read_series(dir: &Path) -> Result<Series, PlotError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|source| PlotError::Read {
        dir: shown.clone(),
        source,
    })?;
    let mut stages = Vec::new();
    let mut server = None;
    for entry in entries {
        let path = entry
            .map_err(|source| PlotError::Read {
                dir: shown.clone(),
                source,
            })?
            .path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // Any report_file_prefix is fine; adapter-stage files are not stages.
        if name.ends_with(&format!("{TIMESERIES_FILE}.json")) {
            let text = std::fs::read_to_string(&path).map_err(|source| PlotError::Read {
                dir: shown.clone(),
                source,
            })?;
            server =
                Some(
                    serde_json::from_str::<Value>(&text).map_err(|source| PlotError::Json {
                        file: path.display().to_string(),
                        source,
                    })?,
                );
            continue;
        }
        let Some(stem) = name.strip_suffix("_lifecycle_metrics.json") else {
            continue;
        };
        let Some(id) = stem
            .rsplit_once("stage_")
            .filter(|(before, _)| !before.contains("adapter_"))
            .and_then(|(_, id)| id.parse::<u64>().ok())
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(|source| PlotError::Read {
            dir: shown.clone(),
            source,
        })?;
        stages.push(ReportFile {
            name: format!("stage_{id}_lifecycle_metrics"),
            contents: serde_json::from_str::<Value>(&text).map_err(|source| PlotError::Json {
                file: path.display().to_string(),
                source,
            })?,
        });
    }
    if stages.is_empty() {
        return Err(PlotError::NoStages { dir: shown });
    }
    stages.sort_by(|a, b| achieved_rate(&a.contents).total_cmp(&achieved_rate(&b.contents)));
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or(shown);
    Ok(Series {
        name,
        stages,
        server,
    })
}

fn achieved_rate(stage: &Value) -> f64 {
    stage["load_summary"]["achieved_rate"]
        .as_f64()
        .unwrap_or(0.0)
}

/// One panel: a value of each stage report, scaled for display.
struct Panel {
    title: &'static str,
    y_label: &'static str,
    pointer: &'static str,
    scale: f64,
    /// Where the legend hides the least: latencies sit high and flat, throughputs rise from
    /// the lower left.
    legend: SeriesLabelPosition,
}

const fn latency(title: &'static str, y_label: &'static str, pointer: &'static str) -> Panel {
    Panel {
        title,
        y_label,
        pointer,
        scale: 1e3,
        legend: SeriesLabelPosition::LowerRight,
    }
}

const fn throughput(title: &'static str, y_label: &'static str, pointer: &'static str) -> Panel {
    Panel {
        title,
        y_label,
        pointer,
        scale: 1.0,
        legend: SeriesLabelPosition::UpperLeft,
    }
}

/// Rows: TTFT, ITL, request latency (p50, p90, p99 across), then throughputs.
const PANELS: [Panel; 12] = [
    latency(
        "TTFT p50",
        "TTFT (ms)",
        "/successes/latency/time_to_first_token/median",
    ),
    latency(
        "TTFT p90",
        "TTFT (ms)",
        "/successes/latency/time_to_first_token/p90",
    ),
    latency(
        "TTFT p99",
        "TTFT (ms)",
        "/successes/latency/time_to_first_token/p99",
    ),
    latency(
        "ITL p50",
        "ITL (ms)",
        "/successes/latency/inter_token_latency/median",
    ),
    latency(
        "ITL p90",
        "ITL (ms)",
        "/successes/latency/inter_token_latency/p90",
    ),
    latency(
        "ITL p99",
        "ITL (ms)",
        "/successes/latency/inter_token_latency/p99",
    ),
    latency(
        "Request latency p50",
        "Latency (ms)",
        "/successes/latency/request_latency/median",
    ),
    latency(
        "Request latency p90",
        "Latency (ms)",
        "/successes/latency/request_latency/p90",
    ),
    latency(
        "Request latency p99",
        "Latency (ms)",
        "/successes/latency/request_latency/p99",
    ),
    throughput(
        "Completed requests",
        "Requests/s",
        "/successes/throughput/requests_per_sec",
    ),
    throughput(
        "Output tokens",
        "Output tokens/s",
        "/successes/throughput/output_tokens_per_sec",
    ),
    throughput(
        "Total tokens",
        "Tokens/s (in + out)",
        "/successes/throughput/total_tokens_per_sec",
    ),
];

/// Writes `<out>.svg` and `<out>.png` (`out` with or without either extension) and returns
/// their paths.
pub fn plot(series: &[Series], out: &Path) -> Result<Vec<PathBuf>, PlotError> {
    register_font();
    let base = match out.extension().and_then(|e| e.to_str()) {
        Some("svg" | "png") => out.with_extension(""),
        _ => out.to_path_buf(),
    };
    if let Some(dir) = base.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PlotError::Read {
            dir: dir.display().to_string(),
            source,
        })?;
    }
    let svg = base.with_extension("svg");
    let png = base.with_extension("png");
    let failed = |file: &Path| {
        let file = file.display().to_string();
        move |reason: String| PlotError::Draw { file, reason }
    };
    draw(SVGBackend::new(&svg, SIZE).into_drawing_area(), series).map_err(failed(&svg))?;
    draw(BitMapBackend::new(&png, SIZE).into_drawing_area(), series).map_err(failed(&png))?;
    let mut written = vec![svg, png];
    if series.iter().any(|s| s.server.is_some()) {
        let name = base
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let server_base = base.with_file_name(format!("{name}-server"));
        let (svg, png) = (
            server_base.with_extension("svg"),
            server_base.with_extension("png"),
        );
        super::server_plot::draw(
            SVGBackend::new(&svg, super::server_plot::SIZE).into_drawing_area(),
            series,
        )
        .map_err(failed(&svg))?;
        super::server_plot::draw(
            BitMapBackend::new(&png, super::server_plot::SIZE).into_drawing_area(),
            series,
        )
        .map_err(failed(&png))?;
        written.extend([svg, png]);
    }
    Ok(written)
}

fn register_font() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the shipped DejaVu Sans font is valid"));
    });
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, series: &[Series]) -> Result<(), String> {
    let text = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let root = titled_canvas(
        root,
        "Latency and throughput by stage (x: achieved request rate)",
        30,
    )?;
    let x_max = series
        .iter()
        .flat_map(|s| s.stages.iter().map(|f| achieved_rate(&f.contents)))
        .fold(0.0, f64::max);
    for (area, panel) in root.split_evenly((4, 3)).iter().zip(&PANELS) {
        let lines: Vec<(&str, Vec<(f64, f64)>)> = series
            .iter()
            .map(|s| {
                let points = s
                    .stages
                    .iter()
                    .filter_map(|stage| {
                        let y = stage.contents.pointer(panel.pointer)?.as_f64()?;
                        Some((achieved_rate(&stage.contents), y * panel.scale))
                    })
                    .collect();
                (s.name.as_str(), points)
            })
            .collect();
        let axes = Axes {
            title: panel.title,
            x_label: "Achieved rate (req/s)",
            y_label: panel.y_label,
            x_max,
        };
        draw_panel(area, &axes, &lines, panel.legend.clone(), true)?;
    }
    root.present().map_err(text)
}

/// A white canvas with `title` (in `size` points) above the panels.
pub(super) fn titled_canvas<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    size: u32,
) -> Result<DrawingArea<DB, Shift>, String> {
    let text = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(text)?;
    root.margin(12, 0, 0, 0)
        .titled(title, ("sans-serif", size))
        .map_err(text)
}

/// What a panel says around its lines.
pub(super) struct Axes<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// Shared by the panels of a figure, so that they line up.
    pub x_max: f64,
}

/// One panel: both axes from 0 to a round maximum, a line per named series with its legend
/// entry, and with `markers` a dot at every point (points are stages, not samples).
pub(super) fn draw_panel<DB: DrawingBackend, N: AsRef<str>>(
    area: &DrawingArea<DB, Shift>,
    axes: &Axes,
    lines: &[(N, Vec<(f64, f64)>)],
    legend: SeriesLabelPosition,
    markers: bool,
) -> Result<(), String> {
    let text = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let y_max = lines
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(axes.title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(0.0..nice(axes.x_max), 0.0..nice(y_max))
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc(axes.x_label)
        .y_desc(axes.y_label)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(text)?;
    for (i, (name, points)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(text)?
            .label(name.as_ref())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        if markers {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(text)?;
        }
    }
    if !lines.is_empty() {
        chart
            .configure_series_labels()
            .position(legend)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(text)?;
    }
    Ok(())
}

/// An axis end a little above `max` (and not zero, so an empty panel still has axes).
pub(super) fn nice(max: f64) -> f64 {
    if max > 0.0 { max * 1.1 } else { 1.0 }
}
