//! The convolution's gradients on the CPU as one GEMM per chunk of the batch.
//!
//! Weight: dW[co, (c, kh, kw)] = sum over (n, oh, ow) of dY[n, co, oh, ow] * cols[(n, oh, ow), (c, kh, kw)],
//! the im2col matrix of the input. Input: cols' = dY^T W, then col2im adds each column back
//! onto the input pixel it was read from. Both have the forward's FLOPs and run at GEMM speed,
//! where Burn 0.22's defaults (a convolution over swapped axes, a transposed convolution) run
//! as many thin products.

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

use burn::backend::ops::ConvOptions;
use rayon::prelude::*;

use super::stride1_grad::{self, FEW_FILTERS};
use crate::kernels::raw::{gemm_checked, Layout, Mat, MatMut};

/// The CPU kernel for gradient `which` of a convolution, or `None` where Burn's own is the
/// one to use. Measured at the Original model's shapes (batch 16) against Burn 0.22's:
/// - weight, 16 filters or more: [`weight_grad`], 1.5-3.6x faster;
/// - weight, stride 1 and at most [`FEW_FILTERS`] filters (the RGB output, 5x5 64 -> 3):
///   [`stride1_grad::weight_grad_few`], 13.6 ms against 56-68 (where the GEMM took 106);
/// - input, stride 1 and at most [`FEW_FILTERS`] filters: [`stride1_grad::input_grad`],
///   7.6 ms against 44-87; on the 3x3 upscales it is 0.7-0.8x Burn's and not taken;
/// - input, 4x4 output maps: [`input_grad`], 2.2-2.4x faster (0.4-0.8x on 8x8 and larger,
///   where Burn's transposed convolution is efficient).
pub fn kernel_for(shape: &GradShape, options: &ConvOptions<2>, which: Gradient) -> Option<GradKernel> {
    if !shape.consistent(options) {
        return None;
    }
    let few = stride1_grad::is_stride1(shape, options) && shape.y[1] <= FEW_FILTERS;
    match which {
        Gradient::Weight if shape.y[1] >= 16 => Some(GradKernel::WeightGemm),
        Gradient::Weight if few => Some(GradKernel::WeightFewFilters),
        Gradient::Input if few => Some(GradKernel::InputFlipped),
        Gradient::Input if shape.y[2] * shape.y[3] <= 16 => Some(GradKernel::InputGemm),
        _ => None,
    }
}

/// The engine's CPU kernels for a convolution's gradients ([`kernel_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradKernel {
    /// [`weight_grad`]: one im2col GEMM per chunk of the batch.
    WeightGemm,
    /// [`stride1_grad::weight_grad_few`]: row dot products, for a few filters.
    WeightFewFilters,
    /// [`input_grad`]: a GEMM, then col2im.
    InputGemm,
    /// [`stride1_grad::input_grad`]: the forward convolution with flipped filters.
    InputFlipped,
}

/// Which gradient of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gradient {
    Input,
    Weight,
}

/// Most floats of the im2col matrix built at once (64 MB).
const CHUNK_FLOATS: usize = 16 << 20;

/// Shapes of one convolution: input [N, C, H, W], output [N, CO, OH, OW], weight [CO, C, KH, KW].
#[derive(Debug, Clone, Copy)]
pub struct GradShape {
    pub x: [usize; 4],
    pub y: [usize; 4],
    pub w: [usize; 4],
}

impl GradShape {
    /// Columns of the im2col matrix and output positions per image.
    fn k_p(&self) -> (usize, usize) {
        (self.x[1] * self.w[2] * self.w[3], self.y[2] * self.y[3])
    }

    /// Whether the output's sides are what convolution `o` makes of the input and filters,
    /// and the batch and channels agree (one group).
    pub fn consistent(&self, o: &ConvOptions<2>) -> bool {
        let out = |axis: usize| {
            let (size, k, (before, after)) = (self.x[2 + axis], self.w[2 + axis], o.padding[axis]);
            let reach = o.dilation[axis] * (k.max(1) - 1) + 1;
            (size + before + after).checked_sub(reach).map(|span| span / o.stride[axis].max(1) + 1)
        };
        o.groups == 1 && self.y[0] == self.x[0] && self.w[1] == self.x[1] && self.y[1] == self.w[0] && self.w[2] > 0 && self.w[3] > 0 && out(0) == Some(self.y[2]) && out(1) == Some(self.y[3])
    }

    /// Images per chunk, so a chunk's im2col matrix stays under [`CHUNK_FLOATS`].
    fn per_chunk(&self) -> usize {
        let (k, p) = self.k_p();
        (CHUNK_FLOATS / (p * k).max(1)).clamp(1, self.x[0].max(1))
    }
}

/// dY of images `n0..n0 + nb` as [CO, nb * P] (the layout both GEMMs read).
fn gather_grad(g: &[f32], s: &GradShape, n0: usize, nb: usize, out: &mut Vec<f32>) {
    let (co, p) = (s.y[1], s.k_p().1);
    out.clear();
    out.resize(co * nb * p, 0.0);
    out.par_chunks_mut(nb * p).enumerate().for_each(|(oc, row)| {
        for j in 0..nb {
            let src = &g[((n0 + j) * co + oc) * p..((n0 + j) * co + oc + 1) * p];
            row[j * p..(j + 1) * p].copy_from_slice(src);
        }
    });
}

/// Panics unless `s` is a convolution `o` makes and `a` (the input or the filters) and `g`
/// are as long as it says.
fn check(s: &GradShape, o: &ConvOptions<2>, a: &[f32], a_dims: [usize; 4], g: &[f32]) {
    assert!(s.consistent(o), "{s:?} is no convolution of {o:?}");
    assert_eq!(a.len(), a_dims.iter().product::<usize>(), "{s:?}: operand length");
    assert_eq!(g.len(), s.y.iter().product::<usize>(), "{s:?}: output gradient length");
}

/// dW of a convolution, f32 row-major. Panics when the slices are not as long as `s` says.
pub fn weight_grad(x: &[f32], g: &[f32], s: &GradShape, o: &ConvOptions<2>) -> Vec<f32> {
    check(s, o, x, s.x, g);
    let (n, co) = (s.x[0], s.y[1]);
    let (k, p) = s.k_p();
    let mut dw = vec![0.0f32; co * k];
    if p == 0 || k == 0 {
        return dw;
    }
    let per_chunk = s.per_chunk();
    let (mut col, mut lhs) = (Vec::new(), Vec::new());
    for (c, n0) in (0..n).step_by(per_chunk).enumerate() {
        let nb = per_chunk.min(n - n0);
        im2col(x, s, n0, nb, o, &mut col);
        gather_grad(g, s, n0, nb, &mut lhs);
        // dW (co x k) += dY (co x nb*p) * cols (nb*p x k).
        let (dy, cols) = (Mat::row_major(&lhs, co, nb * p), Mat::row_major(&col, nb * p, k));
        gemm_checked(&mut MatMut::row_major(&mut dw, co, k), c > 0, dy, cols, gemm::Parallelism::Rayon(0));
    }
    dw
}

/// dX of a convolution, f32 row-major. Panics when the slices are not as long as `s` says.
pub fn input_grad(w: &[f32], g: &[f32], s: &GradShape, o: &ConvOptions<2>) -> Vec<f32> {
    check(s, o, w, s.w, g);
    let [n, c, h, wd] = s.x;
    let co = s.y[1];
    let (k, p) = s.k_p();
    let mut dx = vec![0.0f32; n * c * h * wd];
    if p == 0 || k == 0 {
        return dx;
    }
    let per_chunk = s.per_chunk();
    let (mut col, mut lhs) = (Vec::new(), Vec::new());
    for n0 in (0..n).step_by(per_chunk) {
        let nb = per_chunk.min(n - n0);
        gather_grad(g, s, n0, nb, &mut lhs);
        col.clear();
        col.resize(nb * p * k, 0.0);
        // cols (nb*p x k) = dY^T (nb*p x co) * W (co x k), dY^T read from dY [co, nb*p].
        let (dy_t, filters) = (Mat::new(&lhs, Layout::transposed(nb * p, co)), Mat::row_major(w, co, k));
        gemm_checked(&mut MatMut::row_major(&mut col, nb * p, k), false, dy_t, filters, gemm::Parallelism::Rayon(0));
        col2im(&col, s, n0, nb, o, &mut dx);
    }
    dx
}

/// Rows (image, oh, ow) of images `n0..n0 + nb`, columns (c, kh, kw): the input values each
/// output position sees (0 in the padding), into `col` ([nb * OH * OW, C * KH * KW]).
fn im2col(x: &[f32], s: &GradShape, n0: usize, nb: usize, o: &ConvOptions<2>, col: &mut Vec<f32>) {
    let [_, c, h, w] = s.x;
    let [_, _, kh, kw] = s.w;
    let ow = s.y[3];
    let (k, p) = s.k_p();
    let (sh, sw, dh, dwl) = (o.stride[0], o.stride[1], o.dilation[0], o.dilation[1]);
    let (ph, pw) = (o.padding[0].0 as isize, o.padding[1].0 as isize);
    col.clear();
    col.resize(nb * p * k, 0.0f32);
    col.par_chunks_mut(k).enumerate().for_each(|(r, row)| {
        let (i, q) = (n0 + r / p, r % p);
        let (y0, x0) = ((q / ow * sh) as isize - ph, (q % ow * sw) as isize - pw);
        let image = &x[i * c * h * w..(i + 1) * c * h * w];
        for ci in 0..c {
            let plane = &image[ci * h * w..(ci + 1) * h * w];
            for a in 0..kh {
                let y = y0 + (a * dh) as isize;
                if y < 0 || y >= h as isize {
                    continue;
                }
                let line = &plane[y as usize * w..(y as usize + 1) * w];
                let out = &mut row[(ci * kh + a) * kw..(ci * kh + a + 1) * kw];
                for (b, v) in out.iter_mut().enumerate() {
                    let xx = x0 + (b * dwl) as isize;
                    if xx >= 0 && xx < w as isize {
                        *v = line[xx as usize];
                    }
                }
            }
        }
    });
}

/// The adjoint of [`im2col`]: adds each value of `col` onto the input pixel its row and column
/// read (values that read padding are dropped). One task per (image, channel) plane.
fn col2im(col: &[f32], s: &GradShape, n0: usize, nb: usize, o: &ConvOptions<2>, dx: &mut [f32]) {
    let [_, c, h, w] = s.x;
    let [_, _, kh, kw] = s.w;
    let (oh, ow) = (s.y[2], s.y[3]);
    let (k, p) = s.k_p();
    let (sh, sw, dh, dwl) = (o.stride[0], o.stride[1], o.dilation[0], o.dilation[1]);
    let (ph, pw) = (o.padding[0].0 as isize, o.padding[1].0 as isize);
    let planes = &mut dx[n0 * c * h * w..(n0 + nb) * c * h * w];
    planes.par_chunks_mut(h * w).enumerate().for_each(|(t, plane)| {
        let (j, ci) = (t / c, t % c);
        for q in 0..oh * ow {
            let row = &col[(j * p + q) * k + ci * kh * kw..][..kh * kw];
            let (y0, x0) = ((q / ow * sh) as isize - ph, (q % ow * sw) as isize - pw);
            for a in 0..kh {
                let y = y0 + (a * dh) as isize;
                if y < 0 || y >= h as isize {
                    continue;
                }
                let line = &mut plane[y as usize * w..(y as usize + 1) * w];
                for (b, v) in row[a * kw..(a + 1) * kw].iter().enumerate() {
                    let xx = x0 + (b * dwl) as isize;
                    if xx >= 0 && xx < w as isize {
                        line[xx as usize] += v;
                    }
                }
            }
        }
    });
}

/// Random operands of a convolution and Burn's own gradients of them, for the kernels' tests.
#[cfg(test)]
pub(super) struct BurnGradients {
    /// Input, filters and output gradient, f32 row-major.
    pub x: Vec<f32>,
    pub w: Vec<f32>,
    pub g: Vec<f32>,
    /// Burn's `conv2d_x_backward` and `conv2d_weight_backward` of them.
    pub dx: Vec<f32>,
    pub dw: Vec<f32>,
}

#[cfg(test)]
impl BurnGradients {
    pub fn random(shape: &GradShape, o: &ConvOptions<2>) -> BurnGradients {
        use burn::backend::ops::ModuleOps;
        use burn::backend::Dispatch;
        use burn::tensor::{Device, Distribution, Tensor};
        let values = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        let random = |dims: [usize; 4]| Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &Device::flex());
        let (x, w, g) = (random(shape.x), random(shape.w), random(shape.y));
        let (xs, ws, gs) = (values(x.clone()), values(w.clone()), values(g.clone()));
        let dx = values(Tensor::from_dispatch(<Dispatch as ModuleOps<Dispatch>>::conv2d_x_backward(x.clone().into_dispatch(), w.clone().into_dispatch(), g.clone().into_dispatch(), o.clone())));
        let dw = values(Tensor::from_dispatch(<Dispatch as ModuleOps<Dispatch>>::conv2d_weight_backward(x.into_dispatch(), w.into_dispatch(), g.into_dispatch(), o.clone())));
        BurnGradients { x: xs, w: ws, g: gs, dx, dw }
    }

    /// The largest difference between `ours` and Burn's `burns`, which must be as long.
    pub fn worst(ours: &[f32], burns: &[f32]) -> f32 {
        assert_eq!(ours.len(), burns.len());
        ours.iter().zip(burns).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both GEMM gradients equal Burn's own on strided, padded, dilated and odd shapes,
    /// whichever [`kernel_for`] would pick.
    #[test]
    fn gemm_gradients_match_burns() {
        // (batch, in, side, out, kernel, stride, padding, dilation)
        // The last ones are tiny: one-pixel maps, one channel, one image.
        for (n, c, side, co, k, s, pad, d) in [(2, 3, 9, 4, 5, 2, 2, 1), (3, 8, 8, 16, 3, 1, 1, 1), (1, 5, 7, 3, 3, 1, 0, 2), (2, 16, 4, 32, 3, 1, 1, 1), (1, 2, 6, 2, 1, 1, 0, 1), (1, 1, 1, 1, 1, 1, 0, 1), (1, 1, 1, 5, 3, 1, 1, 1), (1, 2, 3, 3, 3, 2, 1, 1), (2, 1, 2, 17, 1, 1, 0, 1)] {
            let o = ConvOptions::new([s, s], [pad, pad], [d, d], 1);
            let os = (side + 2 * pad - d * (k - 1) - 1) / s + 1;
            let shape = GradShape { x: [n, c, side, side], y: [n, co, os, os], w: [co, c, k, k] };
            let burn = BurnGradients::random(&shape, &o);
            for (what, ours, burns) in [("input", input_grad(&burn.w, &burn.g, &shape, &o), &burn.dx), ("weight", weight_grad(&burn.x, &burn.g, &shape, &o), &burn.dw)] {
                let worst = BurnGradients::worst(&ours, burns);
                assert!(worst < 1e-3, "{what} gradient, {c}->{co} {k}x{k}/{s} pad {pad} dilation {d}: off by {worst}");
            }
        }
    }

    #[test]
    fn each_gradient_takes_the_kernel_measured_fastest() {
        let same = |k: usize| ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
        let strided = ConvOptions::new([2, 2], [2, 2], [1, 1], 1);
        let shape = |c: usize, side: usize, co: usize, k: usize, stride: usize| GradShape { x: [16, c, side * stride, side * stride], y: [16, co, side, side], w: [co, c, k, k] };
        let pick = |s: GradShape, o: &ConvOptions<2>| (kernel_for(&s, o, Gradient::Input), kernel_for(&s, o, Gradient::Weight));
        assert_eq!(pick(shape(512, 4, 1024, 5, 2), &strided), (Some(GradKernel::InputGemm), Some(GradKernel::WeightGemm)), "encoder conv 4: 4x4 outputs");
        assert_eq!(pick(shape(256, 8, 512, 5, 2), &strided), (None, Some(GradKernel::WeightGemm)), "8x8 outputs: Burn's transposed convolution");
        assert_eq!(pick(shape(128, 32, 256, 3, 1), &same(3)), (None, Some(GradKernel::WeightGemm)), "an upscale");
        assert_eq!(pick(shape(64, 64, 3, 5, 1), &same(5)), (Some(GradKernel::InputFlipped), Some(GradKernel::WeightFewFilters)), "the RGB output");
        assert_eq!(pick(shape(3, 32, 8, 5, 2), &strided), (None, None), "8 filters, stride 2: Burn's");
        // Sides the convolution does not make (one row too many): Burn's, never a kernel
        // whose bounds rest on them.
        let wrong = GradShape { x: [16, 64, 64, 64], y: [16, 3, 65, 64], w: [3, 64, 5, 5] };
        assert!(!wrong.consistent(&same(5)) && shape(64, 64, 3, 5, 1).consistent(&same(5)));
        assert_eq!(pick(wrong, &same(5)), (None, None), "inconsistent shapes");
    }
}
