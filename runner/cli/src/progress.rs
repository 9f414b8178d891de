//! Live progress: a redrawn line on a terminal, periodic log lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use ibench_engine::Progress;
use tokio_util::sync::CancellationToken;

const TERMINAL_REFRESH: Duration = Duration::from_millis(200);
const LOG_INTERVAL: Duration = Duration::from_secs(5);

pub async fn show(progress: Arc<Progress>, done: CancellationToken) {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        let mut stage = None;
        while !done.is_cancelled() {
            let snapshot = progress.snapshot();
            if let Some((previous, false)) =
                stage.filter(|s| *s != (snapshot.stage, snapshot.sweep_probe))
            {
                bar.println(format!("stage {previous} done"));
            }
            stage = Some((snapshot.stage, snapshot.sweep_probe));
            bar.set_message(snapshot.to_string());
            bar.tick();
            tokio::select! { _ = tokio::time::sleep(TERMINAL_REFRESH) => {}, _ = done.cancelled() => {} }
        }
        bar.finish_with_message(progress.snapshot().to_string());
    } else {
        loop {
            tokio::select! { _ = tokio::time::sleep(LOG_INTERVAL) => {}, _ = done.cancelled() => return }
            tracing::info!("{}", progress.snapshot());
        }
    }
}
