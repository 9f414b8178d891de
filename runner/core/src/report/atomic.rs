//! A report file written under a temporary name in its directory and renamed when complete: a
//! reader (or a crash) never finds half a file under the report's name.

use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::per_request::RecordSink;

pub struct AtomicFile {
    temp: NamedTempFile,
    path: PathBuf,
}

impl AtomicFile {
    /// A temporary file next to `path` (same directory, so the rename cannot cross devices).
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            temp,
            path: path.to_path_buf(),
        })
    }

    /// Writes `contents` to `path` atomically.
    pub fn write(path: &Path, contents: &[u8]) -> std::io::Result<()> {
        let mut file = Self::create(path)?;
        file.write_all(contents)?;
        Box::new(file).commit()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.flush()
    }
}

impl RecordSink for AtomicFile {
    /// Renames the file to its name; until then (and when writing failed, since the temporary
    /// file is removed when dropped) nothing is under that name.
    fn commit(self: Box<Self>) -> std::io::Result<()> {
        let AtomicFile { mut temp, path } = *self;
        temp.flush()?;
        temp.persist(&path).map(drop).map_err(|e| e.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_under_the_name_until_the_file_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, "old").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        Box::new(file).commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        let abandoned = AtomicFile::create(&dir.path().join("gone.json")).unwrap();
        drop(abandoned);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
