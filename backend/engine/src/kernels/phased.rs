//! A convolution's input zero-padded and split by stride phase, so that every tap of every
//! output row reads a run of consecutive floats, with no bounds to check and no padding to
//! skip.
//!
//! For stride `(sy, sx)` each input plane becomes `ny * nx` phase planes (`ny = min(sy, kh)`,
//! `nx = min(sx, kw)`: phases no tap reads are left out). Phase plane `(py, px)` holds the
//! padded plane's rows `i * sy + py` and columns `j * sx + px`, so tap `(a, b)` of output
//! position `(oy, ox)` reads phase `(a % sy, b % sx)` at row `oy + a / sy`, column
//! `ox + b / sx`: consecutive `ox`, consecutive floats. A plane is
//! `rows = oh + (kh - 1) / sy` by `cols = ow + (kw - 1) / sx`, what the taps reach.
//! A stride-1 convolution without padding reads its input as it is.

use super::ConvShape;
use rayon::prelude::*;
use std::borrow::Cow;

/// The padded, phase-split input of one convolution.
pub struct Phased<'a> {
    data: Cow<'a, [f32]>,
    /// Rows and columns of a phase plane.
    pub rows: usize,
    pub cols: usize,
    /// Phases per axis.
    ny: usize,
    nx: usize,
    stride: [usize; 2],
    channels: usize,
}

impl<'a> Phased<'a> {
    /// `x` `[N, C, H, W]` as convolution `s` reads it.
    pub fn new(x: &'a [f32], s: &ConvShape) -> Phased<'a> {
        let [_, _, oh, ow] = s.output();
        let [sy, sx] = s.stride;
        let (rows, cols) = (oh + (s.kh - 1) / sy, ow + (s.kw - 1) / sx);
        let (ny, nx) = (sy.min(s.kh), sx.min(s.kw));
        let me = |data| Phased { data, rows, cols, ny, nx, stride: s.stride, channels: s.c };
        if s.stride == [1, 1] && s.pad == [(0, 0); 2] {
            // rows = h, cols = w: the input is its own (single) phase plane.
            return me(Cow::Borrowed(x));
        }
        let plane = rows * cols;
        let mut data = vec![0.0f32; s.n * s.c * ny * nx * plane];
        if !data.is_empty() {
            data.par_chunks_mut(ny * nx * plane).zip(x.par_chunks(s.h * s.w)).for_each(|(dst, src)| {
                for py in 0..ny {
                    for px in 0..nx {
                        let out = &mut dst[(py * nx + px) * plane..][..plane];
                        // Columns j whose padded position j * sx + px lies in the input row.
                        let (start, end, first) = super::strided_tap_run(px, s.pad[1].0, sx, s.w, cols);
                        for (i, row) in out.chunks_exact_mut(cols).enumerate() {
                            let y = (i * sy + py).wrapping_sub(s.pad[0].0);
                            if y < s.h {
                                let line = &src[y * s.w..][..s.w];
                                if sx == 1 {
                                    row[start..end].copy_from_slice(&line[first..first + end - start]);
                                } else {
                                    for (d, v) in row[start..end].iter_mut().zip(line[first..].iter().step_by(sx)) {
                                        *d = *v;
                                    }
                                }
                            }
                        }
                    }
                }
            });
        }
        me(Cow::Owned(data))
    }

    /// The floats of image `image`, channel `c`, tap `(a, b)` from output row `oy`, column `ox`
    /// on: `len` of them, for output columns `ox..ox + len` (`ox + len <= ow`).
    #[inline(always)]
    pub fn run(&self, image: usize, c: usize, (a, b): (usize, usize), (oy, ox): (usize, usize), len: usize) -> &[f32] {
        let [sy, sx] = self.stride;
        let phase = ((image * self.channels + c) * self.ny + a % sy) * self.nx + b % sx;
        let start = (phase * self.rows + oy + a / sy) * self.cols + ox + b / sx;
        &self.data[start..start + len]
    }

    /// Phase plane `(0, 0)` of image `image`, channel `c`: for stride 1, the padded plane,
    /// `rows` x `cols`.
    pub fn plane(&self, image: usize, c: usize) -> &[f32] {
        let plane = self.rows * self.cols;
        &self.data[(image * self.channels + c) * self.ny * self.nx * plane..][..plane]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every run holds the input values its taps read, zeros in the padding, for strides and
    /// paddings of every kind: checked against the convolution's index arithmetic directly.
    #[test]
    fn runs_read_what_the_taps_read() {
        let shapes = [
            ConvShape { n: 2, c: 3, h: 7, w: 9, co: 1, kh: 5, kw: 5, stride: [2, 2], pad: [(2, 2), (2, 2)] },
            ConvShape { n: 1, c: 2, h: 6, w: 5, co: 1, kh: 3, kw: 3, stride: [1, 1], pad: [(0, 2), (1, 0)] },
            ConvShape { n: 1, c: 1, h: 11, w: 13, co: 1, kh: 7, kw: 7, stride: [4, 3], pad: [(0, 0), (0, 0)] },
            ConvShape { n: 2, c: 2, h: 5, w: 5, co: 1, kh: 3, kw: 3, stride: [1, 1], pad: [(0, 0), (0, 0)] },
            ConvShape { n: 1, c: 2, h: 8, w: 8, co: 1, kh: 1, kw: 1, stride: [2, 2], pad: [(0, 0), (0, 0)] },
        ];
        for s in shapes {
            let x: Vec<f32> = (0..s.n * s.c * s.h * s.w).map(|i| i as f32 + 1.0).collect();
            let p = Phased::new(&x, &s);
            let [_, _, oh, ow] = s.output();
            for (image, c, a, b, oy) in every_tap(s.n, s.c, s.kh, s.kw, oh) {
                let got = p.run(image, c, (a, b), (oy, 0), ow);
                for (ox, v) in got.iter().enumerate() {
                    let y = (oy * s.stride[0] + a) as isize - s.pad[0].0 as isize;
                    let xx = (ox * s.stride[1] + b) as isize - s.pad[1].0 as isize;
                    let inside = (0..s.h as isize).contains(&y) && (0..s.w as isize).contains(&xx);
                    let want = if inside { x[((image * s.c + c) * s.h + y as usize) * s.w + xx as usize] } else { 0.0 };
                    assert_eq!(*v, want, "{s:?}: image {image} c {c} tap ({a},{b}) at ({oy},{ox})");
                }
            }
        }
    }

    fn every_tap(n: usize, c: usize, kh: usize, kw: usize, oh: usize) -> impl Iterator<Item = (usize, usize, usize, usize, usize)> {
        (0..n).flat_map(move |i| (0..c).flat_map(move |c| (0..kh).flat_map(move |a| (0..kw).flat_map(move |b| (0..oh).map(move |y| (i, c, a, b, y))))))
    }
}
