//! The opt-in `per_request_lifecycle_metrics.json`, streamed as requests finish (to disk, or
//! under the operator to a bucket) so that memory stays flat however long the run
//! (inference-perf holds them all, #522).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::checkpoint::CheckpointedFile;
use super::per_request_entry::PerRequestEntry;
use super::sink::RecordSink;
use super::validation::PerRequestChecks;

/// The file name, as inference-perf names it.
pub const PER_REQUEST_FILE: &str = "per_request_lifecycle_metrics.json";

/// Entries waiting to be written; senders block beyond this rather than grow memory.
const QUEUE: usize = 4096;

/// How often the records written are made readable as they are: every second, or every so
/// many records (which a local file holds in memory until then).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
const CHECKPOINT_RECORDS: u64 = 1000;

/// What ends the JSON list.
const CLOSE: &[u8] = b"\n]\n";

pub struct PerRequestWriter {
    sender: SyncSender<PerRequestEntry>,
    thread: JoinHandle<std::io::Result<PerRequestChecks>>,
}

impl PerRequestWriter {
    /// Records streamed to `path`, valid JSON up to the last checkpoint (at most
    /// [`CHECKPOINT_EVERY`] old) if the run dies or a write fails.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Self::to_sink(Box::new(CheckpointedFile::create(path, CLOSE)?))
    }

    pub fn to_sink(sink: Box<dyn RecordSink>) -> std::io::Result<Self> {
        let (sender, receiver) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("per-request".into())
            .spawn(move || write_all(BufWriter::new(sink), receiver))?;
        Ok(PerRequestWriter { sender, thread })
    }

    pub fn sender(&self) -> SyncSender<PerRequestEntry> {
        self.sender.clone()
    }

    /// Closes the JSON list once every sender is gone; returns what the records written showed
    /// (their number among it).
    pub fn finish(self) -> std::io::Result<PerRequestChecks> {
        drop(self.sender);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("per-request writer panicked")))
    }
}

fn write_all(
    file: BufWriter<Box<dyn RecordSink>>,
    receiver: Receiver<PerRequestEntry>,
) -> std::io::Result<PerRequestChecks> {
    let mut file = file;
    match write_records(&mut file, &receiver) {
        Ok(written) => {
            file.into_inner().map_err(|e| e.into_error())?.commit()?;
            Ok(written)
        }
        Err(e) => {
            // The buffered rest is dropped unwritten: the sink goes back to its checkpoint.
            let (sink, _) = file.into_parts();
            match sink.recover() {
                Ok(()) => Err(e),
                Err(undone) => Err(std::io::Error::new(
                    e.kind(),
                    format!("{e}; and closing the records at their last checkpoint: {undone}"),
                )),
            }
        }
    }
}

/// The JSON list of every record received, checkpointed every [`CHECKPOINT_EVERY`] (also
/// while no records come) or [`CHECKPOINT_RECORDS`]; what they showed.
fn write_records(
    file: &mut BufWriter<Box<dyn RecordSink>>,
    receiver: &Receiver<PerRequestEntry>,
) -> std::io::Result<PerRequestChecks> {
    let checkpoint = |file: &mut BufWriter<Box<dyn RecordSink>>| {
        file.flush()?;
        file.get_mut().checkpoint()
    };
    file.write_all(b"[")?;
    checkpoint(file)?;
    let (mut written, mut checkpointed) = (0u64, 0u64);
    let mut checks = PerRequestChecks::default();
    let mut last = Instant::now();
    loop {
        let wait = CHECKPOINT_EVERY.saturating_sub(last.elapsed());
        match receiver.recv_timeout(wait) {
            Ok(mut entry) => {
                observe(&mut checks, &mut entry)?;
                file.write_all(if written == 0 { b"\n  " } else { b",\n  " })?;
                serde_json::to_writer(&mut *file, &entry)?;
                written += 1;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last.elapsed() >= CHECKPOINT_EVERY || written - checkpointed >= CHECKPOINT_RECORDS {
            if written > checkpointed {
                checkpoint(file)?;
                checkpointed = written;
            }
            last = Instant::now();
        }
    }
    file.write_all(CLOSE)?;
    file.flush()?;
    Ok(checks)
}

/// Checks `entry` as its JSON reads, without copying its bodies (which no check looks at).
fn observe(checks: &mut PerRequestChecks, entry: &mut PerRequestEntry) -> serde_json::Result<()> {
    let bodies = (entry.request.take(), entry.response.take());
    let record = serde_json::to_value(&*entry);
    (entry.request, entry.response) = bodies;
    checks.observe(&record?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_json_list_from_many_senders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("per_request_lifecycle_metrics.json");
        let writer = PerRequestWriter::create(&path).unwrap();
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let sender = writer.sender();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let entry = PerRequestEntry {
                            stage_id: t,
                            scheduled_time: i as f64,
                            start_time: Some(i as f64),
                            end_time: i as f64 + 1.0,
                            request: Some("{}".into()),
                            response: None,
                            info: None,
                            computed_metrics: None,
                            error: None,
                        };
                        sender.send(entry).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(writer.finish().unwrap().records(), 30);
        let parsed: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(parsed.len(), 30);
        assert_eq!(parsed[0]["request"], "{}");

        let empty_path = dir.path().join("empty.json");
        assert_eq!(
            PerRequestWriter::create(&empty_path)
                .unwrap()
                .finish()
                .unwrap()
                .records(),
            0
        );
        let empty: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(&empty_path).unwrap()).unwrap();
        assert!(empty.is_empty());
    }
}
