//! The MobileNetV1 backbone: a strided 3x3 convolution and 13 depthwise-separable blocks,
//! each convolution followed by (folded) batch norm and ReLU6.
//!
//! In the weights, the pointwise convolutions carry their batch norm already folded into
//! `convolution_bn_offset` (a bias); the depthwise ones carry the full `BatchNorm/{gamma,
//! beta, moving_mean, moving_variance}`, which [`MobileNetV1::load`] folds into the filter and
//! a bias (face-api.js applies `tf.batchNorm` at run time: same function, other rounding).

use crate::kernels::{self, Activation};
use crate::nets::layers::{conv2d, depthwise_conv2d, TfPadding};
use crate::nets::tfjs::{TfjsWeights, WeightsError};
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::{Device, Tensor, TensorData};

/// TensorFlow's batch-norm epsilon in the exported graph.
const BN_EPSILON: f32 = 0.001_000_000_047_497_451_3;

/// Output channels of conv 0 and of blocks 1..=13.
const CHANNELS: [usize; 14] = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024];

/// The blocks whose depthwise convolution has stride 2.
const STRIDED_BLOCKS: [usize; 4] = [2, 4, 6, 12];

/// The block whose output also feeds the first box predictor.
pub const TAPPED_BLOCK: usize = 11;

/// A convolution and ReLU6, the activation after every backbone and extra-layer convolution,
/// in one pass.
pub fn conv_relu6(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    kernels::conv2d(conv, x, Activation::Relu6)
}

/// A `k` x `k` convolution with TensorFlow "same" padding for a square `input` map.
pub(super) fn same_conv(channels: [usize; 2], k: usize, stride: usize, groups: usize, input: usize, device: &Device) -> Conv2d {
    let (before, after) = crate::nets::layers::tf_same_padding(input, k, stride);
    Conv2dConfig::new(channels, [k, k])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(PaddingConfig2d::Explicit(before, before, after, after))
        .init(device)
}

/// A depthwise 3x3 convolution and a pointwise 1x1 convolution, each with ReLU6.
#[derive(Module, Debug)]
pub struct SeparableBlock {
    depthwise: Conv2d,
    pointwise: Conv2d,
}

impl SeparableBlock {
    /// # Shapes
    /// - input: `[batch, c_in, h, w]`
    /// - output: `[batch, c_out, h / stride, w / stride]` (rounded up)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv_relu6(&self.pointwise, conv_relu6(&self.depthwise, x))
    }
}

/// The backbone. Built for one square input size (TensorFlow's padding depends on it).
#[derive(Module, Debug)]
pub struct MobileNetV1 {
    conv0: Conv2d,
    blocks: Vec<SeparableBlock>,
}

/// Stride of block `i` (1-based) and the map side it reads, for an `input` x `input` image.
fn layout(input: usize) -> Vec<(usize, usize)> {
    let mut side = input.div_ceil(2);
    (1..=13)
        .map(|i| {
            let stride = if STRIDED_BLOCKS.contains(&i) { 2 } else { 1 };
            let at = (stride, side);
            side = side.div_ceil(stride);
            at
        })
        .collect()
}

impl MobileNetV1 {
    /// A backbone with random weights.
    pub fn init(input: usize, device: &Device) -> MobileNetV1 {
        let conv0 = same_conv([3, CHANNELS[0]], 3, 2, 1, input, device);
        let blocks = layout(input)
            .into_iter()
            .enumerate()
            .map(|(i, (stride, side))| {
                let (c_in, c_out) = (CHANNELS[i], CHANNELS[i + 1]);
                SeparableBlock {
                    depthwise: same_conv([c_in, c_in], 3, stride, c_in, side, device),
                    pointwise: same_conv([c_in, c_out], 1, 1, 1, side.div_ceil(stride), device),
                }
            })
            .collect();
        MobileNetV1 { conv0, blocks }
    }

    /// Takes the `MobilenetV1/*` tensors.
    pub fn load(w: &mut TfjsWeights, input: usize, device: &Device) -> Result<MobileNetV1, WeightsError> {
        let same = |side: usize| TfPadding::Same { input: [side, side] };
        let conv0 = conv2d(
            w,
            "MobilenetV1/Conv2d_0_pointwise/weights",
            Some("MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset"),
            [3, 3, 3, CHANNELS[0]],
            2,
            same(input),
            device,
        )?;
        let mut blocks = Vec::with_capacity(13);
        for (i, (stride, side)) in layout(input).into_iter().enumerate() {
            let (n, c_in, c_out) = (i + 1, CHANNELS[i], CHANNELS[i + 1]);
            let prefix = format!("MobilenetV1/Conv2d_{n}_depthwise");
            let depthwise = depthwise_conv2d(w, &format!("{prefix}/depthwise_weights"), None, [3, 3, c_in], stride, same(side), device)?;
            let depthwise = fold_batch_norm(depthwise, w, &format!("{prefix}/BatchNorm"), c_in, device)?;
            let pointwise = conv2d(
                w,
                &format!("MobilenetV1/Conv2d_{n}_pointwise/weights"),
                Some(&format!("MobilenetV1/Conv2d_{n}_pointwise/convolution_bn_offset")),
                [1, 1, c_in, c_out],
                1,
                same(side.div_ceil(stride)),
                device,
            )?;
            blocks.push(SeparableBlock { depthwise, pointwise });
        }
        Ok(MobileNetV1 { conv0, blocks })
    }

    /// The output of block [`TAPPED_BLOCK`] and of the last block.
    ///
    /// # Shapes
    /// - input: `[batch, 3, s, s]` (s = 512: normalized RGB)
    /// - output: `([batch, 512, s/16, s/16], [batch, 1024, s/32, s/32])`
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let [_, channels, _, _] = x.dims();
        assert_eq!(channels, 3, "MobileNetV1 takes RGB input");
        let mut x = conv_relu6(&self.conv0, x);
        let mut tapped = None;
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if i + 1 == TAPPED_BLOCK {
                tapped = Some(x.clone());
            }
        }
        (tapped.expect("13 blocks"), x)
    }
}

/// Folds inference-mode batch norm into a (bias-free) convolution: per output channel,
/// `w' = w * gamma / sqrt(var + eps)` and `b' = beta - mean * gamma / sqrt(var + eps)`.
fn fold_batch_norm(mut conv: Conv2d, w: &mut TfjsWeights, prefix: &str, channels: usize, device: &Device) -> Result<Conv2d, WeightsError> {
    let mut take = |name: &str| w.take(&format!("{prefix}/{name}"), &[channels]).map(|t| t.data);
    let (gamma, beta, mean, var) = (take("gamma")?, take("beta")?, take("moving_mean")?, take("moving_variance")?);
    let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + BN_EPSILON).sqrt()).collect();
    let shift: Vec<f32> = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
    let [c_out, _, _, _] = conv.weight.val().dims();
    assert_eq!(c_out, channels, "batch norm over the convolution's outputs");
    let scale = Tensor::<1>::from_data(TensorData::new(scale, [channels]), device).reshape([channels, 1, 1, 1]);
    conv.weight = Param::from_tensor(conv.weight.val() * scale);
    conv.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(shift, [channels]), device)));
    Ok(conv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_and_map_sizes_for_512() {
        let l = layout(512);
        assert_eq!(l[0], (1, 256));
        assert_eq!(l[1], (2, 256));
        assert_eq!(l[TAPPED_BLOCK - 1], (1, 32));
        assert_eq!(l[11], (2, 32));
        assert_eq!(l[12], (1, 16));
    }
}
