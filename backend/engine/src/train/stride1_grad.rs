//! Gradients of stride-1 convolutions on the CPU without Burn's transposed convolution.
//!
//! Input: for stride 1, `dX` is the forward convolution of `dY` with the filters transposed
//! (input and output channels swapped) and flipped in both axes, padded by `K - 1 - pad` on
//! each side. So it runs on the engine's inference kernels ([`crate::kernels::gemm_conv`]) at
//! the forward's speed. Measured at batch 16 against Burn 0.22's `conv2d_x_backward`: the
//! Original model's RGB output layer (64 -> 3, 5x5 on 64x64) and its upscales (3x3).
//!
//! Weight, few filters: a layer of 3 filters has no GEMM worth the im2col it needs (1600
//! columns for 3 rows). Each `dW[o, c, a, b]` is the sum over images and rows of one output
//! row of `dY` times the input row it saw, shifted by the tap: dot products of whole rows,
//! kept as SIMD lanes until the end, one task per input channel.

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

use burn::backend::ops::ConvOptions;
use rayon::prelude::*;

use super::conv_grad::GradShape;
use crate::kernels::{cpu, gemm_conv, Activation, ConvShape};

/// Most filters [`weight_grad_few`] takes (the RGB output and the 1-channel learned mask).
pub const FEW_FILTERS: usize = 4;

/// Whether `o` is a plain stride-1 convolution whose padding is at most `K - 1` on every side:
/// the case the flipped forward computes.
pub fn is_stride1(s: &GradShape, o: &ConvOptions<2>) -> bool {
    let [_, _, kh, kw] = s.w;
    o.stride == [1, 1] && o.dilation == [1, 1] && o.groups == 1 && kh > 0 && kw > 0 && o.padding[0].0.max(o.padding[0].1) < kh && o.padding[1].0.max(o.padding[1].1) < kw
}

/// dX of a stride-1 convolution ([`is_stride1`]) from its filters `w` and output gradient
/// `g`, f32 row-major: the convolution of `g` with the transposed, flipped filters. Panics
/// when the slices are not as long as `s` says.
pub fn input_grad(w: &[f32], g: &[f32], s: &GradShape, o: &ConvOptions<2>) -> Vec<f32> {
    assert!(is_stride1(s, o) && s.consistent(o), "{s:?}: no stride-1 convolution of {o:?}");
    let [n, c, _, _] = s.x;
    let [_, co, oh, ow] = s.y;
    let [_, _, kh, kw] = s.w;
    let taps = kh * kw;
    let mut flipped = vec![0.0f32; c * co * taps];
    for oc in 0..co {
        for ic in 0..c {
            let src = &w[(oc * c + ic) * taps..][..taps];
            let dst = &mut flipped[(ic * co + oc) * taps..][..taps];
            for (d, v) in dst.iter_mut().zip(src.iter().rev()) {
                *d = *v;
            }
        }
    }
    let flip_pad = |(before, after): (usize, usize), k: usize| (k - 1 - before, k - 1 - after);
    let shape = ConvShape { n, c: co, h: oh, w: ow, co: c, kh, kw, stride: [1, 1], pad: [flip_pad(o.padding[0], kh), flip_pad(o.padding[1], kw)] };
    debug_assert_eq!(shape.output(), s.x, "the flipped convolution restores the input's shape");
    gemm_conv::conv2d(g, &flipped, None, &shape, Activation::Identity)
}

/// dW of a stride-1 convolution ([`is_stride1`]) of at most [`FEW_FILTERS`] filters, from its
/// input `x` and output gradient `g`, f32 row-major; `None` on CPUs without AVX-512 (Burn's
/// gradient is then the faster one). Panics when the slices are not as long as `s` says.
pub fn weight_grad_few(x: &[f32], g: &[f32], s: &GradShape, o: &ConvOptions<2>) -> Option<Vec<f32>> {
    assert!(is_stride1(s, o) && s.consistent(o), "{s:?}: no stride-1 convolution of {o:?}");
    assert!(x.len() == s.x.iter().product::<usize>() && g.len() == s.y.iter().product::<usize>(), "{s:?}: operand lengths");
    let [_, c, _, _] = s.x;
    let [co, _, kh, kw] = s.w;
    let taps = kh * kw;
    #[cfg(target_arch = "x86_64")]
    if let Some(_cpu) = cpu::Avx512::detect() {
        // SAFETY: `_cpu` is the token of run-time detection: the CPU has AVX-512F.
        let per_channel: Vec<Vec<f32>> = (0..c).into_par_iter().map(|ci| unsafe { channel_avx512(x, g, s, o, ci) }).collect();
        let mut dw = vec![0.0f32; co * c * taps];
        for (ci, sums) in per_channel.iter().enumerate() {
            for oc in 0..co {
                dw[(oc * c + ci) * taps..][..taps].copy_from_slice(&sums[oc * taps..][..taps]);
            }
        }
        return Some(dw);
    }
    None
}

/// Channel `ci`'s `[co, kh * kw]` weight gradients. Each input plane is copied once into a
/// row buffer with its left and right padding as zeros, so every tap reads a whole output
/// row's width; each tap's sum stays 16 lanes wide until the end. `s` is a stride-1
/// convolution of `o` (checked by the caller), `x` and `g` as long as it says. To be called
/// only where the CPU has AVX-512F (a [`cpu::Avx512`] token).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn channel_avx512(x: &[f32], g: &[f32], s: &GradShape, o: &ConvOptions<2>, ci: usize) -> Vec<f32> {
    use std::arch::x86_64::{_mm512_fmadd_ps, _mm512_loadu_ps, _mm512_reduce_add_ps, _mm512_setzero_ps};
    const LANES: usize = 16;
    let [n, c, h, w] = s.x;
    let [_, co, oh, ow] = s.y;
    let [_, _, kh, kw] = s.w;
    let ((top, _), (left, right)) = (o.padding[0], o.padding[1]);
    let (taps, pw, full) = (kh * kw, w + left + right, ow / LANES * LANES);
    // Stride 1: each padded row holds what the taps of one output row read, no more.
    assert_eq!(ow + kw - 1, pw, "{s:?}: output width");
    let mut acc = vec![_mm512_setzero_ps(); co * taps];
    let mut tail = vec![0.0f32; co * taps];
    let mut padded = vec![0.0f32; h * pw];
    for image in 0..n {
        let plane = &x[(image * c + ci) * h * w..][..h * w];
        for (dst, src) in padded.chunks_exact_mut(pw).zip(plane.chunks_exact(w)) {
            dst[left..left + w].copy_from_slice(src);
        }
        for oy in 0..oh {
            for a in 0..kh {
                let y = (oy + a).wrapping_sub(top);
                if y >= h {
                    continue; // a padding row: adds nothing
                }
                // Taps read row[b + j] for b < kw, j < ow: ow + kw - 1 = pw values.
                let row = &padded[y * pw..][..pw];
                for oc in 0..co {
                    let dy = &g[((image * co + oc) * oh + oy) * ow..][..ow];
                    let sums = &mut acc[oc * taps + a * kw..][..kw];
                    for j in (0..full).step_by(LANES) {
                        debug_assert!(j + LANES <= dy.len() && sums.len() - 1 + j + LANES <= row.len());
                        // SAFETY: reads dy[j..j + LANES]: j + LANES <= full <= ow = dy.len().
                        let d = unsafe { _mm512_loadu_ps(dy.as_ptr().add(j)) };
                        for (b, sum) in sums.iter_mut().enumerate() {
                            // SAFETY: reads row[b + j..b + j + LANES]: b < kw and
                            // j + LANES <= ow, so the end is at most kw - 1 + ow = pw = row.len()
                            // (asserted above).
                            let r = unsafe { _mm512_loadu_ps(row.as_ptr().add(b + j)) };
                            *sum = _mm512_fmadd_ps(r, d, *sum);
                        }
                    }
                    let rest = &mut tail[oc * taps + a * kw..][..kw];
                    for j in full..ow {
                        for (b, sum) in rest.iter_mut().enumerate() {
                            *sum += row[b + j] * dy[j];
                        }
                    }
                }
            }
        }
    }
    acc.iter().zip(&tail).map(|(lanes, rest)| _mm512_reduce_add_ps(*lanes) + rest).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::conv_grad::BurnGradients;

    /// Both gradients equal Burn's own, with "same" (also uneven) and no padding, odd sides,
    /// rows shorter and longer than the SIMD lanes.
    #[test]
    fn stride1_gradients_match_burns() {
        // (batch, in, height, width, filters, kernel, padding before, after)
        // The last ones are tiny: one-pixel maps, one channel, rows of 15, 16, 17 and 33.
        for (n, c, h, w, co, k, pb, pa) in [(2, 5, 9, 37, 3, 5, 2, 2), (1, 4, 6, 6, 1, 3, 1, 1), (3, 2, 7, 20, 4, 4, 1, 2), (2, 3, 5, 8, 2, 3, 0, 0), (2, 6, 8, 8, 16, 3, 1, 1), (1, 1, 1, 1, 1, 1, 0, 0), (1, 1, 1, 17, 1, 3, 1, 1), (2, 1, 2, 16, 2, 3, 1, 1), (1, 2, 3, 15, 3, 1, 0, 0), (1, 1, 1, 33, 4, 5, 2, 2)] {
            let o = ConvOptions::new_with_padding([1, 1], [(pb, pa), (pb, pa)], [1, 1], 1);
            let (oh, ow) = (h + pb + pa + 1 - k, w + pb + pa + 1 - k);
            let shape = GradShape { x: [n, c, h, w], y: [n, co, oh, ow], w: [co, c, k, k] };
            assert!(is_stride1(&shape, &o));
            let burn = BurnGradients::random(&shape, &o);
            let mut checks = vec![("input", input_grad(&burn.w, &burn.g, &shape, &o), &burn.dx)];
            if co <= FEW_FILTERS {
                match weight_grad_few(&burn.x, &burn.g, &shape, &o) {
                    Some(dw) => checks.push(("weight", dw, &burn.dw)),
                    None => assert!(!crate::kernels::has_avx512(), "AVX-512 CPUs take the kernel"),
                }
            }
            for (what, ours, burns) in checks {
                let worst = BurnGradients::worst(&ours, burns);
                assert!(worst < 1e-3, "{what} gradient, {c}->{co} {k}x{k} on {h}x{w}, padding ({pb}, {pa}): off by {worst}");
            }
        }
    }

    #[test]
    fn strided_dilated_or_overpadded_convolutions_are_not_stride1() {
        let shape = GradShape { x: [1, 4, 8, 8], y: [1, 3, 8, 8], w: [3, 4, 3, 3] };
        assert!(is_stride1(&shape, &ConvOptions::new([1, 1], [1, 1], [1, 1], 1)));
        assert!(!is_stride1(&shape, &ConvOptions::new([2, 2], [1, 1], [1, 1], 1)));
        assert!(!is_stride1(&shape, &ConvOptions::new([1, 1], [1, 1], [2, 2], 1)));
        assert!(!is_stride1(&shape, &ConvOptions::new([1, 1], [3, 3], [1, 1], 1)));
    }
}
