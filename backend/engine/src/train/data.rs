//! Training data from a face set folder: each face PNG's own crop and metadata, nothing else.
//!
//! Extraction stores a wide crop ([`CropFrame::EXTRACT`]); training takes the face-centred
//! square of [`CropFrame::FACE`] inside it (same centre, a fraction of the side), resized to
//! the model's input, with the stored `extended` mask cut and resized the same way.

use std::path::{Path, PathBuf};

use image::imageops::{crop_imm, resize, FilterType};
use image::{GrayImage, RgbImage};

use super::augment::{grey_planes, Source};
use super::planes::Planes;
use crate::align::CropFrame;
use crate::geometry::Point;
use crate::faces::{read_face_meta, read_face_png, FaceMeta, FacePngError};
use crate::mask::MaskKind;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read the face folder {0}: {1}")]
    Folder(PathBuf, std::io::Error),
    #[error("{0} has no faces extracted by Doppel (face PNGs with metadata); extract faces into it first")]
    Empty(PathBuf),
    #[error("{path}: {source}")]
    Face { path: PathBuf, source: FacePngError },
    #[error("loading training faces: {0}")]
    Loader(String),
    #[error("{path}: the face was stored with {stored:?} centering; training needs face centering")]
    Centering { path: PathBuf, stored: crate::align::Centering },
}

/// The faces of one side (A or B).
#[derive(Debug, Clone)]
pub struct FaceSet {
    pub dir: PathBuf,
    /// Face files, sorted, with their metadata.
    pub faces: Vec<(PathBuf, FaceMeta)>,
    /// Files that are not Doppel faces (skipped, counted for the user).
    pub skipped: usize,
}

impl FaceSet {
    /// Reads the metadata of every face PNG in `dir` (not its `doubtful/` subfolder).
    pub fn open(dir: &Path) -> Result<FaceSet, DataError> {
        let entries = std::fs::read_dir(dir).map_err(|e| DataError::Folder(dir.into(), e))?;
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "png")).collect();
        files.sort();
        let mut faces = Vec::with_capacity(files.len());
        let mut skipped = 0;
        for path in files {
            match read_face_meta(&path) {
                Ok(meta) => faces.push((path, meta)),
                Err(err) => {
                    tracing::warn!("{}: skipped: {err}", path.display());
                    skipped += 1;
                }
            }
        }
        if faces.is_empty() {
            return Err(DataError::Empty(dir.into()));
        }
        Ok(FaceSet { dir: dir.into(), faces, skipped })
    }
}

/// A training face as loaded (kept in memory while training): its training crop, mask and
/// landmarks in the crop's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    pub rgb: RgbImage,
    pub mask: GrayImage,
    pub landmarks: [Point; 68],
}

impl Face {
    /// As float planes, ready to augment.
    pub fn to_source(&self) -> Source {
        Source { rgb: planes(&self.rgb), mask: grey_planes(&self.mask), landmarks: self.landmarks }
    }
}

/// The training crop of the face PNG at `path` as float planes (see [`load_face`]).
pub fn load_sample(path: &Path, frame: CropFrame, side: u32) -> Result<Source, DataError> {
    load_face(path, frame, side).map(|f| f.to_source())
}

/// The training crop of the face PNG at `path`: `frame` cut from the stored crop, resized to
/// `side`, with its mask (the one painted in the frame editor, else `extended`; all ones if
/// the face has none) and its landmarks.
pub fn load_face(path: &Path, frame: CropFrame, side: u32) -> Result<Face, DataError> {
    let (crop, meta) = read_face_png(path).map_err(|source| DataError::Face { path: path.into(), source })?;
    let fraction = training_fraction(path, &meta, frame)?;
    let (cut, offset) = central_square(crop.width().min(crop.height()), fraction);
    let rgb = resize(&crop_imm(&crop, offset, offset, cut, cut).to_image(), side, side, FilterType::Triangle);
    let stored = meta.face.mask(MaskKind::Painted).or_else(|| meta.face.mask(MaskKind::Extended));
    let mask = match stored.map(|m| m.decode()) {
        Some(Ok(m)) => {
            let (mcut, moff) = central_square(m.image.width(), fraction);
            resize(&crop_imm(&m.image, moff, moff, mcut, mcut).to_image(), side, side, FilterType::Triangle)
        }
        _ => GrayImage::from_pixel(side, side, image::Luma([255])),
    };
    Ok(Face { rgb, mask, landmarks: training_landmarks(&meta, fraction, side) })
}

/// The landmarks of the face described by `meta` in its `frame` training crop of `side`
/// pixels, from the metadata alone.
pub fn landmarks_in_training_crop(path: &Path, meta: &FaceMeta, frame: CropFrame, side: u32) -> Result<[Point; 68], DataError> {
    Ok(training_landmarks(meta, training_fraction(path, meta, frame)?, side))
}

/// The part of the stored crop's side the training crop covers (same centre).
fn training_fraction(path: &Path, meta: &FaceMeta, frame: CropFrame) -> Result<f32, DataError> {
    let stored = meta.face.aligned.frame;
    if stored.centering != frame.centering {
        return Err(DataError::Centering { path: path.into(), stored: stored.centering });
    }
    Ok((frame.side / stored.side).min(1.0))
}

/// Image -> stored crop -> training square.
fn training_landmarks(meta: &FaceMeta, fraction: f32, side: u32) -> [Point; 68] {
    let (cut, offset) = central_square(meta.face.aligned.size, fraction);
    let to_side = side as f32 / cut as f32;
    let in_crop = meta.face.aligned.landmarks_in_crop(&meta.face.landmarks);
    in_crop.points().map(|p| Point::new((p.x - offset as f32) * to_side, (p.y - offset as f32) * to_side))
}

/// The side and offset of the centred square covering `fraction` of a `side` square.
fn central_square(side: u32, fraction: f32) -> (u32, u32) {
    let cut = ((side as f32 * fraction).round() as u32).clamp(1, side);
    (cut, (side - cut) / 2)
}

/// RGB pixels as three planes in `[0, 1]` (CHW).
fn planes(img: &RgbImage) -> Planes {
    let n = (img.width() * img.height()) as usize;
    let mut out = vec![0.0; 3 * n];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * n + i] = f32::from(p[c]) / 255.0;
        }
    }
    Planes::new(3, img.width() as usize, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{run, ExtractOptions, Silent};

    /// Faces extracted from talk_woman_a become training samples: the face fills the
    /// training crop, the mask covers its middle and not its corners.
    #[test]
    fn extracted_faces_become_training_samples() {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        let analyzer = crate::analyze::FaceAnalyzer::load(&crate::nets::test_models(), &device).unwrap_or_else(|e| panic!("{e}"));
        let out = std::env::temp_dir().join(format!("doppel-data-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let mut options = ExtractOptions::new(crate::media::testdata::video("talk_woman_a.mp4"), out.clone());
        options.frames = Some((0, 2));
        options.size = 256;
        run(&analyzer, &options, &mut Silent).unwrap();
        std::fs::write(out.join("notes.png"), b"not a face").unwrap();

        let set = FaceSet::open(&out).unwrap();
        assert_eq!((set.faces.len(), set.skipped), (3, 1));
        let sample = load_sample(&set.faces[0].0, CropFrame::FACE, 64).unwrap();
        assert_eq!((sample.rgb.channels, sample.rgb.side, sample.mask.channels, sample.mask.side), (3, 64, 1, 64));
        assert!(sample.rgb.data.iter().all(|v| (0.0..=1.0).contains(v)));
        let mask = &sample.mask.data;
        assert!(mask[32 * 64 + 32] > 0.99, "the middle of the face is masked in");
        assert!(mask[0] < 0.01 && mask[64 * 64 - 1] < 0.01, "the corners are not");
        // The landmarks land on the face: the nose tip near the middle, the eyes above it.
        let lm = sample.landmarks;
        assert!((lm[30].x - 32.0).abs() < 6.0 && (lm[30].y - 34.0).abs() < 8.0, "{:?}", lm[30]);
        assert!(lm[36].y < lm[30].y && lm[45].y < lm[30].y && lm[36].x < lm[45].x);
        std::fs::remove_dir_all(&out).unwrap();
        assert!(matches!(FaceSet::open(&out), Err(DataError::Folder(..))));
        std::fs::create_dir_all(&out).unwrap();
        assert!(FaceSet::open(&out).unwrap_err().to_string().contains("no faces extracted by Doppel"));
        std::fs::remove_dir_all(&out).unwrap();
    }
}
