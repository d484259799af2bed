//! 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016).
//!
//! The output is cut into 2x2 tiles; each reads a 4x4 tile of the (padded) input. With
//! `U = G g Gᵀ` for every filter `g` and `V = Bᵀ d B` for every input tile `d`, the output
//! tile is `Aᵀ [Σ_c U ⊙ V] A`: the sum over input channels becomes 16 matrix products
//! `M_e = U_e V_e` (`[co, c] x [c, tiles]`, one per element `e` of the 4x4 transform), 16
//! multiply-adds per tile and channel pair where im2col's product takes 36. The transforms
//! are additions and halvings; in f32 the results differ from the direct sum by rounding
//! only (the tests hold them to the same bound as the other kernels).
//!
//! Tiles are numbered across the batch and taken in blocks, the block's `V` and `M` built
//! and consumed while they are in cache; the bias and the activation are applied as each
//! output tile is written.

use super::phased::Phased;
use super::raw::{gemm_checked, Mat, MatMut, SharedMut};
use super::{Activation, ConvShape};
use rayon::prelude::*;

/// Fewest input and output channels for which the products outweigh the transforms.
const MIN_CHANNELS: usize = 32;

/// Fewest blocks worth running side by side (one product at a time per thread).
const PARALLEL_BLOCKS: usize = 4;

/// Whether [`conv2d`] takes `s`.
pub fn applies(s: &ConvShape) -> bool {
    s.kh == 3 && s.kw == 3 && s.stride == [1, 1] && s.c >= MIN_CHANNELS && s.co >= MIN_CHANNELS
}

/// `act(conv(x, w) + bias)` for `x` `[N, C, H, W]` and `w` `[CO, C, 3, 3]`, stride 1 ([`applies`]).
/// Panics when the slices are not as long as `s` says.
pub fn conv2d(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &ConvShape, act: Activation) -> Vec<f32> {
    assert!(s.kh == 3 && s.kw == 3 && s.stride == [1, 1], "{s:?}: Winograd F(2x2, 3x3) takes 3x3 stride-1 convolutions");
    s.check_operands(x, w, bias, s.c);
    let [n, co, oh, ow] = s.output();
    let mut out = vec![0.0f32; n * co * oh * ow];
    if out.is_empty() {
        return out;
    }
    let grid = Grid { th: oh.div_ceil(2), tw: ow.div_ceil(2), oh, ow };
    let tiles = n * grid.th * grid.tw;
    let u = filters(w, s);
    // Padded to whole tiles: an odd side gets one more row or column of zeros.
    let even = ConvShape { pad: [(s.pad[0].0, s.pad[0].1 + oh % 2), (s.pad[1].0, s.pad[1].1 + ow % 2)], ..*s };
    let padded = Phased::new(x, &even);
    let block = block_tiles(s.c, co);
    let blocks: Vec<(usize, usize)> = (0..tiles).step_by(block).map(|t0| (t0, (t0 + block).min(tiles))).collect();
    let dst = SharedMut::new(&mut out);
    let run = |(t0, t1): (usize, usize), v: &mut Vec<f32>, m: &mut Vec<f32>, par: gemm::Parallelism| {
        let nt = t1 - t0;
        let parallel = !matches!(par, gemm::Parallelism::None);
        // Grown, never cleared: the transforms and the products write every float of them.
        for (buf, len) in [(&mut *v, 16 * s.c * nt), (&mut *m, 16 * co * nt)] {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
        }
        inputs(&padded, s.c, &grid, t0, t1, &mut v[..16 * s.c * nt], parallel);
        for e in 0..16 {
            // M_e [co, nt] = U_e [co, c] x V_e [c, nt].
            let mut m_e = MatMut::row_major(&mut m[e * co * nt..][..co * nt], co, nt);
            let (u_e, v_e) = (Mat::row_major(&u[e * co * s.c..][..co * s.c], co, s.c), Mat::row_major(&v[e * s.c * nt..][..s.c * nt], s.c, nt));
            gemm_checked(&mut m_e, false, u_e, v_e, par);
        }
        outputs(&m[..16 * co * nt], bias, act, co, &grid, t0, t1, dst, parallel);
    };
    super::for_each_block(blocks, PARALLEL_BLOCKS, run);
    out
}

/// The tiling of one output plane: `th` x `tw` tiles over `oh` x `ow`.
struct Grid {
    th: usize,
    tw: usize,
    oh: usize,
    ow: usize,
}

impl Grid {
    /// Image, tile row and tile column of tile `t`.
    #[inline(always)]
    fn tile(&self, t: usize) -> (usize, usize, usize) {
        let per_image = self.th * self.tw;
        (t / per_image, t % per_image / self.tw, t % self.tw)
    }

    /// Tiles `t0..t1` as runs along tile rows: `(first tile, image, tile row, first tile
    /// column, tiles)`.
    fn runs(&self, t0: usize, t1: usize) -> impl Iterator<Item = (usize, usize, usize, usize, usize)> + '_ {
        let mut t = t0;
        std::iter::from_fn(move || {
            (t < t1).then(|| {
                let (image, ty, tx) = self.tile(t);
                let len = (self.tw - tx).min(t1 - t);
                t += len;
                (t - len, image, ty, tx, len)
            })
        })
    }
}

/// Tiles per block: enough columns for efficient products, `V` and `M` near 4 MB together.
fn block_tiles(c: usize, co: usize) -> usize {
    ((1usize << 20) / (16 * (c + co))).clamp(128, 512).next_multiple_of(16)
}

/// `U[e][o][c] = (G g G^T)[e]` for filter `g = w[o, c]`, `e` the 4x4 element.
fn filters(w: &[f32], s: &ConvShape) -> Vec<f32> {
    let (c, co) = (s.c, s.co);
    let mut u = vec![0.0f32; 16 * co * c];
    assert_eq!(w.len(), co * c * 9, "{s:?}: filter length");
    let dst = SharedMut::new(&mut u);
    w.par_chunks(9 * c).enumerate().for_each(|(o, filters)| {
        for (ci, g) in filters.chunks_exact(9).enumerate() {
            // G g: 4 rows of 3 from the filter's rows.
            let mut t = [[0.0f32; 3]; 4];
            for j in 0..3 {
                let (g0, g1, g2) = (g[j], g[3 + j], g[6 + j]);
                t[0][j] = g0;
                t[1][j] = 0.5 * (g0 + g1 + g2);
                t[2][j] = 0.5 * (g0 - g1 + g2);
                t[3][j] = g2;
            }
            for (i, t) in t.iter().enumerate() {
                let row = [t[0], 0.5 * (t[0] + t[1] + t[2]), 0.5 * (t[0] - t[1] + t[2]), t[2]];
                for (j, v) in row.into_iter().enumerate() {
                    // SAFETY: element (i, j) of filter (o, ci): only this task (filter o)
                    // writes it. (The write checks its bounds.)
                    unsafe { dst.write(((i * 4 + j) * co + o) * c + ci, v) };
                }
            }
        }
    });
    u
}

/// Tiles a transform handles at once (on the stack).
const CHUNK: usize = 64;

/// `V[e][c][t - t0] = (B^T d B)[e]` for the 4x4 input tile `d` of tile `t`, channel `c`.
/// `x` is the input padded to whole tiles. `B^T` combines the four rows of a run of tiles
/// elementwise, then `B` the columns of each tile.
fn inputs(x: &Phased, c_in: usize, grid: &Grid, t0: usize, t1: usize, v: &mut [f32], parallel: bool) {
    let nt = t1 - t0;
    assert!(v.len() >= 16 * c_in * nt);
    let cells = SharedMut::new(v);
    let each = |c: usize| {
        let mut b = [[0.0f32; 2 * CHUNK + 2]; 4];
        for (t, image, ty, tx0, len) in grid.runs(t0, t1) {
            let plane = x.plane(image, c);
            for piece in (0..len).step_by(CHUNK) {
                let n = (len - piece).min(CHUNK);
                let (col0, width) = (2 * (tx0 + piece), 2 * n + 2);
                let r = |i: usize| &plane[(2 * ty + i) * x.cols + col0..][..width];
                let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
                let [b0, b1, b2, b3] = &mut b;
                let (b0, b1, b2, b3) = (&mut b0[..width], &mut b1[..width], &mut b2[..width], &mut b3[..width]);
                for j in 0..width {
                    b0[j] = r0[j] - r2[j];
                    b1[j] = r1[j] + r2[j];
                    b2[j] = r2[j] - r1[j];
                    b3[j] = r1[j] - r3[j];
                }
                let k0 = t + piece - t0;
                for (i, b) in b.iter().enumerate() {
                    // SAFETY: rows (e, c) of V for e = 4i..4i + 4, floats k0..k0 + n (k0 + n
                    // <= nt): four distinct rows, which channel c's task alone writes, and
                    // this task holds no other slice of them. (Each slice checks its bounds.)
                    let row = |j: usize| unsafe { cells.slice(((i * 4 + j) * c_in + c) * nt + k0, n) };
                    let (v0, v1, v2, v3) = (row(0), row(1), row(2), row(3));
                    for k in 0..n {
                        let (a0, a1, a2, a3) = (b[2 * k], b[2 * k + 1], b[2 * k + 2], b[2 * k + 3]);
                        v0[k] = a0 - a2;
                        v1[k] = a1 + a2;
                        v2[k] = a2 - a1;
                        v3[k] = a1 - a3;
                    }
                }
            }
        }
    };
    if parallel {
        (0..c_in).into_par_iter().for_each(each);
    } else {
        (0..c_in).for_each(each);
    }
}

/// Output tiles `t0..t1`: `y = A^T M A` per filter and tile, plus the bias, activated, the
/// parts inside the output written into `out` `[N, CO, OH, OW]`.
#[allow(clippy::too_many_arguments)]
fn outputs(m: &[f32], bias: Option<&[f32]>, act: Activation, co: usize, grid: &Grid, t0: usize, t1: usize, out: SharedMut<'_>, parallel: bool) {
    let nt = t1 - t0;
    let filter = |o: usize| {
        let bias = bias.map_or(0.0, |b| b[o]);
        let mut r = [[[0.0f32; CHUNK]; 4]; 2];
        let mut y = [[0.0f32; CHUNK]; 4];
        for (t, image, ty, tx0, len) in grid.runs(t0, t1) {
            for piece in (0..len).step_by(CHUNK) {
                let (n, k0) = ((len - piece).min(CHUNK), t + piece - t0);
                let e = |i: usize| &m[(i * co + o) * nt + k0..][..n];
                // A^T M: two rows of four, elementwise over the run's tiles.
                for j in 0..4 {
                    let (m0, m1, m2, m3) = (e(j), e(4 + j), e(8 + j), e(12 + j));
                    let [r0, r1] = &mut r;
                    let (r0, r1) = (&mut r0[j][..n], &mut r1[j][..n]);
                    for k in 0..n {
                        r0[k] = m0[k] + m1[k] + m2[k];
                        r1[k] = m1[k] - m2[k] - m3[k];
                    }
                }
                // (A^T M) A: two by two.
                for (i, r) in r.iter().enumerate() {
                    let [left, right] = &mut y[2 * i..2 * i + 2] else { unreachable!() };
                    for k in 0..n {
                        left[k] = act.apply(r[0][k] + r[1][k] + r[2][k] + bias);
                        right[k] = act.apply(r[1][k] - r[2][k] - r[3][k] + bias);
                    }
                }
                let col0 = 2 * (tx0 + piece);
                let width = (2 * n).min(grid.ow - col0);
                for i in 0..2 {
                    let row = 2 * ty + i;
                    if row >= grid.oh {
                        continue;
                    }
                    // SAFETY: columns col0..col0 + width of row `row` of plane (image, o):
                    // these tiles' (blocks are disjoint) and this filter's task's alone.
                    let dst = unsafe { out.slice(((image * co + o) * grid.oh + row) * grid.ow + col0, width) };
                    for (k, pair) in dst.chunks_mut(2).enumerate() {
                        pair[0] = y[2 * i][k];
                        if let Some(second) = pair.get_mut(1) {
                            *second = y[2 * i + 1][k];
                        }
                    }
                }
            }
        }
    };
    if parallel {
        (0..co).into_par_iter().for_each(filter);
    } else {
        (0..co).for_each(filter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_3x3_stride_1_layers_of_enough_channels() {
        let shape = |c, co, k, stride| ConvShape { n: 1, c, h: 8, w: 8, co, kh: k, kw: k, stride: [stride, stride], pad: [(1, 1); 2] };
        assert!(applies(&shape(64, 256, 3, 1)));
        assert!(!applies(&shape(64, 256, 3, 2)) && !applies(&shape(64, 256, 5, 1)));
        assert!(!applies(&shape(3, 256, 3, 1)) && !applies(&shape(64, 3, 3, 1)));
    }

    /// One channel, one filter of ones: each output is the sum of its 3x3 neighbourhood, the
    /// padding adding nothing; odd sides leave half tiles at the edges.
    #[test]
    fn sums_neighbourhoods_up_to_the_edges() {
        let s = ConvShape { n: 1, c: 1, h: 3, w: 5, co: 1, kh: 3, kw: 3, stride: [1, 1], pad: [(1, 1); 2] };
        let x: Vec<f32> = (1..=15).map(|v| v as f32).collect();
        let got = conv2d(&x, &[1.0; 9], Some(&[0.5]), &s, Activation::Identity);
        let want: Vec<f32> = (0..15)
            .map(|i| {
                let (y, col): (usize, usize) = (i / 5, i % 5);
                let mut sum = 0.5;
                for yy in y.saturating_sub(1)..(y + 2).min(3) {
                    for xx in col.saturating_sub(1)..(col + 2).min(5) {
                        sum += x[yy * 5 + xx];
                    }
                }
                sum
            })
            .collect();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "{got:?} against {want:?}");
        }
    }
}
