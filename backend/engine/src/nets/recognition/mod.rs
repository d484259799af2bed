//! FaceRecognitionNet: face-api.js' port of dlib's ResNet-34-like face recognition network.
//! A 150x150 face in, a 128-d identity descriptor out; descriptors of the same person lie
//! within a Euclidean distance of about 0.6.
//!
//! Weights: `face_recognition_model` from `@vladmandic/face-api` (TF.js manifest).

mod blocks;

use self::blocks::{BLOCKS, ResidualBlock, STEM, valid_out};
use crate::kernels::{self, Activation};
use crate::nets::input::{prepare, Normalize, Placement};
use crate::nets::tfjs::{TfjsWeights, WeightsError};
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

/// Side of the square input the network was trained on.
pub const INPUT_SIZE: usize = 150;
/// Length of a face descriptor.
pub const DESCRIPTOR_LEN: usize = 128;
const FEATURES: usize = 256;

/// A face's identity embedding. Faces of the same person lie within about 0.6 of each other.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceDescriptor(pub [f32; DESCRIPTOR_LEN]);

/// Stored as a plain array of 128 numbers.
impl serde::Serialize for FaceDescriptor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

impl<'de> serde::Deserialize<'de> for FaceDescriptor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let values = Vec::<f32>::deserialize(d)?;
        let n = values.len();
        let array = values.try_into().map_err(|_| serde::de::Error::invalid_length(n, &"a 128-number descriptor"))?;
        Ok(FaceDescriptor(array))
    }
}

impl FaceDescriptor {
    /// Euclidean distance to `other`.
    pub fn distance(&self, other: &FaceDescriptor) -> f32 {
        self.0.iter().zip(&other.0).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt()
    }
}

/// Input preparation of [`FaceRecognitionNet`]; the defaults are face-api.js'.
#[derive(Config, Debug)]
pub struct FaceRecognitionNetConfig {
    /// Mean pixel value subtracted from each channel (0..=255 scale).
    #[config(default = "[122.782, 117.001, 104.298]")]
    pub mean_rgb: [f32; 3],
    /// What the mean-subtracted pixels are divided by. face-api.js uses 256; the
    /// `@vladmandic/face-api` fork uses 255.
    #[config(default = 256.0)]
    pub divisor: f32,
}

impl FaceRecognitionNetConfig {
    /// An untrained network of the right shape (for tests); use [`FaceRecognitionNet::load`].
    pub fn init(&self, device: &Device) -> FaceRecognitionNet {
        let stem = STEM.init(device);
        let mut size = stem_output_size();
        let blocks = BLOCKS
            .iter()
            .map(|spec| {
                let block = spec.init(size, device);
                size = spec.convs(size).1;
                block
            })
            .collect();
        let fc = LinearConfig::new(FEATURES, DESCRIPTOR_LEN).with_bias(false).init(device);
        FaceRecognitionNet { stem, blocks, fc, config: self.clone() }
    }

    fn normalization(&self) -> Normalize {
        Normalize::MeanDivide { mean: self.mean_rgb, divisor: self.divisor }
    }
}

/// Side of the feature map after the stem convolution and max pool.
fn stem_output_size() -> usize {
    valid_out(valid_out(INPUT_SIZE, STEM.kernel, STEM.stride), 3, 2)
}

/// dlib's face recognition ResNet as face-api.js runs it: a 7x7/2 stem, 3x3/2 max pool,
/// 14 residual blocks (32 -> 256 channels), global average pool, 256 -> 128 matrix.
#[derive(Module, Debug)]
pub struct FaceRecognitionNet {
    stem: Conv2d,
    blocks: Vec<ResidualBlock>,
    fc: Linear,
    #[module(skip)]
    config: FaceRecognitionNetConfig,
}

impl FaceRecognitionNet {
    /// Builds the network from face-api.js' `face_recognition_model` weights with
    /// face-api.js' input preparation. Fails if any tensor is missing, has another shape, or
    /// is left over.
    pub fn load(weights: &mut TfjsWeights, device: &Device) -> Result<Self, WeightsError> {
        Self::load_with(FaceRecognitionNetConfig::new(), weights, device)
    }

    /// [`load`](Self::load) with another input preparation.
    pub fn load_with(config: FaceRecognitionNetConfig, weights: &mut TfjsWeights, device: &Device) -> Result<Self, WeightsError> {
        let stem = STEM.load(weights, "conv32_down", device)?;
        let mut size = stem_output_size();
        let mut blocks = Vec::with_capacity(BLOCKS.len());
        for spec in &BLOCKS {
            blocks.push(spec.load(size, weights, device)?);
            size = spec.convs(size).1;
        }
        let fc = weights.take("fc", &[FEATURES, DESCRIPTOR_LEN])?;
        let fc = Linear { weight: Param::from_tensor(crate::nets::layers::tensor(fc, [FEATURES, DESCRIPTOR_LEN], device)), bias: None };
        let net = FaceRecognitionNet { stem, blocks, fc, config };
        weights.finish()?;
        Ok(net)
    }

    /// # Shapes
    /// - input: `[batch, 3, 150, 150]`, RGB planes prepared as [`describe`](Self::describe) does
    /// - output: `[batch, 128]` descriptors
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let [batch, channels, h, w] = input.dims();
        assert_eq!([channels, h, w], [3, INPUT_SIZE, INPUT_SIZE], "FaceRecognitionNet input must be [batch, 3, 150, 150]");
        let x = kernels::conv2d(&self.stem, input, Activation::Relu); // [batch, 32, 72, 72]
        let x = max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2])); // [batch, 32, 35, 35]
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x)); // [batch, 256, 2, 2]
        let [_, features, _, _] = x.dims();
        let pooled = x.mean_dim(3).mean_dim(2).reshape([batch, features]); // [batch, 256]
        self.fc.forward(pooled) // [batch, 128]
    }

    /// The descriptor of one face crop (any size; padded to a square and resized to 150x150).
    pub fn describe(&self, face: &RgbImage) -> FaceDescriptor {
        let descriptors = self.describe_all(std::slice::from_ref(face));
        descriptors[0]
    }

    /// The descriptors of several faces, in one batch.
    pub fn describe_all(&self, faces: &[RgbImage]) -> Vec<FaceDescriptor> {
        // On a GPU, in as few passes as its buffer limit allows; the largest activation is
        // 32 channels at the input size.
        let per_pass = crate::device::items_per_pass(&self.fc.weight.val().device(), 32 * INPUT_SIZE * INPUT_SIZE * 4);
        faces.chunks(per_pass).flat_map(|chunk| self.describe_pass(chunk)).collect()
    }

    fn describe_pass(&self, faces: &[RgbImage]) -> Vec<FaceDescriptor> {
        if faces.is_empty() {
            return Vec::new();
        }
        let norm = self.config.normalization();
        let data: Vec<f32> = faces.iter().flat_map(|f| prepare(f, INPUT_SIZE, Placement::Centred, norm).data).collect();
        let device = self.fc.weight.val().device();
        let input = Tensor::from_data(TensorData::new(data, [faces.len(), 3, INPUT_SIZE, INPUT_SIZE]), &device);
        let out = self.forward(input).into_data().try_to_vec::<f32>().expect("descriptors are f32");
        out.chunks_exact(DESCRIPTOR_LEN)
            .map(|d| FaceDescriptor(d.try_into().expect("chunks of DESCRIPTOR_LEN")))
            .collect()
    }
}


#[cfg(test)]
mod tests;
