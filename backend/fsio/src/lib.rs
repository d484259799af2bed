//! Crash-safe file writes, shared by the store (thumbnails, uploads) and the engine (face
//! files, alignments stores, training saves).
//!
//! Invariant: after a crash at any moment, `path` holds either the old or the new content in
//! full, and `<name>.bak` (when kept) holds a complete earlier version.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically: temp file in the same folder, fsync, rename, fsync of
/// the folder. The previous version, if any, is kept as `<name>.bak`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, bytes, true)
}

/// [`write_atomic`] without keeping a backup (for files that can be made again, such as
/// thumbnails and face crops).
pub fn replace_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, bytes, false)
}

/// The backup [`write_atomic`] keeps of `path`'s previous version.
pub fn backup_path(path: &Path) -> PathBuf {
    sibling(path, |name| format!("{name}.bak"))
}

fn write_atomic_with(path: &Path, bytes: &[u8], backup: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let tmp = temp_path(path);
    let replaced = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if backup && path.is_file() {
            // A hard link costs nothing; the backup itself is also replaced by a rename.
            let bak_tmp = temp_path(&backup_path(path));
            if std::fs::hard_link(path, &bak_tmp).is_err() {
                std::fs::copy(path, &bak_tmp)?;
            }
            std::fs::rename(&bak_tmp, backup_path(path))?;
        }
        std::fs::rename(&tmp, path)
    })();
    if let Err(err) = replaced {
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A hidden, unique temp name beside `path`: `.<name>.<pid>-<n>.tmp`.
pub fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    sibling(path, |name| format!(".{name}.{}-{n}.tmp", std::process::id()))
}

fn sibling(path: &Path, name: impl FnOnce(&str) -> String) -> PathBuf {
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    path.with_file_name(name(&file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("doppel-fsio-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".tmp")).collect()
    }

    #[test]
    fn atomic_write_keeps_a_backup_of_the_previous_version() {
        let dir = scratch("backup");
        let path = dir.join("store.json");
        write_atomic(&path, b"one").unwrap();
        assert!(!backup_path(&path).exists(), "nothing to back up the first time");
        write_atomic(&path, b"two").unwrap();
        write_atomic(&path, b"three").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        assert_eq!(std::fs::read(dir.join("store.json.bak")).unwrap(), b"two");
        assert!(leftovers(&dir).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn replace_keeps_no_backup() {
        let dir = scratch("replace");
        let path = dir.join("face.png");
        replace_atomic(&path, b"a").unwrap();
        replace_atomic(&path, b"b").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"b");
        assert!(!backup_path(&path).exists());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temp() {
        let dir = scratch("fail");
        let path = dir.join("store.json");
        write_atomic(&path, b"good").unwrap();
        // A directory where the temp file's folder should be: the target is a directory.
        let blocked = dir.join("sub");
        std::fs::create_dir_all(blocked.join("x.json")).unwrap();
        assert!(write_atomic(&blocked.join("x.json"), b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"good");
        assert!(leftovers(&dir).is_empty() && leftovers(&blocked).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
