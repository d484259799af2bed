//! Dense convolution (`groups == 1`) as matrix products over tiles of output positions, with
//! the bias and the activation applied to each tile while it is still in cache.
//!
//! Output positions are numbered across the batch, `q = image * P + p` (`P = OH * OW`), and cut
//! into tiles of consecutive `q`. For a tile, the input values each position sees form the
//! matrix `col` `[K, tile]` (`K = C * KH * KW`, im2col); `out[co, q] = W[co, :] . col[:, q]`
//! is one GEMM, written straight into the output when the tile lies in one image (rows
//! `P` apart) and through a small buffer when it spans images. A 1x1 convolution without
//! stride or padding reads the input as `col` directly.

use super::phased::Phased;
use super::raw::{gemm_checked, Layout, Mat, MatMut, SharedMut};
use super::{Activation, ConvShape};
use rayon::prelude::*;

/// Floats of one tile's `col` matrix (256 KB): a tile's input and output stay in the L2 cache.
const TILE_FLOATS: usize = 64 << 10;

/// Fewest tiles worth running side by side (one GEMM per thread); fewer tiles run one after
/// another, each GEMM using every thread.
const PARALLEL_TILES: usize = 4;

/// `act(conv(x, w) + bias)` for `x` `[N, C, H, W]` and `w` `[CO, C, KH, KW]`, row-major f32.
/// Panics when the slices are not as long as `s` says.
pub fn conv2d(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &ConvShape, act: Activation) -> Vec<f32> {
    s.check_operands(x, w, bias, s.c);
    let [n, co, oh, ow] = s.output();
    let (p, k) = (oh * ow, s.c * s.kh * s.kw);
    let mut out = vec![0.0f32; n * co * p];
    let total = n * p;
    if total == 0 || co == 0 {
        return out;
    }
    let direct = s.kh == 1 && s.kw == 1 && s.stride == [1, 1] && s.pad == [(0, 0); 2];
    let tile = tile_width(k, p, total);
    let tiles = tiles(tile, p, total);
    // im2col copies runs of the padded, phase-split input (x itself when there is no padding
    // and no stride).
    let phased = Phased::new(x, s);
    let dst = SharedMut::new(&mut out);
    let run = |(q0, q1): (usize, usize), col: &mut Vec<f32>, tmp: &mut Vec<f32>, par: gemm::Parallelism| {
        let nc = q1 - q0;
        let (image, p0) = (q0 / p, q0 % p);
        let one_image = p0 + nc <= p;
        let lhs = Mat::row_major(w, co, k);
        let rhs = if direct && one_image {
            // k = C rows of the image's planes, P apart.
            Mat::new(&x[image * s.c * p + p0..], Layout::rows_apart(k, nc, p))
        } else {
            // Grown, never cleared: im2col writes every float of it.
            if col.len() < k * nc {
                col.resize(k * nc, 0.0);
            }
            im2col(&phased, s, q0, q1, &mut col[..k * nc], !matches!(par, gemm::Parallelism::None));
            Mat::row_major(&col[..k * nc], k, nc)
        };
        if one_image {
            // SAFETY: tiles are disjoint ranges of q and this one lies in one image, so the
            // view's elements, out[image, c, p0..p0 + nc] for every c, are this tile's alone.
            let mut target = unsafe { dst.matrix(image * co * p + p0, Layout::rows_apart(co, nc, p)) };
            gemm_checked(&mut target, false, lhs, rhs, par);
            for c in 0..co {
                finish(target.row(c), bias.map_or(0.0, |b| b[c]), act);
            }
        } else {
            tmp.clear();
            tmp.resize(co * nc, 0.0);
            gemm_checked(&mut MatMut::row_major(&mut tmp[..], co, nc), false, lhs, rhs, par);
            // The tile's part of each image it spans: positions pos..pos + len of every plane.
            let mut q = q0;
            while q < q1 {
                let (image, pos) = (q / p, q % p);
                let len = (p - pos).min(q1 - q);
                for c in 0..co {
                    // SAFETY: positions q..q + len of the output belong to this tile only.
                    let row = unsafe { dst.slice((image * co + c) * p + pos, len) };
                    let b = bias.map_or(0.0, |b| b[c]);
                    for (o, v) in row.iter_mut().zip(&tmp[c * nc + q - q0..][..len]) {
                        *o = act.apply(v + b);
                    }
                }
                q += len;
            }
        }
    };
    super::for_each_block(tiles, PARALLEL_TILES, run);
    out
}

/// Columns per tile: the whole problem when its `col` matrix is small, else as many as fit
/// [`TILE_FLOATS`], a multiple of 64, and whole images when the images are small.
fn tile_width(k: usize, p: usize, total: usize) -> usize {
    if k * total <= TILE_FLOATS {
        return total;
    }
    let fit = (TILE_FLOATS / k).max(64);
    if p <= fit {
        (fit / p) * p
    } else {
        // Balanced tiles of one image each, the last no narrower than the others.
        let per_image = p.div_ceil(fit);
        p.div_ceil(per_image).next_multiple_of(16).min(p)
    }
}

/// Ranges of output positions `tile` wide: whole images together when `tile` is a multiple
/// of `p`, else within one image.
fn tiles(tile: usize, p: usize, total: usize) -> Vec<(usize, usize)> {
    if tile >= p {
        (0..total).step_by(tile).map(|q0| (q0, (q0 + tile).min(total))).collect()
    } else {
        (0..total).step_by(p).flat_map(|i0| (i0..i0 + p).step_by(tile).map(move |q0| (q0, (q0 + tile).min(i0 + p)))).collect()
    }
}

/// Adds `bias` to `row` and applies `act`.
#[inline]
pub(super) fn finish(row: &mut [f32], bias: f32, act: Activation) {
    for v in row {
        *v = act.apply(*v + bias);
    }
}

/// `col[(c, a, b), q - q0] = x[image, c, oy * sh + a - pt, ox * sw + b - pl]` (0 in the
/// padding) for output positions `q0..q1`: every row of `col` is a copy of runs of the
/// phase-split input, one per output row the tile touches. `col` holds `K` rows of
/// `q1 - q0` floats, each written whole.
fn im2col(x: &Phased, s: &ConvShape, q0: usize, q1: usize, col: &mut [f32], parallel: bool) {
    let [_, _, oh, ow] = s.output();
    let (p, nc) = (oh * ow, q1 - q0);
    let fill = |(r, row): (usize, &mut [f32])| {
        let (c, a, b) = (r / (s.kh * s.kw), r / s.kw % s.kh, r % s.kw);
        let (mut q, mut image) = (q0, q0 / p);
        let (mut oy, mut ox0) = (q0 % p / ow, q0 % ow);
        while q < q1 {
            // One output row (or what is left of it in the tile).
            let run = (ow - ox0).min(q1 - q);
            row[q - q0..q - q0 + run].copy_from_slice(x.run(image, c, (a, b), (oy, ox0), run));
            q += run;
            ox0 += run;
            if ox0 == ow {
                ox0 = 0;
                oy += 1;
                if oy == oh {
                    (oy, image) = (0, image + 1);
                }
            }
        }
    };
    if parallel {
        col.par_chunks_mut(nc).enumerate().for_each(fill);
    } else {
        col.chunks_mut(nc).enumerate().for_each(fill);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position in exactly one tile, tiles within one image unless they hold whole images.
    #[test]
    fn tiles_cover_the_batch_once_and_keep_to_images() {
        for (k, p, n) in [(27, 256 * 256, 1), (1024, 256, 1), (12800, 16, 16), (2304, 64, 3), (75, 1024, 16), (128, 100, 5)] {
            let total = n * p;
            let tile = tile_width(k, p, total);
            let tiles = tiles(tile, p, total);
            let mut next = 0;
            for &(q0, q1) in &tiles {
                assert_eq!(q0, next, "k {k} p {p}: contiguous");
                assert!(q1 > q0);
                let whole_images = q0 % p == 0 && ((q1 - q0) % p == 0 || q1 == total);
                assert!(q0 / p == (q1 - 1) / p || whole_images, "k {k} p {p}: tile {q0}..{q1} straddles images");
                next = q1;
            }
            assert_eq!(next, total);
            if k * total > TILE_FLOATS {
                assert!(tiles.iter().all(|(a, b)| (b - a) * k <= TILE_FLOATS.max(64 * k).max(p * k) + 16 * k), "k {k} p {p}: tiles too big");
            }
        }
    }
}
