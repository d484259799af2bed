//! The blend mask of a swapped face, in its crop: which mask, shrunk or grown, feathered.

use image::GrayImage;
use imageproc::distance_transform::Norm;
use imageproc::morphology::{dilate, erode};

use super::swap::SwappedFace;
use crate::mask::{landmark_mask, MaskKind};

/// Which mask cuts the new face into the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskChoice {
    /// Brows raised into the forehead to the chin, from the landmarks.
    #[default]
    Extended,
    /// Brows to chin, from the landmarks.
    Components,
    /// The model's own mask (models trained with a learned mask).
    Learned,
    /// The mask painted in the frame editor, for the faces that have one; `extended` for the
    /// others.
    Painted,
    /// The whole crop square.
    None,
}

/// How the mask is shaped.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MaskSettings {
    pub kind: MaskChoice,
    /// Shrink (positive) or grow (negative) the mask by this percent of the crop's side.
    pub erode: f32,
    /// Feather: Gaussian blur of this many pixels of the crop (sigma).
    pub blur: f32,
    /// Mask values below this fraction become 0 (before feathering).
    pub threshold: f32,
}

impl Default for MaskSettings {
    fn default() -> Self {
        MaskSettings { kind: MaskChoice::Extended, erode: 0.0, blur: 0.0, threshold: 0.0 }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MaskError {
    #[error("this model has no learned mask: train it with --learn-mask, or pick the extended or components mask")]
    NoLearnedMask,
}

/// The blend mask of `face`, `face.aligned.size` square, 255 where the new face shows.
pub fn blend_mask(face: &SwappedFace, s: &MaskSettings) -> Result<GrayImage, MaskError> {
    let size = face.aligned.size;
    let mut mask = match s.kind {
        MaskChoice::Extended | MaskChoice::Components => {
            let kind = if s.kind == MaskChoice::Extended { MaskKind::Extended } else { MaskKind::Components };
            landmark_mask(kind, &face.landmarks, size, size).map(|m| m.image).unwrap_or_else(|| GrayImage::from_pixel(size, size, image::Luma([255])))
        }
        MaskChoice::Learned => face.learned_mask.clone().ok_or(MaskError::NoLearnedMask)?,
        MaskChoice::Painted => match &face.painted {
            Some(m) => m.clone(),
            None => landmark_mask(MaskKind::Extended, &face.landmarks, size, size).map(|m| m.image).unwrap_or_else(|| GrayImage::from_pixel(size, size, image::Luma([255]))),
        },
        MaskChoice::None => {
            // The whole square but a thin border, so feathering still hides the edge.
            let edge = (size / 32).max(1);
            GrayImage::from_fn(size, size, |x, y| image::Luma([if x < edge || y < edge || x >= size - edge || y >= size - edge { 0 } else { 255 }]))
        }
    };
    if s.threshold > 0.0 {
        let cut = (s.threshold.clamp(0.0, 1.0) * 255.0) as u8;
        mask.pixels_mut().for_each(|p| p[0] = if p[0] < cut { 0 } else { p[0] });
    }
    let k = (s.erode.abs() / 100.0 * size as f32).round() as u8;
    if k > 0 {
        mask = if s.erode > 0.0 { erode(&mask, Norm::L2, k) } else { dilate(&mask, Norm::L2, k) };
    }
    if s.blur > 0.0 {
        mask = imageproc::filter::gaussian_blur_f32(&mask, s.blur);
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::{mean_face, AlignedFace, CropFrame, Similarity};
    use crate::geometry::Landmarks68;
    use image::RgbImage;

    fn face(size: u32) -> SwappedFace {
        let lm = Landmarks68(mean_face().points().map(|p| Similarity { scale: 100.0, angle: 0.0, tx: 200.0, ty: 200.0 }.apply(p)));
        let aligned = AlignedFace::new(&lm, size, CropFrame::FACE).unwrap();
        SwappedFace { aligned, face: RgbImage::new(size, size), learned_mask: None, original: RgbImage::new(size, size), landmarks: aligned.landmarks_in_crop(&lm), painted: None }
    }

    fn area(m: &GrayImage) -> usize {
        m.pixels().filter(|p| p[0] > 127).count()
    }

    #[test]
    fn erosion_shrinks_dilation_grows_and_blur_feathers() {
        let f = face(128);
        let plain = blend_mask(&f, &MaskSettings::default()).unwrap();
        let eroded = blend_mask(&f, &MaskSettings { erode: 5.0, ..MaskSettings::default() }).unwrap();
        let grown = blend_mask(&f, &MaskSettings { erode: -5.0, ..MaskSettings::default() }).unwrap();
        assert!(area(&eroded) < area(&plain) && area(&plain) < area(&grown));
        let soft = blend_mask(&f, &MaskSettings { blur: 4.0, ..MaskSettings::default() }).unwrap();
        let partial = |m: &GrayImage| m.pixels().filter(|p| p[0] > 10 && p[0] < 245).count();
        assert!(partial(&soft) > 4 * partial(&plain), "a soft edge");
        assert_eq!(blend_mask(&f, &MaskSettings { kind: MaskChoice::Learned, ..MaskSettings::default() }), Err(MaskError::NoLearnedMask));
        // Painted: the face's own mask where it has one, else extended.
        assert_eq!(blend_mask(&f, &MaskSettings { kind: MaskChoice::Painted, ..MaskSettings::default() }).unwrap(), plain);
        let half = GrayImage::from_fn(128, 128, |x, _| image::Luma([if x < 64 { 255 } else { 0 }]));
        let painted = SwappedFace { painted: Some(half.clone()), ..face(128) };
        assert_eq!(blend_mask(&painted, &MaskSettings { kind: MaskChoice::Painted, ..MaskSettings::default() }).unwrap(), half);
        let extended = area(&plain);
        let components = area(&blend_mask(&f, &MaskSettings { kind: MaskChoice::Components, ..MaskSettings::default() }).unwrap());
        assert!(extended > components, "the extended mask reaches into the forehead");
    }
}
