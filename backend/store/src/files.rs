//! The on-disk layout under the data directory, and the rules for names that come from users.
//!
//! Layout:
//! ```text
//! <data>/doppel.sqlite            database (accounts, projects, media records, jobs, sessions)
//! <data>/tmp/                     uploads in flight (`*.part`), removed on failure
//! <data>/projects/<id>/media/     uploaded originals, under server-chosen names (UUIDs)
//! <data>/projects/<id>/thumbs/    upright JPEG thumbnails, `<media id>.jpg`
//! <data>/projects/<id>/facesets/<set>/   face PNGs `<stem>_<frame, 6+ digits>_<face>.png` and
//!                                        the source's `<stem>.alignments.json`
//! <data>/projects/<id>/cache/faces/<set>/<size>/   small JPEGs of faces (deletable at any time)
//! <data>/projects/<id>/models/<model>/   the engine's model folder (config.json, save/,
//!                                        preview.png) and timelapse/<iteration, 8+ digits>.png
//! <data>/projects/<id>/outputs/   converted videos, under server-chosen names (`<uuid>.mp4`)
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

    /// Where converted videos go.
    pub fn outputs_dir(&self, project_id: i64) -> PathBuf {
        self.project(project_id).join("outputs")
    }

    /// Path of a converted video. `stored_name` must be one [`new_output_name`] made.
    pub fn output_file(&self, project_id: i64, stored_name: &str) -> Result<PathBuf, StoreError> {
        match stored_name.strip_suffix(".mp4") {
            Some(stem) if is_server_name(stem) => Ok(self.outputs_dir(project_id).join(stored_name)),
            _ => Err(StoreError::NotFound),
        }
    }

    /// The folder of a face set: its face PNGs and its source's alignments store.
    pub fn face_set_dir(&self, project_id: i64, set_id: i64) -> PathBuf {
        self.project(project_id).join("facesets").join(set_id.to_string())
    }

    /// Path of one face PNG. `name` must be a face file name ([`is_face_file_name`]).
    pub fn face_file(&self, project_id: i64, set_id: i64, name: &str) -> Result<PathBuf, StoreError> {
        if !is_face_file_name(name) {
            return Err(StoreError::NotFound);
        }
        Ok(self.face_set_dir(project_id, set_id).join(name))
    }

    /// Path of one face PNG in the set's trash (the engine's `trash/` folder of the set).
    pub fn trashed_face_file(&self, project_id: i64, set_id: i64, name: &str) -> Result<PathBuf, StoreError> {
        if !is_face_file_name(name) {
            return Err(StoreError::NotFound);
        }
        Ok(self.face_set_dir(project_id, set_id).join("trash").join(name))
    }

    /// The cached JPEG of frame `frame` of a face set's source, for the frame editor.
    pub fn face_frame_file(&self, project_id: i64, set_id: i64, frame: u64) -> PathBuf {
        self.project(project_id).join("cache").join("frames").join(set_id.to_string()).join(format!("{frame:08}.jpg"))
    }

    /// The gallery's sort measures of a set's faces (a cache, made again when lost).
    pub fn face_index_file(&self, project_id: i64, set_id: i64) -> PathBuf {
        self.project(project_id).join("cache").join("faces").join(set_id.to_string()).join("index.json")
    }

    /// Path of the cached JPEG of a face, `size` pixels square.
    pub fn face_thumb_file(&self, project_id: i64, set_id: i64, name: &str, size: u32) -> Result<PathBuf, StoreError> {
        let stem = name.strip_suffix(".png").filter(|_| is_face_file_name(name)).ok_or(StoreError::NotFound)?;
        let dir = self.project(project_id).join("cache").join("faces").join(set_id.to_string()).join(size.to_string());
        Ok(dir.join(format!("{stem}.jpg")))
    }

    /// The folder of a model: what the engine's training writes, and the timelapse frames.
    pub fn model_dir(&self, project_id: i64, model_id: i64) -> PathBuf {
        self.project(project_id).join("models").join(model_id.to_string())
    }

    /// Where a model's training writes a timelapse frame at every save.
    pub fn model_timelapse_dir(&self, project_id: i64, model_id: i64) -> PathBuf {
        self.model_dir(project_id, model_id).join("timelapse")
    }

    /// The timelapse frame of a model at `iteration` (named as training names them).
    pub fn timelapse_frame(&self, project_id: i64, model_id: i64, iteration: u64) -> PathBuf {
        self.model_timelapse_dir(project_id, model_id).join(format!("{iteration:08}.png"))
    }

    /// The iterations of a model's timelapse frames, in order. None before the first save.
    pub fn timelapse_frames(&self, project_id: i64, model_id: i64) -> Result<Vec<u64>, StoreError> {
        let mut frames: Vec<u64> = file_names_in(&self.model_timelapse_dir(project_id, model_id))?.iter().filter_map(|n| timelapse_iteration(n)).collect();
        frames.sort_unstable();
        Ok(frames)
    }

    /// The face PNGs of a face set, by name (frame order, then face order). A set whose
    /// folder does not exist yet has none.
    pub fn face_files(&self, project_id: i64, set_id: i64) -> Result<Vec<String>, StoreError> {
        face_files_in(&self.face_set_dir(project_id, set_id))
    }
}

/// The face PNGs of the face set folder `dir`, by name (frame order, then face order); none
/// when the folder does not exist yet.
pub fn face_files_in(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = file_names_in(dir)?.into_iter().filter(|n| is_face_file_name(n)).collect();
    names.sort();
    Ok(names)
}

/// The names of the regular files in `dir` (unsorted; names that are not UTF-8 left out);
/// none when the folder does not exist yet.
fn file_names_in(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect())
}

/// Whether `name` is a face file name as the extraction writes them:
/// `<stem>_<frame>_<face>.png`, the stem 1 to 64 of `A-Z a-z 0-9 - _`, the frame 6 to 12
/// digits, the face 1 to 4 digits. Nothing else (no dots, no slashes) gets through.
pub fn is_face_file_name(name: &str) -> bool {
    let Some(rest) = name.strip_suffix(".png") else { return false };
    let digits = |s: &str, min: usize, max: usize| (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let Some((rest, face)) = rest.rsplit_once('_') else { return false };
    let Some((stem, frame)) = rest.rsplit_once('_') else { return false };
    digits(face, 1, 4)
        && digits(frame, 6, 12)
        && (1..=64).contains(&stem.len())
        && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The iteration of a timelapse frame's file name: 8 to 20 digits and `.png`, nothing else.
pub fn timelapse_iteration(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".png")?;
    if !(8..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A fresh server-chosen storage name.
pub fn new_server_name() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A fresh name for a converted video (an MP4: it plays in every browser).
pub fn new_output_name() -> String {
    format!("{}.mp4", new_server_name())
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

    #[test]
    fn face_file_names_follow_the_extraction_pattern_and_nothing_else() {
        for ok in ["clip_000000_0.png", "0f3a9c_000123_12.png", "my-clip_2_000007_1.png", "a_1234567_0.png"] {
            assert!(is_face_file_name(ok), "{ok} is a face file");
        }
        let long_stem = format!("{}_000001_0.png", "x".repeat(65));
        for bad in [
            "", ".png", "clip.png", "clip_000000_0.jpg", "clip_00000_0.png", "clip_000000_.png", "_000000_0.png",
            "../clip_000000_0.png", "a/b_000000_0.png", "..%2Fclip_000000_0.png", "clip_000000_0.png/", "clip.x_000000_0.png",
            "clip_000000_0.png.png", "clip_000000_12345.png", "clip_0000000000000_0.png", "clip_000000_0.PNG", long_stem.as_str(),
        ] {
            assert!(!is_face_file_name(bad), "{bad:?} is refused");
        }
        let dirs = DataDir { root: PathBuf::from("/data") };
        assert_eq!(dirs.face_file(2, 7, "c_000001_0.png").unwrap(), PathBuf::from("/data/projects/2/facesets/7/c_000001_0.png"));
        assert!(dirs.face_file(2, 7, "../../media/x").is_err());
        assert_eq!(
            dirs.face_thumb_file(2, 7, "c_000001_0.png", 128).unwrap(),
            PathBuf::from("/data/projects/2/cache/faces/7/128/c_000001_0.jpg")
        );
        assert!(dirs.face_thumb_file(2, 7, "c.png", 128).is_err());
    }

    #[test]
    fn timelapse_frames_are_listed_by_iteration_and_nothing_else() {
        let root = std::env::temp_dir().join(format!("doppel-timelapse-{}", uuid::Uuid::new_v4()));
        let dirs = DataDir::create(&root).unwrap();
        assert!(dirs.timelapse_frames(1, 3).unwrap().is_empty(), "no folder yet: no frames");
        assert_eq!(dirs.model_dir(1, 3), root.join("projects/1/models/3"));
        let frame = dirs.timelapse_frame(1, 3, 250);
        assert_eq!(frame, root.join("projects/1/models/3/timelapse/00000250.png"));
        std::fs::create_dir_all(frame.parent().unwrap()).unwrap();
        for name in ["00000250.png", "00000002.png", "123456789.png", "250.png", "00000001.jpg", "notes.txt", "0000000a.png"] {
            std::fs::write(frame.parent().unwrap().join(name), b"x").unwrap();
        }
        assert_eq!(dirs.timelapse_frames(1, 3).unwrap(), [2, 250, 123_456_789]);
        for (name, it) in [("00000250.png", Some(250)), ("123456789.png", Some(123_456_789)), ("250.png", None), ("../00000001.png", None), ("00000001.png.png", None), ("+0000001.png", None), ("000000001", None), ("99999999999999999999.png", None)] {
            assert_eq!(timelapse_iteration(name), it, "{name}");
        }
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn face_files_lists_faces_in_order_and_ignores_the_rest() {
        let root = std::env::temp_dir().join(format!("doppel-facefiles-{}", uuid::Uuid::new_v4()));
        let dirs = DataDir::create(&root).unwrap();
        assert!(dirs.face_files(1, 1).unwrap().is_empty(), "no folder yet: no faces");
        let set = dirs.face_set_dir(1, 1);
        std::fs::create_dir_all(set.join("sub_000001_0.png")).unwrap();
        for name in ["s_000010_0.png", "s_000002_1.png", "s_000002_0.png", "s.alignments.json", "notes.txt"] {
            std::fs::write(set.join(name), b"x").unwrap();
        }
        assert_eq!(dirs.face_files(1, 1).unwrap(), ["s_000002_0.png", "s_000002_1.png", "s_000010_0.png"]);
        std::fs::remove_dir_all(root).unwrap();
    }
}
