//! The on-disk layout under the data directory, and the rules for names that come from users.
//!
//! Layout:
//! ```text
//! <data>/doppel.sqlite            database (accounts, projects, media records, jobs, sessions)
//! <data>/tmp/                     uploads in flight (`*.part`), removed on failure
//! <data>/projects/<id>/media/     uploaded originals, under server-chosen names (UUIDs)
//! <data>/projects/<id>/thumbs/    upright JPEG thumbnails, `<media id>.jpg`
//! ```
//! A user's file name is only ever a label in the database; it never becomes a path.

use crate::StoreError;
use std::path::{Path, PathBuf};

/// Longest label kept, in bytes (longer names are shortened, keeping the extension).
pub const MAX_LABEL_BYTES: usize = 255;

/// Paths inside the data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Creates the directory tree if needed.
    pub fn create(root: &Path) -> Result<DataDir, StoreError> {
        let dirs = DataDir { root: root.to_path_buf() };
        std::fs::create_dir_all(dirs.tmp())?;
        std::fs::create_dir_all(dirs.root.join("projects"))?;
        Ok(dirs)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("doppel.sqlite")
    }

    /// Staging area for uploads in flight.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn project(&self, project_id: i64) -> PathBuf {
        self.root.join("projects").join(project_id.to_string())
    }

    pub fn media_dir(&self, project_id: i64) -> PathBuf {
        self.project(project_id).join("media")
    }

    /// Path of a stored original. `stored_name` must be one this crate generated.
    pub fn media_file(&self, project_id: i64, stored_name: &str) -> Result<PathBuf, StoreError> {
        if !is_server_name(stored_name) {
            return Err(StoreError::NotFound);
        }
        Ok(self.media_dir(project_id).join(stored_name))
    }

    pub fn thumb_file(&self, project_id: i64, media_id: i64) -> PathBuf {
        self.project(project_id).join("thumbs").join(format!("{media_id}.jpg"))
    }
}

/// A fresh server-chosen storage name.
pub fn new_server_name() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn is_server_name(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Turns a user-supplied file name into a display label.
///
/// Keeps the last path component (so `../../etc/passwd` becomes `passwd`), refuses control
/// characters (NUL included) and empty names, and shortens names over [`MAX_LABEL_BYTES`]
/// while keeping a short extension.
pub fn sanitize_label(raw: &str) -> Result<String, StoreError> {
    if raw.chars().any(char::is_control) {
        return Err(StoreError::invalid("file name contains control characters"));
    }
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." {
        return Err(StoreError::invalid("file name is empty"));
    }
    if base.len() <= MAX_LABEL_BYTES {
        return Ok(base.to_string());
    }
    let ext = match base.rfind('.') {
        Some(i) if base.len() - i <= 16 => &base[i..],
        _ => "",
    };
    let mut cut = MAX_LABEL_BYTES - ext.len() - '…'.len_utf8();
    while !base.is_char_boundary(cut) {
        cut -= 1;
    }
    Ok(format!("{}…{}", &base[..cut], ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tricks_become_plain_labels() {
        assert_eq!(sanitize_label("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(sanitize_label("..\\..\\windows\\win.ini").unwrap(), "win.ini");
        assert_eq!(sanitize_label("/abs/path/clip.mp4").unwrap(), "clip.mp4");
        assert_eq!(sanitize_label("clip (1).mp4").unwrap(), "clip (1).mp4");
    }

    #[test]
    fn nul_and_control_characters_are_refused() {
        assert!(sanitize_label("a\0b.mp4").is_err());
        assert!(sanitize_label("a\nb.mp4").is_err());
    }

    #[test]
    fn empty_and_dot_names_are_refused() {
        for raw in ["", "   ", ".", "..", "a/..", "dir/"] {
            assert!(sanitize_label(raw).is_err(), "{raw:?} should be refused");
        }
    }

    #[test]
    fn very_long_names_are_shortened_keeping_the_extension() {
        let raw = format!("{}.mp4", "é".repeat(400));
        let label = sanitize_label(&raw).unwrap();
        assert!(label.len() <= MAX_LABEL_BYTES, "{} bytes", label.len());
        assert!(label.ends_with("….mp4"));
    }

    #[test]
    fn stored_names_must_be_server_names() {
        let dirs = DataDir { root: PathBuf::from("/data") };
        assert!(dirs.media_file(1, "../../etc/passwd").is_err());
        assert!(dirs.media_file(1, "passwd").is_err());
        let name = new_server_name();
        assert_eq!(dirs.media_file(1, &name).unwrap(), PathBuf::from(format!("/data/projects/1/media/{name}")));
    }
}
