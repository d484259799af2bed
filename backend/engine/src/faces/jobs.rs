//! Jobs on an alignments store, as faceswap's alignments tool has them: keep it in step with a
//! cleaned faces folder, find frames with no, several or missing faces, export it, and rebuild
//! it from face PNGs. Jobs that change a store return the new one; saving it (atomically, with
//! the previous version as `.bak`) is the caller's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::alignments::{Alignments, FrameEntry};
use super::png::{read_face_meta, FacePngError};
use super::meta::FaceMeta;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot read the folder {0}: {1}")]
    Folder(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Face(PathBuf, FacePngError),
    #[error("{0} has no Doppel faces (PNG files made by doppel extract)")]
    NoFaces(PathBuf),
    #[error("the faces in {folder} come from {found}, the alignments from {expected}")]
    OtherSource { folder: PathBuf, found: String, expected: String },
}

/// The metadata of every face PNG in `dir` (other files are left alone), by file name.
pub fn faces_in(dir: &Path) -> Result<BTreeMap<String, FaceMeta>, JobError> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| JobError::Folder(dir.into(), e))?.flatten() {
        let path = entry.path();
        if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
            continue;
        }
        match read_face_meta(&path) {
            Ok(meta) => {
                out.insert(entry.file_name().to_string_lossy().into_owned(), meta);
            }
            Err(FacePngError::NoMetadata) => {}
            Err(e) => return Err(JobError::Face(path, e)),
        }
    }
    Ok(out)
}

/// What [`remove_faces`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub kept: usize,
    pub removed: usize,
}

/// The store with only the faces that still have a face PNG in `dir` (deleted in cleaning
/// means removed from the store). Frames stay, with the faces left, so extraction does not
/// look at them again; the kept faces keep their indices (their files keep their names).
pub fn remove_faces(store: &Alignments, dir: &Path) -> Result<(Alignments, Removed), JobError> {
    let faces = faces_in(dir)?;
    if let Some(meta) = faces.values().find(|m| m.source.sha256 != store.source.sha256) {
        return Err(JobError::OtherSource { folder: dir.into(), found: meta.source.file.clone(), expected: store.source.file.clone() });
    }
    let present: BTreeSet<(u64, u32)> = faces.values().map(|m| (m.frame.index, m.face.face_index)).collect();
    let mut out = store.clone();
    let mut removed = 0;
    for (&index, entry) in out.frames.iter_mut() {
        let before = entry.faces.len();
        entry.faces.retain(|f| present.contains(&(index, f.face_index)));
        removed += before - entry.faces.len();
    }
    let kept = out.face_count();
    Ok((out, Removed { kept, removed }))
}

/// Frames of a source of `frame_count` frames that the store has no entry for (never looked
/// at: extraction skipped them or stopped before).
pub fn missing_frames(store: &Alignments, frame_count: u64) -> Vec<u64> {
    (0..frame_count).filter(|i| !store.frames.contains_key(i)).collect()
}

/// Frames looked at where no face was kept.
pub fn no_faces(store: &Alignments) -> Vec<u64> {
    store.frames.iter().filter(|(_, e)| e.faces.is_empty()).map(|(&i, _)| i).collect()
}

/// Frames with more than one face, and how many.
pub fn multi_faces(store: &Alignments) -> Vec<(u64, usize)> {
    store.frames.iter().filter(|(_, e)| e.faces.len() > 1).map(|(&i, e)| (i, e.faces.len())).collect()
}

/// One face in an export: its box `[x, y, w, h]`, score and 68 landmarks, in source pixels.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExportedFace {
    pub face: u32,
    pub rect: [f32; 4],
    pub score: f32,
    pub landmarks: Vec<[f32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// A plain JSON view of the store for other tools: frame index -> faces.
pub fn export(store: &Alignments) -> BTreeMap<u64, Vec<ExportedFace>> {
    store
        .frames
        .iter()
        .map(|(&i, e)| {
            let faces = e
                .faces
                .iter()
                .map(|f| {
                    let r = f.detection.rect;
                    ExportedFace {
                        face: f.face_index,
                        rect: [r.x, r.y, r.width, r.height],
                        score: f.detection.score,
                        landmarks: f.landmarks.points().iter().map(|p| [p.x, p.y]).collect(),
                        file: f.file.clone(),
                    }
                })
                .collect();
            (i, faces)
        })
        .collect()
}

/// A store rebuilt from the face PNGs of `dir` alone (each carries its frame, face and
/// extraction settings): for a store that was lost, or faces gathered from elsewhere. Frames
/// without a face PNG are not in it.
pub fn from_faces(dir: &Path) -> Result<Alignments, JobError> {
    let faces = faces_in(dir)?;
    let first = faces.values().next().ok_or_else(|| JobError::NoFaces(dir.into()))?;
    let mut store = Alignments::new(first.source.clone(), first.extractor.clone());
    for (file, meta) in &faces {
        if meta.source.sha256 != first.source.sha256 {
            return Err(JobError::OtherSource { folder: dir.into(), found: meta.source.file.clone(), expected: first.source.file.clone() });
        }
        let entry = store.frames.entry(meta.frame.index).or_insert_with(|| FrameEntry { time: meta.frame.time, name: None, faces: Vec::new() });
        let mut face = meta.face.clone();
        face.file = Some(file.clone());
        entry.faces.push(face);
    }
    for entry in store.frames.values_mut() {
        entry.faces.sort_by_key(|f| f.face_index);
    }
    Ok(store)
}

/// Faces of two stores of the same source in one: every frame of either; in a frame both have,
/// `b`'s faces that overlap none of `a`'s (box IoU under a half) are added after `a`'s.
pub fn merge(a: &Alignments, b: &Alignments) -> Result<(Alignments, usize), JobError> {
    if a.source.sha256 != b.source.sha256 {
        return Err(JobError::OtherSource { folder: PathBuf::from(&b.source.file), found: b.source.file.clone(), expected: a.source.file.clone() });
    }
    let mut out = a.clone();
    let mut added = 0;
    for (&index, entry) in &b.frames {
        let target = out.frames.entry(index).or_insert_with(|| FrameEntry { time: entry.time, name: entry.name.clone(), faces: Vec::new() });
        for face in &entry.faces {
            if target.faces.iter().all(|f| f.detection.rect.iou(&face.detection.rect) < 0.5) {
                let mut face = face.clone();
                face.face_index = target.faces.iter().map(|f| f.face_index + 1).max().unwrap_or(0);
                target.faces.push(face);
                added += 1;
            }
        }
    }
    Ok((out, added))
}

/// The store with its landmarks smoothed over time (the one-euro filter conversion uses, per
/// face track), so faces extracted again or converted from it do not shake.
pub fn smooth(store: &Alignments, settings: crate::convert::SmoothSettings) -> Alignments {
    let mut out = store.clone();
    let mut smoother = crate::convert::Smoother::new(settings);
    for entry in out.frames.values_mut() {
        let faces: Vec<_> = entry.faces.iter().map(|f| f.landmarks).collect();
        for (face, smoothed) in entry.faces.iter_mut().zip(smoother.smooth(entry.time, &faces)) {
            face.landmarks = smoothed;
        }
    }
    out
}

/// Draws the boxes and landmarks of a store's faces on a frame (green box, red points).
pub fn draw(image: &mut image::RgbImage, entry: &FrameEntry) {
    let (w, h) = image.dimensions();
    let mut put = |x: f32, y: f32, colour: [u8; 3]| {
        if x >= 0.0 && y >= 0.0 && (x as u32) < w && (y as u32) < h {
            image.put_pixel(x as u32, y as u32, image::Rgb(colour));
        }
    };
    for face in &entry.faces {
        let r = face.detection.rect;
        for t in 0..=100 {
            let t = t as f32 / 100.0;
            for (x, y) in [(r.x + t * r.width, r.y), (r.x + t * r.width, r.y + r.height), (r.x, r.y + t * r.height), (r.x + r.width, r.y + t * r.height)] {
                put(x, y, [0, 255, 0]);
            }
        }
        for p in face.landmarks.points() {
            for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)] {
                put(p.x + dx, p.y + dy, [255, 0, 0]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Faces of talk_woman_a, frames 0-40 every 8th (shared with the training tests).
    fn extracted() -> (PathBuf, Alignments) {
        let (a, _) = crate::train::testdata::face_sets();
        let store = Alignments::load(&a.join("talk_woman_a.alignments.json")).unwrap();
        (a.clone(), store)
    }

    fn copy_faces(from: &Path, name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("doppel-align-jobs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "png") {
                std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
            }
        }
        dir
    }

    #[test]
    fn removing_faces_follows_the_cleaned_folder_and_keeps_the_frames() {
        let (faces, store) = extracted();
        let dir = copy_faces(&faces, "remove");
        let total = store.face_count();
        // Cleaning deleted the faces of frames 8 and 16.
        for name in faces_in(&dir).unwrap().iter().filter(|(_, m)| [8, 16].contains(&m.frame.index)).map(|(n, _)| n.clone()) {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        let (cleaned, report) = remove_faces(&store, &dir).unwrap();
        assert_eq!(report, Removed { kept: total - 2, removed: 2 });
        assert!(cleaned.frames[&8].faces.is_empty() && cleaned.frames.contains_key(&8), "the frame stays, looked at");
        assert_eq!(cleaned.frames[&0].faces, store.frames[&0].faces);
        assert_eq!(no_faces(&cleaned), vec![8, 16]);
        assert!(multi_faces(&cleaned).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reports_exports_and_a_store_rebuilt_from_its_faces() {
        let (faces, store) = extracted();
        assert_eq!(missing_frames(&store, 41).len(), 41 - 6, "frames 0, 8, .. 40 were looked at");
        assert!(missing_frames(&store, 41).starts_with(&[1, 2, 3]));
        let exported = export(&store);
        assert_eq!(exported.len(), 6);
        assert_eq!(exported[&8][0].landmarks.len(), 68);
        let rebuilt = from_faces(&faces).unwrap();
        assert_eq!(rebuilt.face_count(), store.face_count());
        for (i, e) in &store.frames {
            let (a, b) = (&rebuilt.frames[i].faces, &e.faces);
            assert_eq!(a.iter().map(|f| (f.face_index, f.landmarks)).collect::<Vec<_>>(), b.iter().map(|f| (f.face_index, f.landmarks)).collect::<Vec<_>>(), "frame {i}");
        }
        assert_eq!(rebuilt.source, store.source);
        let empty = std::env::temp_dir().join(format!("doppel-align-jobs-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(from_faces(&empty), Err(JobError::NoFaces(_))));
        std::fs::remove_dir_all(&empty).unwrap();
    }

    #[test]
    fn merging_adds_what_is_new_and_smoothing_steadies() {
        let (_, store) = extracted();
        let mut partial = store.clone();
        partial.frames.retain(|&i, _| i < 16);
        let mut rest = store.clone();
        rest.frames.retain(|&i, _| i >= 8);
        let (merged, added) = merge(&partial, &rest).unwrap();
        assert_eq!(merged.frames.len(), store.frames.len());
        assert_eq!(added, store.face_count() - partial.face_count(), "frame 8's face is in both: not added twice");
        assert_eq!(merged.face_count(), store.face_count());
        // Smoothing moves jittery landmarks less from frame to frame, and keeps every face.
        let mut jittery = store.clone();
        for (k, entry) in jittery.frames.values_mut().enumerate() {
            let shift = if k % 2 == 0 { 3.0 } else { -3.0 };
            entry.faces.iter_mut().for_each(|f| f.landmarks.0.iter_mut().for_each(|p| p.x += shift));
        }
        let motion = |s: &Alignments| {
            let xs: Vec<f32> = s.frames.values().map(|e| e.faces[0].landmarks.0[30].x).collect();
            xs.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f32>()
        };
        let steady = smooth(&jittery, crate::convert::SmoothSettings::with_cutoff(0.5));
        assert_eq!(steady.face_count(), jittery.face_count());
        assert!(motion(&steady) < motion(&jittery), "{} vs {}", motion(&steady), motion(&jittery));
        // Drawing marks the face's box.
        let mut frame = image::RgbImage::new(store.source.width, store.source.height);
        draw(&mut frame, &store.frames[&0]);
        assert!(frame.pixels().filter(|p| p[1] == 255).count() > 100);
    }

    #[test]
    fn faces_of_another_source_are_refused() {
        let (_, store_a) = extracted();
        let (_, faces_b) = crate::train::testdata::face_sets();
        let dir = copy_faces(faces_b, "other");
        let err = remove_faces(&store_a, &dir).unwrap_err();
        assert!(err.to_string().contains("come from talk_woman_b.mp4"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
