//! The residual blocks of [`FaceRecognitionNet`](super::FaceRecognitionNet), their layout, and
//! the conv + "scale layer" pairs they are made of.
//!
//! face-api.js follows each convolution (filters + bias) with a per-channel affine "scale
//! layer" (`x * weights + biases`, dlib's replacement for batch norm). It is linear, so the
//! loader folds it into the convolution: `filter' = filter * w`, `bias' = bias * w + b`.

use crate::kernels::{self, Activation};
use crate::nets::layers::{self, TfPadding, tf_same_padding};
use crate::nets::tfjs::{TfjsWeights, WeightsError};
use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::{AvgPoolOptions, PadMode};
use burn::tensor::{Device, Tensor};

/// How a residual block's shortcut reaches the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Same size and channels: the input is added as it is.
    Identity,
    /// The first convolution has stride 2 ("valid" padding). The shortcut is a 2x2 average
    /// pool with zero channels appended; the residual branch gets a zero row and column at the
    /// bottom/right when it came out one smaller than the pooled input.
    Down,
}

/// One block of the layout: its weight prefix, channels and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSpec {
    pub name: &'static str,
    pub channels_in: usize,
    pub channels_out: usize,
    pub kind: BlockKind,
}

const fn spec(name: &'static str, channels_in: usize, channels_out: usize, kind: BlockKind) -> BlockSpec {
    BlockSpec { name, channels_in, channels_out, kind }
}

use BlockKind::{Down, Identity};

/// The residual blocks after the stem, in order (face-api.js' `FaceRecognitionNet.ts`).
pub const BLOCKS: [BlockSpec; 14] = [
    spec("conv32_1", 32, 32, Identity),
    spec("conv32_2", 32, 32, Identity),
    spec("conv32_3", 32, 32, Identity),
    spec("conv64_down", 32, 64, Down),
    spec("conv64_1", 64, 64, Identity),
    spec("conv64_2", 64, 64, Identity),
    spec("conv64_3", 64, 64, Identity),
    spec("conv128_down", 64, 128, Down),
    spec("conv128_1", 128, 128, Identity),
    spec("conv128_2", 128, 128, Identity),
    spec("conv256_down", 128, 256, Down),
    spec("conv256_1", 256, 256, Identity),
    spec("conv256_2", 256, 256, Identity),
    spec("conv256_down_out", 256, 256, Down),
];

/// The stem: 7x7 convolution, stride 2, "valid" padding, 3 -> 32 channels.
pub const STEM: ConvSpec = ConvSpec { kernel: 7, channels: [3, 32], stride: 2, padding: TfPadding::Valid };

/// Side of the feature map after a "valid" convolution or pool.
pub const fn valid_out(size: usize, kernel: usize, stride: usize) -> usize {
    (size - kernel) / stride + 1
}

/// One convolution's geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    pub kernel: usize,
    pub channels: [usize; 2],
    pub stride: usize,
    pub padding: TfPadding,
}

impl ConvSpec {
    /// An untrained convolution of this geometry (weights come from [`ConvSpec::load`]).
    pub fn init(&self, device: &Device) -> Conv2d {
        Conv2dConfig::new(self.channels, [self.kernel; 2])
            .with_stride([self.stride; 2])
            .with_padding(self.burn_padding())
            .init(device)
    }

    /// The convolution `{prefix}/conv/{filters,bias}` with `{prefix}/scale/{weights,biases}`
    /// folded in.
    pub fn load(&self, w: &mut TfjsWeights, prefix: &str, device: &Device) -> Result<Conv2d, WeightsError> {
        let [cin, cout] = self.channels;
        let filters = format!("{prefix}/conv/filters");
        let bias = format!("{prefix}/conv/bias");
        let mut conv = layers::conv2d(w, &filters, Some(&bias), [self.kernel, self.kernel, cin, cout], self.stride, self.padding, device)?;
        let scale: Tensor<1> = layers::tensor(w.take(&format!("{prefix}/scale/weights"), &[cout])?, [cout], device);
        let shift: Tensor<1> = layers::tensor(w.take(&format!("{prefix}/scale/biases"), &[cout])?, [cout], device);
        conv.weight = Param::from_tensor(conv.weight.val() * scale.clone().reshape([cout, 1, 1, 1]));
        let bias = conv.bias.take().map(|b| b.val()).unwrap_or_else(|| Tensor::zeros([cout], device));
        conv.bias = Some(Param::from_tensor(bias * scale + shift));
        Ok(conv)
    }

    fn burn_padding(&self) -> PaddingConfig2d {
        match self.padding {
            TfPadding::Valid => PaddingConfig2d::Valid,
            TfPadding::Same { input: [h, w] } => {
                let (top, bottom) = tf_same_padding(h, self.kernel, self.stride);
                let (left, right) = tf_same_padding(w, self.kernel, self.stride);
                PaddingConfig2d::Explicit(top, left, bottom, right)
            }
        }
    }
}

/// Two 3x3 convolutions (ReLU between them) plus a shortcut, then ReLU.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    conv1: Conv2d,
    conv2: Conv2d,
    #[module(skip)]
    kind: BlockKind,
}

impl BlockSpec {
    /// The geometry of both convolutions for an input of side `size`, and the output side.
    pub fn convs(&self, size: usize) -> ([ConvSpec; 2], usize) {
        let [cin, cout] = [self.channels_in, self.channels_out];
        // A down block's residual branch comes out one smaller than the pooled shortcut when
        // `size` is even; forward pads it up to `size / 2`.
        let (stride, padding, mid, out) = match self.kind {
            BlockKind::Identity => (1, TfPadding::Same { input: [size; 2] }, size, size),
            BlockKind::Down => (2, TfPadding::Valid, valid_out(size, 3, 2), size / 2),
        };
        let conv1 = ConvSpec { kernel: 3, channels: [cin, cout], stride, padding };
        let conv2 = ConvSpec { kernel: 3, channels: [cout, cout], stride: 1, padding: TfPadding::Same { input: [mid; 2] } };
        ([conv1, conv2], out)
    }

    pub fn init(&self, size: usize, device: &Device) -> ResidualBlock {
        let ([c1, c2], _) = self.convs(size);
        ResidualBlock { conv1: c1.init(device), conv2: c2.init(device), kind: self.kind }
    }

    pub fn load(&self, size: usize, w: &mut TfjsWeights, device: &Device) -> Result<ResidualBlock, WeightsError> {
        let ([c1, c2], _) = self.convs(size);
        Ok(ResidualBlock {
            conv1: c1.load(w, &format!("{}/conv1", self.name), device)?,
            conv2: c2.load(w, &format!("{}/conv2", self.name), device)?,
            kind: self.kind,
        })
    }
}

impl ResidualBlock {
    /// # Shapes
    /// - input `[batch, c_in, s, s]`
    /// - output `[batch, c_out, s, s]` (identity) or `[batch, c_out, s / 2, s / 2]` (down)
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, c_in, h, w] = x.dims();
        let out = kernels::conv2d(&self.conv1, x.clone(), Activation::Relu);
        let out = kernels::conv2d(&self.conv2, out, Activation::Identity);
        let [_, c_out, oh, ow] = out.dims();
        let sum = match self.kind {
            BlockKind::Identity => out + x,
            BlockKind::Down => {
                let pooled = avg_pool2d(x, AvgPoolOptions::new([2, 2])); // [batch, c_in, h / 2, w / 2]
                let (ph, pw) = (h / 2, w / 2);
                assert!(c_out >= c_in && ph >= oh && pw >= ow, "down block: {c_in}x{h}x{w} -> {c_out}x{oh}x{ow}");
                let pooled = pooled.pad([(0, c_out - c_in), (0, 0), (0, 0)], PadMode::Constant(0.0));
                let out = out.pad([(0, ph - oh), (0, pw - ow)], PadMode::Constant(0.0));
                out + pooled
            }
        };
        relu(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Int;

    #[test]
    fn layout_sizes_follow_face_api() {
        let stem = valid_out(150, 7, 2);
        assert_eq!(stem, 72);
        let mut size = valid_out(stem, 3, 2); // max pool
        assert_eq!(size, 35);
        let mut sizes = Vec::new();
        for (i, block) in BLOCKS.iter().enumerate() {
            if i > 0 {
                assert_eq!(block.channels_in, BLOCKS[i - 1].channels_out, "{}", block.name);
            }
            size = block.convs(size).1;
            sizes.push(size);
        }
        assert_eq!(sizes, [35, 35, 35, 17, 17, 17, 17, 8, 8, 8, 4, 4, 4, 2]);
    }

    #[test]
    fn down_block_pads_the_residual_and_the_shortcut_channels() {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        let spec = BlockSpec { name: "t", channels_in: 2, channels_out: 4, kind: BlockKind::Down };
        let block = spec.init(4, &device);
        // Zero convolutions leave only the shortcut: 2x2 means in the first 2 channels.
        let zero = |c: Conv2d| Conv2d { weight: Param::from_tensor(c.weight.val().zeros_like()), bias: c.bias.map(|b| Param::from_tensor(b.val().zeros_like())), ..c };
        let block = ResidualBlock { conv1: zero(block.conv1), conv2: zero(block.conv2), kind: block.kind };
        let x = Tensor::<1, Int>::arange(0..32, &device).float().reshape([1, 2, 4, 4]);
        let y = block.forward(x);
        assert_eq!(y.dims(), [1, 4, 2, 2]);
        let got = y.into_data().try_to_vec::<f32>().unwrap();
        let want = [2.5, 4.5, 10.5, 12.5, 18.5, 20.5, 26.5, 28.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(got, want);
    }
}
