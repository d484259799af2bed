//! Training data from a face set folder: each face PNG's own crop and metadata, nothing else.
//!
//! Extraction stores a wide crop ([`CropFrame::EXTRACT`]); training takes the face-centred
//! square of [`CropFrame::FACE`] inside it (same centre, a fraction of the side), resized to
//! the model's input, with the stored `extended` mask cut and resized the same way.

use std::path::{Path, PathBuf};

use image::imageops::{crop_imm, resize, FilterType};
use image::{GrayImage, RgbImage};

use crate::align::CropFrame;
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

/// One training face: RGB planes (CHW) in `[0, 1]` and a one-channel mask, `side` square.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub rgb: Vec<f32>,
    pub mask: Vec<f32>,
    pub side: usize,
}

/// The training crop of the face PNG at `path`: `frame` cut from the stored crop, resized to
/// `side`, with its `extended` mask (all ones if the face has none).
pub fn load_sample(path: &Path, frame: CropFrame, side: u32) -> Result<Sample, DataError> {
    let (crop, meta) = read_face_png(path).map_err(|source| DataError::Face { path: path.into(), source })?;
    let stored = meta.face.aligned.frame;
    if stored.centering != frame.centering {
        return Err(DataError::Centering { path: path.into(), stored: stored.centering });
    }
    // Same centre: the training square is the central fraction of the stored one.
    let fraction = (frame.side / stored.side).min(1.0);
    let rgb = resize(&central(&crop, fraction), side, side, FilterType::Triangle);
    let mask = match meta.face.mask(MaskKind::Extended).map(|m| m.decode()) {
        Some(Ok(m)) => resize(&central(&m.image, fraction), side, side, FilterType::Triangle),
        _ => GrayImage::from_pixel(side, side, image::Luma([255])),
    };
    Ok(Sample { rgb: planes(&rgb), mask: mask.pixels().map(|p| f32::from(p[0]) / 255.0).collect(), side: side as usize })
}

/// The centred square covering `fraction` of `image`'s side.
fn central<P: image::Pixel + 'static>(image: &image::ImageBuffer<P, Vec<P::Subpixel>>, fraction: f32) -> image::ImageBuffer<P, Vec<P::Subpixel>> {
    let side = image.width().min(image.height());
    let cut = ((side as f32 * fraction).round() as u32).clamp(1, side);
    let off = (side - cut) / 2;
    crop_imm(image, off, off, cut, cut).to_image()
}

/// RGB pixels as three planes in `[0, 1]` (CHW).
fn planes(img: &RgbImage) -> Vec<f32> {
    let n = (img.width() * img.height()) as usize;
    let mut out = vec![0.0; 3 * n];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * n + i] = f32::from(p[c]) / 255.0;
        }
    }
    out
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
        assert_eq!((sample.rgb.len(), sample.mask.len(), sample.side), (3 * 64 * 64, 64 * 64, 64));
        assert!(sample.rgb.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(sample.mask[32 * 64 + 32] > 0.99, "the middle of the face is masked in");
        assert!(sample.mask[0] < 0.01 && sample.mask[64 * 64 - 1] < 0.01, "the corners are not");
        std::fs::remove_dir_all(&out).unwrap();
        assert!(matches!(FaceSet::open(&out), Err(DataError::Folder(..))));
        std::fs::create_dir_all(&out).unwrap();
        assert!(FaceSet::open(&out).unwrap_err().to_string().contains("no faces extracted by Doppel"));
        std::fs::remove_dir_all(&out).unwrap();
    }
}
