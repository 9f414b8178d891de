use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "ibench", version, about = "Precise-rate load generator for OpenAI-compatible LLM servers")]
enum Cli {
    /// Serve a simulated OpenAI-compatible model server.
    Sim(ibench::sim::SimArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse() {
        Cli::Sim(args) => tokio::runtime::Runtime::new()?.block_on(ibench::sim::run(args)),
    }
}
