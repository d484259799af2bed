//! The fused kernels give what Burn's convolution and activation give, on the shapes the
//! networks use and on the edge cases of tiling and padding.

use super::*;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::Distribution;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32")
}

/// `len` values drawn as [`check`] draws its inputs.
pub(super) fn random(len: usize) -> Vec<f32> {
    values(Tensor::<1>::random([len], Distribution::Normal(0.0, 4.0), &Device::flex()))
}

/// Burn's own convolution of raw operands (`groups` 1, or `s.c` for a depthwise one), then
/// `act`: what a kernel called directly must give.
pub(super) fn burn_reference(x: &[f32], w: &[f32], bias: &[f32], s: &ConvShape, groups: usize, act: Activation) -> Vec<f32> {
    let device = Device::flex();
    let x = Tensor::<4>::from_data(TensorData::new(x.to_vec(), [s.n, s.c, s.h, s.w]), &device);
    let w = Tensor::<4>::from_data(TensorData::new(w.to_vec(), [s.co, s.c / groups, s.kh, s.kw]), &device);
    let b = Tensor::<1>::from_data(TensorData::new(bias.to_vec(), [s.co]), &device);
    let y = burn::tensor::module::conv2d(x, w, Some(b), ConvOptions::new_with_padding(s.stride, s.pad, [1, 1], groups));
    values(act.apply_to(y))
}

/// Panics, naming `what`, unless `got` is Burn's `want` within [`check`]'s bound.
pub(super) fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: output size");
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 2e-5 * scale, "{what}: off by {worst} (scale {scale})");
}

/// `(c_in, c_out, kernel, stride, groups, side, batch, padding)`
type Case = (usize, usize, usize, usize, usize, usize, usize, PaddingConfig2d);

fn check(cases: &[Case], act: Activation, with_bias: bool) {
    let device = Device::flex();
    for (i, (c_in, c_out, k, stride, groups, side, batch, padding)) in cases.iter().cloned().enumerate() {
        let conv = Conv2dConfig::new([c_in, c_out], [k, k]).with_stride([stride, stride]).with_groups(groups).with_padding(padding.clone()).with_bias(with_bias).init(&device);
        // Scaled so that ReLU6's upper bound and leaky slopes both matter.
        let x = Tensor::<4>::random([batch, c_in, side, side], Distribution::Normal(0.0, 4.0), &device);
        let want = values(act.apply_to(conv.forward(x.clone())));
        let got = values(conv2d(&conv, x, act));
        assert_close(&got, &want, &format!("case {i} ({c_in}->{c_out} {k}x{k}/{stride} g{groups} {side}px x{batch} {padding:?}, {act:?})"));
    }
}

#[test]
fn dense_convolutions_match_burn() {
    let tf_same_s2 = PaddingConfig2d::Explicit(0, 0, 1, 1);
    let cases: Vec<Case> = vec![
        (3, 32, 3, 2, 1, 64, 1, tf_same_s2.clone()),         // the detector's first conv
        (3, 32, 3, 2, 1, 512, 1, tf_same_s2.clone()),        // ... at full size: many tiles
        (32, 64, 1, 1, 1, 40, 2, PaddingConfig2d::Valid),    // pointwise, read in place
        (256, 128, 1, 1, 1, 3, 5, PaddingConfig2d::Valid),   // pointwise, tiles across images
        (300, 40, 1, 1, 1, 30, 2, PaddingConfig2d::Valid),   // pointwise, tiles within images
        (256, 512, 3, 2, 1, 16, 1, tf_same_s2),              // SSD extra layer
        (8, 16, 5, 2, 1, 17, 3, PaddingConfig2d::Same),      // encoder conv, odd side
        (3, 32, 7, 4, 1, 150, 2, PaddingConfig2d::Valid),    // recognition stem
        (64, 64, 3, 1, 1, 9, 4, PaddingConfig2d::Explicit(1, 1, 1, 1)),
        (64, 8, 3, 1, 1, 45, 1, PaddingConfig2d::Same),      // an upscale conv whose tiles end mid-row
        (2, 3, 3, 1, 1, 5, 1, PaddingConfig2d::Explicit(2, 0, 1, 3)), // uneven padding
        (64, 3, 5, 1, 1, 16, 2, PaddingConfig2d::Same),      // a swap model's RGB output: few filters
        (6, 1, 3, 1, 1, 7, 3, PaddingConfig2d::Explicit(0, 2, 1, 0)), // a 1-channel mask, uneven
        (5, 4, 3, 1, 1, 2, 1, PaddingConfig2d::Explicit(3, 3, 3, 3)), // padding wider than the input
        (5, 4, 3, 2, 1, 9, 2, PaddingConfig2d::Same),        // few filters, strided: a matrix product
        (16, 3, 5, 1, 1, 70, 1, PaddingConfig2d::Same),      // few filters, rows of a chunk and a tail
        (7, 2, 3, 1, 1, 33, 2, PaddingConfig2d::Explicit(1, 2, 0, 1)), // two filters, uneven
        (9, 4, 5, 2, 1, 19, 2, PaddingConfig2d::Explicit(2, 1, 2, 3)), // strided phases, uneven padding
        (32, 128, 3, 1, 1, 16, 3, PaddingConfig2d::Same),    // an upscale conv: Winograd
        (48, 40, 3, 1, 1, 7, 2, PaddingConfig2d::Explicit(0, 2, 1, 0)), // Winograd, odd and uneven
        (32, 32, 3, 1, 1, 34, 8, PaddingConfig2d::Same),     // Winograd blocks side by side, across images
        (40, 32, 3, 1, 1, 12, 1, PaddingConfig2d::Valid),    // Winograd without padding
    ];
    for act in [Activation::Identity, Activation::Relu, Activation::Relu6, Activation::LeakyRelu(0.1)] {
        check(&cases, act, true);
    }
    check(&cases[..3], Activation::Relu, false);
}

#[test]
fn depthwise_convolutions_match_burn() {
    let cases: Vec<Case> = vec![
        (32, 32, 3, 1, 32, 64, 1, PaddingConfig2d::Explicit(1, 1, 1, 1)),
        (64, 64, 3, 2, 64, 64, 2, PaddingConfig2d::Explicit(0, 0, 1, 1)), // TF "same", stride 2
        (16, 16, 3, 2, 16, 33, 1, PaddingConfig2d::Explicit(1, 1, 1, 1)), // odd side
        (8, 8, 5, 3, 8, 20, 3, PaddingConfig2d::Same),
        (4, 4, 3, 1, 4, 2, 1, PaddingConfig2d::Explicit(1, 1, 1, 1)),     // map smaller than the filter
        (6, 6, 1, 1, 6, 7, 2, PaddingConfig2d::Valid),
    ];
    for act in [Activation::Identity, Activation::Relu6, Activation::LeakyRelu(0.2)] {
        check(&cases, act, true);
    }
    check(&cases, Activation::Identity, false);
}

/// Maps of one pixel, one channel, one image, widths on both sides of the SIMD lanes (16)
/// and of the few-filter kernel's chunks (64): an index off by one reads or writes past a
/// row, a plane or a buffer here (caught by the bounds checks and debug assertions of the
/// test build) or gives a wrong sum.
#[test]
fn odd_and_tiny_shapes_match_burn() {
    use PaddingConfig2d::{Explicit, Same, Valid};
    let cases: Vec<Case> = vec![
        // Matrix products: in place (1x1), through im2col, tiles across images.
        (1, 5, 1, 1, 1, 1, 1, Valid),
        (1, 5, 3, 1, 1, 1, 1, Same),
        (3, 6, 3, 2, 1, 1, 1, Same),
        (5, 9, 1, 1, 1, 17, 3, Valid),
        (1, 5, 2, 1, 1, 2, 3, Valid),
        (2, 7, 3, 2, 1, 17, 1, Explicit(1, 0, 0, 1)),
        // Winograd: a single half tile, odd sides, 1x1 outputs across images.
        (32, 32, 3, 1, 1, 1, 1, Same),
        (32, 33, 3, 1, 1, 2, 1, Same),
        (33, 32, 3, 1, 1, 3, 3, Valid),
        (32, 32, 3, 1, 1, 17, 1, Same),
        // Few filters: rows shorter than a vector, a vector and one, a chunk and one.
        (1, 2, 1, 1, 1, 1, 1, Valid),
        (1, 3, 3, 1, 1, 1, 1, Same),
        (1, 3, 5, 1, 1, 15, 1, Same),
        (2, 4, 3, 1, 1, 17, 1, Same),
        (3, 2, 5, 1, 1, 63, 1, Same),
        (1, 3, 3, 1, 1, 65, 2, Same),
        (2, 1, 3, 1, 1, 48, 1, Explicit(0, 1, 2, 0)),
        // Depthwise (a 1-channel, 1-filter layer is one too).
        (1, 1, 3, 1, 1, 1, 1, Explicit(1, 1, 1, 1)),
        (1, 1, 1, 1, 1, 1, 1, Valid),
        (3, 3, 3, 2, 3, 1, 1, Same),
        (2, 2, 5, 2, 2, 17, 2, Same),
        (4, 4, 3, 1, 4, 65, 1, Explicit(1, 1, 1, 1)),
        (1, 1, 3, 3, 1, 16, 1, Valid),
    ];
    for act in [Activation::Identity, Activation::LeakyRelu(0.1)] {
        check(&cases, act, true);
    }
    check(&cases, Activation::Relu6, false);
}

/// A slice shorter or longer than its shape says is refused before any raw read or write
/// (the in-place product read past the input, the filter transform wrote past its buffer).
#[test]
fn operands_of_the_wrong_length_are_refused() {
    let s = ConvShape { n: 1, c: 2, h: 3, w: 3, co: 5, kh: 1, kw: 1, stride: [1, 1], pad: [(0, 0); 2] };
    let short = std::panic::catch_unwind(|| gemm_conv::conv2d(&[1.0; 17], &[1.0; 10], None, &s, Activation::Identity));
    assert!(short.is_err(), "an input one float short");
    let s = ConvShape { n: 1, c: 32, h: 4, w: 4, co: 32, kh: 3, kw: 3, stride: [1, 1], pad: [(1, 1); 2] };
    let long = std::panic::catch_unwind(|| winograd::conv2d(&vec![1.0; 32 * 16], &vec![1.0; 32 * 32 * 9 + 9], None, &s, Activation::Identity));
    assert!(long.is_err(), "one filter too many");
    let ok = gemm_conv::conv2d(&vec![1.0; 32 * 16], &vec![1.0; 32 * 32 * 9], None, &s, Activation::Identity);
    assert_eq!(ok.len(), 32 * 16);
}

/// Grouped (not depthwise) and dilated convolutions fall back to Burn's.
#[test]
fn other_convolutions_fall_back_to_burn() {
    let device = Device::flex();
    let grouped = Conv2dConfig::new([8, 8], [3, 3]).with_groups(2).init(&device);
    let dilated = Conv2dConfig::new([4, 6], [3, 3]).with_dilation([2, 2]).init(&device);
    for (conv, c) in [(grouped, 8), (dilated, 4)] {
        let x = Tensor::<4>::random([2, c, 11, 11], Distribution::Normal(0.0, 1.0), &device);
        let want = values(relu(conv.forward(x.clone())));
        let got = values(conv2d(&conv, x, Activation::Relu));
        assert_eq!(got, want);
    }
}

#[test]
fn activations_keep_nan_and_bound_relu6() {
    for act in [Activation::Identity, Activation::Relu, Activation::Relu6, Activation::LeakyRelu(0.1)] {
        assert!(act.apply(f32::NAN).is_nan(), "{act:?}");
        assert_eq!(Activation::decode(act.encode().0, act.encode().1), act);
    }
    assert_eq!(Activation::Relu6.apply(7.5), 6.0);
    assert_eq!(Activation::Relu6.apply(-1.0), 0.0);
    assert_eq!(Activation::LeakyRelu(0.1).apply(-2.0), -0.2);
}

/// On an autodiff device the result is Burn's, gradients included.
#[test]
fn autodiff_devices_get_burns_convolution() {
    let device = Device::flex().autodiff();
    let conv = Conv2dConfig::new([3, 4], [3, 3]).init(&device);
    let x = Tensor::<4>::random([1, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let grads = conv2d(&conv, x.clone(), Activation::LeakyRelu(0.1)).sum().backward();
    let ours = x.grad(&grads).expect("input gradient").into_data();
    let x2 = x.clone().detach().require_grad();
    let grads = leaky_relu(conv.forward(x2.clone()), 0.1).sum().backward();
    assert_eq!(ours, x2.grad(&grads).expect("input gradient").into_data());
}
