//! One training iteration: a batch of A through decoder A, a batch of B through decoder B,
//! masked mean absolute error, one Adam step on the sum.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};

use super::loss::{face_loss, LossInputs, LossSettings};
use super::model::{Decoded, SwapModel, SwapModelConfig};

/// The optimisers on offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    #[default]
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
}

/// Adam as faceswap sets it up: learning rate 5e-5, beta1 0.5, beta2 0.999, epsilon 1e-7; no
/// warm-up, no clipping.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct OptimizerSettings {
    pub kind: OptimizerKind,
    pub learning_rate: f64,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// Iterations over which the learning rate rises linearly to its value.
    pub warmup: u64,
    /// Each parameter tensor's gradient is scaled down to at most this L2 norm.
    pub clip_norm: Option<f32>,
}

impl Default for OptimizerSettings {
    fn default() -> Self {
        OptimizerSettings { kind: OptimizerKind::Adam, learning_rate: 5e-5, beta1: 0.5, beta2: 0.999, epsilon: 1e-7, weight_decay: 1e-4, warmup: 0, clip_norm: None }
    }
}

impl OptimizerSettings {
    /// The learning rate of iteration `iteration` (counted from 0), after the warm-up.
    pub fn rate_at(&self, iteration: u64) -> f64 {
        if iteration < self.warmup {
            self.learning_rate * (iteration + 1) as f64 / (self.warmup + 1) as f64
        } else {
            self.learning_rate
        }
    }
}

/// A batch of faces in `[0, 1]`, NCHW, with the mask the loss is weighted by.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// What goes into the encoder (augmented), `input_side` square.
    pub input: Vec<f32>,
    /// What should come out (the same faces, not warped), `output_side` square.
    pub target: Vec<f32>,
    /// 1 inside the face, 0 outside, one channel at the output side.
    pub mask: Vec<f32>,
    /// The eye and mouth regions, one channel each at the output side.
    pub eyes: Vec<f32>,
    pub mouth: Vec<f32>,
    pub size: usize,
    pub input_side: usize,
    pub output_side: usize,
}

/// Which person a decoder makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Identity {
    A,
    B,
}

/// The losses of one iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLoss {
    pub a: f32,
    pub b: f32,
}

/// The model being trained, its optimiser and its device.
pub struct Trainer {
    /// Always `Some` between steps (moved through the optimiser during one).
    model: Option<SwapModel>,
    pub optimizer: ModuleOptimizer,
    pub settings: OptimizerSettings,
    /// How the loss is made (the session's; defaults until it sets them).
    pub loss: LossSettings,
    pub config: SwapModelConfig,
    device: Device,
}

impl Trainer {
    /// A new model of `config` on `device` (made trainable), its weights drawn from `seed`,
    /// with a fresh optimiser.
    pub fn new(config: &SwapModelConfig, settings: OptimizerSettings, device: &Device, seed: u64) -> Trainer {
        let device = device.clone().autodiff();
        let model = Some(init_seeded(config, &device, seed));
        Trainer { model, optimizer: fresh_optimizer(&settings), settings, loss: LossSettings::default(), config: config.clone(), device }
    }

    pub fn model(&self) -> &SwapModel {
        self.model.as_ref().expect("the model is back after every step")
    }

    /// Takes the model out (to load weights into it); [`put_model`](Self::put_model) returns it.
    pub(crate) fn take_model(&mut self) -> SwapModel {
        self.model.take().expect("the model is back after every step")
    }

    pub(crate) fn put_model(&mut self, model: SwapModel) {
        self.model = Some(model);
    }

    /// Parameters in the model.
    pub fn num_params(&self) -> usize {
        use burn::module::Module as _;
        self.model().num_params()
    }

    /// `faces` (their inputs) through the encoder and decoder B, without training: the swap
    /// A -> B. Returns NCHW values in `[0, 1]`.
    pub fn swap_to_b(&self, faces: &Batch) -> Vec<f32> {
        self.predict(faces, Identity::B)
    }

    /// `faces` (their inputs) through the encoder and the decoder of `to`, without training.
    /// Returns NCHW values in `[0, 1]` at the output size.
    pub fn predict(&self, faces: &Batch, to: Identity) -> Vec<f32> {
        use burn::module::Module as _;
        let model = self.model().valid();
        let plain = self.device.clone().without_autodiff();
        let x = Tensor::<4>::from_data(TensorData::new(faces.input.clone(), [faces.size, 3, faces.input_side, faces.input_side]), &plain);
        let y = match to {
            Identity::A => model.forward_a(x),
            Identity::B => model.forward_b(x),
        };
        y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default()
    }

    /// One iteration on a batch of each side at the settings' learning rate; returns the
    /// losses before the update.
    pub fn step(&mut self, a: &Batch, b: &Batch) -> StepLoss {
        self.step_at(a, b, self.settings.learning_rate)
    }

    /// One iteration at learning rate `rate`. A NaN or infinite loss is returned as it is
    /// (the caller rolls back: the update it made is not to be kept).
    pub fn step_at(&mut self, a: &Batch, b: &Batch, rate: f64) -> StepLoss {
        let (ia, la) = self.tensors(a);
        let (ib, lb) = self.tensors(b);
        let model = self.model.take().expect("the model is back after every step");
        let loss_a = face_loss(la.with(model.decode_a(ia)), &self.loss);
        let loss_b = face_loss(lb.with(model.decode_b(ib)), &self.loss);
        // The values are read after the update is queued: on a GPU, reading them first would
        // wait for the forward pass before the backward pass could even be submitted.
        let (value_a, value_b) = (loss_a.clone().detach(), loss_b.clone().detach());
        let grads = GradientsParams::from_grads((loss_a + loss_b).backward(), &model);
        self.model = Some(self.optimizer.step(rate, model, grads));
        StepLoss { a: scalar(value_a), b: scalar(value_b) }
    }

    /// The batch's input, and what its loss compares the output with.
    fn tensors(&self, batch: &Batch) -> (Tensor<4>, Targets) {
        // Inputs need no gradient: plain CPU tensors are constants to the autodiff graph.
        let plain = self.device.clone().without_autodiff();
        let (n, i, o) = (batch.size, batch.input_side, batch.output_side);
        let t = |v: &Vec<f32>, shape: [usize; 4]| Tensor::<4>::from_data(TensorData::new(v.clone(), shape), &plain);
        let one = [n, 1, o, o];
        (t(&batch.input, [n, 3, i, i]), Targets { target: t(&batch.target, [n, 3, o, o]), mask: t(&batch.mask, one), eyes: t(&batch.eyes, one), mouth: t(&batch.mouth, one) })
    }
}

/// A batch's targets, waiting for the model's output.
struct Targets {
    target: Tensor<4>,
    mask: Tensor<4>,
    eyes: Tensor<4>,
    mouth: Tensor<4>,
}

impl Targets {
    fn with(self, out: Decoded) -> LossInputs {
        LossInputs { output: out.face, target: self.target, mask: self.mask, eyes: self.eyes, mouth: self.mouth, learned_mask: out.mask }
    }
}

/// Burn draws initial weights from one process-wide generator, lazily, on a parameter's first
/// use. Seeding it and touching every parameter under this lock makes a seed give the same
/// model even while other threads make models.
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The weights are drawn on the CPU and then moved to `device`: each backend has its own
/// generator, and a seed is to give the same model on every device.
fn init_seeded(config: &SwapModelConfig, device: &Device, seed: u64) -> SwapModel {
    use burn::module::Module as _;
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    let cpu = if device.is_autodiff() { Device::flex().autodiff() } else { Device::flex() };
    cpu.seed(seed);
    let model = config.init(&cpu);
    // Draw every parameter now, in module order, while the generator is ours.
    let _ = model.clone().into_record();
    if *device == cpu {
        model
    } else {
        // `fork`, not `to_device`: the copy on `device` is a leaf of its own graph.
        model.fork(device)
    }
}

/// The optimiser of `s`, no state yet.
pub(crate) fn fresh_optimizer(s: &OptimizerSettings) -> ModuleOptimizer {
    let clip = s.clip_norm.map(GradientClippingConfig::Norm);
    match s.kind {
        OptimizerKind::Adam => {
            let optim = super::adam::FusedAdam { beta_1: s.beta1, beta_2: s.beta2, epsilon: s.epsilon }.init();
            match clip {
                Some(c) => optim.with_grad_clipping(c.init()),
                None => optim,
            }
        }
        OptimizerKind::AdamW => AdamWConfig::new().with_beta_1(s.beta1).with_beta_2(s.beta2).with_epsilon(s.epsilon).with_weight_decay(s.weight_decay).with_grad_clipping(clip).init(),
    }
}

fn scalar(t: Tensor<1>) -> f32 {
    t.into_data().convert::<f32>().try_to_vec::<f32>().map(|v| v[0]).unwrap_or(f32::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::model::ModelKind;

    fn batch(person: &str) -> Batch {
        crate::train::testdata::identity_batch(person, 4, 64)
    }

    #[test]
    fn training_lowers_the_loss_of_both_sides() {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        let settings = OptimizerSettings { learning_rate: 3e-4, ..OptimizerSettings::default() };
        let mut trainer = Trainer::new(&ModelKind::Lightweight.config(), settings, &device, 1);
        let (a, b) = (batch("amy"), batch("raj"));
        let losses: Vec<StepLoss> = (0..40).map(|_| trainer.step(&a, &b)).collect();
        let mean = |s: &[StepLoss]| (s.iter().map(|l| l.a).sum::<f32>() / s.len() as f32, s.iter().map(|l| l.b).sum::<f32>() / s.len() as f32);
        let (first, last) = (mean(&losses[..5]), mean(&losses[35..]));
        println!("loss A {:.4} -> {:.4}, B {:.4} -> {:.4}", first.0, last.0, first.1, last.1);
        assert!(last.0.is_finite() && last.1.is_finite());
        assert!(last.0 < first.0 * 0.85 && last.1 < first.1 * 0.85, "{first:?} -> {last:?}");
    }
}
