//! Adam with its update fused into one pass over each parameter on the CPU.
//!
//! Burn's Adam runs about a dozen element-wise tensor operations per parameter and step, each a
//! pass over memory; on the Original model's 82 M parameters that was about a tenth of a step.
//! Here the moments, the bias correction and the parameter update are one loop, in place when
//! the buffers are not shared. The state is Burn's own [`AdamState`], so saves written with
//! Burn's Adam load unchanged and the other way round; other backends (CUDA) run Burn's tensor
//! formula through the same extension's default.

use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex};
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer};
use burn::tensor::{DType, Device, Tensor};

/// Adam's constants for one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub lr: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    /// epsilon x sqrt(1 - beta_2^t)
    pub epsilon: f32,
    /// sqrt(1 - beta_2^t) / (1 - beta_1^t)
    pub factor: f32,
}

#[backend_extension(Flex, Autodiff)]
pub trait FusedAdamBackend: Backend {
    /// (parameter, moment 1, moment 2) after one Adam step with gradient `grad`.
    fn adam_update(param: FloatTensor<Self>, grad: FloatTensor<Self>, m1: FloatTensor<Self>, m2: FloatTensor<Self>, step: [f32; 5]) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        default_update::<Self>(param, grad, m1, m2, step)
    }
}

impl FusedAdamBackend for Flex {
    fn adam_update(param: FloatTensor<Self>, grad: FloatTensor<Self>, m1: FloatTensor<Self>, m2: FloatTensor<Self>, step: [f32; 5]) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        if [param.dtype(), grad.dtype(), m1.dtype(), m2.dtype()].iter().any(|d| *d != DType::F32) {
            return default_update::<Self>(param, grad, m1, m2, step);
        }
        let (mut param, grad, mut m1, mut m2) = (whole(param), whole(grad), whole(m1), whole(m2));
        let [lr, b1, b2, eps, factor] = step;
        let Some(g) = grad.as_slice::<f32>() else { return default_update::<Self>(param, grad, m1, m2, step) };
        let (p, a, v) = (param.storage_mut::<f32>(), m1.storage_mut::<f32>(), m2.storage_mut::<f32>());
        update(p, g, a, v, [lr, b1, b2, eps, factor]);
        (param, m1, m2)
    }
}

impl<B: FusedAdamBackend, C: CheckpointStrategy> FusedAdamBackend for Autodiff<B, C> {}

/// Burn's Adam formula in tensor operations (other backends, other dtypes).
fn default_update<B: Backend>(param: FloatTensor<B>, grad: FloatTensor<B>, m1: FloatTensor<B>, m2: FloatTensor<B>, [lr, b1, b2, eps, factor]: [f32; 5]) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let m1 = B::float_add(B::float_mul_scalar(m1, b1.into()), B::float_mul_scalar(grad.clone(), (1.0 - b1).into()));
    let m2 = B::float_add(B::float_mul_scalar(m2, b2.into()), B::float_mul_scalar(B::float_mul(grad.clone(), grad), (1.0 - b2).into()));
    let update = B::float_div(B::float_mul_scalar(m1.clone(), factor.into()), B::float_add_scalar(B::float_sqrt(m2.clone()), eps.into()));
    (B::float_sub(param, B::float_mul_scalar(update, lr.into())), m1, m2)
}

/// Adam's step in tensor operations on any device: (parameter, moment 1, moment 2).
fn tensor_update<const D: usize>(param: Tensor<D>, grad: Tensor<D>, m1: Tensor<D>, m2: Tensor<D>, [lr, b1, b2, eps, factor]: [f32; 5]) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let m1 = m1.mul_scalar(b1).add(grad.clone().mul_scalar(1.0 - b1));
    let m2 = m2.mul_scalar(b2).add(grad.clone().mul(grad).mul_scalar(1.0 - b2));
    let update = m1.clone().mul_scalar(factor).div(m2.clone().sqrt().add_scalar(eps));
    (param.sub(update.mul_scalar(lr)), m1, m2)
}

/// A tensor whose buffer is exactly its elements in order (copied when it is a view).
fn whole(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    let n = t.layout().num_elements();
    if t.layout().contiguous_offsets() == Some((0, n)) && t.bytes().len() == n * 4 { t } else { t.to_contiguous() }
}

/// The fused loop, on both cores for big tensors.
fn update(p: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32], [lr, b1, b2, eps, factor]: [f32; 5]) {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 16;
    p.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(m1.par_chunks_mut(CHUNK)).zip(m2.par_chunks_mut(CHUNK)).for_each(|(((p, g), a), v)| {
        for i in 0..p.len() {
            let gi = g[i];
            let ai = b1 * a[i] + (1.0 - b1) * gi;
            let vi = b2 * v[i] + (1.0 - b2) * gi * gi;
            a[i] = ai;
            v[i] = vi;
            p[i] -= lr * (ai * factor) / (vi.sqrt() + eps);
        }
    });
}

/// Adam (no weight decay, no AMSGrad: what `OptimizerKind::Adam` trains with) whose update is
/// the fused one.
#[derive(Debug, Clone, Copy)]
pub struct FusedAdam {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(&self, lr: LearningRate, tensor: Tensor<D>, grad: Tensor<D>, state: Option<Self::State<D>>) -> (Tensor<D>, Option<Self::State<D>>) {
        let (m1, m2, time) = match state {
            Some(s) => (s.momentum.moment_1, s.momentum.moment_2, s.momentum.time),
            None => (tensor.zeros_like(), tensor.zeros_like(), 0),
        };
        let time = time + 1;
        let t = time as i32;
        let bc2 = (1.0 - self.beta_2.powi(t)).sqrt();
        let step = [lr as f32, self.beta_1, self.beta_2, self.epsilon * bc2, bc2 / (1.0 - self.beta_1.powi(t))];
        if !super::conv::on_flex(&tensor.device()) {
            // The extension exists for the CPU backend only: on a GPU, Burn's tensor operations
            // (the dispatch would refuse a backend the extension does not name).
            let (p, a, v) = tensor_update(tensor, grad, m1, m2, step);
            return (p, Some(AdamState::new(AdaptiveMomentumState::new(time, a, v))));
        }
        let (p, a, v) = <Dispatch as FusedAdamBackend>::adam_update(tensor.into_dispatch(), grad.into_dispatch(), m1.into_dispatch(), m2.into_dispatch(), step);
        let momentum = AdaptiveMomentumState::new(time, Tensor::from_dispatch(a), Tensor::from_dispatch(v));
        (Tensor::from_dispatch(p), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum.moment_1 = state.momentum.moment_1.to_device(device);
        state.momentum.moment_2 = state.momentum.moment_2.to_device(device);
        state
    }
}

impl FusedAdam {
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::AdamConfig;
    use burn::tensor::Distribution;

    /// Three steps of the fused Adam give Burn's Adam's parameters and moments.
    #[test]
    fn the_fused_update_is_burns_adam() {
        let device = Device::flex();
        let burns = AdamConfig::new().with_beta_1(0.5).with_beta_2(0.999).with_epsilon(1e-7).build();
        let fused = FusedAdam { beta_1: 0.5, beta_2: 0.999, epsilon: 1e-7 };
        let start = Tensor::<2>::random([64, 300], Distribution::Normal(0.0, 1.0), &device);
        let (mut a, mut b) = ((start.clone(), None), (start, None));
        for _ in 0..3 {
            let g = Tensor::<2>::random([64, 300], Distribution::Normal(0.0, 0.1), &device);
            a = { let (p, s) = burns.step(5e-3, a.0, g.clone(), a.1); (p, s) };
            b = { let (p, s) = fused.step(5e-3, b.0, g, b.1); (p, s) };
        }
        let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        let close = |x: Vec<f32>, y: Vec<f32>, what: &str| {
            let worst = x.iter().zip(&y).map(|(p, q)| (p - q).abs() / q.abs().max(1e-3)).fold(0.0f32, f32::max);
            assert!(worst < 1e-4, "{what}: relative difference {worst}");
        };
        let (sa, sb) = (a.1.unwrap().momentum, b.1.unwrap().momentum);
        assert_eq!((sa.time, sb.time), (3, 3));
        close(values(b.0), values(a.0), "parameters");
        close(values(sb.moment_1), values(sa.moment_1), "first moment");
        close(values(sb.moment_2), values(sa.moment_2), "second moment");
    }

    /// The update used off the CPU (tensor operations) is the fused one's arithmetic.
    #[test]
    fn the_tensor_update_for_other_devices_matches_the_fused_one() {
        let device = Device::flex();
        let t = |std: f64| Tensor::<2>::random([32, 70], Distribution::Normal(0.0, std), &device);
        let (p, g, m1, m2) = (t(1.0), t(0.1), t(0.01), t(0.01).abs());
        let step = [5e-3, 0.5, 0.999, 1e-7 * 0.0447, 0.0447 / 0.5];
        let (tp, ta, tv) = tensor_update(p.clone(), g.clone(), m1.clone(), m2.clone(), step);
        let (fp, fa, fv) = <Dispatch as FusedAdamBackend>::adam_update(p.into_dispatch(), g.into_dispatch(), m1.into_dispatch(), m2.into_dispatch(), step);
        for (x, y, what) in [(tp, fp, "parameters"), (ta, fa, "first moment"), (tv, fv, "second moment")] {
            let (x, y) = (x.into_data().try_to_vec::<f32>().unwrap(), Tensor::<2>::from_dispatch(y).into_data().try_to_vec::<f32>().unwrap());
            let worst = x.iter().zip(&y).map(|(p, q)| (p - q).abs() / q.abs().max(1e-3)).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{what}: relative difference {worst}");
        }
    }
}
