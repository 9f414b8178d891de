//! Starts a dedicated control plane, prints `READY <pid> <pid> ...` for its components and
//! sleeps. Used by the teardown test, which kills this process with SIGKILL (no destructor
//! runs) and checks that the components die with it.

use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cp = ibench_testcluster::ControlPlane::start().await?;
    let pids: Vec<String> = cp
        .component_pids()
        .iter()
        .map(|(_, pid)| pid.to_string())
        .collect();
    println!("READY {}", pids.join(" "));
    // Bounded, in case the test that started us is gone too.
    tokio::time::sleep(Duration::from_secs(300)).await;
    Ok(())
}
