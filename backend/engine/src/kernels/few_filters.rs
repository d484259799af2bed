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

use super::cpu;
use super::phased::Phased;
use super::raw::SharedMut;
use super::{Activation, ConvShape};
use rayon::prelude::*;

/// Most filters this kernel takes; wider layers are matrix products ([`super::gemm_conv`]).
pub const MAX_FILTERS: usize = 4;

/// Whether [`conv2d`] takes `s`.
pub fn applies(s: &ConvShape) -> bool {
    s.co <= MAX_FILTERS && s.stride == [1, 1]
}

/// How the rows are computed: the widest SIMD this CPU runs (each variant holds the token
/// that proves the CPU runs it).
#[derive(Debug, Clone, Copy)]
enum Rows {
    /// [`avx512::row`]: each chunk's sums in registers across all taps, over the padded input.
    #[cfg(target_arch = "x86_64")]
    Avx512(cpu::Avx512),
    /// [`row`] compiled for AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2(cpu::Avx2Fma),
    /// [`row`] for any CPU, without fused multiply-adds.
    Portable,
}

impl Rows {
    /// The widest this CPU runs.
    fn best() -> Rows {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(cpu) = cpu::Avx512::detect() {
                return Rows::Avx512(cpu);
            }
            if let Some(cpu) = cpu::Avx2Fma::detect() {
                return Rows::Avx2(cpu);
            }
        }
        Rows::Portable
    }

    /// Every one this CPU runs, for the tests.
    #[cfg(test)]
    fn available() -> Vec<Rows> {
        let mut all = vec![Rows::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            all.extend(cpu::Avx2Fma::detect().map(Rows::Avx2));
            all.extend(cpu::Avx512::detect().map(Rows::Avx512));
        }
        all
    }
}

/// `act(conv(x, w) + bias)` for `x` `[N, C, H, W]` and `w` `[CO, C, KH, KW]`, stride 1 and
/// at most [`MAX_FILTERS`] filters ([`applies`]). Panics when the slices are not as long as
/// `s` says.
pub fn conv2d(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &ConvShape, act: Activation) -> Vec<f32> {
    conv2d_by(Rows::best(), x, w, bias, s, act)
}

fn conv2d_by(how: Rows, x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &ConvShape, act: Activation) -> Vec<f32> {
    assert!(applies(s), "{s:?}: not a stride-1 layer of at most {MAX_FILTERS} filters");
    s.check_operands(x, w, bias, s.c);
    let [n, co, oh, ow] = s.output();
    let mut out = vec![0.0f32; n * co * oh * ow];
    if out.is_empty() {
        return out;
    }
    let bias: Vec<f32> = (0..co).map(|o| bias.map_or(0.0, |b| b[o])).collect();
    let dst = SharedMut::new(&mut out);
    // One output row of every filter at a time, into `acc` [co, ow], then activated into place.
    let rows = |row: &(dyn Fn(usize, usize, &mut [f32]) + Sync)| {
        (0..n * oh).into_par_iter().for_each_init(Vec::new, |acc: &mut Vec<f32>, t| {
            let (image, oy) = (t / oh, t % oh);
            acc.resize(co * ow, 0.0);
            row(image, oy, acc);
            for o in 0..co {
                // SAFETY: row oy of output plane (image, o) is written by this task only.
                let out = unsafe { dst.slice(((image * co + o) * oh + oy) * ow, ow) };
                for (r, v) in out.iter_mut().zip(&acc[o * ow..]) {
                    *r = act.apply(*v);
                }
            }
        })
    };
    let image_floats = s.c * s.h * s.w;
    let image = |i: usize| &x[i * image_floats..][..image_floats];
    let start = |acc: &mut [f32]| {
        for (o, b) in bias.iter().enumerate() {
            acc[o * ow..][..ow].fill(*b);
        }
    };
    match how {
        #[cfg(target_arch = "x86_64")]
        Rows::Avx512(cpu) => {
            let padded = Phased::new(x, s);
            // The filters side by side per tap: `[c, kh, kw, co]`.
            let taps = s.c * s.kh * s.kw;
            let wt: Vec<f32> = (0..taps * co).map(|i| w[(i % co) * taps + i / co]).collect();
            rows(&|image, oy, acc| avx512::row(cpu, &padded, &wt, &bias, image, oy, acc, s));
        }
        #[cfg(target_arch = "x86_64")]
        Rows::Avx2(_cpu) => rows(&|i, oy, acc| {
            start(acc);
            // SAFETY: `_cpu` is the token of run-time detection: the CPU has AVX2 and FMA.
            unsafe { row_avx2(image(i), w, acc, oy, s) }
        }),
        Rows::Portable => rows(&|i, oy, acc| {
            start(acc);
            row::<false>(image(i), w, acc, oy, s)
        }),
    }
    out
}

/// [`row`] with fused multiply-adds, compiled for AVX2 and FMA: to be called only where the
/// CPU has them (a [`cpu::Avx2Fma`] token).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn row_avx2(x: &[f32], w: &[f32], acc: &mut [f32], oy: usize, s: &ConvShape) {
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
    use super::{cpu, ConvShape, Phased};
    use std::arch::x86_64::*;

    /// Columns a chunk covers: four vectors of 16.
    const CHUNK: usize = 64;

    /// Writes output row `oy` of image `image`, every filter (`acc` `[co, ow]`, 1 to 4
    /// filters), bias included. `padded` is `s`'s input, padded (stride 1); `wt` is
    /// `[c, kh, kw, co]`.
    #[allow(clippy::too_many_arguments)]
    pub fn row(_cpu: cpu::Avx512, padded: &Phased, wt: &[f32], bias: &[f32], image: usize, oy: usize, acc: &mut [f32], s: &ConvShape) {
        // SAFETY: `_cpu` is the token of run-time detection: the CPU has AVX-512F, the only
        // feature `filters` is compiled for.
        unsafe {
            match bias.len() {
                1 => filters::<1>(padded, wt, bias, image, oy, acc, s),
                2 => filters::<2>(padded, wt, bias, image, oy, acc, s),
                3 => filters::<3>(padded, wt, bias, image, oy, acc, s),
                _ => filters::<4>(padded, wt, bias, image, oy, acc, s),
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    fn filters<const CO: usize>(padded: &Phased, wt: &[f32], bias: &[f32], image: usize, oy: usize, acc: &mut [f32], s: &ConvShape) {
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
            // The CO weights of each tap in turn, c * kh * kw taps in all (asserted above).
            let mut taps = wt.chunks_exact(CO);
            for c in 0..s.c {
                let plane = padded.plane(image, c);
                for a in 0..s.kh {
                    // Taps b read floats ox + b .. ox + b + width of this padded row, inside it.
                    let line = &plane[(oy + a) * padded.cols + ox..][..width + s.kw - 1];
                    for (b, tw) in (0..s.kw).zip(&mut taps) {
                        debug_assert!(b + width <= line.len() && tw.len() == CO);
                        // The first lane of each vector. Those past the row (a chunk narrower
                        // than 64) are formed by wrapping_add and never dereferenced.
                        let p = line.as_ptr().wrapping_add(b);
                        // SAFETY: a masked load reads lane l from p + l only where the mask
                        // sets it (and touches no other memory); masks[v] sets l where
                        // 16v + l < width, so every float read, line[b + 16v + l], lies
                        // inside `line` (b + width <= kw - 1 + width = its length).
                        let xs = unsafe {
                            [
                                _mm512_maskz_loadu_ps(masks[0], p),
                                _mm512_maskz_loadu_ps(masks[1], p.wrapping_add(16)),
                                _mm512_maskz_loadu_ps(masks[2], p.wrapping_add(32)),
                                _mm512_maskz_loadu_ps(masks[3], p.wrapping_add(48)),
                            ]
                        };
                        for (sum, wv) in sum.iter_mut().zip(tw) {
                            let wv = _mm512_set1_ps(*wv);
                            for v in 0..4 {
                                sum[v] = _mm512_fmadd_ps(xs[v], wv, sum[v]);
                            }
                        }
                    }
                }
            }
            for (o, sum) in sum.iter().enumerate() {
                let out = &mut acc[o * ow + ox..][..width];
                for v in 0..4 {
                    // SAFETY: a masked store writes only the lanes its mask sets, l with
                    // 16v + l < width = out.len(): inside `out`. The pointer of a vector past
                    // the chunk is formed by wrapping_add and never dereferenced.
                    unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().wrapping_add(16 * v), masks[v], sum[v]) };
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

    /// Every row kernel this CPU runs (not only the widest) gives Burn's convolution, on
    /// rows of one pixel, shorter than a vector, a chunk, a chunk and one (65) or a vector
    /// and one (81), and uneven padding.
    #[test]
    fn every_row_kernel_matches_burn() {
        use crate::kernels::tests::{assert_close, burn_reference, random};
        // (n, c, h, w, co, k, (top, bottom), (left, right))
        let shapes = [
            (1, 1, 1, 1, 1, 1, (0, 0), (0, 0)),
            (1, 1, 1, 1, 3, 3, (1, 1), (1, 1)),
            (2, 3, 3, 17, 4, 5, (2, 2), (2, 2)),
            (1, 2, 2, 65, 2, 3, (0, 1), (1, 1)),
            (1, 1, 1, 81, 2, 1, (0, 0), (0, 0)),
            (1, 1, 4, 15, 1, 3, (0, 0), (0, 0)),
            (1, 2, 1, 63, 3, 1, (0, 0), (0, 0)),
            (1, 2, 5, 64, 3, 3, (2, 0), (0, 2)),
        ];
        for (n, c, h, w, co, k, pad_y, pad_x) in shapes {
            let s = ConvShape { n, c, h, w, co, kh: k, kw: k, stride: [1, 1], pad: [pad_y, pad_x] };
            let (x, f, b) = (random(n * c * h * w), random(co * c * k * k), random(co));
            let want = burn_reference(&x, &f, &b, &s, 1, Activation::LeakyRelu(0.1));
            for how in Rows::available() {
                assert_close(&conv2d_by(how, &x, &f, Some(&b), &s, Activation::LeakyRelu(0.1)), &want, &format!("{how:?} on {s:?}"));
            }
        }
    }
}
