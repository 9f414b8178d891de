//! Per-request records into a sink that needs the runtime to commit, as a bucket's multipart
//! upload does (its last parts upload on the runtime), on a single-threaded runtime like the
//! agent's: the run ends, and the sink holds every record. Real HTTP to the simulator.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ibench_core::config::ResolvedConfig;
use ibench_core::plan::Shard;
use ibench_core::report::RecordSink;
use ibench_engine::benchmark::Benchmark;
use ibench_sim::SimConfig;
use ibench_testkit as common;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
struct Received {
    bytes: Arc<Mutex<Vec<u8>>>,
    committed: Arc<AtomicBool>,
}

struct RuntimeSink {
    runtime: Handle,
    received: Received,
}

impl Write for RuntimeSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.received.bytes.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl RecordSink for RuntimeSink {
    fn commit(self: Box<Self>) -> std::io::Result<()> {
        // A task on the runtime, awaited from this (the records') thread: it runs only while
        // the runtime's own thread is free to run it.
        let task = {
            let _context = self.runtime.enter();
            tokio::spawn(tokio::task::yield_now())
        };
        self.runtime.block_on(task).map_err(std::io::Error::other)?;
        self.received.committed.store(true, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_sink_that_commits_on_the_runtime_finishes_on_a_single_threaded_runtime() {
    let received = Received::default();
    let (done, outcome) = std::sync::mpsc::channel();
    let sink_received = received.clone();
    // Its own thread and runtime: a deadlock there must fail this test, not hang it.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let entries = runtime.block_on(async {
            let sim = common::sim(SimConfig::default()).await;
            let dir = tempfile::tempdir().unwrap();
            let config = common::config(
                &sim.base_url(),
                dir.path(),
                "load:\n  stages:\n  - rate: 20\n    duration: 1\nreport:\n  request_lifecycle:\n    per_request: true\n",
            );
            let sink = RuntimeSink {
                runtime: Handle::current(),
                received: sink_received,
            };
            let resolved = ResolvedConfig::resolve(config, chrono::Local::now());
            let benchmark = Benchmark::prepare_with(resolved, Shard::WHOLE, Some(Box::new(sink)))
                .await
                .expect("benchmark prepares");
            let outcome = benchmark.run(&CancellationToken::new()).await;
            outcome
                .expect("benchmark runs")
                .per_request
                .map(|written| written.expect("the records are written").records())
        });
        let _ = done.send(entries);
    });
    let entries = outcome
        .recv_timeout(Duration::from_secs(60))
        .expect("the run ends within 60 s (the sink's commit must not wait on a blocked runtime)");
    assert_eq!(entries, Some(20));
    assert!(received.committed.load(Ordering::SeqCst));
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(&received.bytes.lock().unwrap()).unwrap();
    assert_eq!(records.len(), 20);
}
