//! Depthwise convolution (one filter per channel) computed plane by plane, with the bias and
//! the activation applied to each output row while it is in L1.
//!
//! For a stride `s`, every input row is first split into its `s` phases, zero padding
//! included: `phase[r][j] = padded[j * s + r]`. Tap `b` of a filter row then reads
//! `phase[b % s][ox + b / s]` for consecutive `ox`: a contiguous run the compiler turns into
//! SIMD multiply-adds (AVX-512 or AVX2 with FMA where the CPU has them, chosen at run time).

use super::cpu;
use super::raw::SharedMut;
use super::{Activation, ConvShape};
use rayon::prelude::*;

/// How the planes are computed: the widest SIMD this CPU runs (each variant holds the token
/// that proves the CPU runs it).
#[derive(Debug, Clone, Copy)]
enum Planes {
    /// [`plane`] compiled for AVX-512F and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx512(cpu::Avx512Fma),
    /// [`plane`] compiled for AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2(cpu::Avx2Fma),
    /// [`plane`] for any CPU, without fused multiply-adds.
    Portable,
}

impl Planes {
    /// The widest this CPU runs.
    fn best() -> Planes {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(cpu) = cpu::Avx512Fma::detect() {
                return Planes::Avx512(cpu);
            }
            if let Some(cpu) = cpu::Avx2Fma::detect() {
                return Planes::Avx2(cpu);
            }
        }
        Planes::Portable
    }

    /// Every one this CPU runs, for the tests.
    #[cfg(test)]
    fn available() -> Vec<Planes> {
        let mut all = vec![Planes::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            all.extend(cpu::Avx2Fma::detect().map(Planes::Avx2));
            all.extend(cpu::Avx512Fma::detect().map(Planes::Avx512));
        }
        all
    }

    /// One plane: `(input plane, filter [kh * kw], bias, phases buffer, output plane)`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn run(self, x: &[f32], w: &[f32], b: f32, ph: &mut Vec<f32>, out: &mut [f32], s: &ConvShape, act: Activation) {
        match self {
            // SAFETY: `_cpu` is the token of run-time detection: the CPU has AVX-512F and FMA.
            #[cfg(target_arch = "x86_64")]
            Planes::Avx512(_cpu) => unsafe { plane_avx512(x, w, b, ph, out, s, act) },
            // SAFETY: `_cpu` is the token of run-time detection: the CPU has AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Planes::Avx2(_cpu) => unsafe { plane_avx2(x, w, b, ph, out, s, act) },
            Planes::Portable => plane::<false>(x, w, b, ph, out, s, act),
        }
    }
}

/// `act(depthwise(x, w) + bias)` for `x` `[N, C, H, W]` and `w` `[C, 1, KH, KW]`. Panics
/// when the slices are not as long as `s` says.
pub fn conv2d(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &ConvShape, act: Activation) -> Vec<f32> {
    conv2d_by(Planes::best(), x, w, bias, s, act)
}

fn conv2d_by(how: Planes, x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &ConvShape, act: Activation) -> Vec<f32> {
    assert_eq!(s.co, s.c, "{s:?}: a depthwise convolution has one filter per channel");
    s.check_operands(x, w, bias, 1);
    let [n, c, oh, ow] = s.output();
    let (plane_in, plane_out, taps) = (s.h * s.w, oh * ow, s.kh * s.kw);
    let mut out = vec![0.0f32; n * c * plane_out];
    if out.is_empty() {
        return out;
    }
    let dst = SharedMut::new(&mut out);
    (0..n * c).into_par_iter().for_each_init(Vec::new, |phases, i| {
        let ch = i % c;
        // SAFETY: plane i of the output is written by this task only.
        let out_plane = unsafe { dst.slice(i * plane_out, plane_out) };
        let b = bias.map_or(0.0, |b| b[ch]);
        how.run(&x[i * plane_in..][..plane_in], &w[ch * taps..][..taps], b, phases, out_plane, s, act);
    });
    out
}

/// [`plane`] with fused multiply-adds, compiled for AVX-512F and FMA: to be called only where
/// the CPU has them (a [`cpu::Avx512Fma`] token).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn plane_avx512(x: &[f32], w: &[f32], b: f32, ph: &mut Vec<f32>, out: &mut [f32], s: &ConvShape, act: Activation) {
    plane::<true>(x, w, b, ph, out, s, act)
}

/// [`plane`] with fused multiply-adds, compiled for AVX2 and FMA: to be called only where
/// the CPU has them (a [`cpu::Avx2Fma`] token).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn plane_avx2(x: &[f32], w: &[f32], b: f32, ph: &mut Vec<f32>, out: &mut [f32], s: &ConvShape, act: Activation) {
    plane::<true>(x, w, b, ph, out, s, act)
}

/// One plane. `FMA`: fused multiply-add (only where the CPU has it: elsewhere it is a call).
#[inline(always)]
fn plane<const FMA: bool>(x: &[f32], w: &[f32], bias: f32, phases: &mut Vec<f32>, out: &mut [f32], s: &ConvShape, act: Activation) {
    let [_, _, _, ow] = s.output();
    let [sh, sw] = s.stride;
    let left = s.pad[1].0;
    // Stride 1 reads the input rows in place; other strides read phase rows (below).
    let (rows, row_floats, len) = if sw == 1 {
        (x, s.w, 0)
    } else {
        // Each phase row holds ow + (kw - 1) / sw values: what the taps of one output row read.
        let len = ow + (s.kw - 1) / sw;
        split_phases(x, s, len, phases);
        (&phases[..], sw * len, len)
    };
    for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
        row.fill(bias);
        for a in 0..s.kh {
            let y = (oy * sh + a).wrapping_sub(s.pad[0].0);
            if y >= s.h {
                continue; // padding row: adds nothing
            }
            let src = &rows[y * row_floats..][..row_floats];
            for b in 0..s.kw {
                let wv = w[a * s.kw + b];
                let (dst, taps) = if sw == 1 {
                    let (start, end, first) = super::tap_run(b, left, s.w, ow);
                    (&mut row[start..end], &src[first..])
                } else {
                    (&mut row[..], &src[(b % sw) * len + b / sw..][..ow])
                };
                for (o, v) in dst.iter_mut().zip(taps) {
                    *o = if FMA { v.mul_add(wv, *o) } else { v * wv + *o };
                }
            }
        }
        for v in row.iter_mut() {
            *v = act.apply(*v);
        }
    }
}

/// `phases[y][r][j] = padded row y at j * sw + r` (0 in the padding), `len` values a phase.
#[inline(always)]
fn split_phases(x: &[f32], s: &ConvShape, len: usize, phases: &mut Vec<f32>) {
    let sw = s.stride[1];
    let row_floats = sw * len;
    phases.clear();
    phases.resize(s.h * row_floats, 0.0);
    let left = s.pad[1].0;
    for (y, line) in x.chunks_exact(s.w).enumerate() {
        let dst = &mut phases[y * row_floats..][..row_floats];
        for r in 0..sw {
            for (j, v) in dst[r * len..][..len].iter_mut().enumerate() {
                // Position j * sw + r of the padded row is input column j * sw + r - left.
                let col = (j * sw + r).wrapping_sub(left);
                *v = if col < s.w { line[col] } else { 0.0 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::tests::{assert_close, burn_reference, random};

    /// Every plane kernel this CPU runs (not only the widest) gives Burn's depthwise
    /// convolution, on one-pixel maps, one channel, strides over odd widths and rows
    /// shorter and longer than the SIMD lanes.
    #[test]
    fn every_plane_kernel_matches_burn() {
        // (n, c, h, w, k, stride, (top, bottom), (left, right))
        let shapes = [
            (1, 1, 1, 1, 3, 1, (1, 1), (1, 1)),
            (1, 1, 1, 1, 1, 1, (0, 0), (0, 0)),
            (2, 3, 5, 17, 3, 2, (0, 1), (0, 1)),
            (1, 2, 7, 33, 5, 3, (2, 2), (2, 2)),
            (1, 1, 2, 15, 1, 1, (0, 0), (0, 0)),
            (1, 4, 3, 65, 3, 1, (1, 1), (1, 1)),
            (1, 2, 4, 16, 3, 2, (1, 0), (0, 1)),
        ];
        for (n, c, h, w, k, stride, pad_y, pad_x) in shapes {
            let s = ConvShape { n, c, h, w, co: c, kh: k, kw: k, stride: [stride, stride], pad: [pad_y, pad_x] };
            let (x, f, b) = (random(n * c * h * w), random(c * k * k), random(c));
            let want = burn_reference(&x, &f, &b, &s, c, Activation::Relu6);
            for how in Planes::available() {
                assert_close(&conv2d_by(how, &x, &f, Some(&b), &s, Activation::Relu6), &want, &format!("{how:?} on {s:?}"));
            }
        }
    }
}
