//! Building blocks of the swap autoencoders: strided convolutions down, pixel-shuffle
//! upscales up (faceswap's `Conv2DBlock` and `UpscaleBlock`).

use super::conv::forward_act;
use crate::kernels::Activation;
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};

/// Slope of the leaky ReLU after every convolution but the output.
pub const LEAKY_SLOPE: f64 = 0.1;

/// A `kernel` x `kernel` convolution with stride 2 ("same" padding, TensorFlow's rule), then a
/// leaky ReLU: halves the side.
#[derive(Config, Debug)]
pub struct DownConfig {
    pub channels: [usize; 2],
    #[config(default = 5)]
    pub kernel: usize,
}

#[derive(Module, Debug)]
pub struct Down {
    conv: Conv2d,
}

impl DownConfig {
    pub fn init(&self, device: &Device) -> Down {
        let conv = Conv2dConfig::new(self.channels, [self.kernel, self.kernel]).with_stride([2, 2]).with_padding(PaddingConfig2d::Same).init(device);
        Down { conv }
    }
}

impl Down {
    /// `[b, c_in, h, w]` -> `[b, c_out, h / 2, w / 2]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        forward_act(&self.conv, x, Activation::LeakyRelu(LEAKY_SLOPE as f32))
    }
}

/// A 3x3 convolution to four times the channels, a leaky ReLU, then a pixel shuffle:
/// doubles the side.
#[derive(Config, Debug)]
pub struct UpscaleConfig {
    pub channels: [usize; 2],
}

#[derive(Module, Debug)]
pub struct Upscale {
    conv: Conv2d,
}

impl UpscaleConfig {
    pub fn init(&self, device: &Device) -> Upscale {
        let [c_in, c_out] = self.channels;
        Upscale { conv: Conv2dConfig::new([c_in, 4 * c_out], [3, 3]).with_padding(PaddingConfig2d::Same).init(device) }
    }
}

impl Upscale {
    /// `[b, c_in, h, w]` -> `[b, c_out, 2h, 2w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        depth_to_space(forward_act(&self.conv, x, Activation::LeakyRelu(LEAKY_SLOPE as f32)), 2)
    }
}

/// Two 3x3 convolutions with a shortcut around them (faceswap's `ResidualBlock`): leaky ReLU
/// (slope 0.2) after the first and after the sum. Keeps shape.
#[derive(Config, Debug)]
pub struct ResidualConfig {
    pub channels: usize,
}

#[derive(Module, Debug)]
pub struct Residual {
    first: Conv2d,
    second: Conv2d,
}

/// Slope of the leaky ReLU inside residual blocks.
pub const RESIDUAL_SLOPE: f64 = 0.2;

impl ResidualConfig {
    pub fn init(&self, device: &Device) -> Residual {
        let conv = || Conv2dConfig::new([self.channels, self.channels], [3, 3]).with_padding(PaddingConfig2d::Same).init(device);
        Residual { first: conv(), second: conv() }
    }
}

impl Residual {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = forward_act(&self.second, forward_act(&self.first, x.clone(), Activation::LeakyRelu(RESIDUAL_SLOPE as f32)), Activation::Identity);
        leaky_relu(x + y, RESIDUAL_SLOPE)
    }
}

/// TensorFlow's `depth_to_space` (faceswap's pixel shuffler) in NCHW: channel
/// `(i * r + j) * c_out + c` goes to pixel `(y * r + i, x * r + j)` of channel `c`.
pub fn depth_to_space(x: Tensor<4>, r: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let out = c / (r * r);
    x.reshape([b, r, r, out, h, w]).permute([0, 3, 4, 1, 5, 2]).reshape([b, out, h * r, w * r])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    #[test]
    fn depth_to_space_places_channels_as_tensorflow_does() {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        // One pixel, 8 channels, r = 2 -> 2 channels of 2x2. Channel k holds the value k.
        let x = Tensor::<4>::from_data(TensorData::new((0..8).map(|v| v as f32).collect::<Vec<_>>(), [1, 8, 1, 1]), &device);
        let y = depth_to_space(x, 2).into_data().try_to_vec::<f32>().unwrap();
        // Output channel c at (i, j) comes from input channel (i * 2 + j) * 2 + c.
        assert_eq!(y, vec![0.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 7.0]);
    }

    #[test]
    fn blocks_halve_and_double_the_side() {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        let x = Tensor::<4>::zeros([2, 3, 64, 64], &device);
        let down = DownConfig::new([3, 8]).init(&device).forward(x);
        assert_eq!(down.dims(), [2, 8, 32, 32]);
        let up = UpscaleConfig::new([8, 4]).init(&device).forward(down);
        assert_eq!(up.dims(), [2, 4, 64, 64]);
        assert_eq!(ResidualConfig::new(4).init(&device).forward(up).dims(), [2, 4, 64, 64]);
    }
}
