//! Depthwise convolution (one filter per channel) computed plane by plane, with the bias and
//! the activation applied to each output row while it is in L1.
//!
//! For a stride `s`, every input row is first split into its `s` phases, zero padding
//! included: `phase[r][j] = padded[j * s + r]`. Tap `b` of a filter row then reads
//! `phase[b % s][ox + b / s]` for consecutive `ox`: a contiguous run the compiler turns into
//! SIMD multiply-adds (AVX-512 or AVX2 with FMA where the CPU has them, chosen at run time).

use super::{Activation, ConvShape, SyncPtr};
use rayon::prelude::*;

/// Computes one plane: `(input plane, filter [kh * kw], bias, phases buffer, output plane)`.
type PlaneKernel = fn(&[f32], &[f32], f32, &mut Vec<f32>, &mut [f32], &ConvShape, Activation);

/// `act(depthwise(x, w) + bias)` for `x` `[N, C, H, W]` and `w` `[C, 1, KH, KW]`.
pub fn conv2d(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &ConvShape, act: Activation) -> Vec<f32> {
    let [n, c, oh, ow] = s.output();
    let (plane_in, plane_out, taps) = (s.h * s.w, oh * ow, s.kh * s.kw);
    let mut out = vec![0.0f32; n * c * plane_out];
    if out.is_empty() {
        return out;
    }
    let kernel = select();
    let dst = SyncPtr(out.as_mut_ptr());
    (0..n * c).into_par_iter().for_each_init(Vec::new, |phases, i| {
        let ch = i % c;
        // SAFETY: plane i of the output is written by this task only.
        let out_plane = unsafe { std::slice::from_raw_parts_mut(dst.at(i * plane_out), plane_out) };
        let b = bias.map_or(0.0, |b| b[ch]);
        kernel(&x[i * plane_in..][..plane_in], &w[ch * taps..][..taps], b, phases, out_plane, s, act);
    });
    out
}

/// The widest plane kernel this CPU runs.
fn select() -> PlaneKernel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
            return |x, w, b, ph, out, s, act| unsafe { plane_avx512(x, w, b, ph, out, s, act) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return |x, w, b, ph, out, s, act| unsafe { plane_avx2(x, w, b, ph, out, s, act) };
        }
    }
    plane::<false>
}

/// # Safety
/// The CPU must have AVX-512F and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn plane_avx512(x: &[f32], w: &[f32], b: f32, ph: &mut Vec<f32>, out: &mut [f32], s: &ConvShape, act: Activation) {
    plane::<true>(x, w, b, ph, out, s, act)
}

/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn plane_avx2(x: &[f32], w: &[f32], b: f32, ph: &mut Vec<f32>, out: &mut [f32], s: &ConvShape, act: Activation) {
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
