//! The SSD head: four pairs of extra convolutions that keep halving the map, and six box
//! predictors (1x1 convolutions for box offsets and class logits) on conv 11, the backbone
//! output and the strided extra layers.

use super::anchors::{feature_maps, FEATURE_MAPS};
use super::mobilenet::{conv_relu6, same_conv};
use crate::kernels::{self, Activation};
use crate::nets::layers::{conv2d, TfPadding};
use crate::nets::tfjs::{TfjsWeights, WeightsError};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};

/// Classes the predictors score: background, face, and a third the graph slices away
/// (face-api.js keeps `sigmoid(logit[1])`).
pub const CLASSES: usize = 3;

/// The extra layers: `(kernel, stride, c_in, c_out)`, alternating 1x1 and strided 3x3.
const EXTRA: [(usize, usize, usize, usize); 8] =
    [(1, 1, 1024, 256), (3, 2, 256, 512), (1, 1, 512, 128), (3, 2, 128, 256), (1, 1, 256, 128), (3, 2, 128, 256), (1, 1, 256, 64), (3, 2, 64, 128)];

/// Input channels of the six box predictors.
const PREDICTOR_CHANNELS: [usize; FEATURE_MAPS] = [512, 1024, 512, 256, 256, 128];

/// Box offsets and class logits for every anchor of one feature map.
#[derive(Module, Debug)]
pub struct BoxPredictor {
    box_encoding: Conv2d,
    class: Conv2d,
}

impl BoxPredictor {
    /// Flattened in TensorFlow's NHWC order (row, column, anchor), matching the anchors.
    ///
    /// # Shapes
    /// - input: `[batch, c, g, g]`
    /// - output: `([batch, g * g * a, 4], [batch, g * g * a, CLASSES])`
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<3>, Tensor<3>) {
        let [batch, _, _, _] = x.dims();
        let flatten = |t: Tensor<4>, width: usize| -> Tensor<3> {
            let [_, c, h, w] = t.dims();
            assert_eq!(c % width, 0, "channels group into anchors");
            t.permute([0, 2, 3, 1]).reshape([batch, h * w * c / width, width])
        };
        let conv = |c: &Conv2d, x: Tensor<4>| kernels::conv2d(c, x, Activation::Identity);
        (flatten(conv(&self.box_encoding, x.clone()), 4), flatten(conv(&self.class, x), CLASSES))
    }
}

/// The extra layers and the box predictors.
#[derive(Module, Debug)]
pub struct PredictionLayer {
    extra: Vec<Conv2d>,
    predictors: Vec<BoxPredictor>,
}

/// Map side read by each extra layer, for a backbone output of `side`.
fn extra_sides(mut side: usize) -> [usize; 8] {
    std::array::from_fn(|i| {
        let at = side;
        side = side.div_ceil(EXTRA[i].1);
        at
    })
}

impl PredictionLayer {
    /// A head with random weights for an `input` x `input` image.
    pub fn init(input: usize, device: &Device) -> PredictionLayer {
        let maps = feature_maps(input);
        let extra = EXTRA
            .iter()
            .zip(extra_sides(maps[1].grid))
            .map(|(&(k, stride, c_in, c_out), side)| same_conv([c_in, c_out], k, stride, 1, side, device))
            .collect();
        let predictors = maps
            .iter()
            .zip(PREDICTOR_CHANNELS)
            .map(|(map, c)| BoxPredictor {
                box_encoding: same_conv([c, map.per_cell * 4], 1, 1, 1, map.grid, device),
                class: same_conv([c, map.per_cell * CLASSES], 1, 1, 1, map.grid, device),
            })
            .collect();
        PredictionLayer { extra, predictors }
    }

    /// Takes the `Prediction/*` convolution tensors.
    pub fn load(w: &mut TfjsWeights, input: usize, device: &Device) -> Result<PredictionLayer, WeightsError> {
        let maps = feature_maps(input);
        let mut extra = Vec::with_capacity(EXTRA.len());
        for (i, (&(k, stride, c_in, c_out), side)) in EXTRA.iter().zip(extra_sides(maps[1].grid)).enumerate() {
            let prefix = format!("Prediction/Conv2d_{i}_pointwise");
            let padding = TfPadding::Same { input: [side, side] };
            extra.push(conv2d(w, &format!("{prefix}/weights"), Some(&format!("{prefix}/convolution_bn_offset")), [k, k, c_in, c_out], stride, padding, device)?);
        }
        let mut predictors = Vec::with_capacity(FEATURE_MAPS);
        for (i, (map, c)) in maps.iter().zip(PREDICTOR_CHANNELS).enumerate() {
            let padding = TfPadding::Same { input: [map.grid, map.grid] };
            let mut conv = |name: &str, c_out: usize| {
                let prefix = format!("Prediction/BoxPredictor_{i}/{name}");
                conv2d(w, &format!("{prefix}/weights"), Some(&format!("{prefix}/biases")), [1, 1, c, c_out], 1, padding, device)
            };
            let box_encoding = conv("BoxEncodingPredictor", map.per_cell * 4)?;
            let class = conv("ClassPredictor", map.per_cell * CLASSES)?;
            predictors.push(BoxPredictor { box_encoding, class });
        }
        Ok(PredictionLayer { extra, predictors })
    }

    /// Box offsets and class logits for all anchors, feature map by feature map.
    ///
    /// # Shapes
    /// - conv11: `[batch, 512, s/16, s/16]`, out: `[batch, 1024, s/32, s/32]`
    /// - output: `([batch, anchors, 4], [batch, anchors, CLASSES])` (5118 anchors for s = 512)
    pub fn forward(&self, conv11: Tensor<4>, out: Tensor<4>) -> (Tensor<3>, Tensor<3>) {
        let mut x = out.clone();
        let mut maps = vec![conv11, out];
        for (i, conv) in self.extra.iter().enumerate() {
            x = conv_relu6(conv, x);
            if i % 2 == 1 {
                maps.push(x.clone()); // after each strided layer: s/64 .. s/512
            }
        }
        let (boxes, classes): (Vec<_>, Vec<_>) = self.predictors.iter().zip(maps).map(|(p, m)| p.forward(m)).unzip();
        (Tensor::cat(boxes, 1), Tensor::cat(classes, 1))
    }
}
