use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use ibench_operator::controller::{self, Scope};
use ibench_operator::telemetry::{self, Health, Metrics};
use ibench_operator::{Settings, crd};
use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(Debug, Parser)]
#[command(
    name = "ibench-operator",
    version,
    about = "Runs InferenceBenchmark resources as ibench runner Jobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the operator.
    Run(Box<RunArgs>),
    /// Print the InferenceBenchmark CustomResourceDefinition (YAML).
    Crd,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Kubeconfig to use; default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account.
    #[arg(long, env = "IBENCH_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Namespace to watch (repeatable); default: all namespaces.
    #[arg(
        long = "namespace",
        env = "IBENCH_WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    namespaces: Vec<String>,
    /// Runner image for benchmarks that name none.
    #[arg(long, env = "IBENCH_RUNNER_IMAGE", default_value_t = Settings::default().runner_image)]
    runner_image: String,
    /// Runner pod resources (ResourceRequirements as JSON or YAML) for benchmarks that name none.
    #[arg(long, env = "IBENCH_RUNNER_RESOURCES", value_parser = parse_resources)]
    runner_resources: Option<ResourceRequirements>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "IBENCH_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    metrics_address: SocketAddr,
    #[arg(long, env = "IBENCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Seconds between a runner's progress updates, at least (longer with many runners, see
    /// --progress-writes-per-second).
    #[arg(long, default_value_t = Settings::default().progress_seconds)]
    runner_progress_seconds: f64,
    /// Progress writes a second of all runners of a run together, at most: each runner's
    /// interval is stretched to runners / this when that is longer.
    #[arg(long, default_value_t = Settings::default().progress_writes_per_second)]
    progress_writes_per_second: f64,
    /// Least seconds between two status writes that only update progress.
    #[arg(long, default_value_t = Settings::default().status_interval.as_secs_f64())]
    status_interval_seconds: f64,
    /// Seconds from the last runner being ready to the start of stage 0 (plus 5 ms per runner).
    #[arg(long, default_value_t = Settings::default().start_lead.as_secs_f64())]
    start_lead_seconds: f64,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd => {
            print!("{}", crd::crd_yaml());
            Ok(())
        }
        Command::Run(args) => {
            init_logging(args.log_format);
            tokio::runtime::Runtime::new()?.block_on(run(*args))
        }
    }
}

fn parse_resources(text: &str) -> Result<ResourceRequirements, String> {
    serde_yaml::from_str(text).map_err(|e| {
        format!(
            "not a ResourceRequirements object ({{limits: {{cpu: \"2\"}}, requests: ...}}): {e}"
        )
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube_runtime::controller=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let seconds = |s: f64, flag: &str| {
        anyhow::ensure!(s > 0.0 && s.is_finite(), "--{flag} must be > 0");
        Ok(Duration::from_secs_f64(s))
    };
    let settings = Settings {
        runner_image: args.runner_image,
        runner_resources: args.runner_resources,
        progress_seconds: seconds(args.runner_progress_seconds, "runner-progress-seconds")?
            .as_secs_f64(),
        progress_writes_per_second: seconds(
            args.progress_writes_per_second,
            "progress-writes-per-second",
        )?
        .as_secs_f64(),
        status_interval: seconds(args.status_interval_seconds, "status-interval-seconds")?,
        start_lead: seconds(args.start_lead_seconds, "start-lead-seconds")?,
        ..Settings::default()
    };
    let client = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await?;
            Client::try_from(config)?
        }
        None => Client::try_default()
            .await
            .context("no kubeconfig and not in a cluster")?,
    };
    let scopes = if args.namespaces.is_empty() {
        vec![Scope::Cluster]
    } else {
        args.namespaces.into_iter().map(Scope::Namespace).collect()
    };
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let bound = telemetry::serve(
        args.metrics_address,
        Health {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
    )
    .with_context(|| format!("binding {}", args.metrics_address))?;
    tracing::info!(metrics = %bound, ?scopes, runner_image = %settings.runner_image, "ibench-operator starting");
    controller::run(client, settings, scopes, metrics, ready).await;
    tracing::info!("ibench-operator stopped");
    Ok(())
}
