//! Dense stride-1 convolutions with only a few filters (the swap models' 3-channel output
//! layer and 1-channel learned mask), straight from the input rows.
//!
//! As a matrix product such a layer is all im2col and no arithmetic: each output position
//! copies `C * KH * KW` inputs (1600 for the Original model's output) for `CO` = 3 dot
//! products, and it ran at 13 GFLOP/s. Here each output row of every filter is a sum of
//! shifted input rows: tap `(c, a, b)` adds `w * x[c, oy + a - top, ox + b - left]` for a
//! contiguous run of `ox`, which the compiler turns into SIMD multiply-adds (AVX-512 or AVX2
//! with FMA where the CPU has them, chosen at run time), every input row read once for all
//! filters.

use super::phased::Phased;
use super::{Activation, ConvShape, SyncPtr};
use rayon::prelude::*;

/// Most filters this kernel takes; wider layers are matrix products ([`super::gemm_conv`]).
pub const MAX_FILTERS: usize = 4;

/// Whether [`conv2d`] takes `s`.
pub fn applies(s: &ConvShape) -> bool {
    s.co <= MAX_FILTERS && s.stride == [1, 1]
}

/// Adds one output row of every filter into `acc` (`[co, ow]`): `(image, filters, acc, oy, shape)`.
type RowKernel = fn(&[f32], &[f32], &mut [f32], usize, &ConvShape);

/// `act(conv(x, w) + bias)` for `x` `[N, C, H, W]` and `w` `[CO, C, KH, KW]`, stride 1.
pub fn conv2d(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &ConvShape, act: Activation) -> Vec<f32> {
    let [n, co, oh, ow] = s.output();
    let mut out = vec![0.0f32; n * co * oh * ow];
    if out.is_empty() {
        return out;
    }
    let bias: Vec<f32> = (0..co).map(|o| bias.map_or(0.0, |b| b[o])).collect();
    let dst = SyncPtr(out.as_mut_ptr());
    // One output row of every filter at a time, into `acc` [co, ow], then activated into place.
    let rows = |row: &(dyn Fn(usize, usize, &mut [f32]) + Sync)| {
        (0..n * oh).into_par_iter().for_each_init(Vec::new, |acc: &mut Vec<f32>, t| {
            let (image, oy) = (t / oh, t % oh);
            acc.resize(co * ow, 0.0);
            row(image, oy, acc);
            for o in 0..co {
                // SAFETY: row oy of output plane (image, o) is written by this task only.
                let out = unsafe { std::slice::from_raw_parts_mut(dst.at(((image * co + o) * oh + oy) * ow), ow) };
                for (r, v) in out.iter_mut().zip(&acc[o * ow..]) {
                    *r = act.apply(*v);
                }
            }
        })
    };
    #[cfg(target_arch = "x86_64")]
    if super::has_avx512() {
        let padded = Phased::new(x, s);
        // The filters side by side per tap: `[c, kh, kw, co]`.
        let taps = s.c * s.kh * s.kw;
        let wt: Vec<f32> = (0..taps * co).map(|i| w[(i % co) * taps + i / co]).collect();
        // SAFETY: the CPU has AVX-512F (checked above).
        rows(&|image, oy, acc| unsafe { avx512::row(&padded, &wt, &bias, image, oy, acc, s) });
        return out;
    }
    let kernel = select();
    let image_floats = s.c * s.h * s.w;
    rows(&|image, oy, acc| {
        for (o, b) in bias.iter().enumerate() {
            acc[o * ow..][..ow].fill(*b);
        }
        kernel(&x[image * image_floats..][..image_floats], w, acc, oy, s)
    });
    out
}

/// The row kernel this CPU runs where it lacks AVX-512.
fn select() -> RowKernel {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return |x, w, acc, oy, s| unsafe { row_avx2(x, w, acc, oy, s) };
    }
    row::<false>
}

/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_avx2(x: &[f32], w: &[f32], acc: &mut [f32], oy: usize, s: &ConvShape) {
    row::<true>(x, w, acc, oy, s)
}

/// One output row of every filter. `FMA`: fused multiply-add (only where the CPU has it).
#[inline(always)]
fn row<const FMA: bool>(x: &[f32], w: &[f32], acc: &mut [f32], oy: usize, s: &ConvShape) {
    let [_, co, _, ow] = s.output();
    let (left, taps) = (s.pad[1].0, s.kh * s.kw);
    for c in 0..s.c {
        let plane = &x[c * s.h * s.w..][..s.h * s.w];
        for a in 0..s.kh {
            let y = (oy + a).wrapping_sub(s.pad[0].0);
            if y >= s.h {
                continue; // padding row: adds nothing
            }
            let src = &plane[y * s.w..][..s.w];
            for b in 0..s.kw {
                let (start, end, first) = super::tap_run(b, left, s.w, ow);
                let taps_in = &src[first..];
                for o in 0..co {
                    let wv = w[(o * s.c + c) * taps + a * s.kw + b];
                    for (d, v) in acc[o * ow + start..o * ow + end].iter_mut().zip(taps_in) {
                        *d = if FMA { v.mul_add(wv, *d) } else { v * wv + *d };
                    }
                }
            }
        }
    }
}

/// The AVX-512 row: the output row in chunks of 64 columns, each chunk's sums for every
/// filter held in registers (`co` x 4 vectors) across all `C * KH * KW` taps, every tap
/// one load of 64 padded input floats and `4 * co` multiply-adds.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{ConvShape, Phased};
    use std::arch::x86_64::*;

    /// Columns a chunk covers: four vectors of 16.
    const CHUNK: usize = 64;

    /// Writes output row `oy` of image `image`, every filter (`acc` `[co, ow]`), bias included.
    ///
    /// # Safety
    /// The CPU must have AVX-512F. `padded` is `s`'s input, padded (stride 1); `wt` is
    /// `[c, kh, kw, co]`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn row(padded: &Phased, wt: &[f32], bias: &[f32], image: usize, oy: usize, acc: &mut [f32], s: &ConvShape) {
        match bias.len() {
            1 => unsafe { filters::<1>(padded, wt, bias, image, oy, acc, s) },
            2 => unsafe { filters::<2>(padded, wt, bias, image, oy, acc, s) },
            3 => unsafe { filters::<3>(padded, wt, bias, image, oy, acc, s) },
            _ => unsafe { filters::<4>(padded, wt, bias, image, oy, acc, s) },
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn filters<const CO: usize>(padded: &Phased, wt: &[f32], bias: &[f32], image: usize, oy: usize, acc: &mut [f32], s: &ConvShape) {
        let ow = acc.len() / CO;
        assert!(wt.len() == s.c * s.kh * s.kw * CO && bias.len() == CO && acc.len() == CO * ow);
        for ox in (0..ow).step_by(CHUNK) {
            let width = (ow - ox).min(CHUNK);
            // Lanes of each vector inside the row; the rest are neither read nor written.
            let masks: [__mmask16; 4] = std::array::from_fn(|v| {
                let lanes = width.saturating_sub(16 * v).min(16) as u32;
                ((1u32 << lanes) - 1) as __mmask16
            });
            let mut sum = [[_mm512_setzero_ps(); 4]; CO];
            for (sum, b) in sum.iter_mut().zip(bias) {
                *sum = [_mm512_set1_ps(*b); 4];
            }
            let mut w = wt.as_ptr();
            for c in 0..s.c {
                let plane = padded.plane(image, c);
                for a in 0..s.kh {
                    // Taps b read floats ox + b .. ox + b + width of this padded row, inside it.
                    let line = &plane[(oy + a) * padded.cols + ox..][..width + s.kw - 1];
                    for b in 0..s.kw {
                        // SAFETY: each masked load reads lanes b + 16v + l < b + width of `line`;
                        // `w` steps through wt's CO floats per tap, c * kh * kw taps in all.
                        unsafe {
                            let p = line.as_ptr().add(b);
                            let xs = [
                                _mm512_maskz_loadu_ps(masks[0], p),
                                _mm512_maskz_loadu_ps(masks[1], p.add(16)),
                                _mm512_maskz_loadu_ps(masks[2], p.add(32)),
                                _mm512_maskz_loadu_ps(masks[3], p.add(48)),
                            ];
                            for (o, sum) in sum.iter_mut().enumerate() {
                                let wv = _mm512_set1_ps(*w.add(o));
                                for v in 0..4 {
                                    sum[v] = _mm512_fmadd_ps(xs[v], wv, sum[v]);
                                }
                            }
                            w = w.add(CO);
                        }
                    }
                }
            }
            for (o, sum) in sum.iter().enumerate() {
                let out = &mut acc[o * ow + ox..][..width];
                for v in 0..4 {
                    // SAFETY: the mask keeps the store inside `out`.
                    unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(16 * v), masks[v], sum[v]) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output layers take this kernel (their results are checked against Burn's in
    /// `kernels::tests`); strided or wider layers stay matrix products.
    #[test]
    fn takes_stride_one_layers_of_up_to_four_filters() {
        let shape = |co, stride| ConvShape { n: 2, c: 64, h: 16, w: 16, co, kh: 5, kw: 5, stride: [stride, stride], pad: [(2, 2); 2] };
        assert!(applies(&shape(3, 1)) && applies(&shape(1, 1)) && applies(&shape(4, 1)));
        assert!(!applies(&shape(5, 1)) && !applies(&shape(3, 2)));
        // A 1x1 "image" of one channel through a 1x1 filter: the bias, then the activation.
        let s = ConvShape { n: 1, c: 1, h: 1, w: 1, co: 2, kh: 1, kw: 1, stride: [1, 1], pad: [(0, 0); 2] };
        assert_eq!(conv2d(&[2.0], &[3.0, -1.0], Some(&[1.0, 0.5]), &s, Activation::LeakyRelu(0.5)), vec![7.0, -0.75]);
    }
}
