//! `ibench sim`: the simulated model server as a command.

use ibench_sim::{SimArgs, SimServer};

/// `ibench sim`: serves until Ctrl-C or SIGTERM.
pub async fn serve(args: SimArgs) -> anyhow::Result<()> {
    let server = SimServer::start(args.to_config()?).await?;
    let cfg = server.config();
    crate::out::say!(
        "ibench sim: serving model {:?} ({} LoRA adapters) at {} (seed {})",
        cfg.model,
        cfg.loras.len(),
        server.base_url(),
        server.seed()
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    server.shutdown().await;
    Ok(())
}
