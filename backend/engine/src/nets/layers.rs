//! Building Burn layers from TF.js tensors: layout conversion (HWIO -> OIHW), depthwise
//! filters, dense layers, and TensorFlow's "SAME" padding.

use super::tfjs::{TfjsTensor, TfjsWeights, WeightsError};
use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PaddingConfig2d};
use burn::tensor::{Device, Tensor, TensorData};

/// A tensor of the given shape from TF.js data (row-major, same element order).
pub fn tensor<const D: usize>(t: TfjsTensor, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(t.data, shape), device)
}

/// HWIO (TF.js) filter data to OIHW (Burn).
pub fn hwio_to_oihw(data: &[f32], [h, w, i, o]: [usize; 4]) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for y in 0..h {
        for x in 0..w {
            for ci in 0..i {
                for co in 0..o {
                    out[((co * i + ci) * h + y) * w + x] = data[((y * w + x) * i + ci) * o + co];
                }
            }
        }
    }
    out
}

/// TensorFlow's "SAME" padding for one spatial size: (before, after).
pub fn tf_same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// How a convolution pads, in TensorFlow's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TfPadding {
    /// No padding.
    Valid,
    /// Output size `ceil(input / stride)`, extra padding at the bottom/right. Needs the input
    /// size, so the layer is built for one input size.
    Same { input: [usize; 2] },
}

impl TfPadding {
    fn burn(self, kernel: [usize; 2], stride: [usize; 2]) -> PaddingConfig2d {
        match self {
            TfPadding::Valid => PaddingConfig2d::Valid,
            TfPadding::Same { input } => {
                let (top, bottom) = tf_same_padding(input[0], kernel[0], stride[0]);
                let (left, right) = tf_same_padding(input[1], kernel[1], stride[1]);
                PaddingConfig2d::Explicit(top, left, bottom, right)
            }
        }
    }
}

/// A convolution from `filter` (HWIO) and an optional `bias`.
pub fn conv2d(
    w: &mut TfjsWeights,
    filter: &str,
    bias: Option<&str>,
    [kh, kw, cin, cout]: [usize; 4],
    stride: usize,
    padding: TfPadding,
    device: &Device,
) -> Result<Conv2d, WeightsError> {
    let f = w.take(filter, &[kh, kw, cin, cout])?;
    let data = hwio_to_oihw(&f.data, [kh, kw, cin, cout]);
    let weight = Tensor::from_data(TensorData::new(data, [cout, cin, kh, kw]), device);
    assemble(w, weight, bias, 1, stride, padding, device)
}

/// A depthwise convolution from a `[h, w, channels, 1]` filter.
pub fn depthwise_conv2d(
    w: &mut TfjsWeights,
    filter: &str,
    bias: Option<&str>,
    [kh, kw, channels]: [usize; 3],
    stride: usize,
    padding: TfPadding,
    device: &Device,
) -> Result<Conv2d, WeightsError> {
    let f = w.take(filter, &[kh, kw, channels, 1])?;
    // [h, w, c, 1] -> [c, 1, h, w]
    let data = hwio_to_oihw(&f.data, [kh, kw, 1, channels]);
    let weight = Tensor::from_data(TensorData::new(data, [channels, 1, kh, kw]), device);
    assemble(w, weight, bias, channels, stride, padding, device)
}

/// A Conv2d around an OIHW `weight`, with the bias named `bias` (one value per output channel).
fn assemble(
    w: &mut TfjsWeights,
    weight: Tensor<4>,
    bias: Option<&str>,
    groups: usize,
    stride: usize,
    padding: TfPadding,
    device: &Device,
) -> Result<Conv2d, WeightsError> {
    let [cout, _, kh, kw] = weight.dims();
    let bias = match bias {
        Some(name) => Some(Param::from_tensor(tensor(w.take(name, &[cout])?, [cout], device))),
        None => None,
    };
    Ok(Conv2d {
        weight: Param::from_tensor(weight),
        bias,
        stride: [stride, stride],
        kernel_size: [kh, kw],
        dilation: [1, 1],
        groups,
        padding: padding.burn([kh, kw], [stride, stride]),
    })
}

/// A dense layer from `weights` `[in, out]` (the same layout as Burn's) and `bias` `[out]`.
pub fn linear(w: &mut TfjsWeights, weights: &str, bias: &str, [d_in, d_out]: [usize; 2], device: &Device) -> Result<Linear, WeightsError> {
    let weight = tensor(w.take(weights, &[d_in, d_out])?, [d_in, d_out], device);
    let bias = tensor(w.take(bias, &[d_out])?, [d_out], device);
    Ok(Linear { weight: Param::from_tensor(weight), bias: Some(Param::from_tensor(bias)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow() {
        assert_eq!(tf_same_padding(512, 3, 2), (0, 1));
        assert_eq!(tf_same_padding(112, 3, 1), (1, 1));
        assert_eq!(tf_same_padding(7, 1, 1), (0, 0));
        assert_eq!(tf_same_padding(150, 7, 4), (2, 3));
    }

    #[test]
    fn hwio_becomes_oihw() {
        // h=1, w=2, i=2, o=3: value = 100*y + 10*x + ... encode (x, ci, co) in the number.
        let (h, w, i, o) = (1, 2, 2, 3);
        let mut data = vec![0.0; h * w * i * o];
        for x in 0..w {
            for ci in 0..i {
                for co in 0..o {
                    data[(x * i + ci) * o + co] = (100 * co + 10 * ci + x) as f32;
                }
            }
        }
        let out = hwio_to_oihw(&data, [h, w, i, o]);
        for co in 0..o {
            for ci in 0..i {
                for x in 0..w {
                    assert_eq!(out[(co * i + ci) * w + x], (100 * co + 10 * ci + x) as f32);
                }
            }
        }
    }
}
