//! Inference convolutions for the CPU: convolution, bias and activation in one pass.
//!
//! Burn's CPU convolution is fast in its matrix products but pays around them: the detector's
//! first convolution (3 input channels, stride 2) ran at 9 GFLOP/s, its strided depthwise
//! convolutions at 4-6, and every ReLU6 was one more pass over a feature map (a quarter of the
//! backbone's time, `doppel bench extract --layers`). Here dense convolutions are tiled
//! matrix products that finish (bias, activation) each tile in cache ([`gemm_conv`]),
//! depthwise ones run plane by plane over phase-split rows ([`depthwise`]), and those with
//! only a few filters (a swap model's RGB output) sum shifted input rows ([`few_filters`]).
//!
//! [`conv2d`] takes a Burn [`Conv2d`] and an [`Activation`]. On the CPU backend without
//! autodiff it runs these kernels through a Burn backend extension; on any other device
//! (CUDA, or a training graph) it is Burn's `Conv2d::forward` followed by the activation, so
//! callers need not know where they run.
//!
//! Unsafe code: every matrix product goes through [`raw::gemm_checked`] (views checked
//! against their buffers, shapes against each other), parallel tasks reach their part of a
//! shared output through [`raw::SharedMut`] (bounds checked), and each SIMD path runs only
//! with a [`cpu`] token from run-time detection. Every unsafe block states its SAFETY.
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod cpu;
pub mod depthwise;
pub mod few_filters;
pub mod gemm_conv;
mod phased;
pub(crate) mod raw;
pub mod winograd;
#[cfg(test)]
mod tests;

use burn::backend::ops::{ConvOptions, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Dispatch, Flex, TensorMetadata};
use burn::nn::conv::Conv2d;
use burn::nn::PaddingConfig2d;
use burn::tensor::activation::{leaky_relu, relu};
use burn::tensor::{DType, Device, Scalar, Tensor, TensorData};

/// What follows a convolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// Nothing: the convolution and its bias.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)` (MobileNet).
    Relu6,
    /// `x` if positive, else `slope * x`.
    LeakyRelu(f32),
}

impl Activation {
    /// The activation of one value; NaN stays NaN.
    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Activation::Identity => v,
            Activation::Relu => if v < 0.0 { 0.0 } else { v },
            Activation::Relu6 => if v < 0.0 { 0.0 } else if v > 6.0 { 6.0 } else { v },
            Activation::LeakyRelu(slope) => if v < 0.0 { v * slope } else { v },
        }
    }

    /// As the two numbers the backend extension takes: negative slope and upper bound.
    fn encode(self) -> (f32, f32) {
        match self {
            Activation::Identity => (1.0, f32::INFINITY),
            Activation::Relu => (0.0, f32::INFINITY),
            Activation::Relu6 => (0.0, 6.0),
            Activation::LeakyRelu(slope) => (slope, f32::INFINITY),
        }
    }

    fn decode(slope: f32, cap: f32) -> Activation {
        match (slope, cap) {
            (s, c) if s == 1.0 && c == f32::INFINITY => Activation::Identity,
            (s, c) if s == 0.0 && c == f32::INFINITY => Activation::Relu,
            (s, c) if s == 0.0 && c == 6.0 => Activation::Relu6,
            (s, _) => Activation::LeakyRelu(s),
        }
    }

    /// Burn's own operations for the activation (any device, autodiff included).
    pub fn apply_to(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Activation::Identity => x,
            Activation::Relu => relu(x),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::LeakyRelu(slope) => leaky_relu(x, slope as f64),
        }
    }
}

/// Sizes of one convolution: input `[n, c, h, w]`, `co` filters of `kh` x `kw`, stride, and
/// padding `(before, after)` per axis. Dilation 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub co: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [(usize, usize); 2],
}

impl ConvShape {
    /// Panics unless the sizes describe a convolution (filters, strides of at least 1) and
    /// `x`, `w` and `bias` are as long as they say: the kernels' own bounds rest on this.
    /// `filter_channels` is `c` for a dense convolution, 1 for a depthwise one.
    pub fn check_operands(&self, x: &[f32], w: &[f32], bias: Option<&[f32]>, filter_channels: usize) {
        assert!(self.kh >= 1 && self.kw >= 1 && self.stride[0] >= 1 && self.stride[1] >= 1, "{self:?}: no filter or stride");
        let (py, px) = (self.pad[0].0 + self.pad[0].1, self.pad[1].0 + self.pad[1].1);
        assert!(self.h + py >= self.kh && self.w + px >= self.kw, "{self:?}: the filter is larger than the padded input");
        assert_eq!(x.len(), self.n * self.c * self.h * self.w, "{self:?}: input length");
        assert_eq!(w.len(), self.co * filter_channels * self.kh * self.kw, "{self:?}: filter length");
        assert!(bias.is_none_or(|b| b.len() == self.co), "{self:?}: bias length");
    }

    /// The output's `[n, co, oh, ow]`.
    pub fn output(&self) -> [usize; 4] {
        let out = |size: usize, k: usize, s: usize, (a, b): (usize, usize)| (size + a + b).saturating_sub(k) / s + 1;
        [self.n, self.co, out(self.h, self.kh, self.stride[0], self.pad[0]), out(self.w, self.kw, self.stride[1], self.pad[1])]
    }
}

/// For tap `b` of a stride-1 filter row over an input row of `w` values padded by `left`:
/// the output columns `start..end` whose input column `ox + b - left` lies inside the row,
/// and the input column of `start`.
#[inline(always)]
fn tap_run(b: usize, left: usize, w: usize, ow: usize) -> (usize, usize, usize) {
    strided_tap_run(b, left, 1, w, ow)
}

/// [`tap_run`] for stride `stride`: the columns `start..end` of `0..ow` whose input column
/// `ox * stride + b - left` lies inside the row, and the input column of `start`.
#[inline(always)]
fn strided_tap_run(b: usize, left: usize, stride: usize, w: usize, ow: usize) -> (usize, usize, usize) {
    let start = left.saturating_sub(b).div_ceil(stride).min(ow);
    let end = (w + left).saturating_sub(b).div_ceil(stride).clamp(start, ow);
    (start, end, (start * stride + b).saturating_sub(left).min(w))
}

/// Runs `run` on every block of a blocked matrix-product kernel, with two scratch buffers per
/// thread: side by side (one single-threaded product each) when there are at least
/// `side_by_side` blocks, else one after another, each product using every thread.
fn for_each_block<F>(blocks: Vec<(usize, usize)>, side_by_side: usize, run: F)
where
    F: Fn((usize, usize), &mut Vec<f32>, &mut Vec<f32>, gemm::Parallelism) + Sync,
{
    if blocks.len() >= side_by_side {
        use rayon::prelude::*;
        blocks.into_par_iter().for_each_init(|| (Vec::new(), Vec::new()), |(a, b), block| run(block, a, b, gemm::Parallelism::None));
    } else {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for block in blocks {
            run(block, &mut a, &mut b, gemm::Parallelism::Rayon(0));
        }
    }
}

/// Whether this CPU runs the kernels written for AVX-512F.
pub fn has_avx512() -> bool {
    cpu::Avx512::detect().is_some()
}

#[backend_extension(Flex)]
pub trait InferConv: Backend {
    /// `act(conv2d(x, weight) + bias)`, the activation given as its negative slope and upper
    /// bound (see [`Activation`]). (The bias is not optional: the extension macro of Burn
    /// 0.22.1 routes optional tensors to the wrong type.)
    fn conv2d_act(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, options: ConvOptions<2>, slope: f32, cap: f32) -> FloatTensor<Self> {
        unfused::<Self>(x, weight, Some(bias), options, Activation::decode(slope, cap))
    }
}

impl InferConv for Flex {
    fn conv2d_act(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, options: ConvOptions<2>, slope: f32, cap: f32) -> FloatTensor<Self> {
        let bias = Some(bias);
        let [n, c, h, w]: [usize; 4] = x.shape().dims();
        let [co, c_per_group, kh, kw]: [usize; 4] = weight.shape().dims();
        let f32s = x.dtype() == DType::F32 && weight.dtype() == DType::F32 && bias.as_ref().is_none_or(|b| b.dtype() == DType::F32);
        let depthwise = options.groups == c && co == c && c_per_group == 1;
        if !f32s || options.dilation != [1, 1] || !(options.groups == 1 || depthwise) {
            return unfused::<Flex>(x, weight, bias, options, Activation::decode(slope, cap));
        }
        let shape = ConvShape { n, c, h, w, co, kh, kw, stride: options.stride, pad: options.padding };
        let (x, weight, bias) = (x.to_contiguous(), weight.to_contiguous(), bias.map(|b| b.to_contiguous()));
        let xs = x.as_slice::<f32>().expect("contiguous f32 input");
        let ws = weight.as_slice::<f32>().expect("contiguous f32 filter");
        let bs = bias.as_ref().map(|b| b.as_slice::<f32>().expect("contiguous f32 bias"));
        let act = Activation::decode(slope, cap);
        let out = if depthwise {
            depthwise::conv2d(xs, ws, bs, &shape, act)
        } else if few_filters::applies(&shape) {
            few_filters::conv2d(xs, ws, bs, &shape, act)
        } else if winograd::applies(&shape) {
            winograd::conv2d(xs, ws, bs, &shape, act)
        } else {
            gemm_conv::conv2d(xs, ws, bs, &shape, act)
        };
        Self::float_from_data(TensorData::new(out, shape.output()), &Default::default())
    }
}

/// The backend's own convolution, then the activation: for shapes the kernels do not take
/// (dilation, grouped filters, other float types).
fn unfused<B: Backend>(x: FloatTensor<B>, weight: FloatTensor<B>, bias: Option<FloatTensor<B>>, options: ConvOptions<2>, act: Activation) -> FloatTensor<B> {
    let y = B::conv2d(x, weight, bias, options);
    match act {
        Activation::Identity => y,
        Activation::Relu => B::relu(y),
        Activation::Relu6 => B::float_clamp(y, Scalar::from(0.0f32), Scalar::from(6.0f32)),
        Activation::LeakyRelu(s) => B::leaky_relu(y, Scalar::from(s)),
    }
}

/// The options Burn's [`Conv2d::forward`] would use on an `h` x `w` input, padding resolved.
pub fn conv_options(conv: &Conv2d, h: usize, w: usize) -> ConvOptions<2> {
    let pads = |size: usize, axis: usize| match conv.padding {
        PaddingConfig2d::Valid => (0, 0),
        PaddingConfig2d::Explicit(top, left, bottom, right) => if axis == 0 { (top, bottom) } else { (left, right) },
        // As Burn's Conv2d pads: the output is ceil(size / stride), the extra on the far side.
        PaddingConfig2d::Same => {
            let (k, s) = (conv.kernel_size[axis], conv.stride[axis]);
            let total = ((size.div_ceil(s).max(1) - 1) * s + k).saturating_sub(size);
            (total / 2, total - total / 2)
        }
    };
    ConvOptions::new_with_padding(conv.stride, [pads(h, 0), pads(w, 1)], conv.dilation, conv.groups)
}

/// Whether `conv` on `x` runs on the CPU backend outside any training graph (the input or
/// the weights may carry autodiff alone: a batch of images into a model being trained).
pub fn plain_cpu(conv: &Conv2d, x: &Tensor<4>) -> bool {
    let (xd, wd) = (x.device(), conv.weight.val().device());
    !xd.is_autodiff() && !wd.is_autodiff() && xd == Device::flex()
}

/// `act(conv.forward(x))`, in one pass on the CPU backend.
///
/// # Shapes
/// - input: `[batch, c_in, h, w]`
/// - output: `[batch, c_out, h_out, w_out]`, as `conv.forward`
pub fn conv2d(conv: &Conv2d, x: Tensor<4>, act: Activation) -> Tensor<4> {
    if !plain_cpu(conv, &x) {
        return act.apply_to(conv.forward(x));
    }
    let [_, _, h, w] = x.dims();
    let options = conv_options(conv, h, w);
    let (slope, cap) = act.encode();
    let bias = match &conv.bias {
        Some(b) => b.val(),
        None => Tensor::zeros([conv.weight.dims()[0]], &x.device()),
    };
    Tensor::from_dispatch(<Dispatch as InferConv>::conv2d_act(x.into_dispatch(), conv.weight.val().into_dispatch(), bias.into_dispatch(), options, slope, cap))
}
