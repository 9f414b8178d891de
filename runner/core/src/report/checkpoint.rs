//! The per-request file on disk, valid JSON up to its last checkpoint whatever happens to the
//! run: the records are kept under the file's own name, so a run killed with SIGKILL leaves
//! what it checkpointed readable. Records are held in memory between checkpoints; a checkpoint
//! writes them together with the list's closing bracket in one write, at the place where the
//! previous checkpoint's bracket began, so the file never ends in half a record.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::sink::RecordSink;

pub struct CheckpointedFile {
    file: File,
    /// Where the records not yet checkpointed go: the end of the last checkpoint's records,
    /// where its closing bracket starts.
    position: u64,
    held: Vec<u8>,
    /// What closes the list after each checkpoint.
    close: &'static [u8],
}

impl CheckpointedFile {
    pub fn create(path: &Path, close: &'static [u8]) -> std::io::Result<Self> {
        Ok(CheckpointedFile {
            file: File::create(path)?,
            position: 0,
            held: Vec::new(),
            close,
        })
    }

    fn write_held(&mut self) -> std::io::Result<()> {
        let records = self.held.len();
        self.held.extend_from_slice(self.close);
        let written = self.file.write_all_at(&self.held, self.position);
        self.held.truncate(records);
        written?;
        self.position += records as u64;
        self.held.clear();
        Ok(())
    }
}

impl Write for CheckpointedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.held.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl RecordSink for CheckpointedFile {
    /// What is held (the list's end included) goes at the last checkpoint's place.
    fn commit(self: Box<Self>) -> std::io::Result<()> {
        self.file.write_all_at(&self.held, self.position)?;
        self.file.set_len(self.position + self.held.len() as u64)?;
        self.file.sync_data()
    }

    fn checkpoint(&mut self) -> std::io::Result<()> {
        self.write_held()
    }

    /// Cuts whatever a failed checkpoint wrote past the last good one (freeing its space) and
    /// closes the list there.
    fn recover(self: Box<Self>) -> std::io::Result<()> {
        self.file.set_len(self.position)?;
        self.file.write_all_at(self.close, self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(path: &Path) -> Vec<u32> {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_file_ends_after_a_whole_record_whenever_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.json");
        let mut file = Box::new(CheckpointedFile::create(&path, b"]").unwrap());
        file.write_all(b"[1, 2").unwrap();
        file.checkpoint().unwrap();
        assert_eq!(parsed(&path), [1, 2]);
        // Records since the checkpoint are not on disk yet: the file stays valid.
        file.write_all(b", 3, {\"half\": ").unwrap();
        assert_eq!(parsed(&path), [1, 2]);
        file.recover().unwrap();
        assert_eq!(parsed(&path), [1, 2]);

        let mut file = Box::new(CheckpointedFile::create(&path, b"]").unwrap());
        file.write_all(b"[1").unwrap();
        file.checkpoint().unwrap();
        file.write_all(b", 2]").unwrap();
        file.commit().unwrap();
        assert_eq!(parsed(&path), [1, 2]);
    }
}
