//! face-api.js' SSD MobileNetV1 face detector, ported to Burn.
//!
//! The image is padded to a square (black at the right or bottom), resized to 512x512 and
//! scaled to `[-1, 1]` ([`input`]); MobileNetV1 ([`mobilenet`]) and the SSD head
//! ([`predictor`]) predict box offsets and class logits for 5118 anchors ([`anchors`]); the
//! offsets are decoded, the face logit goes through a sigmoid, and greedy NMS ([`nms`],
//! IoU 0.5) keeps the best boxes, which are mapped back to the pixels of the image.

pub mod anchors;
pub mod mobilenet;
pub mod nms;
pub mod predictor;
#[cfg(test)]
mod tests;

use crate::geometry::{Detection, Point, Rect};
use crate::nets::input::{prepare, NetInput, Normalize, Placement};
use crate::nets::layers::tensor;

/// The factor face-api.js multiplies pixel values by (the f32 nearest to 2 / 255, stored in the
/// weights as `Preprocessor/mul/x`); 1 is subtracted afterwards, giving `[-1, 1]`.
#[allow(clippy::excessive_precision)]
pub const PIXEL_SCALE: f32 = 0.007_843_137_718_737_125;
use crate::nets::tfjs::{TfjsWeights, WeightsError};
use anchors::{anchor_count, decode, feature_maps, NormBox, FEATURE_MAPS};
use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use mobilenet::MobileNetV1;
use nms::{non_max_suppression, NmsOptions};
use predictor::PredictionLayer;

/// The network's shape.
#[derive(Config, Debug)]
pub struct SsdMobilenetV1Config {
    /// Side of the square network input. The shipped weights (and their anchors) are for 512.
    #[config(default = 512)]
    pub input_size: usize,
}

impl SsdMobilenetV1Config {
    /// A detector with random weights and the generated anchors.
    pub fn init(&self, device: &Device) -> SsdMobilenetV1 {
        let anchors = anchors::generate(self.input_size).into_iter().flatten().collect::<Vec<f32>>();
        let n = anchors.len() / 4;
        SsdMobilenetV1 {
            backbone: MobileNetV1::init(self.input_size, device),
            head: PredictionLayer::init(self.input_size, device),
            anchors: Param::from_tensor(Tensor::from_data(TensorData::new(anchors, [n, 4]), device)).set_require_grad(false),
            input_size: self.input_size,
        }
    }
}

/// How [`SsdMobilenetV1::detect`] filters detections (face-api.js' `SsdMobilenetv1Options`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DetectOptions {
    /// Faces scoring at or below this are dropped. Default 0.5.
    pub min_confidence: f32,
    /// At most this many faces per image, best first. Default 100.
    pub max_results: usize,
    /// Overlapping boxes with a higher IoU than this are merged into the best one. Default 0.5.
    pub iou_threshold: f32,
}

impl Default for DetectOptions {
    fn default() -> DetectOptions {
        DetectOptions { min_confidence: 0.5, max_results: 100, iou_threshold: 0.5 }
    }
}

/// What [`SsdMobilenetV1::forward`] predicts for every anchor.
#[derive(Debug, Clone)]
pub struct SsdOutput {
    /// Box offsets `(ty, tx, th, tw)` relative to the anchors, `[batch, anchors, 4]`.
    pub box_encodings: Tensor<3>,
    /// Face probability, `[batch, anchors]`.
    pub scores: Tensor<2>,
}

/// The SSD MobileNetV1 face detector.
#[derive(Module, Debug)]
pub struct SsdMobilenetV1 {
    backbone: MobileNetV1,
    head: PredictionLayer,
    /// Prior boxes `[anchors, 4]`, `[ymin, xmin, ymax, xmax]` normalized to the input. Fixed,
    /// not trained (a `Param` so records keep them).
    anchors: Param<Tensor<2>>,
    input_size: usize,
}

/// Graph constants the exported TF.js model carries but face-api.js does not use, with their
/// shapes. Taken (and some checked) so that `load` can insist every tensor is accounted for.
const GRAPH_PLUMBING: [(&str, &[usize]); 7] = [
    ("Prediction/BoxPredictor_0/stack_1/2", &[]),
    ("Prediction/BoxPredictor_0/stack/3", &[]),
    ("Prediction/BoxPredictor_0/strided_slice/stack", &[1]),
    ("Prediction/BoxPredictor_0/strided_slice/stack_1", &[1]),
    ("Postprocessor/Slice/begin", &[3]),
    ("Postprocessor/Slice/size", &[3]),
    ("concat_1/axis", &[]),
];

impl SsdMobilenetV1 {
    /// Builds the detector from face-api.js' `ssd_mobilenetv1_model` weights. Every tensor
    /// of the manifest must be used with the shape the network needs, and the graph's
    /// constants (input size, scaling, anchors per predictor) must agree with this port.
    pub fn load(weights: &mut TfjsWeights, device: &Device) -> Result<SsdMobilenetV1, WeightsError> {
        let size = SsdMobilenetV1Config::new().input_size;
        let backbone = MobileNetV1::load(weights, size, device)?;
        let head = PredictionLayer::load(weights, size, device)?;
        let n = anchor_count(size);
        let anchors = tensor(weights.take("Output/extra_dim", &[1, n, 4])?, [n, 4], device);

        expect_constant(weights, "Preprocessor/ResizeImage/size", &[2], &[size as f32; 2])?;
        expect_constant(weights, "Preprocessor/mul/x", &[], &[PIXEL_SCALE])?;
        expect_constant(weights, "Preprocessor/sub/y", &[], &[1.0])?;
        for (i, map) in feature_maps(size).iter().enumerate() {
            expect_constant(weights, &format!("Prediction/BoxPredictor_{i}/stack_1/1"), &[], &[map.anchors() as f32])?;
        }
        expect_constant(weights, "Postprocessor/stack/1", &[], &[n as f32])?;
        for (name, shape) in GRAPH_PLUMBING {
            weights.take(name, shape)?;
        }
        weights.finish()?;
        Ok(SsdMobilenetV1 { backbone, head, anchors: Param::from_tensor(anchors).set_require_grad(false), input_size: size })
    }

    /// Side of the square input [`forward`](Self::forward) takes.
    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// Raw predictions for a batch of prepared images (see [`crate::nets::input::prepare`]).
    ///
    /// # Shapes
    /// - input: `[batch, 3, 512, 512]`, RGB in `[-1, 1]`
    /// - output: box encodings `[batch, 5118, 4]`, scores `[batch, 5118]`
    pub fn forward(&self, x: Tensor<4>) -> SsdOutput {
        let [batch, channels, h, w] = x.dims();
        let s = self.input_size;
        assert_eq!([channels, h, w], [3, s, s], "SsdMobilenetV1 takes [batch, 3, {s}, {s}]");
        let (conv11, out) = self.backbone.forward(x); // [batch, 512, 32, 32], [batch, 1024, 16, 16]
        let (box_encodings, classes) = self.head.forward(conv11, out); // [batch, 5118, 4], [batch, 5118, 3]
        let [_, n, _] = classes.dims();
        let scores = sigmoid(classes.narrow(2, 1, 1)).reshape([batch, n]); // [batch, 5118]
        SsdOutput { box_encodings, scores }
    }

    /// The faces in one image, best first, in its pixels.
    pub fn detect(&self, image: &RgbImage, options: &DetectOptions) -> Vec<Detection> {
        self.detect_batch(&[image], options).pop().unwrap_or_default()
    }

    /// The faces in each of `images` (any sizes), run through the network as one batch (on a
    /// GPU, in as few passes as its buffer limit allows).
    pub fn detect_batch(&self, images: &[&RgbImage], options: &DetectOptions) -> Vec<Vec<Detection>> {
        let s = self.input_size;
        // The largest activation: the first pointwise layer, 64 channels at half the input side.
        let per_pass = crate::device::items_per_pass(&self.anchors.val().device(), 64 * (s / 2) * (s / 2) * 4);
        images.chunks(per_pass).flat_map(|chunk| self.detect_pass(chunk, options)).collect()
    }

    fn detect_pass(&self, images: &[&RgbImage], options: &DetectOptions) -> Vec<Vec<Detection>> {
        if images.is_empty() {
            return Vec::new();
        }
        let device = self.anchors.val().device();
        let s = self.input_size;
        let norm = Normalize::ScaleShift { scale: PIXEL_SCALE, shift: -1.0 };
        let prepared: Vec<NetInput> = images.iter().map(|img| prepare(*img, s, Placement::TopLeft, norm)).collect();
        let data: Vec<f32> = prepared.iter().flat_map(|p| p.data.iter().copied()).collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, [images.len(), 3, s, s]), &device);
        let out = self.forward(x);
        let encodings = to_vec(out.box_encodings);
        let scores = to_vec(out.scores);
        let anchors = to_vec(self.anchors.val());
        let n = anchors.len() / 4;
        debug_assert_eq!(n, feature_maps(s).iter().map(|m| m.anchors()).sum::<usize>(), "{FEATURE_MAPS} maps");
        let anchors: Vec<NormBox> = anchors.chunks_exact(4).map(|a| [a[0], a[1], a[2], a[3]]).collect();
        let nms = NmsOptions { min_score: options.min_confidence, iou_threshold: options.iou_threshold, max_results: options.max_results };
        prepared
            .iter()
            .zip(images)
            .enumerate()
            .map(|(b, (p, img))| {
                let boxes: Vec<NormBox> = (0..n)
                    .map(|i| {
                        let e = &encodings[(b * n + i) * 4..][..4];
                        decode([e[0], e[1], e[2], e[3]], anchors[i])
                    })
                    .collect();
                let scores = &scores[b * n..][..n];
                let rects: Vec<Rect> = boxes.iter().map(|&[y0, x0, y1, x1]| Rect::from_corners(Point::new(x0, y0), Point::new(x1, y1))).collect();
                non_max_suppression(&rects, scores, &nms)
                    .into_iter()
                    .map(|i| Detection { rect: to_pixels(boxes[i], p.frame.side as f32, img.width(), img.height()), score: scores[i] })
                    .collect()
            })
            .collect()
    }
}

/// Takes the graph constant `name` and checks it holds `want`.
fn expect_constant(w: &mut TfjsWeights, name: &str, shape: &[usize], want: &[f32]) -> Result<(), WeightsError> {
    let got = w.take(name, shape)?.data;
    let close = |(g, w): (&f32, &f32)| (g - w).abs() <= 1e-6 * w.abs().max(1.0);
    if got.len() == want.len() && got.iter().zip(want).all(close) {
        Ok(())
    } else {
        Err(WeightsError::Mismatch(format!("{name} is {got:?}, this port assumes {want:?}")))
    }
}

/// A box normalized to the padded square, clipped to the image, in its pixels.
fn to_pixels([ymin, xmin, ymax, xmax]: NormBox, side: f32, width: u32, height: u32) -> Rect {
    let (w, h) = (width as f32, height as f32);
    let left = (xmin * side).clamp(0.0, w);
    let top = (ymin * side).clamp(0.0, h);
    let right = (xmax * side).clamp(left, w);
    let bottom = (ymax * side).clamp(top, h);
    Rect::new(left, top, right - left, bottom - top)
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32 tensor")
}
