//! The report directory, checked before the first request: a location that cannot take the
//! reports (`/proc/x`, a path through a regular file, a read-only mount) found after an hour of
//! load would lose the hour.

use std::path::{Path, PathBuf};

/// The field every problem with the report directory is about.
const FIELD: &str = "storage.local_storage.path";

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("{FIELD}: {path} is not a directory: {at} is a file; choose a directory")]
    NotADirectory { path: PathBuf, at: PathBuf },
    #[error(
        "{FIELD}: cannot write reports to {path}: creating a file in {at} fails ({source}); \
         choose a writable directory"
    )]
    NotWritable {
        path: PathBuf,
        at: PathBuf,
        source: std::io::Error,
    },
    #[error("{FIELD}: cannot create {path}: {source}; choose a writable directory")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Checks that `dir` can take the reports without creating it: its nearest existing ancestor
/// (or itself) is a directory in which a file can be created.
pub fn check_location(dir: &Path) -> Result<(), LocationError> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let existing = absolute
        .ancestors()
        .find(|p| p.symlink_metadata().is_ok())
        .unwrap_or(Path::new("/"));
    if !existing.is_dir() {
        return Err(LocationError::NotADirectory {
            path: dir.to_path_buf(),
            at: existing.to_path_buf(),
        });
    }
    probe(dir, existing)
}

/// Creates `dir` (and its parents) and checks that a file can be created in it.
pub fn create_location(dir: &Path) -> Result<(), LocationError> {
    check_location(dir)?;
    std::fs::create_dir_all(dir).map_err(|source| LocationError::Create {
        path: dir.to_path_buf(),
        source,
    })?;
    probe(dir, dir)
}

/// Creates (and removes) a file in `at`, the existing directory `dir` is or will be in.
fn probe(dir: &Path, at: &Path) -> Result<(), LocationError> {
    tempfile::Builder::new()
        .prefix(".ibench-probe-")
        .tempfile_in(at)
        .map(drop)
        .map_err(|source| LocationError::NotWritable {
            path: dir.to_path_buf(),
            at: at.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_under_a_writable_one_is_fine_and_not_created_by_the_check() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        check_location(&dir).unwrap();
        assert!(!dir.exists());
        create_location(&dir).unwrap();
        assert!(dir.is_dir());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "probe removed");
    }

    #[test]
    fn a_path_through_a_file_or_under_proc_is_refused_naming_the_field() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        for dir in [file.clone(), file.join("reports")] {
            let e = check_location(&dir).unwrap_err();
            assert!(matches!(e, LocationError::NotADirectory { .. }), "{e}");
            assert!(e.to_string().starts_with(FIELD), "{e}");
        }
        let e = create_location(Path::new("/proc/x")).unwrap_err();
        assert!(matches!(e, LocationError::NotWritable { .. }), "{e}");
        assert!(e.to_string().contains("/proc/x"), "{e}");
    }
}
