//! Stage 3 of extraction: align, crop, mask, encode and write each face, and keep the
//! alignments store up to date (saved every few seconds, so a crash loses little).
//!
//! The gallery may change the set meanwhile (trash, restore, hand edits), so a save never
//! writes this run's copy of the store over the one on disk: under the folder lock it reads the
//! store again and puts in what this run added since its last save ([`merge`]). And a resumed
//! run never writes a face a person already dealt with: one in the trash stays there, one
//! edited by hand keeps its edit (its frame was written by a run that stopped before saving).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::pipeline::Analyzed;
use super::track::{Sighting, Tracker};
use super::{ExtractError, ExtractOptions, Observer, Progress, Report};
use crate::align::AlignedFace;
use crate::analyze::FaceRecord;
use crate::faces::curate::TRASH_DIR;
use crate::faces::{face_file_name, read_face_meta, write_face_png, Alignments, FaceEntry, FaceMeta, FacePngError, FrameEntry, FrameRef, SourceRef, StoredMask};
use crate::mask::{landmark_mask, MaskKind};
use crate::media::Frame;

/// Subfolder of the output where faces that fail the face check are set aside.
pub const DOUBTFUL_DIR: &str = "doubtful";

/// Longest time between two saves of the alignments store.
const SAVE_EVERY: Duration = Duration::from_secs(5);

pub(super) struct FaceWriter<'a> {
    options: &'a ExtractOptions,
    stem: String,
    source: SourceRef,
    /// The store as last saved, with this run's additions since.
    store: Alignments,
    /// What this run added since its last save: new frames, and faces of frames kept by tracking.
    pending: BTreeMap<u64, FrameEntry>,
    store_path: PathBuf,
    progress: Progress,
    started: Instant,
    seconds: f64,
    tracker: Tracker<SetAside>,
}

/// A doubtful face of a video frame, written to `doubtful/` and kept in memory while a face
/// that passed may still vouch for it (see [`super::track`]).
struct SetAside {
    frame: FrameRef,
    crop: image::RgbImage,
    entry: FaceEntry,
    path: PathBuf,
}

impl<'a> FaceWriter<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(options: &'a ExtractOptions, stem: &str, source: SourceRef, store: Alignments, store_path: PathBuf, total: Option<u64>, resumed: u64, started: Instant) -> Self {
        let progress = Progress { frames_total: total, frames_resumed: resumed, ..Progress::default() };
        FaceWriter { options, stem: stem.into(), source, store, pending: BTreeMap::new(), store_path, progress, started, seconds: 0.0, tracker: Tracker::default() }
    }

    pub(super) fn run(mut self, rx: Receiver<Analyzed>, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Report, ExtractError> {
        let mut last_save = Instant::now();
        let mut damage = None;
        let mut stopped = false;
        for message in rx.iter() {
            match message {
                Analyzed::Frame { frame, name, faces, doubtful, filtered } => {
                    let t = Instant::now();
                    // Doubtful faces no face vouched for in time stay in doubtful/.
                    drop(self.tracker.advance(frame.time));
                    let still = name.is_some();
                    let written = self.write_frame(&frame, name, &faces, still, observer).and_then(|()| self.write_doubtful(&frame, &doubtful, still, observer));
                    self.seconds += t.elapsed().as_secs_f64();
                    if let Err(err) = written {
                        stop.store(true, Ordering::Relaxed);
                        self.save()?;
                        return Err(err);
                    }
                    self.progress.frames_done += 1;
                    self.progress.faces_filtered += filtered;
                }
                Analyzed::End { corrupt, damage: d } => {
                    self.progress.frames_corrupt = corrupt;
                    damage = d;
                }
            }
            self.progress.seconds = self.started.elapsed().as_secs_f64();
            observer.progress(&self.progress);
            if last_save.elapsed() >= SAVE_EVERY {
                self.save()?;
                last_save = Instant::now();
            }
            if observer.should_stop() {
                // Frames still in the queues are dropped; they were not recorded, so a
                // resumed run looks at them again.
                stopped = true;
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
        self.save()?;
        let frames_with_faces = self.store.frames.values().filter(|f| !f.faces.is_empty()).count() as u64;
        Ok(Report {
            faces_total: self.store.face_count() as u64,
            frames_with_faces,
            progress: self.progress,
            alignments: self.store_path,
            stopped,
            damage,
            stage_seconds: [0.0, 0.0, self.seconds],
        })
    }

    /// Saves the store as it is on disk plus this run's additions, under the folder lock.
    fn save(&mut self) -> Result<(), ExtractError> {
        let lock = self.options.folder_lock.clone();
        let _held = lock.as_ref().map(|l| l.lock().unwrap_or_else(|p| p.into_inner()));
        let failed = |source| ExtractError::Alignments { path: self.store_path.clone(), source };
        let mut merged = Alignments::load_if_exists(&self.store_path).map_err(failed)?.unwrap_or_else(|| self.store.clone());
        merge(&mut merged, std::mem::take(&mut self.pending), &self.options.output);
        merged.save(&self.store_path).map_err(failed)?;
        self.store = merged;
        Ok(())
    }

    /// Sets doubtful faces aside in `<output>/doubtful/` for review: face PNGs like the
    /// others, not in the alignments store (curation can take them back). In a video, a face
    /// that passed a moment before or after vouches for them: then they are kept after all.
    fn write_doubtful(&mut self, frame: &Frame, faces: &[FaceRecord], still: bool, observer: &mut dyn Observer) -> Result<(), ExtractError> {
        for (k, face) in faces.iter().enumerate() {
            let Some((crop, entry)) = self.face_entry(frame, face, k as u32) else { continue };
            let at = FrameRef { index: frame.index, time: frame.time };
            let meta = FaceMeta::new(self.source.clone(), at, entry.clone(), self.store.extractor.clone());
            let path = self.options.output.join(DOUBTFUL_DIR).join(face_file_name(&self.stem, frame.index, k as u32));
            write_face_png(&path, &crop, &meta).map_err(|source| ExtractError::FacePng { path: path.clone(), source })?;
            self.progress.faces_doubtful += 1;
            if !still {
                let sighting = Sighting { time: frame.time, rect: face.detection.rect, identity: face.descriptor };
                let vouched = self.tracker.doubtful(sighting, SetAside { frame: at, crop, entry, path });
                self.keep(vouched, observer)?;
            }
        }
        Ok(())
    }

    /// Takes doubtful faces a face that passed vouched for back into the set: written like
    /// the others, added to their frame in the store, removed from `doubtful/`.
    fn keep(&mut self, faces: Vec<SetAside>, observer: &mut dyn Observer) -> Result<(), ExtractError> {
        for face in faces {
            let Some(frame) = self.store.frames.get_mut(&face.frame.index) else { continue };
            // After the faces the frame has, and after any of its faces in the trash.
            let mut face_index = frame.faces.iter().map(|f| f.face_index + 1).max().unwrap_or(0);
            let taken = |k: u32| {
                let name = face_file_name(&self.stem, face.frame.index, k);
                self.options.output.join(&name).exists() || self.options.output.join(TRASH_DIR).join(&name).exists()
            };
            while taken(face_index) {
                face_index += 1;
            }
            let file = face_file_name(&self.stem, face.frame.index, face_index);
            let entry = FaceEntry { face_index, ..face.entry };
            let meta = FaceMeta::new(self.source.clone(), face.frame, entry.clone(), self.store.extractor.clone());
            let path = self.options.output.join(&file);
            write_face_png(&path, &face.crop, &meta).map_err(|source| ExtractError::FacePng { path: path.clone(), source })?;
            let kept = FaceEntry { file: Some(file), ..entry };
            frame.faces.push(kept.clone());
            let (time, name) = (frame.time, frame.name.clone());
            self.pending.entry(face.frame.index).or_insert_with(|| FrameEntry { time, name, faces: Vec::new() }).faces.push(kept);
            std::fs::remove_file(&face.path).map_err(|source| ExtractError::Doubtful { path: face.path.clone(), source })?;
            observer.face_written(&path);
            self.progress.faces_written += 1;
            self.progress.faces_doubtful -= 1;
            self.progress.faces_tracked += 1;
        }
        Ok(())
    }

    /// The crop and record of one face, or `None` for landmarks that cannot be aligned.
    fn face_entry(&self, frame: &Frame, face: &FaceRecord, face_index: u32) -> Option<(image::RgbImage, FaceEntry)> {
        let aligned = AlignedFace::new(&face.landmarks, self.options.size, self.options.frame)?;
        let crop = aligned.crop(&frame.image);
        let in_crop = aligned.landmarks_in_crop(&face.landmarks);
        let masks = MaskKind::FROM_LANDMARKS
            .iter()
            .filter_map(|&kind| landmark_mask(kind, &in_crop, self.options.size, self.options.mask_size))
            .map(|m| StoredMask::encode(&m))
            .collect();
        let entry = FaceEntry { face_index, detection: face.detection, landmarks: face.landmarks, aligned, masks, identity: Some(face.descriptor), file: None, revision: 0, edits: Vec::new() };
        Some((crop, entry))
    }

    /// Writes the faces of one frame, then records the frame in the store (in that order: a
    /// crash in between only means the faces are written again on resume).
    fn write_frame(&mut self, frame: &Frame, name: Option<String>, faces: &[FaceRecord], still: bool, observer: &mut dyn Observer) -> Result<(), ExtractError> {
        let mut entries = Vec::with_capacity(faces.len());
        let mut vouched = Vec::new();
        let mut next = 0u32;
        for face in faces {
            // Degenerate landmarks (all on one point) cannot be aligned: skip the face.
            let face_index = next;
            let Some((crop, entry)) = self.face_entry(frame, face, face_index) else { continue };
            next += 1;
            let file = face_file_name(&self.stem, frame.index, face_index);
            let path = self.options.output.join(&file);
            match self.dealt_with(&file, &path) {
                // Deleted by a person after a run that stopped before saving: it stays deleted.
                Some(None) => {}
                // Edited by a person meanwhile: their version stays.
                Some(Some(edited)) => entries.push(edited),
                None => {
                    let meta = FaceMeta::new(self.source.clone(), FrameRef { index: frame.index, time: frame.time }, entry.clone(), self.store.extractor.clone());
                    write_face_png(&path, &crop, &meta).map_err(|source| ExtractError::FacePng { path: path.clone(), source })?;
                    observer.face_written(&path);
                    self.progress.faces_written += 1;
                    entries.push(FaceEntry { file: Some(file), ..entry });
                }
            }
            if !still {
                vouched.extend(self.tracker.passed(Sighting { time: frame.time, rect: face.detection.rect, identity: face.descriptor }));
            }
        }
        let entry = FrameEntry { time: frame.time, name, faces: entries };
        self.store.frames.insert(frame.index, entry.clone());
        self.pending.insert(frame.index, entry);
        self.keep(vouched, observer)
    }

    /// Whether a person already dealt with the face `file` of a frame this run looks at (a
    /// run that stopped before saving wrote it): `Some(None)` when it is in the trash,
    /// `Some(entry)` when it was edited by hand, `None` otherwise (to be written).
    fn dealt_with(&self, file: &str, path: &Path) -> Option<Option<FaceEntry>> {
        if self.options.output.join(TRASH_DIR).join(file).is_file() {
            return Some(None);
        }
        if !path.is_file() {
            return None;
        }
        match read_face_meta(path) {
            Ok(meta) if meta.face.revision > 0 && meta.source.sha256 == self.source.sha256 => Some(Some(FaceEntry { file: Some(file.into()), ..meta.face })),
            _ => None,
        }
    }
}

/// Puts `pending`, what a run added since its last save, into `store`, the store as it is on
/// disk now: new frames are added (an empty one records "looked at"), and each face replaces
/// the entry of its index, as its file now says ([`as_on_disk`]). Every other entry is left as
/// it is on disk: whatever trash, restore or an edit did to it stays.
fn merge(store: &mut Alignments, pending: BTreeMap<u64, FrameEntry>, dir: &Path) {
    for (index, new) in pending {
        let frame = store.frames.entry(index).or_insert_with(|| FrameEntry { time: new.time, name: new.name.clone(), faces: Vec::new() });
        if frame.name.is_none() {
            frame.name = new.name;
        }
        for face in new.faces {
            frame.faces.retain(|f| f.face_index != face.face_index);
            frame.faces.extend(as_on_disk(face, dir));
        }
        frame.faces.sort_by_key(|f| f.face_index);
    }
}

/// A face this run wrote, as its file says now: none when it went to the trash since, the
/// file's own entry when it was edited since (a higher revision), else as written.
fn as_on_disk(face: FaceEntry, dir: &Path) -> Option<FaceEntry> {
    let Some(name) = face.file.clone() else { return Some(face) };
    match read_face_meta(&dir.join(&name)) {
        Ok(meta) if meta.face.revision > face.revision => Some(FaceEntry { file: Some(name), ..meta.face }),
        Err(FacePngError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
        _ => Some(face),
    }
}
