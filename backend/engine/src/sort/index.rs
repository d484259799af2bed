//! A face set's sort measures kept between sorts: measuring a face decodes its PNG (a few
//! milliseconds), so the gallery measures each face once and sorts 10,000 faces from the index.
//! Each entry remembers its file's length and modification time; a refresh reads again only
//! the faces that are new or changed, and forgets the ones that left the folder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;

use super::{load_face, FaceRecord, SortError};

/// Bumped when [`FaceRecord`]'s measures change meaning: older indexes are measured again.
const INDEX_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct Stamp {
    len: u64,
    modified_ns: u128,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Entry {
    stamp: Stamp,
    /// `None`: a PNG without Doppel metadata (remembered so it is not decoded every time).
    record: Option<FaceRecord>,
}

/// The measures of every face PNG of one folder, by file name.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FaceIndex {
    version: u32,
    entries: BTreeMap<String, Entry>,
}

impl FaceIndex {
    /// The index saved at `path`, or an empty one when there is none or it is unreadable or
    /// of another version (it is a cache: it is made again).
    pub fn load(path: &Path) -> FaceIndex {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<FaceIndex>(&bytes).ok())
            .filter(|i| i.version == INDEX_VERSION)
            .unwrap_or_default()
    }

    /// Writes the index atomically (no backup: it can be made again).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        doppel_fsio::replace_atomic(path, &json)
    }

    /// Brings the index in line with the face PNGs of `dir` (not its subfolders): new and
    /// changed faces are measured, on all cores; gone ones forgotten. Returns how many faces
    /// were measured. Hard links to one file (the same inode, unchanged) are measured once.
    pub fn refresh(&mut self, dir: &Path) -> Result<usize, SortError> {
        self.version = INDEX_VERSION;
        let mut listed: Vec<(String, PathBuf, Stamp, u64)> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| SortError::Folder(dir.into(), e))?.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            if !name.to_ascii_lowercase().ends_with(".png") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified_ns = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            listed.push((name, entry.path(), Stamp { len: meta.len(), modified_ns }, inode(&meta)));
        }
        let names: std::collections::HashSet<&str> = listed.iter().map(|(n, ..)| n.as_str()).collect();
        self.entries.retain(|name, _| names.contains(name.as_str()));
        let stale: Vec<&(String, PathBuf, Stamp, u64)> =
            listed.iter().filter(|(name, _, stamp, _)| self.entries.get(name).is_none_or(|e| e.stamp != *stamp)).collect();
        // One measure per distinct file.
        let mut by_file: HashMap<(u64, &Stamp), &PathBuf> = HashMap::new();
        for (_, path, stamp, ino) in &stale {
            if *ino == 0 {
                continue;
            }
            by_file.entry((*ino, stamp)).or_insert(path);
        }
        let unique: Vec<&PathBuf> = stale.iter().filter(|(_, path, stamp, ino)| *ino == 0 || by_file.get(&(*ino, stamp)) == Some(&path)).map(|(_, p, ..)| p).collect();
        let measured = measure_all(&unique)?;
        for (name, path, stamp, ino) in &stale {
            let source = if *ino == 0 { path } else { by_file[&(*ino, stamp)] };
            let Some(measure) = measured.get(source) else { continue };
            let record = measure.clone().map(|mut r| {
                r.path = path.clone();
                r
            });
            self.entries.insert(name.clone(), Entry { stamp: stamp.clone(), record });
        }
        Ok(unique.len())
    }

    /// The faces' records in file-name order (PNGs without Doppel metadata left out).
    pub fn records(&self) -> Vec<FaceRecord> {
        self.entries.values().filter_map(|e| e.record.clone()).collect()
    }

    /// Number of faces indexed.
    pub fn len(&self) -> usize {
        self.entries.values().filter(|e| e.record.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Each face's record (`None`: a PNG without Doppel's metadata), on all cores. A face moved to
/// the trash (or re-cut) by someone else between the listing and its reading is gone, not
/// broken: it is left out, and the next refresh sees the folder as it is then.
fn measure_all<'a>(paths: &[&'a PathBuf]) -> Result<HashMap<&'a PathBuf, Option<FaceRecord>>, SortError> {
    Ok(paths
        .par_iter()
        .map(|p| match load_face(p) {
            Ok(r) => Ok(Some((*p, r))),
            Err(_) if !p.exists() => Ok(None),
            Err(e) => Err(e),
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect())
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.ino()
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_face_that_vanishes_before_it_is_measured_is_left_out_not_an_error() {
        let (a, _) = crate::train::testdata::face_sets();
        let real: PathBuf = std::fs::read_dir(a).unwrap().flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "png")).unwrap();
        let gone = std::env::temp_dir().join(format!("doppel-vanished-{}_000001_0.png", std::process::id()));
        let measured = measure_all(&[&real, &gone]).unwrap();
        assert!(measured[&real].is_some());
        assert!(!measured.contains_key(&gone));
        // A face that is there but damaged is still an error.
        let damaged = std::env::temp_dir().join(format!("doppel-damaged-{}_000001_0.png", std::process::id()));
        std::fs::write(&damaged, b"\x89PNG\r\n\x1a\nnot really").unwrap();
        assert!(measure_all(&[&damaged]).is_err());
        std::fs::remove_file(&damaged).unwrap();
    }

    #[test]
    fn refresh_measures_only_what_is_new_and_forgets_what_left() {
        let (a, _) = crate::train::testdata::face_sets();
        let dir = std::env::temp_dir().join(format!("doppel-face-index-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let faces: Vec<PathBuf> = std::fs::read_dir(a).unwrap().flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "png")).collect();
        for f in &faces {
            std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
        }
        // 100 hard links of one face under other names: one more file to measure, not 100.
        for k in 0..100 {
            std::fs::hard_link(&faces[0], dir.join(format!("linked_{:06}_0.png", 1000 + k))).unwrap();
        }
        let mut index = FaceIndex::default();
        assert_eq!(index.refresh(&dir).unwrap(), faces.len() + 1);
        assert_eq!(index.len(), faces.len() + 100);
        let saved = dir.join("index.json");
        index.save(&saved).unwrap();
        let mut again = FaceIndex::load(&saved);
        assert_eq!(again.refresh(&dir).unwrap(), 0, "nothing changed");
        let first = again.records().into_iter().find(|r| r.path.ends_with("linked_001000_0.png")).unwrap();
        assert_eq!(first.path, dir.join("linked_001000_0.png"), "each link keeps its own name");
        std::fs::remove_file(dir.join("linked_001000_0.png")).unwrap();
        assert_eq!(again.refresh(&dir).unwrap(), 0);
        assert_eq!(again.len(), faces.len() + 99);
        // The records equal a fresh measure of the folder.
        let fresh = super::super::load_dir(&dir).unwrap();
        let ours = again.records();
        assert_eq!(fresh.len(), ours.len());
        for (x, y) in fresh.iter().zip(&ours) {
            assert_eq!((&x.path, x.sharpness, x.area), (&y.path, y.sharpness, y.area));
        }
        // A damaged index is made again, not an error.
        std::fs::write(&saved, b"{not json").unwrap();
        assert!(FaceIndex::load(&saved).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
