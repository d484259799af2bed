//! The swap itself: each face cut from its frame the way training cut it, through the encoder
//! and the other person's decoder, with the crop geometry kept to paste it back.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use image::{GrayImage, Luma, RgbImage};

use crate::align::{AlignedFace, CropFrame};
use crate::geometry::Landmarks68;
use crate::train::model::SwapModel;
use crate::train::session::{load_model, ModelFile, SessionError};

/// Which way faces are swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Faces of A become B.
    #[default]
    AToB,
    /// Faces of B become A.
    BToA,
}

/// One face swapped: the new face and its learned mask (if the model has one) in a square
/// crop, and where that crop sits in the frame.
#[derive(Debug, Clone)]
pub struct SwappedFace {
    /// Frame pixels -> crop pixels of `face`.
    pub aligned: AlignedFace,
    /// The model's face, `aligned.size` square.
    pub face: RgbImage,
    /// The model's mask, when it learns one.
    pub learned_mask: Option<GrayImage>,
    /// The frame's own face in the same crop (for colour matching).
    pub original: RgbImage,
    /// The landmarks in crop pixels.
    pub landmarks: Landmarks68,
    /// The face's painted mask (frame editor) in this crop, when it has one.
    pub painted: Option<GrayImage>,
}

/// A trained model ready to swap.
pub struct Swapper {
    model: SwapModel,
    pub file: ModelFile,
    device: Device,
    frame: CropFrame,
}

impl Swapper {
    /// The newest save of the model folder `dir`.
    pub fn load(dir: &Path, device: &Device) -> Result<Swapper, SessionError> {
        let plain = device.clone().without_autodiff();
        let (model, file) = load_model(dir, &plain)?;
        let frame = file.training.frame();
        Ok(Swapper { model, file, device: plain, frame })
    }

    pub fn input_size(&self) -> u32 {
        self.file.model.input_size() as u32
    }

    pub fn output_size(&self) -> u32 {
        self.file.model.output_size() as u32
    }

    pub fn learns_mask(&self) -> bool {
        self.model.learns_mask()
    }

    /// Swaps every face of `frame` (their landmarks in frame pixels) in one batch.
    pub fn swap(&self, frame: &RgbImage, faces: &[Landmarks68], direction: Direction) -> Vec<SwappedFace> {
        let items: Vec<(&RgbImage, Landmarks68)> = faces.iter().map(|f| (frame, *f)).collect();
        self.swap_batch(&items, direction).into_iter().flatten().collect()
    }

    /// Swaps faces of any frames in one batch through the model (batches keep the CPU busy:
    /// one face at a time wastes most of it). `None` for degenerate landmarks.
    pub fn swap_batch(&self, items: &[(&RgbImage, Landmarks68)], direction: Direction) -> Vec<Option<SwappedFace>> {
        let (input, output) = (self.input_size(), self.output_size());
        let n_in = (input * input) as usize;
        let mut batch = Vec::with_capacity(items.len() * 3 * n_in);
        let mut kept = Vec::new();
        for (k, (frame, landmarks)) in items.iter().enumerate() {
            let (Some(at_input), Some(at_output)) = (AlignedFace::new(landmarks, input, self.frame), AlignedFace::new(landmarks, output, self.frame)) else { continue };
            let crop = at_input.crop(frame);
            let start = batch.len();
            batch.resize(start + 3 * n_in, 0.0);
            for (i, p) in crop.pixels().enumerate() {
                for c in 0..3 {
                    batch[start + c * n_in + i] = f32::from(p[c]) / 255.0;
                }
            }
            kept.push((k, at_output, at_output.landmarks_in_crop(landmarks)));
        }
        let mut out: Vec<Option<SwappedFace>> = items.iter().map(|_| None).collect();
        if kept.is_empty() {
            return out;
        }
        let shape = [kept.len(), 3, input as usize, input as usize];
        let x = Tensor::<4>::from_data(TensorData::new(batch, shape), &self.device);
        let decoded = match direction {
            Direction::AToB => self.model.decode_b(x),
            Direction::BToA => self.model.decode_a(x),
        };
        let faces = decoded.face.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
        let masks = decoded.mask.map(|m| m.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default());
        let n = (output * output) as usize;
        for (j, (k, aligned, landmarks)) in kept.into_iter().enumerate() {
            let planes = &faces[j * 3 * n..(j + 1) * 3 * n];
            let face = crate::train::preview::to_image(planes, output as usize);
            let learned_mask = masks.as_ref().map(|m| GrayImage::from_fn(output, output, |x, y| Luma([(m[j * n + (y * output + x) as usize].clamp(0.0, 1.0) * 255.0).round() as u8])));
            out[k] = Some(SwappedFace { aligned, face, learned_mask, original: aligned.crop(items[k].0), landmarks, painted: None });
        }
        out
    }
}
