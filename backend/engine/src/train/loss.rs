//! Reconstruction losses, masked and weighted as faceswap users set them: pixel losses (MAE,
//! MSE), structural similarity (SSIM, and MS-SSIM for faces of 128 px and more), a weighted
//! sum of two of them, the eye and mouth regions weighted up, and the learned mask's loss.

use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions};
use burn::tensor::{Tensor, TensorData};

/// One loss function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossFunction {
    /// Mean absolute error.
    Mae,
    /// Mean squared error.
    Mse,
    /// 1 - SSIM (11 px Gaussian window, sigma 1.5).
    Ssim,
    /// 1 - multi-scale SSIM (as many scales as the face size allows, up to 5).
    MsSsim,
}

impl LossFunction {
    pub const ALL: [LossFunction; 4] = [LossFunction::Mae, LossFunction::Mse, LossFunction::Ssim, LossFunction::MsSsim];

    pub fn name(self) -> &'static str {
        match self {
            LossFunction::Mae => "mae",
            LossFunction::Mse => "mse",
            LossFunction::Ssim => "ssim",
            LossFunction::MsSsim => "ms-ssim",
        }
    }
}

/// How the loss of a batch is made.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LossSettings {
    /// The main loss.
    pub function: LossFunction,
    /// A second loss added with `secondary_weight`.
    pub secondary: Option<LossFunction>,
    pub secondary_weight: f32,
    /// The eye region's pixel loss counts this many times (1: no extra weight).
    pub eye_multiplier: f32,
    /// The mouth region's pixel loss counts this many times.
    pub mouth_multiplier: f32,
    /// Weight of the learned mask's loss (MSE against the landmark mask), for models with one.
    pub mask_weight: f32,
}

impl Default for LossSettings {
    fn default() -> Self {
        LossSettings { function: LossFunction::Ssim, secondary: Some(LossFunction::Mae), secondary_weight: 1.0, eye_multiplier: 3.0, mouth_multiplier: 2.0, mask_weight: 1.0 }
    }
}

/// The tensors one side's loss is computed from, NCHW at the output size.
pub struct LossInputs {
    pub output: Tensor<4>,
    pub target: Tensor<4>,
    /// One channel each.
    pub mask: Tensor<4>,
    pub eyes: Tensor<4>,
    pub mouth: Tensor<4>,
    /// The model's learned mask, if it has one (one channel).
    pub learned_mask: Option<Tensor<4>>,
}

/// The loss of one side under `s`: the chosen functions on the masked faces, plus the extra
/// weight of eyes and mouth, plus the learned mask's loss.
pub fn face_loss(inputs: LossInputs, s: &LossSettings) -> Tensor<1> {
    let LossInputs { output, target, mask, eyes, mouth, learned_mask } = inputs;
    let [b, c, h, w] = output.dims();
    let spread = |m: Tensor<4>| m.expand([b, c, h, w]);
    // Outside the mask both sides are black, so only the face counts.
    let (out_m, tgt_m) = (output.clone() * spread(mask.clone()), target.clone() * spread(mask.clone()));
    let mut loss = apply(s.function, out_m.clone(), tgt_m.clone());
    if let Some(second) = s.secondary.filter(|_| s.secondary_weight > 0.0) {
        loss = loss + apply(second, out_m, tgt_m) * s.secondary_weight;
    }
    for (region, multiplier) in [(eyes, s.eye_multiplier), (mouth, s.mouth_multiplier)] {
        if multiplier > 1.0 {
            loss = loss + region_mae(output.clone(), target.clone(), region) * (multiplier - 1.0);
        }
    }
    if let Some(learned) = learned_mask.filter(|_| s.mask_weight > 0.0) {
        loss = loss + (learned - mask).powi_scalar(2).mean() * s.mask_weight;
    }
    loss
}

/// `f` of two NCHW batches in `[0, 1]`.
pub fn apply(f: LossFunction, output: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    match f {
        LossFunction::Mae => (output - target).abs().mean(),
        LossFunction::Mse => (output - target).powi_scalar(2).mean(),
        LossFunction::Ssim => ssim(output, target).neg().add_scalar(1.0),
        LossFunction::MsSsim => ms_ssim(output, target).neg().add_scalar(1.0),
    }
}

/// Mean absolute error over the pixels of `region` (one channel), 0 where it is empty.
fn region_mae(output: Tensor<4>, target: Tensor<4>, region: Tensor<4>) -> Tensor<1> {
    let [b, c, h, w] = output.dims();
    let area = region.clone().sum().mul_scalar(c as f32).clamp_min(1.0);
    ((output - target).abs() * region.expand([b, c, h, w])).sum() / area
}

/// Side of the SSIM window and its Gaussian's sigma (Wang et al.).
const WINDOW: usize = 11;
const SIGMA: f64 = 1.5;
/// Stability constants for values in `[0, 1]`: `(0.01)^2` and `(0.03)^2`.
const C1: f32 = 1e-4;
const C2: f32 = 9e-4;
/// MS-SSIM's scale weights (Wang, Simoncelli, Bovik 2003).
const MS_WEIGHTS: [f32; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

/// The Gaussian window as a depthwise filter for `channels` channels.
fn window(channels: usize, device: &burn::tensor::Device) -> Tensor<4> {
    let half = (WINDOW / 2) as f64;
    let g: Vec<f64> = (0..WINDOW).map(|i| (-((i as f64 - half).powi(2)) / (2.0 * SIGMA * SIGMA)).exp()).collect();
    let total: f64 = g.iter().sum();
    let mut w = Vec::with_capacity(channels * WINDOW * WINDOW);
    for _ in 0..channels {
        for y in 0..WINDOW {
            for x in 0..WINDOW {
                w.push((g[y] * g[x] / (total * total)) as f32);
            }
        }
    }
    Tensor::<4>::from_data(TensorData::new(w, [channels, 1, WINDOW, WINDOW]), device)
}

/// Mean SSIM and mean contrast-structure term of two batches (no padding: the window stays
/// inside the image).
fn ssim_parts(x: Tensor<4>, y: Tensor<4>) -> (Tensor<1>, Tensor<1>) {
    let c = x.dims()[1];
    let w = window(c, &x.device());
    let blur = |t: Tensor<4>| conv2d(t, w.clone(), None, ConvOptions::new([1, 1], [0, 0], [1, 1], c));
    let (mx, my) = (blur(x.clone()), blur(y.clone()));
    let (mx2, my2, mxy) = (mx.clone().powi_scalar(2), my.clone().powi_scalar(2), mx.clone() * my.clone());
    let sx = blur(x.clone().powi_scalar(2)) - mx2.clone();
    let sy = blur(y.clone().powi_scalar(2)) - my2.clone();
    let sxy = blur(x * y) - mxy.clone();
    let luminance = (mxy.mul_scalar(2.0).add_scalar(C1)) / (mx2 + my2).add_scalar(C1);
    let cs = (sxy.mul_scalar(2.0).add_scalar(C2)) / (sx + sy).add_scalar(C2);
    ((luminance * cs.clone()).mean(), cs.mean())
}

/// Mean structural similarity of two NCHW batches in `[0, 1]`; 1 for equal images.
pub fn ssim(x: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    ssim_parts(x, y).0
}

/// Multi-scale SSIM: contrast-structure at each finer scale, full SSIM at the coarsest, each
/// scale half the last (2x2 average). Faces too small for 5 scales use fewer, with the weights
/// of those scales renormalised.
pub fn ms_ssim(x: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    let side = x.dims()[2].min(x.dims()[3]);
    let scales = (1..=MS_WEIGHTS.len()).take_while(|k| side >> (k - 1) >= WINDOW).count().max(1);
    let total: f32 = MS_WEIGHTS[..scales].iter().sum();
    let (mut x, mut y) = (x, y);
    let mut out: Option<Tensor<1>> = None;
    for (k, weight) in MS_WEIGHTS[..scales].iter().enumerate() {
        let (s, cs) = ssim_parts(x.clone(), y.clone());
        let term = if k + 1 == scales { s } else { cs };
        // Negative similarity at a coarse scale would make the fractional power NaN.
        let term = term.clamp_min(1e-6).powf_scalar(weight / total);
        out = Some(match out {
            Some(o) => o * term,
            None => term,
        });
        if k + 1 < scales {
            let pool = AvgPoolOptions::new([2, 2]);
            x = avg_pool2d(x, pool.clone());
            y = avg_pool2d(y, pool);
        }
    }
    out.expect("at least one scale")
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn device() -> burn::tensor::Device {
        crate::device::ComputeDevice::Cpu.to_burn().unwrap()
    }

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0]
    }

    #[test]
    fn similarity_is_one_for_equal_images_and_falls_with_noise() {
        let d = device();
        d.seed(3);
        let x = Tensor::<4>::random([2, 3, 64, 64], Distribution::Uniform(0.0, 1.0), &d);
        let wave: Vec<f32> = (0..2 * 3 * 64 * 64).map(|i| 0.5 + 0.4 * ((i % 64) as f32 / 6.0).sin() * ((i / 64 % 64) as f32 / 9.0).cos()).collect();
        let smooth = Tensor::<4>::from_data(TensorData::new(wave, [2, 3, 64, 64]), &d);
        for f in [ssim, ms_ssim] {
            assert!((scalar(f(x.clone(), x.clone())) - 1.0).abs() < 1e-4);
            let noisy = (smooth.clone() + Tensor::<4>::random([2, 3, 64, 64], Distribution::Normal(0.0, 0.1), &d)).clamp(0.0, 1.0);
            let (a, b) = (scalar(f(smooth.clone(), noisy)), scalar(f(smooth.clone(), smooth.clone().mul_scalar(0.0))));
            assert!(a < 0.99 && a > b, "noise lowers similarity, black lowers it more: {a} {b}");
        }
        // 128 px faces get 4 scales, 64 px get 3: both finite.
        let big = Tensor::<4>::random([1, 3, 128, 128], Distribution::Uniform(0.0, 1.0), &d);
        assert!(scalar(ms_ssim(big.clone(), big.clone().mul_scalar(0.9))).is_finite());
    }

    #[test]
    fn the_loss_counts_the_face_the_eyes_and_the_learned_mask() {
        let d = device();
        let ones = |c| Tensor::<4>::ones([1, c, 16, 16], &d);
        let zeros = |c| Tensor::<4>::zeros([1, c, 16, 16], &d);
        let pixel = LossSettings { function: LossFunction::Mae, secondary: None, eye_multiplier: 1.0, mouth_multiplier: 1.0, ..LossSettings::default() };
        let inputs = |mask: Tensor<4>, eyes: Tensor<4>, learned| LossInputs { output: ones(3), target: zeros(3), mask, eyes, mouth: zeros(1), learned_mask: learned };
        assert!((scalar(face_loss(inputs(ones(1), zeros(1), None), &pixel)) - 1.0).abs() < 1e-6);
        assert_eq!(scalar(face_loss(inputs(zeros(1), zeros(1), None), &pixel)), 0.0, "nothing outside the mask counts");
        let eyes = LossSettings { eye_multiplier: 3.0, ..pixel };
        assert!((scalar(face_loss(inputs(ones(1), ones(1), None), &eyes)) - 3.0).abs() < 1e-5, "eyes count three times");
        let learned = Some(zeros(1));
        assert!((scalar(face_loss(inputs(ones(1), zeros(1), learned), &pixel)) - 2.0).abs() < 1e-6, "a wrong learned mask adds its error");
    }
}
