//! `ibench`: the runner's command line (`run`, `validate`, `report`, `sim`) and, as `ibench
//! agent`, one runner pod of an `InferenceBenchmark`.

mod agent;
mod api_clock;
mod args;
mod out;
mod pod_targets;
mod preflight;
mod progress;
mod report;
mod run;
mod server_metrics;
mod signals;
mod sim;
mod validate;

/// glibc's malloc was a sixth of the runner's CPU at high request rates (every request
/// allocates bodies, headers and futures); mimalloc's thread-local free lists cost a fraction.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "ibench",
    version,
    about = "Precise-rate load generator for OpenAI-compatible LLM servers"
)]
enum Cli {
    /// Run a benchmark described by an inference-perf config.
    Run(args::ConfigArgs),
    /// Check a config and list every problem (exit 0 when valid, 1 otherwise).
    Validate(args::ConfigArgs),
    /// Show the stage tables of report directories and plot them against each other.
    Report(report::ReportArgs),
    /// Serve a simulated OpenAI-compatible model server.
    Sim(Box<ibench_sim::SimArgs>),
    /// Run as one runner pod of an InferenceBenchmark (started by ibench-operator; reads its
    /// place in the run from the pod environment).
    Agent,
}

/// Memory settings for a long-running load generator, made before anything sizeable is
/// allocated.
///
/// mimalloc gives pages that stayed free for a second back to the OS. Under a steady load they
/// are needed again at once, and each return costs a page fault that zeroes the page: several
/// thousand faults per 100,000 requests. What matters for the runner is its peak memory, which
/// keeping freed pages does not raise.
///
/// Transparent huge pages, which mimalloc asks for, back its heap in 2 MiB steps: a run's
/// resident memory then rose by 2 MiB whenever its heap grew by a few KiB across a boundary, and
/// the heap's partly used huge pages doubled the runner's resident memory (19 vs 8 MB anonymous)
/// for no measurable CPU gain.
///
/// A thread keeps at most 2 full pages per size class by default and hands further ones to the
/// shared pool ("abandons" them), to take them back on the next free (about 900 times a second
/// at 20,000 req/s). Pages in that pool are no thread's to allocate from, and a long run used
/// more memory than a short one (1 million vs 100,000 requests: +0.1 to +1.4 MB anonymous in
/// three pairs of runs; keeping 32, the most mimalloc allows: -0.2, 0.0 and +0.3 MB).
fn tune_allocator() {
    // Option numbers from mimalloc.h (v3); the -sys crate has no constants for them.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const MI_OPTION_PAGE_FULL_RETAIN: libmimalloc_sys::mi_option_t = 36;
    // SAFETY: sets process-wide options, which mimalloc allows at any time; threads started
    // later (the workers) read them when they first allocate.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
        libmimalloc_sys::mi_option_set(MI_OPTION_PAGE_FULL_RETAIN, 32);
    }
    // Only a kernel without the setting refuses; the runner then keeps huge pages.
    let _ = nix::sys::prctl::set_thp_disable(true);
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // The simulator's memory follows its connections: it should give back what closed
    // connections freed, which the load generator's settings prevent.
    if !matches!(cli, Cli::Sim(_)) {
        tune_allocator();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: pod logs and files read them as noise.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli {
        Cli::Run(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run::run(&args)),
        Cli::Validate(args) => Ok(tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(validate::validate(&args))),
        Cli::Report(args) => Ok(report::report(&args)),
        Cli::Agent => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(agent()),
        Cli::Sim(args) => {
            tokio::runtime::Runtime::new()?.block_on(sim::serve(*args))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn agent() -> anyhow::Result<ExitCode> {
    let env = agent::AgentEnv::from_env()?;
    // A deleted or evicted pod gets SIGTERM: the runner stops sending, gives the requests in
    // flight the teardown grace and delivers its results, as `ibench run` writes its reports.
    let interrupt = ibench_engine::Interrupt::default();
    let stopped = signals::watch(interrupt.clone())?;
    match agent::run(env, interrupt).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(agent::AgentError::Terminated) => {
            let (signal, code) = stopped.by().unwrap_or(("a signal", ExitCode::FAILURE));
            tracing::warn!("stopped by {signal}; results delivered if the run had started");
            Ok(code)
        }
        Err(e) => {
            tracing::error!("runner failed: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
