//! Importing a faceswap alignments file (`.fsa`, versions 2.x: a zlib-compressed pickle of
//! `{"__meta__": {"version": ..}, "__data__": {frame name: {"faces": [..]}}}`), so people
//! bring their faceswap work: each face's box (`x, y, w, h`) and `landmarks_xy` become a face
//! of the Doppel store, aligned and masked as Doppel's extraction would; one of the file's own
//! masks (faceswap's neural masks or a hand-edited one) is kept as the `painted` mask, warped
//! into Doppel's crop. faceswap's identity vectors (another network) are left out.
//!
//! Frame names: a video's frames are `<video stem>_<frame number from 1, 6 digits>.png`; an
//! image folder's are its file names.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use image::{GrayImage, Luma};

use super::alignments::{Alignments, FrameEntry};
use super::meta::{ExtractorSettings, FaceEntry, SourceRef, StoredMask};
use super::pickle::{self, PickleError, Value};
use crate::align::{AlignedFace, CropFrame};
use crate::extract::{Input, InputError};
use crate::geometry::{Detection, Landmarks68, Point, Rect};
use crate::mask::{landmark_mask, Mask, MaskKind};

/// Largest pickle read from a file (decompressed), so a hostile file (a zlib bomb) cannot
/// fill memory; the values it makes are bounded by [`pickle::budget_for`].
const MAX_PICKLE: u64 = 2 << 30;
/// Largest side of a faceswap mask (faceswap stores them at 128 px by default).
const MAX_MASK_SIDE: usize = 4096;
/// Largest coordinate of a box or landmark, in frame pixels: frames are at most 16384 px a
/// side, and a face may reach past the edge.
const MAX_COORD: f64 = 65536.0;
/// faceswap masks kept as the painted mask, first found first.
const MASK_PREFERENCE: [&str; 5] = ["custom", "bisenet-fp_face", "bisenet-fp_head", "vgg-obstructed", "unet-dfl"];

#[derive(Debug, thiserror::Error)]
pub enum FsaError {
    #[error("cannot read {0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0} is not a faceswap alignments file (.fsa): it does not decompress ({1})")]
    NotCompressed(String, std::io::Error),
    #[error("{0} is larger than {mib} MiB once decompressed", mib = .1 >> 20)]
    TooLarge(String, u64),
    #[error("{0}: {1}")]
    Pickle(String, PickleError),
    #[error("{0} is not a faceswap alignments file: {1}")]
    Shape(String, &'static str),
    #[error("{file} is a faceswap alignments file of version {version}; Doppel reads versions 2.x")]
    Version { file: String, version: f64 },
    #[error("the source: {0}")]
    Source(#[from] InputError),
}

/// What an import found.
#[derive(Debug, Clone)]
pub struct Imported {
    pub store: Alignments,
    pub version: f64,
    pub faces: usize,
    /// faceswap masks kept (as `painted`).
    pub masks: usize,
    /// Frames of the file the source does not have, and faces that could not be read.
    pub skipped: Vec<String>,
}

/// Reads a faceswap alignments file into Python values.
pub fn read_fsa(path: &Path) -> Result<Value, FsaError> {
    read_fsa_capped(path, MAX_PICKLE)
}

/// [`read_fsa`] with at most `cap` bytes of decompressed pickle; the file is streamed
/// through the decompressor, never held whole.
fn read_fsa_capped(path: &Path, cap: u64) -> Result<Value, FsaError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| FsaError::Io(name.clone(), e))?;
    let mut raw = Vec::new();
    flate2::bufread::ZlibDecoder::new(std::io::BufReader::new(file))
        .take(cap + 1)
        .read_to_end(&mut raw)
        .map_err(|e| FsaError::NotCompressed(name.clone(), e))?;
    if raw.len() as u64 > cap {
        return Err(FsaError::TooLarge(name, cap));
    }
    pickle::load(&raw).map_err(|e| FsaError::Pickle(name, e))
}

/// The faceswap alignments file `fsa` of the video or image folder `source` as a Doppel store
/// of `size` px crops (masks at `mask_size`), `software` naming this Doppel.
pub fn import_fsa(fsa: &Path, source: &Path, size: u32, mask_size: u32, software: &str) -> Result<Imported, FsaError> {
    let name = fsa.display().to_string();
    let root = read_fsa(fsa)?;
    let version = root.get("__meta__").and_then(|m| m.get("version")).and_then(Value::as_f64).unwrap_or(1.0);
    if !(2.0..3.0).contains(&version) {
        return Err(FsaError::Version { file: name, version });
    }
    let Some(Value::Dict(frames)) = root.get("__data__") else { return Err(FsaError::Shape(name, "no __data__ dictionary")) };
    let input = Input::open(source)?;
    let (width, height) = input.displayed_size();
    let stem = input.stem();
    let names: Option<std::collections::HashMap<String, u64>> = match &input {
        Input::Images { files, .. } => Some(files.iter().enumerate().map(|(i, f)| (f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), i as u64)).rev().collect()),
        Input::Video { .. } => None,
    };
    let frame_count = input.frame_count_hint();
    let sha256 = crate::extract::source_hash(source)?;
    let file = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let extractor = ExtractorSettings {
        software: software.into(),
        detector: "faceswap (imported)".into(),
        aligner: "faceswap (imported)".into(),
        recognition: String::new(),
        min_confidence: 0.0,
        min_size: 0,
        re_feed: 1,
        every_n: 1,
    };
    let mut store = Alignments::new(SourceRef { file, sha256, width, height }, extractor);
    let (mut faces_total, mut masks, mut skipped) = (0, 0, Vec::new());
    let mut by_index: BTreeMap<u64, FrameEntry> = BTreeMap::new();
    for (key, entry) in frames {
        let Value::Str(frame_name) = key else { continue };
        let index = match &names {
            Some(names) => names.get(frame_name).copied(),
            None => video_frame(frame_name, &stem),
        };
        let Some(index) = index.filter(|i| frame_count.is_none_or(|n| *i < n)) else {
            skipped.push(format!("frame {frame_name}: not a frame of {}", source.display()));
            continue;
        };
        let list = match entry.get("faces") {
            Some(Value::List(l)) => l.as_slice(),
            _ => &[],
        };
        let mut faces = Vec::new();
        for (k, face) in list.iter().enumerate() {
            match face_entry(face, faces.len() as u32, size, mask_size) {
                Ok((entry, mask)) => {
                    match mask {
                        Ok(had_mask) => masks += usize::from(had_mask),
                        Err(why) => skipped.push(format!("frame {frame_name}, face {k}: its mask is left out: {why}")),
                    }
                    faces.push(entry);
                }
                Err(why) => skipped.push(format!("frame {frame_name}, face {k}: {why}")),
            }
        }
        faces_total += faces.len();
        let name = names.as_ref().map(|_| frame_name.clone());
        by_index.insert(index, FrameEntry { time: 0.0, name, faces });
    }
    store.frames = by_index;
    Ok(Imported { store, version, faces: faces_total, masks, skipped })
}

/// Cuts the face PNGs of `store` from its `source` into `dir` (as extraction names them) and
/// records their names in the store. Returns how many were written.
pub fn write_faces(store: &mut Alignments, source: &Path, dir: &Path) -> Result<usize, FsaError> {
    let mut input = Input::open(source)?;
    let stem = input.stem();
    std::fs::create_dir_all(dir).map_err(|e| FsaError::Io(dir.display().to_string(), e))?;
    let mut written = 0;
    let wanted: std::collections::BTreeSet<u64> = store.frames.iter().filter(|(_, e)| !e.faces.is_empty()).map(|(&i, _)| i).collect();
    while let Some(frame) = input.next_frame(&mut |i| wanted.contains(&i))? {
        let Some(entry) = store.frames.get_mut(&frame.index) else { continue };
        entry.time = frame.time;
        for face in &mut entry.faces {
            let file = super::face_file_name(&stem, frame.index, face.face_index);
            let crop = face.aligned.crop(&frame.image);
            let meta = super::FaceMeta::new(store.source.clone(), super::FrameRef { index: frame.index, time: frame.time }, FaceEntry { file: None, ..face.clone() }, store.extractor.clone());
            let path = dir.join(&file);
            super::write_face_png(&path, &crop, &meta).map_err(|e| FsaError::Io(path.display().to_string(), std::io::Error::other(e.to_string())))?;
            face.file = Some(file);
            written += 1;
        }
    }
    Ok(written)
}

/// `clip_000001.png` of the video `clip` is frame 0.
fn video_frame(name: &str, stem: &str) -> Option<u64> {
    let rest = name.strip_prefix(stem)?.strip_prefix('_')?;
    let digits = rest.split('.').next()?;
    digits.parse::<u64>().ok()?.checked_sub(1)
}

/// A face of the file as a Doppel face, and whether its faceswap mask was kept (or why not).
fn face_entry(face: &Value, face_index: u32, size: u32, mask_size: u32) -> Result<(FaceEntry, Result<bool, String>), &'static str> {
    let num = |k: &str| face.get(k).and_then(Value::as_f64).filter(|v| v.abs() <= MAX_COORD).ok_or("no box");
    let rect = Rect::new(num("x")? as f32, num("y")? as f32, num("w")? as f32, num("h")? as f32);
    let points = face.get("landmarks_xy").and_then(Value::numbers).ok_or("no landmarks")?;
    if points.len() != 136 {
        return Err("not 68 landmarks");
    }
    if points.iter().any(|v| !v.is_finite()) {
        return Err("landmarks that are not numbers");
    }
    if points.iter().any(|v| v.abs() > MAX_COORD) {
        return Err("landmarks far outside any frame");
    }
    let landmarks = Landmarks68(std::array::from_fn(|i| Point::new(points[2 * i] as f32, points[2 * i + 1] as f32)));
    let aligned = AlignedFace::new(&landmarks, size, CropFrame::EXTRACT).ok_or("landmarks all in one place")?;
    let in_crop = aligned.landmarks_in_crop(&landmarks);
    // A face's own points lie around its crop; points far outside make no face (and would
    // overflow the mask drawing's integer geometry).
    let reach = 4.0 * size as f32;
    if in_crop.points().iter().any(|p| !(p.x.abs() <= reach && p.y.abs() <= reach)) {
        return Err("landmarks that do not make a face");
    }
    let mut masks: Vec<StoredMask> = MaskKind::FROM_LANDMARKS.iter().filter_map(|&k| landmark_mask(k, &in_crop, size, mask_size)).map(|m| StoredMask::encode(&m)).collect();
    let painted = faceswap_mask(face, &aligned, mask_size);
    if let Ok(Some(image)) = &painted {
        masks.push(StoredMask::encode(&Mask { kind: MaskKind::Painted, image: image.clone() }));
    }
    let detection = Detection { rect, score: 1.0 };
    let kept = painted.map(|p| p.is_some());
    Ok((FaceEntry { face_index, detection, landmarks, aligned, masks, identity: None, file: None, revision: 0, edits: Vec::new() }, kept))
}

/// The face's preferred faceswap mask redrawn in Doppel's crop space at `side` pixels: each
/// crop pixel goes to the frame, then through the mask's frame -> stored-mask matrix.
/// `Ok(None)` when the face has no mask, an error saying why a mask it has cannot be used.
fn faceswap_mask(face: &Value, aligned: &AlignedFace, side: u32) -> Result<Option<GrayImage>, String> {
    let Some(Value::Dict(all)) = face.get("mask") else { return Ok(None) };
    let Some(chosen) = MASK_PREFERENCE
        .iter()
        .find_map(|want| all.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == want)))
        .or_else(|| all.iter().find(|(k, _)| !matches!(k, Value::Str(s) if s == "components" || s == "extended")))
    else {
        return Ok(None);
    };
    let m = &chosen.1;
    let stored = m.get("stored_size").and_then(Value::as_f64).ok_or("no stored_size")?;
    if !(stored >= 1.0 && stored <= MAX_MASK_SIDE as f64 && stored.fract() == 0.0) {
        return Err(format!("a stored_size of {stored} (at most {MAX_MASK_SIDE})"));
    }
    let stored = stored as usize;
    let Some(Value::Bytes(zipped)) = m.get("mask") else { return Err("no mask bytes".into()) };
    let mut pixels = Vec::new();
    let area = stored * stored;
    flate2::read::ZlibDecoder::new(zipped.as_slice()).take(area as u64 + 1).read_to_end(&mut pixels).map_err(|e| format!("the mask does not decompress ({e})"))?;
    if pixels.len() != area {
        return Err(format!("the mask holds {} bytes, not {stored}x{stored}", pixels.len()));
    }
    let affine = m.get("affine_matrix").and_then(Value::numbers).ok_or("no affine_matrix")?;
    if affine.len() != 6 || affine.iter().any(|v| !v.is_finite()) {
        return Err("an affine_matrix that is not 6 numbers".into());
    }
    let to_image = aligned.to_image();
    let k = f64::from(aligned.size) / f64::from(side);
    Ok(Some(GrayImage::from_fn(side, side, |x, y| {
        let p = to_image.apply(Point::new(((f64::from(x) + 0.5) * k) as f32, ((f64::from(y) + 0.5) * k) as f32));
        let (fx, fy) = (f64::from(p.x), f64::from(p.y));
        let (sx, sy) = (affine[0] * fx + affine[1] * fy + affine[2], affine[3] * fx + affine[4] * fy + affine[5]);
        if sx < 0.0 || sy < 0.0 || sx >= stored as f64 || sy >= stored as f64 {
            Luma([0])
        } else {
            Luma([pixels[sy as usize * stored + sx as usize]])
        }
    })))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;
