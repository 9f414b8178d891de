//! Writes the files of a ConfigMap or Secret volume in the layout of the kubelet's atomic
//! writer, so that programs listing the directory see what they would see in a real Pod:
//!
//! ```text
//! <volume>/..2026_01_31_12_00_00.123456789/<path>   the files, with their modes
//! <volume>/..data -> ..2026_01_31_12_00_00.123456789
//! <volume>/<first component of each path> -> ..data/<first component>
//! ```
//!
//! `..data` is published last, by renaming a fresh symlink over it, so a reader sees either no
//! payload or all of it, never a half-written file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path};

/// The files of a volume: relative path → (contents, mode).
pub(crate) type Payload = BTreeMap<String, (Vec<u8>, u32)>;

const DATA_DIR: &str = "..data";
const DATA_DIR_TMP: &str = "..data_tmp";

/// Writes `payload` into `dir` (created if missing).
pub(crate) fn write(dir: &Path, payload: &Payload) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let stamp = format!("..{}", chrono::Utc::now().format("%Y_%m_%d_%H_%M_%S.%9f"));
    let version = dir.join(&stamp);
    fs::create_dir(&version)?;
    let mut top_level = BTreeSet::new();
    for (path, (contents, mode)) in payload {
        let relative = Path::new(path);
        // The apiserver rejects absolute paths and `..` in item paths; this keeps a payload
        // from outside the API just as contained.
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(io::Error::other(format!(
                "path {path:?} must be relative without '..'"
            )));
        }
        let file = version.join(relative);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&file, contents)?;
        fs::set_permissions(&file, fs::Permissions::from_mode(mode & 0o777))?;
        if let Some(Component::Normal(first)) = relative.components().next() {
            top_level.insert(first.to_owned());
        }
    }
    let tmp = dir.join(DATA_DIR_TMP);
    let _ = fs::remove_file(&tmp);
    symlink(&stamp, &tmp)?;
    fs::rename(&tmp, dir.join(DATA_DIR))?;
    for name in top_level {
        let link = dir.join(&name);
        if fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA_DIR).join(&name), &link)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_kubelet_atomic_writer() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("cfg");
        let payload: Payload = [
            ("trace.csv".to_string(), (b"a,b\n".to_vec(), 0o644)),
            ("auth/token".to_string(), (b"s3cret".to_vec(), 0o400)),
        ]
        .into();
        write(&volume, &payload).unwrap();

        assert_eq!(fs::read(volume.join("trace.csv")).unwrap(), b"a,b\n");
        assert_eq!(fs::read(volume.join("auth/token")).unwrap(), b"s3cret");
        let mode = |p: &str| fs::metadata(volume.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("auth/token"), 0o400);
        assert_eq!(mode("trace.csv"), 0o644);
        assert_eq!(
            fs::read_link(volume.join("trace.csv")).unwrap(),
            Path::new("..data/trace.csv")
        );
        let data = fs::read_link(volume.join("..data")).unwrap();
        assert!(data.to_string_lossy().starts_with("..20"), "{data:?}");
        let mut names: Vec<String> = fs::read_dir(&volume)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("..20"))
            .collect();
        names.sort();
        assert_eq!(names, ["..data", "auth", "trace.csv"]);
    }

    #[test]
    fn paths_cannot_escape_the_volume() {
        let dir = tempfile::tempdir().unwrap();
        let payload: Payload = [("../escape".to_string(), (Vec::new(), 0o644))].into();
        assert!(write(&dir.path().join("v"), &payload).is_err());
        assert!(!dir.path().join("escape").exists());
    }
}
