//! Cleaning a face set folder: faces deleted in the gallery go to its `trash/` folder (nothing
//! is lost until the trash is emptied) and come back from it, with the alignments store kept in
//! step each time (faceswap's `remove-faces`, done as you go), its previous version kept as
//! `.bak`.
//!
//! Order of writes, so a crash at any moment loses nothing: a face file is moved first (a
//! rename), then the store is rewritten atomically. A crash between the two leaves a store with
//! one face too many or too few, which the next trash or restore of that set repairs (it
//! reconciles the store with what the folder holds).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::alignments::{Alignments, AlignmentsError, FrameEntry};
use super::png::{read_face_meta, FacePngError};

/// The folder of a face set's deleted faces, inside the set's folder.
pub const TRASH_DIR: &str = "trash";

#[derive(Debug, thiserror::Error)]
pub enum CurateError {
    #[error("'{0}' is not the name of a face file")]
    BadName(String),
    #[error("{0}: {1}")]
    Face(PathBuf, FacePngError),
    #[error("cannot move {0}: {1}")]
    Move(PathBuf, std::io::Error),
    #[error("cannot read the folder {0}: {1}")]
    Folder(PathBuf, std::io::Error),
    #[error("{name} is back in the set already: it cannot be restored over itself")]
    Exists { name: String },
    #[error("alignments store {0}: {1}")]
    Store(PathBuf, AlignmentsError),
    #[error("{file} comes from {found}, the alignments store from {expected}")]
    OtherSource { file: String, found: String, expected: String },
}

/// What a trash or restore did: the names moved, and those asked for that were not there
/// (already moved by someone else: not an error, the gallery just drops them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Moved {
    pub moved: Vec<String>,
    pub absent: Vec<String>,
}

/// A face set folder and its alignments store (none for a folder of faces from elsewhere).
#[derive(Debug, Clone)]
pub struct FaceFolder {
    pub(crate) dir: PathBuf,
    pub(crate) alignments: Option<PathBuf>,
}

impl FaceFolder {
    /// The folder `dir` with the alignments store in it (`*.alignments.json`), if it has one.
    pub fn open(dir: &Path) -> Result<FaceFolder, CurateError> {
        let mut stores: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| CurateError::Folder(dir.into(), e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".alignments.json")))
            .collect();
        stores.sort();
        Ok(FaceFolder { dir: dir.into(), alignments: stores.into_iter().next() })
    }

    pub fn trash_dir(&self) -> PathBuf {
        self.dir.join(TRASH_DIR)
    }

    /// The face PNGs in the trash, by name.
    pub fn trashed(&self) -> Result<Vec<String>, CurateError> {
        let dir = self.trash_dir();
        match png_names(&dir) {
            Ok(names) => Ok(names.into_iter().collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(CurateError::Folder(dir, e)),
        }
    }

    /// Moves the faces `names` into the trash and removes them from the alignments store.
    pub fn trash(&self, names: &[String]) -> Result<Moved, CurateError> {
        let trash = self.trash_dir();
        std::fs::create_dir_all(&trash).map_err(|e| CurateError::Folder(trash.clone(), e))?;
        self.move_faces(names, &self.dir, &trash)
    }

    /// Moves the faces `names` back from the trash and puts them back in the alignments store.
    pub fn restore(&self, names: &[String]) -> Result<Moved, CurateError> {
        for name in names {
            check_name(name)?;
            if self.dir.join(name).exists() && self.trash_dir().join(name).exists() {
                return Err(CurateError::Exists { name: name.clone() });
            }
        }
        self.move_faces(names, &self.trash_dir(), &self.dir)
    }

    fn move_faces(&self, names: &[String], from: &Path, to: &Path) -> Result<Moved, CurateError> {
        let mut out = Moved::default();
        for name in names {
            check_name(name)?;
        }
        let store = match &self.alignments {
            Some(path) => Alignments::load_if_exists(path).map_err(|e| CurateError::Store(path.clone(), e))?,
            None => None,
        };
        for name in names {
            let (src, dst) = (from.join(name), to.join(name));
            if !src.is_file() {
                out.absent.push(name.clone());
                continue;
            }
            // Faces of another source never enter this store.
            let meta = read_face_meta(&src).map_err(|e| CurateError::Face(src.clone(), e))?;
            if let Some(store) = &store {
                if meta.source.sha256 != store.source.sha256 {
                    return Err(CurateError::OtherSource { file: name.clone(), found: meta.source.file, expected: store.source.file.clone() });
                }
            }
            if dst.exists() {
                return Err(CurateError::Exists { name: name.clone() });
            }
            std::fs::rename(&src, &dst).map_err(|e| CurateError::Move(src.clone(), e))?;
            out.moved.push(name.clone());
        }
        if let (Some(path), Some(store)) = (&self.alignments, store) {
            let synced = self.reconcile(store)?;
            synced.save(path).map_err(|e| CurateError::Store(path.clone(), e))?;
        }
        sync_dir(from);
        sync_dir(to);
        Ok(out)
    }

    /// Brings the alignments store in line with the folder (as every trash and restore does),
    /// saving it only when it differs: after a crash between moving faces and saving the
    /// store. Returns whether it changed. Not for a set whose extraction is unfinished (its
    /// resumed run completes the frames it had started).
    pub fn resync(&self) -> Result<bool, CurateError> {
        let Some(path) = &self.alignments else { return Ok(false) };
        let Some(store) = Alignments::load_if_exists(path).map_err(|e| CurateError::Store(path.clone(), e))? else { return Ok(false) };
        let synced = self.reconcile(store.clone())?;
        if synced == store {
            return Ok(false);
        }
        synced.save(path).map_err(|e| CurateError::Store(path.clone(), e))?;
        Ok(true)
    }

    /// The store with exactly the faces the folder holds, by file name (a listing, no face
    /// is read): entries whose file is no longer in the folder are removed; files in the folder
    /// that no entry names are added back to their frame from their own metadata. Frames stay
    /// (looked at) even when emptied; entries without a file name are left alone.
    fn reconcile(&self, mut store: Alignments) -> Result<Alignments, CurateError> {
        let present = png_names(&self.dir).map_err(|e| CurateError::Folder(self.dir.clone(), e))?;
        let mut named = BTreeSet::new();
        for entry in store.frames.values_mut() {
            entry.faces.retain(|f| f.file.as_ref().is_none_or(|n| present.contains(n)));
            named.extend(entry.faces.iter().filter_map(|f| f.file.clone()));
        }
        for name in present.difference(&named) {
            let path = self.dir.join(name);
            let meta = match read_face_meta(&path) {
                Ok(m) => m,
                Err(FacePngError::NoMetadata) => continue,
                Err(e) => return Err(CurateError::Face(path, e)),
            };
            if meta.source.sha256 != store.source.sha256 {
                continue;
            }
            let entry = store.frames.entry(meta.frame.index).or_insert_with(|| FrameEntry { time: meta.frame.time, name: None, faces: Vec::new() });
            entry.faces.retain(|f| f.face_index != meta.face.face_index);
            let mut face = meta.face;
            face.file = Some(name.clone());
            entry.faces.push(face);
            entry.faces.sort_by_key(|f| f.face_index);
        }
        Ok(store)
    }
}

/// The bare `.png` names in `dir`, sorted.
fn png_names(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    Ok(std::fs::read_dir(dir)?.flatten().filter_map(|e| e.file_name().into_string().ok()).filter(|n| is_plain_png_name(n)).collect())
}

/// A bare file name ending in `.png`: no folders, no dots before the extension.
fn is_plain_png_name(name: &str) -> bool {
    name.strip_suffix(".png").is_some_and(|stem| !stem.is_empty() && !stem.contains(['/', '\\', '.', '\0']))
}

pub(crate) fn check_name(name: &str) -> Result<(), CurateError> {
    if is_plain_png_name(name) { Ok(()) } else { Err(CurateError::BadName(name.into())) }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faces::jobs::faces_in;

    /// A copy of talk_woman_a's small face set (frames 0-40, every 8th) with its store.
    fn folder(tag: &str) -> std::path::PathBuf {
        crate::train::testdata::copy_of_face_set_a(&format!("curate-{tag}"))
    }

    fn store_of(dir: &Path) -> Alignments {
        Alignments::load(&dir.join("talk_woman_a.alignments.json")).unwrap()
    }

    #[test]
    fn resync_repairs_a_store_left_behind_by_a_stop_between_move_and_save() {
        let dir = folder("resync");
        let f = FaceFolder::open(&dir).unwrap();
        assert!(!f.resync().unwrap(), "a store in step is left as it is");
        let before = store_of(&dir).face_count();
        let names: Vec<String> = faces_in(&dir).unwrap().keys().cloned().collect();
        // The file moved, then the process died before the store was saved.
        std::fs::create_dir_all(dir.join(TRASH_DIR)).unwrap();
        std::fs::rename(dir.join(&names[0]), dir.join(TRASH_DIR).join(&names[0])).unwrap();
        assert_eq!(store_of(&dir).face_count(), before);
        assert!(f.resync().unwrap());
        assert_eq!(store_of(&dir).face_count(), before - 1);
        // And back: the face returns to the store from its own metadata.
        std::fs::rename(dir.join(TRASH_DIR).join(&names[0]), dir.join(&names[0])).unwrap();
        assert!(f.resync().unwrap());
        assert_eq!(store_of(&dir).face_count(), before);
        assert!(!f.resync().unwrap());
    }

    #[test]
    fn trash_and_restore_move_the_files_and_keep_the_store_in_step() {
        let dir = folder("roundtrip");
        let before = store_of(&dir);
        let names: Vec<String> = faces_in(&dir).unwrap().keys().cloned().collect();
        assert!(names.len() >= 5, "{names:?}");
        let gone = vec![names[1].clone(), names[3].clone()];
        let f = FaceFolder::open(&dir).unwrap();
        let moved = f.trash(&gone).unwrap();
        assert_eq!(moved, Moved { moved: gone.clone(), absent: vec![] });
        assert!(!dir.join(&gone[0]).exists() && dir.join(TRASH_DIR).join(&gone[0]).is_file());
        assert_eq!(f.trashed().unwrap(), gone);
        let after = store_of(&dir);
        assert_eq!(after.face_count(), before.face_count() - 2);
        assert_eq!(after.frames.len(), before.frames.len(), "emptied frames stay, as looked at");
        assert_eq!(store_of_bak(&dir).face_count(), before.face_count(), "the previous store is the backup");
        // Trashing again what someone else already trashed is not an error.
        assert_eq!(f.trash(&gone[..1]).unwrap(), Moved { moved: vec![], absent: gone[..1].to_vec() });
        // Restoring one puts its face back in its frame, as it was.
        f.restore(&gone[..1]).unwrap();
        let restored = store_of(&dir);
        assert_eq!(restored.face_count(), before.face_count() - 1);
        let meta = read_face_meta(&dir.join(&gone[0])).unwrap();
        let entry = &restored.frames[&meta.frame.index];
        let face = entry.faces.iter().find(|x| x.face_index == meta.face.face_index).unwrap();
        let original = before.frames[&meta.frame.index].faces.iter().find(|x| x.face_index == meta.face.face_index).unwrap();
        assert_eq!(face.landmarks, original.landmarks);
        assert_eq!(face.file.as_deref(), Some(gone[0].as_str()));
        assert_eq!(f.trashed().unwrap(), gone[1..].to_vec());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_with_paths_are_refused_before_anything_moves() {
        let dir = folder("names");
        let f = FaceFolder::open(&dir).unwrap();
        let count = faces_in(&dir).unwrap().len();
        for bad in ["../talk_woman_a.alignments.json", "x/../../etc.png", "talk_woman_a.alignments.json", "a.b.png", ""] {
            let err = f.trash(&[bad.to_string()]).unwrap_err();
            assert!(matches!(err, CurateError::BadName(_)), "{bad}: {err}");
        }
        assert_eq!(faces_in(&dir).unwrap().len(), count);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_crash_between_move_and_store_is_repaired_by_the_next_change() {
        let dir = folder("crash");
        let before = store_of(&dir);
        let names: Vec<String> = faces_in(&dir).unwrap().keys().cloned().collect();
        // The file moved, the store was not rewritten.
        std::fs::create_dir_all(dir.join(TRASH_DIR)).unwrap();
        std::fs::rename(dir.join(&names[0]), dir.join(TRASH_DIR).join(&names[0])).unwrap();
        assert_eq!(store_of(&dir).face_count(), before.face_count());
        FaceFolder::open(&dir).unwrap().trash(&names[1..2]).unwrap();
        assert_eq!(store_of(&dir).face_count(), before.face_count() - 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn store_of_bak(dir: &Path) -> Alignments {
        Alignments::load(&doppel_fsio::backup_path(&dir.join("talk_woman_a.alignments.json"))).unwrap()
    }
}
