//! FaceLandmark68Net from face-api.js: 68 iBUG landmarks from a 112 x 112 face crop.
//!
//! Architecture (face-api.js `FaceFeatureExtractor` + `FaceLandmark68Net`): four dense blocks
//! at 32, 64, 128 and 256 channels, each halving the resolution (112 -> 7), a global average
//! pool and a dense layer to 136 values, `(x, y)` per landmark relative to the padded square.
//! A dense block's entry convolution (a plain 3x3 conv in the first block, depthwise-separable
//! in the others, stride 2) is followed by three depthwise-separable convolutions, each fed
//! with the ReLU of the sum of all earlier outputs of the block.

#[cfg(test)]
mod tests;

use super::input::{prepare, Normalize, Placement, SquareFrame};

/// Mean RGB of face-api.js' training data, subtracted before dividing by 255.
pub const MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];

use super::layers::{conv2d, depthwise_conv2d, linear, tf_same_padding, TfPadding};
use super::tfjs::{TfjsWeights, WeightsError};
use crate::geometry::{Landmarks68, Point, Rect};
use crate::kernels::{self, Activation};
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use image::{GenericImageView, RgbImage};

/// Number of landmarks the network predicts.
pub const LANDMARKS: usize = 68;

/// Shape of [`FaceLandmark68Net`]. The defaults are those of the pretrained weights.
#[derive(Config, Debug)]
pub struct FaceLandmark68NetConfig {
    /// Side of the square input, in pixels.
    #[config(default = 112)]
    pub input_size: usize,
    /// Output channels of the four dense blocks.
    #[config(default = "[32, 64, 128, 256]")]
    pub channels: [usize; 4],
}

impl FaceLandmark68NetConfig {
    /// A network with random weights (for training or as a shape reference).
    pub fn init(&self, device: &Device) -> FaceLandmark68Net {
        let mut blocks = Vec::with_capacity(self.channels.len());
        let (mut c_in, mut side) = (3, self.input_size);
        for (i, &c) in self.channels.iter().enumerate() {
            let entry = if i == 0 {
                Entry::Plain(Conv2dConfig::new([c_in, c], [3, 3]).with_stride([2, 2]).with_padding(same_3x3(side, 2)).init(device))
            } else {
                Entry::Separable(SeparableConv::init(c_in, c, 2, side, device))
            };
            side = side.div_ceil(2);
            let [conv1, conv2, conv3] = std::array::from_fn(|_| SeparableConv::init(c, c, 1, side, device));
            blocks.push(DenseBlock { conv0: entry, conv1, conv2, conv3 });
            c_in = c;
        }
        let fc = LinearConfig::new(c_in, 2 * LANDMARKS).init(device);
        FaceLandmark68Net { blocks, fc, input_size: self.input_size }
    }
}

/// TensorFlow "SAME" padding of a 3x3 kernel over a square input of `side`.
fn same_3x3(side: usize, stride: usize) -> PaddingConfig2d {
    let (before, after) = tf_same_padding(side, 3, stride);
    PaddingConfig2d::Explicit(before, before, after, after)
}

/// Depthwise 3x3 convolution (no bias) followed by a pointwise 1x1 convolution with bias:
/// TF.js' `separableConv2d(.., 'same')` plus bias.
#[derive(Module, Debug)]
pub struct SeparableConv {
    depthwise: Conv2d,
    pointwise: Conv2d,
}

impl SeparableConv {
    fn init(c_in: usize, c_out: usize, stride: usize, side: usize, device: &Device) -> SeparableConv {
        let depthwise = Conv2dConfig::new([c_in, c_in], [3, 3])
            .with_groups(c_in)
            .with_stride([stride, stride])
            .with_padding(same_3x3(side, stride))
            .with_bias(false)
            .init(device);
        SeparableConv { depthwise, pointwise: Conv2dConfig::new([c_in, c_out], [1, 1]).init(device) }
    }

    fn load(w: &mut TfjsWeights, prefix: &str, [c_in, c_out]: [usize; 2], stride: usize, side: usize, device: &Device) -> Result<SeparableConv, WeightsError> {
        let same = TfPadding::Same { input: [side, side] };
        Ok(SeparableConv {
            depthwise: depthwise_conv2d(w, &format!("{prefix}/depthwise_filter"), None, [3, 3, c_in], stride, same, device)?,
            pointwise: conv2d(w, &format!("{prefix}/pointwise_filter"), Some(&format!("{prefix}/bias")), [1, 1, c_in, c_out], 1, TfPadding::Valid, device)?,
        })
    }

    /// `act(pointwise(depthwise(x)))`.
    fn forward(&self, x: Tensor<4>, act: Activation) -> Tensor<4> {
        kernels::conv2d(&self.pointwise, kernels::conv2d(&self.depthwise, x, Activation::Identity), act)
    }
}

/// The stride-2 convolution that opens a dense block.
#[derive(Module, Debug)]
pub enum Entry {
    /// A plain 3x3 convolution (first block, on the RGB input).
    Plain(Conv2d),
    /// A depthwise-separable convolution (later blocks).
    Separable(SeparableConv),
}

/// Four convolutions with dense additive connections; halves the resolution.
#[derive(Module, Debug)]
pub struct DenseBlock {
    conv0: Entry,
    conv1: SeparableConv,
    conv2: SeparableConv,
    conv3: SeparableConv,
}

impl DenseBlock {
    /// Loads `dense{i}`: input `c_in` channels at `side` x `side`, output `c` channels.
    fn load(w: &mut TfjsWeights, prefix: &str, first: bool, [c_in, c]: [usize; 2], side: usize, device: &Device) -> Result<DenseBlock, WeightsError> {
        let conv0 = if first {
            let same = TfPadding::Same { input: [side, side] };
            Entry::Plain(conv2d(w, &format!("{prefix}/conv0/filters"), Some(&format!("{prefix}/conv0/bias")), [3, 3, c_in, c], 2, same, device)?)
        } else {
            Entry::Separable(SeparableConv::load(w, &format!("{prefix}/conv0"), [c_in, c], 2, side, device)?)
        };
        let half = side.div_ceil(2);
        let mut sep = |name: &str| SeparableConv::load(w, &format!("{prefix}/{name}"), [c, c], 1, half, device);
        Ok(DenseBlock { conv0, conv1: sep("conv1")?, conv2: sep("conv2")?, conv3: sep("conv3")? })
    }

    /// # Shapes
    /// - input `[batch, c_in, h, w]`
    /// - output `[batch, c, ceil(h / 2), ceil(w / 2)]`
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let out1 = match &self.conv0 {
            Entry::Plain(conv) => kernels::conv2d(conv, x, Activation::Relu),
            Entry::Separable(conv) => conv.forward(x, Activation::Relu),
        };
        let out2 = self.conv1.forward(out1.clone(), Activation::Identity);
        let sum2 = out1 + out2;
        let out3 = self.conv2.forward(relu(sum2.clone()), Activation::Identity);
        let sum3 = sum2 + out3;
        let out4 = self.conv3.forward(relu(sum3.clone()), Activation::Identity);
        relu(sum3 + out4)
    }
}

/// FaceLandmark68Net: a face crop in, 68 landmarks out.
#[derive(Module, Debug)]
pub struct FaceLandmark68Net {
    blocks: Vec<DenseBlock>,
    fc: Linear,
    input_size: usize,
}

/// Why landmarks could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LandmarksError {
    #[error("face box {face:?} does not overlap the {width}x{height} image")]
    FaceOutsideImage { face: Rect, width: u32, height: u32 },
}

/// One face for [`FaceLandmark68Net::detect_landmarks_batch`]: an image and, if the face does
/// not fill it, the face's box.
#[derive(Debug, Clone, Copy)]
pub struct FaceInput<'a> {
    pub image: &'a RgbImage,
    pub face: Option<Rect>,
}

impl FaceLandmark68Net {
    /// The pretrained network from face-api.js' `face_landmark_68_model` weights. Fails if a
    /// tensor is missing, has another shape, or is left over.
    pub fn load(mut weights: TfjsWeights, device: &Device) -> Result<FaceLandmark68Net, WeightsError> {
        let config = FaceLandmark68NetConfig::new();
        let mut blocks = Vec::with_capacity(config.channels.len());
        let (mut c_in, mut side) = (3, config.input_size);
        for (i, &c) in config.channels.iter().enumerate() {
            blocks.push(DenseBlock::load(&mut weights, &format!("dense{i}"), i == 0, [c_in, c], side, device)?);
            (c_in, side) = (c, side.div_ceil(2));
        }
        let fc = linear(&mut weights, "fc/weights", "fc/bias", [c_in, 2 * LANDMARKS], device)?;
        weights.finish()?;
        Ok(FaceLandmark68Net { blocks, fc, input_size: config.input_size })
    }

    /// Side of the square input the network expects.
    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// Raw network output: landmark coordinates relative to the input square, interleaved
    /// `x0, y0, x1, y1, ..`, in `[0, 1]` for points inside it.
    ///
    /// # Shapes
    /// - input `[batch, 3, input_size, input_size]`, RGB, `(value - MEAN_RGB) / 255`
    /// - output `[batch, 136]`
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let [b, c, h, w] = input.dims();
        assert!(c == 3 && h == self.input_size && w == self.input_size, "FaceLandmark68Net needs [batch, 3, {0}, {0}], got [{b}, {c}, {h}, {w}]", self.input_size);
        let mut x = input;
        for block in &self.blocks {
            x = block.forward(x);
        } // [batch, 256, 7, 7]
        // face-api.js pools 7x7 with stride 2, "valid": one window, the global mean.
        let x = x.mean_dim(3).mean_dim(2); // [batch, 256, 1, 1]
        let [b, c, _, _] = x.dims();
        self.fc.forward(x.reshape([b, c])) // [batch, 136]
    }

    /// The landmarks of the face in `image` (the whole image, or `face` within it), in the
    /// image's pixels.
    pub fn detect_landmarks(&self, image: &RgbImage, face: Option<Rect>) -> Result<Landmarks68, LandmarksError> {
        let mut all = self.detect_landmarks_batch(&[FaceInput { image, face }])?;
        Ok(all.remove(0))
    }

    /// [`detect_landmarks`](Self::detect_landmarks) for several faces in one network pass (on
    /// a GPU, in as few passes as its buffer limit allows).
    pub fn detect_landmarks_batch(&self, faces: &[FaceInput<'_>]) -> Result<Vec<Landmarks68>, LandmarksError> {
        // The largest activation: 32 channels at the input size.
        let size = self.input_size;
        let per_pass = crate::device::items_per_pass(&self.fc.weight.val().device(), 32 * size * size * 4);
        let mut all = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(per_pass) {
            all.extend(self.landmarks_pass(chunk)?);
        }
        Ok(all)
    }

    fn landmarks_pass(&self, faces: &[FaceInput<'_>]) -> Result<Vec<Landmarks68>, LandmarksError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let size = self.input_size;
        let mut data = Vec::with_capacity(faces.len() * 3 * size * size);
        let mut placements = Vec::with_capacity(faces.len());
        for &FaceInput { image, face } in faces {
            let (width, height) = image.dimensions();
            let (x, y, w, h) = match face {
                None => (0, 0, width, height),
                Some(face) => face.pixel_region(width, height).ok_or(LandmarksError::FaceOutsideImage { face, width, height })?,
            };
            let prepared = prepare(&*image.view(x, y, w, h), size, Placement::Centred, Normalize::MeanDivide { mean: MEAN_RGB, divisor: 255.0 });
            data.extend_from_slice(&prepared.data);
            placements.push((prepared.frame, x, y));
        }
        let device = self.fc.weight.val().device();
        let input = Tensor::<4>::from_data(TensorData::new(data, [faces.len(), 3, size, size]), &device);
        let output = self.forward(input).into_data().try_into_vec::<f32>().expect("the network outputs f32");
        Ok(output
            .chunks_exact(2 * LANDMARKS)
            .zip(placements)
            .map(|(coords, (frame, x, y))| to_image_points(coords, frame, x, y))
            .collect())
    }
}

/// Maps one face's network output (relative to the padded square) to image pixels: scale to
/// the square, remove the padding, add the crop's origin.
fn to_image_points(coords: &[f32], frame: SquareFrame, crop_x: u32, crop_y: u32) -> Landmarks68 {
    let side = frame.side as f32;
    let dx = crop_x as f32 - frame.left as f32;
    let dy = crop_y as f32 - frame.top as f32;
    Landmarks68(std::array::from_fn(|i| Point::new(coords[2 * i] * side + dx, coords[2 * i + 1] * side + dy)))
}
