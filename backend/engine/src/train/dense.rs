//! The training models' dense layers, with a faster input gradient on the CPU.
//!
//! Burn 0.22 takes a dense layer's input gradient `dX = dY W^T` as a matrix product against
//! the transposed weight view. With the few rows of a batch (16) and the Original model's
//! 16384 x 1024 weights, the GEMM's packing of that view dominated: 27 ms and 39 ms for the
//! two bottleneck layers (`doppel bench train --layers` had their backward at 5-8x the
//! forward). Each `dX[b, i]` is the dot product of row `b` of `dY` with row `i` of `W`, both
//! contiguous: here one streaming pass over `W` computes them all. The op is a Burn backend
//! extension like [`super::conv`]: Flex gets the kernel (on CPUs with AVX-512, else Burn's
//! product), other backends keep Burn's gradients; weight and bias gradients are Burn's.

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::nn::Linear;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

#[backend_extension(Flex, Autodiff)]
pub trait TrainLinear: Backend {
    /// `x W + b` for `x` `[rows, d_in]`, whose input gradient is [`TrainLinear::linear_input_grad`].
    fn train_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::linear(x, weight, Some(bias))
    }

    /// The gradient of the layer's input, `dY W^T`.
    fn linear_input_grad(weight: FloatTensor<Self>, output_grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::linear_x_backward(weight, output_grad)
    }
}

impl TrainLinear for Flex {
    fn linear_input_grad(weight: FloatTensor<Self>, output_grad: FloatTensor<Self>) -> FloatTensor<Self> {
        cpu_input_grad(&weight, &output_grad).unwrap_or_else(|| Self::linear_x_backward(weight, output_grad))
    }
}

/// [`input_grad`] on Flex tensors, or `None` where Burn's is the one to use.
fn cpu_input_grad(weight: &FloatTensor<Flex>, output_grad: &FloatTensor<Flex>) -> Option<FloatTensor<Flex>> {
    let (w_dims, g_dims) = (weight.shape(), output_grad.shape());
    if weight.dtype() != DType::F32 || output_grad.dtype() != DType::F32 || w_dims.num_dims() != 2 || g_dims.num_dims() != 2 {
        return None;
    }
    let ([d_in, d_out], [rows, g_out]): ([usize; 2], [usize; 2]) = (w_dims.dims(), g_dims.dims());
    if d_out != g_out {
        return None;
    }
    let (w, g) = (weight.clone().to_contiguous(), output_grad.clone().to_contiguous());
    let values = input_grad(w.as_slice::<f32>()?, g.as_slice::<f32>()?, rows, d_in, d_out)?;
    Some(Flex::float_from_data(TensorData::new(values, [rows, d_in]), &Default::default()))
}

impl<B: TrainLinear, C: CheckpointStrategy> TrainLinear for Autodiff<B, C> {
    fn train_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct LinearBackward;

        impl<B: TrainLinear> Backward<B, 3> for LinearBackward {
            type State = (NodeId, NodeId);

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state) = ops.state;
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, B::linear_input_grad(weight, grad.clone()));
                }
                if let Some(node) = node_weight {
                    grads.register::<B>(node.id, B::linear_weight_backward(x, grad.clone()));
                }
                if let Some(node) = node_bias {
                    grads.register::<B>(node.id, B::linear_bias_backward(grad));
                }
            }
        }

        match LinearBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                prep.finish((x_state, weight_state), B::train_linear(x.into_primitive(), weight.into_primitive(), bias.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::train_linear(x.into_primitive(), weight.into_primitive(), bias.into_primitive())),
        }
    }
}

/// `layer.forward(x)` for `x` `[rows, d_in]`, with the fast input gradient when `x` is on the
/// CPU backend and the layer has a bias (Burn's own layer elsewhere).
pub fn forward(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    match &layer.bias {
        Some(bias) if super::conv::on_flex(&x.device()) => Tensor::from_dispatch(<Dispatch as TrainLinear>::train_linear(x.into_dispatch(), layer.weight.val().into_dispatch(), bias.val().into_dispatch())),
        _ => layer.forward(x),
    }
}

/// `dY W^T` for `g` `[rows, d_out]` and `w` `[d_in, d_out]`, f32 row-major, as `[rows, d_in]`;
/// `None` on CPUs without AVX-512. Panics when the slices are not as long as the sizes say.
pub fn input_grad(w: &[f32], g: &[f32], rows: usize, d_in: usize, d_out: usize) -> Option<Vec<f32>> {
    assert!(w.len() == d_in * d_out && g.len() == rows * d_out, "dense input gradient: operands not {d_in} x {d_out} and {rows} x {d_out}");
    #[cfg(target_arch = "x86_64")]
    if let Some(_cpu) = crate::kernels::cpu::Avx512::detect() {
        // Row i of W gives column i of dX: tasks fill dX^T, [d_in, rows], in runs of rows.
        let mut transposed = vec![0.0f32; d_in * rows];
        if rows > 0 {
            transposed.par_chunks_mut(ROWS_PER_TASK * rows).enumerate().for_each(|(t, out)| {
                // SAFETY: `_cpu` is the token of run-time detection: the CPU has AVX-512F.
                unsafe { rows_avx512(w, g, rows, d_out, t * ROWS_PER_TASK, out) }
            });
        }
        let mut dx = vec![0.0f32; rows * d_in];
        for (i, column) in transposed.chunks_exact(rows.max(1)).enumerate() {
            for (b, v) in column.iter().enumerate() {
                dx[b * d_in + i] = *v;
            }
        }
        return Some(dx);
    }
    None
}

/// Rows of `W` per parallel task.
const ROWS_PER_TASK: usize = 64;

/// Columns of `W` and `dY` taken per pass: a row of `W`'s block (1 KB) and the blocks of every
/// row of `dY` stay in the L1 cache while the block's dot products run.
const BLOCK: usize = 256;

/// Dot products of `W`'s rows `first..` with every row of `g`, into `out` (`[.., rows]`).
/// To be called only where the CPU has AVX-512F (a [`crate::kernels::cpu::Avx512`] token).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn rows_avx512(w: &[f32], g: &[f32], rows: usize, d_out: usize, first: usize, out: &mut [f32]) {
    use std::arch::x86_64::{__m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_reduce_add_ps, _mm512_setzero_ps};
    const LANES: usize = 16;
    let full = d_out / LANES * LANES;
    let mut acc: Vec<[__m512; 2]> = vec![[_mm512_setzero_ps(); 2]; rows];
    for (r, dst) in out.chunks_exact_mut(rows).enumerate() {
        let row = &w[(first + r) * d_out..][..d_out];
        acc.fill([_mm512_setzero_ps(); 2]);
        for j0 in (0..full).step_by(BLOCK) {
            let j1 = (j0 + BLOCK).min(full);
            for (b, sums) in acc.iter_mut().enumerate() {
                let grow = &g[b * d_out..][..d_out];
                let [mut s0, mut s1] = *sums;
                let mut j = j0;
                while j + 2 * LANES <= j1 {
                    debug_assert!(j + 2 * LANES <= row.len() && j + 2 * LANES <= grow.len());
                    // SAFETY: reads floats j..j + 2 LANES of both rows: j + 2 LANES <= j1 <=
                    // full <= d_out, the length of both.
                    let (r, d) = unsafe { ([_mm512_loadu_ps(row.as_ptr().add(j)), _mm512_loadu_ps(row.as_ptr().add(j + LANES))], [_mm512_loadu_ps(grow.as_ptr().add(j)), _mm512_loadu_ps(grow.as_ptr().add(j + LANES))]) };
                    s0 = _mm512_fmadd_ps(r[0], d[0], s0);
                    s1 = _mm512_fmadd_ps(r[1], d[1], s1);
                    j += 2 * LANES;
                }
                if j < j1 {
                    // j0, j1 and the steps are multiples of LANES: one whole vector is left.
                    debug_assert!(j + LANES <= j1 && j1 <= row.len() && j1 <= grow.len());
                    // SAFETY: reads floats j..j + LANES of both rows: j + LANES <= j1 <= d_out.
                    let (r, d) = unsafe { (_mm512_loadu_ps(row.as_ptr().add(j)), _mm512_loadu_ps(grow.as_ptr().add(j))) };
                    s0 = _mm512_fmadd_ps(r, d, s0);
                }
                *sums = [s0, s1];
            }
        }
        for (b, (v, sums)) in dst.iter_mut().zip(&acc).enumerate() {
            let grow = &g[b * d_out..][..d_out];
            let tail: f32 = row[full..].iter().zip(&grow[full..]).map(|(a, c)| a * c).sum();
            *v = _mm512_reduce_add_ps(_mm512_add_ps(sums[0], sums[1])) + tail;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution};

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The output and every gradient (input, weight, bias) of [`forward`] are Burn's own,
    /// with widths that are and are not whole SIMD lanes and blocks.
    #[test]
    fn gradients_match_burns_linear() {
        let device = Device::flex().autodiff();
        // One row, one input, outputs shorter than a vector, one vector and one, two and three.
        for (rows, d_in, d_out) in [(3, 70, 300), (16, 64, 1024), (1, 5, 7), (5, 130, 16), (1, 1, 1), (1, 1, 17), (2, 3, 33), (1, 65, 15), (1, 4, 32), (1, 3, 48)] {
            let layer = LinearConfig::new(d_in, d_out).init(&device);
            let x = Tensor::<2>::random([rows, d_in], Distribution::Normal(0.0, 1.0), &device);
            let r = Tensor::<2>::random([rows, d_out], Distribution::Normal(0.0, 1.0), &device);
            let run = |ours: bool| {
                let x = x.clone().detach().require_grad();
                let y = if ours { forward(&layer, x.clone()) } else { layer.forward(x.clone()) };
                let grads = (y.clone() * r.clone()).sum().backward();
                let bias = values(layer.bias.as_ref().unwrap().val().grad(&grads).unwrap());
                (values(y), values(x.grad(&grads).unwrap()), values(layer.weight.val().grad(&grads).unwrap()), bias)
            };
            let (ours, burns) = (run(true), run(false));
            let (ws, gs) = (values(layer.weight.val()), values(r.clone()));
            match input_grad(&ws, &gs, rows, d_in, d_out) {
                // The input gradient of sum(y * r) is r W^T.
                Some(dx) => assert!(dx.iter().zip(&burns.1).all(|(p, q)| (p - q).abs() < 1e-3), "the kernel alone ({rows} x {d_in} -> {d_out})"),
                None => assert!(!crate::kernels::has_avx512(), "AVX-512 CPUs take the kernel"),
            }
            for (what, a, b) in [("output", &ours.0, &burns.0), ("input gradient", &ours.1, &burns.1), ("weight gradient", &ours.2, &burns.2), ("bias gradient", &ours.3, &burns.3)] {
                assert_eq!(a.len(), b.len(), "{what}");
                let worst = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
                assert!(worst < 1e-3, "{what} ({rows} x {d_in} -> {d_out}): off by {worst}");
            }
        }
    }
}
