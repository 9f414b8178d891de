//! A blocking `Write` into multipart uploads, for the per-request records: they are written
//! on their own thread as requests finish, and under the operator they must reach the bucket
//! as the run goes, in bounded memory (a part buffer and a few parts in flight per bucket),
//! however many requests the run sends.

use std::io::{self, Write};

use ibench_core::report::RecordSink;
use object_store::WriteMultipart;
use tokio::runtime::Handle;

use crate::upload::PARTS_IN_FLIGHT;

pub struct ObjectSink {
    /// `(object URL, upload)` per bucket.
    uploads: Vec<(String, WriteMultipart)>,
    runtime: Handle,
}

impl ObjectSink {
    pub(crate) fn new(uploads: Vec<(String, WriteMultipart)>, runtime: Handle) -> Self {
        ObjectSink { uploads, runtime }
    }

    pub fn urls(&self) -> Vec<String> {
        self.uploads.iter().map(|(url, _)| url.clone()).collect()
    }
}

fn upload_error(url: &str, e: object_store::Error) -> io::Error {
    io::Error::other(format!("{url}: {}", crate::describe::describe(&e)))
}

impl Write for ObjectSink {
    /// Blocks while the parts in flight are at their bound: called on the records' own thread
    /// (never a runtime worker), so backpressure reaches the record queue, not memory.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A full part is sent by a task spawned inside `write`: it needs the runtime's context.
        let _context = self.runtime.enter();
        for (url, upload) in &mut self.uploads {
            upload.write(buf);
            self.runtime
                .block_on(upload.wait_for_capacity(PARTS_IN_FLIGHT))
                .map_err(|e| upload_error(url, e))?;
        }
        Ok(buf.len())
    }

    /// Parts are sent when full; what is buffered goes at [`RecordSink::commit`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl RecordSink for ObjectSink {
    fn commit(self: Box<Self>) -> io::Result<()> {
        let ObjectSink { uploads, runtime } = *self;
        for (url, upload) in uploads {
            runtime
                .block_on(upload.finish())
                .map_err(|e| upload_error(&url, e))?;
        }
        Ok(())
    }
}
