//! Where the per-request records go: a local file, or under the operator a bucket.

use std::io::Write;

/// Where the records go. Written from the records' own thread, so a sink may block.
pub trait RecordSink: Write + Send {
    /// Makes what was written whole (a file flushed, an upload completed).
    fn commit(self: Box<Self>) -> std::io::Result<()>;

    /// Makes what was written so far readable as a whole JSON list, where the sink can (a
    /// local file).
    fn checkpoint(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// After a failed write: leaves what the last checkpoint made readable, where the sink can.
    fn recover(self: Box<Self>) -> std::io::Result<()> {
        Ok(())
    }
}
