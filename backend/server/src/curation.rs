//! The gallery's work on face set folders, for the app's server functions: sorting and grouping
//! from the engine's measures (kept in a [`FaceIndex`] per set, in memory and on disk), and the
//! trash with the alignments store kept in step. One change at a time per set (a lock per
//! folder, from the server's [`SetLocks`], shared with the extract job), so two people deleting
//! at once both land and the store loses neither, and an extraction running or resumed on the
//! same set never saves its alignments store over an edit, a trash or a restore (see
//! [`SetLocks`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use app::api::ssr::{CurationError, EditRequest, FaceCuration};
use app::api::{FaceEditDto, EditableFace, FacesChanged, FacesMoved, Gallery, GalleryFace, GalleryOrder};
use doppel_engine::device::ComputeDevice;
use doppel_engine::faces::curate::{CurateError, FaceFolder};
use doppel_engine::faces::edit::{source_frame, EditError, FaceEdit};
use doppel_engine::geometry::{Landmarks68, Point};
use doppel_engine::mask::MaskKind;
use doppel_engine::sort::{self, FaceIndex, SortError, SortKey};

use crate::events::{EventBody, EventHub};

/// The per-folder locks of face sets, one registry for the whole server (in its state, handed
/// to the gallery's [`EngineCuration`] and to the job runner), so every writer of a set's
/// alignments store takes the same lock:
///
/// - trash, restore and hand edits hold it for their whole change (face files and store);
/// - the extract job holds it around each save of the store (every 5 s and at the end), and
///   that save merges: it reads the store again under the lock and puts in only the frames
///   and faces this run added since its last save, leaving every other entry as the gallery
///   left it (a face trashed meanwhile stays out, a face edited meanwhile keeps its edit; see
///   `doppel_engine::extract`). So an edit or trash made while an extraction runs or resumes
///   survives it, and the check-then-act window of the app's "the extraction is still
///   running" refusal of trash and restore loses nothing either.
#[derive(Clone, Default)]
pub struct SetLocks(Arc<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>>);

impl SetLocks {
    /// The lock of the face set folder `dir` (the same one for every caller naming it).
    pub fn folder(&self, dir: &Path) -> Arc<Mutex<()>> {
        lock(&self.0).entry(dir.to_path_buf()).or_default().clone()
    }
}

/// Face sets whose measures stay in memory (about 1 KB a face); others are read from disk.
const INDEXES_KEPT: usize = 8;

pub struct EngineCuration {
    hub: EventHub,
    engine: crate::jobs::EngineConfig,
    /// The face networks, loaded on the first Re-align, on the device they were loaded on
    /// (loaded again when a Re-align asks for another).
    analyzer: Mutex<Option<(ComputeDevice, doppel_engine::analyze::FaceAnalyzer)>>,
    indexes: Mutex<Vec<(PathBuf, Arc<Mutex<FaceIndex>>)>>,
    locks: SetLocks,
}

impl EngineCuration {
    /// `locks` is the server's one registry of set folder locks, shared with the extract job.
    pub fn new(hub: EventHub, engine: crate::jobs::EngineConfig, locks: SetLocks) -> EngineCuration {
        EngineCuration { hub, engine, analyzer: Mutex::new(None), indexes: Mutex::new(Vec::new()), locks }
    }

    /// The set's index, most recently used first; loaded from `file` when not in memory.
    fn index(&self, dir: &Path, file: &Path) -> Arc<Mutex<FaceIndex>> {
        let mut kept = lock(&self.indexes);
        let found = match kept.iter().position(|(d, _)| d == dir) {
            Some(k) => kept.remove(k).1,
            None => Arc::new(Mutex::new(FaceIndex::load(file))),
        };
        kept.insert(0, (dir.to_path_buf(), found.clone()));
        kept.truncate(INDEXES_KEPT);
        found
    }

    fn folder_lock(&self, dir: &Path) -> Arc<Mutex<()>> {
        self.locks.folder(dir)
    }

    fn moved(&self, dir: &Path, files: &[String], restore: bool) -> Result<FacesMoved, CurationError> {
        let guard = self.folder_lock(dir);
        let _held = lock(&guard);
        let folder = FaceFolder::open(dir).map_err(curate_error)?;
        let m = if restore { folder.restore(files) } else { folder.trash(files) }.map_err(curate_error)?;
        Ok(FacesMoved { moved: m.moved, absent: m.absent })
    }
}

impl FaceCuration for EngineCuration {
    fn gallery(&self, dir: &Path, index_file: &Path, order: &GalleryOrder) -> Result<Gallery, CurationError> {
        let started = Instant::now();
        if !dir.is_dir() {
            return Ok(Gallery { faces: Vec::new(), groups: Vec::new(), trashed: 0, measured: 0, millis: 0 });
        }
        let trashed = FaceFolder::open(dir).and_then(|f| f.trashed()).map_err(curate_error)?.len();
        if order.is_plain() {
            let faces = face_names(dir)?.into_iter().map(|file| GalleryFace { file, group: 0, value: None }).collect();
            return Ok(Gallery { faces, groups: Vec::new(), trashed, measured: 0, millis: started.elapsed().as_millis() as u64 });
        }
        let index = self.index(dir, index_file);
        let (records, measured) = {
            let mut index = lock(&index);
            let measured = index.refresh(dir).map_err(sort_error)?;
            if measured > 0 {
                if let Err(e) = index.save(index_file) {
                    tracing::warn!("cannot keep the sort measures in {}: {e}", index_file.display());
                }
            }
            (index.records(), measured)
        };
        let sort_key = key(&order.sort)?;
        let name_of = |r: &sort::FaceRecord| r.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (values, ranked) = match (&order.like, sort_key) {
            // Likeness to a chosen face: nearest first.
            (Some(like), _) => {
                let reference = records.iter().position(|r| name_of(r) == *like).ok_or_else(|| CurationError::Invalid(format!("{like} is not in this face set")))?;
                let d = sort::distances_to(&records, reference).map_err(sort_error)?;
                let mut order: Vec<usize> = (0..records.len()).collect();
                order.sort_by(|&a, &b| d[a].total_cmp(&d[b]));
                (Some(d), order)
            }
            (None, Some(k)) => (Some(sort::measure(&records, k).map_err(sort_error)?), sort::sort(&records, k).map_err(sort_error)?),
            (None, None) => (None, (0..records.len()).collect()),
        };
        let (groups, labels) = match key(&order.group)? {
            None => (vec![ranked.clone()], Vec::new()),
            Some(g) => grouped(&records, g, order.bins, &ranked)?,
        };
        let name = |i: usize| name_of(&records[i]);
        let faces = groups
            .iter()
            .enumerate()
            .flat_map(|(k, members)| members.iter().map(move |&i| (k, i)))
            .map(|(k, i)| GalleryFace { file: name(i), group: k as u32, value: values.as_ref().map(|v| v[i]) })
            .collect();
        Ok(Gallery { faces, groups: labels, trashed, measured, millis: started.elapsed().as_millis() as u64 })
    }

    fn trashed(&self, dir: &Path) -> Result<Gallery, CurationError> {
        let started = Instant::now();
        let names = if dir.is_dir() { FaceFolder::open(dir).and_then(|f| f.trashed()).map_err(curate_error)? } else { Vec::new() };
        let trashed = names.len();
        let faces = names.into_iter().filter(|n| doppel_store::is_face_file_name(n)).map(|file| GalleryFace { file, group: 0, value: None }).collect();
        Ok(Gallery { faces, groups: Vec::new(), trashed, measured: 0, millis: started.elapsed().as_millis() as u64 })
    }

    fn trash(&self, dir: &Path, files: &[String]) -> Result<FacesMoved, CurationError> {
        self.moved(dir, files, false)
    }

    fn restore(&self, dir: &Path, files: &[String]) -> Result<FacesMoved, CurationError> {
        self.moved(dir, files, true)
    }

    fn face_for_edit(&self, dir: &Path, file: &str) -> Result<EditableFace, CurationError> {
        let path = dir.join(file);
        let meta = match doppel_engine::faces::read_face_meta(&path) {
            Ok(m) => m,
            Err(doppel_engine::faces::FacePngError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CurationError::Invalid(format!("{file} is not in this face set (deleted?)")));
            }
            Err(e) => return Err(CurationError::Internal(format!("{}: {e}", path.display()))),
        };
        let names = face_names(dir)?;
        let at = names.binary_search_by(|n| n.as_str().cmp(file)).ok();
        let previous = at.and_then(|k| k.checked_sub(1)).map(|k| names[k].clone());
        let next = at.and_then(|k| names.get(k + 1)).cloned();
        let face = &meta.face;
        let mask = face.mask(MaskKind::Painted).or_else(|| face.mask(MaskKind::Extended));
        let r = face.detection.rect;
        Ok(EditableFace {
            file: file.into(),
            frame: meta.frame.index,
            frame_width: meta.source.width,
            frame_height: meta.source.height,
            rect: [r.x, r.y, r.width, r.height],
            landmarks: face.landmarks.points().iter().map(|p| [p.x, p.y]).collect(),
            revision: face.revision,
            edits: face.edits.iter().map(|e| FaceEditDto { by: e.by.clone(), at: e.at, what: e.what.clone() }).collect(),
            mask_png: mask.map(|m| m.png.clone()).unwrap_or_default(),
            crop_size: face.aligned.size,
            crop_to_frame: {
                let [[a, c, e], [b, d, f]] = face.aligned.to_image().matrix();
                [a, b, c, d, e, f]
            },
            mask_painted: face.mask(MaskKind::Painted).is_some(),
            previous,
            next,
        })
    }

    fn save_edit(&self, dir: &Path, file: &str, source: &Path, edit: EditRequest) -> Result<u32, CurationError> {
        let landmarks = edit.landmarks.map(|points| Landmarks68(std::array::from_fn(|i| Point::new(points[i][0], points[i][1]))));
        let painted = match edit.painted_png {
            Some(bytes) => Some(
                doppel_engine::image_io::decode_bytes(&bytes, Some(image::ImageFormat::Png), "the painted mask")
                    .map_err(|e| CurationError::Invalid(e.to_string()))?
                    .to_luma8(),
            ),
            None => None,
        };
        let guard = self.folder_lock(dir);
        let _held = lock(&guard);
        let folder = FaceFolder::open(dir).map_err(curate_error)?;
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let rect = edit.rect.map(|r| doppel_engine::geometry::Rect::new(r[0], r[1], r[2], r[3]));
        let saved = folder.edit(file, |index| source_frame(source, index), FaceEdit { revision: edit.revision, landmarks, rect, painted, by: edit.by, at }).map_err(edit_error)?;
        Ok(saved.face.revision)
    }

    fn realign(&self, dir: &Path, file: &str, source: &Path, rect: [f32; 4], angle: f32, device: &str) -> Result<Vec<[f32; 2]>, CurationError> {
        let on = self.engine.job_device(&serde_json::json!({ "device": device })).map_err(CurationError::Invalid)?;
        let meta = doppel_engine::faces::read_face_meta(&dir.join(file)).map_err(|e| CurationError::Invalid(format!("{file}: {e}")))?;
        let frame = source_frame(source, meta.frame.index).map_err(edit_error)?;
        let mut held = lock(&self.analyzer);
        if held.as_ref().is_none_or(|(loaded_on, _)| *loaded_on != on) {
            *held = None;
            let device = on.to_burn().map_err(|e| CurationError::Internal(format!("cannot use the {on} device: {e}")))?;
            let loaded = doppel_engine::analyze::FaceAnalyzer::load(&self.engine.models, &device).map_err(|e| CurationError::Invalid(format!("cannot load the face networks: {e}")))?;
            *held = Some((on, loaded));
        }
        let (_, analyzer) = held.as_ref().ok_or_else(|| CurationError::Internal("no face networks".into()))?;
        // The aligner sees the box upright: a square patch around it, turned back by `angle`.
        let (cx, cy) = (f64::from(rect[0] + rect[2] / 2.0), f64::from(rect[1] + rect[3] / 2.0));
        let side = (2.0 * rect[2].max(rect[3])).ceil().max(8.0) as u32;
        let half = f64::from(side) / 2.0;
        let (s, c) = (-f64::from(angle)).sin_cos();
        let to_patch = doppel_engine::align::Similarity { scale: 1.0, angle: -f64::from(angle), tx: half - (c * cx - s * cy), ty: half - (s * cx + c * cy) };
        let patch_face = doppel_engine::align::AlignedFace { size: side, frame: doppel_engine::align::CropFrame::EXTRACT, to_crop: to_patch };
        let patch = patch_face.crop(&frame);
        let in_patch = doppel_engine::geometry::Rect::new(half as f32 - rect[2] / 2.0, half as f32 - rect[3] / 2.0, rect[2], rect[3]);
        let found = analyzer.landmarks_refeed(&[(&patch, in_patch)], 5).map_err(|e| CurationError::Internal(e.to_string()))?;
        let (landmarks, _) = found.into_iter().next().ok_or_else(|| CurationError::Internal("the aligner gave nothing".into()))?;
        let back = to_patch.inverse();
        Ok(landmarks.points().iter().map(|p| back.apply(*p)).map(|p| [p.x, p.y]).collect())
    }

    fn announce(&self, project: i64, change: FacesChanged) {
        self.hub.send(project, EventBody::Faces(change));
    }
}

/// The groups of `records` by `key`, each in `ranked` order, and their labels.
fn grouped(records: &[sort::FaceRecord], key: SortKey, bins: usize, ranked: &[usize]) -> Result<(Vec<Vec<usize>>, Vec<String>), CurationError> {
    let mut groups = sort::group(records, key, bins).map_err(sort_error)?;
    let mut rank = vec![0usize; records.len()];
    ranked.iter().enumerate().for_each(|(r, &i)| rank[i] = r);
    groups.iter_mut().for_each(|g| g.sort_by_key(|&i| rank[i]));
    let labels = if key == SortKey::Face {
        groups.iter().enumerate().map(|(k, g)| format!("person {} ({} faces)", k + 1, g.len())).collect()
    } else {
        let values = sort::measure(records, key).map_err(sort_error)?;
        groups
            .iter()
            .map(|g| {
                let (lo, hi) = g.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &i| (lo.min(values[i]), hi.max(values[i])));
                format!("{} {} to {} ({} faces)", key_name(key), short(lo), short(hi), g.len())
            })
            .collect()
    };
    Ok((groups, labels))
}

fn short(v: f32) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

fn key_name(key: SortKey) -> &'static str {
    match key {
        SortKey::Face => "identity",
        SortKey::Hist => "histogram",
        SortKey::Blur => "sharpness",
        SortKey::Yaw => "yaw",
        SortKey::Pitch => "pitch",
        SortKey::Size => "size",
        SortKey::Color => "colour",
    }
}

/// The engine's key of a gallery name: `None` for `name` (frame order) and for no grouping.
pub fn key(name: &str) -> Result<Option<SortKey>, CurationError> {
    if name.is_empty() || name == "name" {
        return Ok(None);
    }
    serde_json::from_value(serde_json::Value::String(name.into())).map(Some).map_err(|_| CurationError::Invalid(format!("cannot sort or group by '{name}'")))
}

/// The face PNGs of `dir` by name (frame order), as the extraction names them.
fn face_names(dir: &Path) -> Result<Vec<String>, CurationError> {
    doppel_store::face_files_in(dir).map_err(|e| CurationError::Internal(format!("{}: {e}", dir.display())))
}

fn sort_error(e: SortError) -> CurationError {
    match e {
        SortError::NoDescriptor(_) => CurationError::Invalid("some faces have no identity descriptor: identity needs faces extracted with descriptors".into()),
        other => CurationError::Internal(other.to_string()),
    }
}

fn curate_error(e: CurateError) -> CurationError {
    match e {
        e @ (CurateError::BadName(_) | CurateError::Exists { .. } | CurateError::OtherSource { .. }) => CurationError::Invalid(e.to_string()),
        other => CurationError::Internal(other.to_string()),
    }
}

fn edit_error(e: EditError) -> CurationError {
    match e {
        e @ (EditError::Write(..) | EditError::Store(_) | EditError::Source(_)) => CurationError::Internal(e.to_string()),
        EditError::Curate(c) => curate_error(c),
        other => CurationError::Invalid(other.to_string()),
    }
}

/// A poisoned lock only means another request panicked; the data behind it is still whole.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sort_and_group_the_app_offers_is_an_engine_key() {
        for (name, _) in app::api::SORT_KEYS.iter().chain(app::api::GROUP_KEYS.iter()) {
            let k = key(name).unwrap_or_else(|_| panic!("{name}"));
            assert_eq!(k.is_none(), name.is_empty() || *name == "name", "{name}");
        }
        assert!(matches!(key("../x"), Err(CurationError::Invalid(_))));
    }
}
