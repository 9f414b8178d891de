//! Simulated OpenAI-compatible model server (`ibench sim`).

/// Command-line options of `ibench sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    anyhow::bail!("simulator not implemented yet (port {})", args.port)
}
