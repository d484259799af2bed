//! Float images as channel planes (CHW, the layout the model takes) and the resampling the
//! augmentation needs: affine warps with supersampling and warps by a displacement field.

/// `channels` planes of `side` x `side` values, row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct Planes {
    pub channels: usize,
    pub side: usize,
    pub data: Vec<f32>,
}

/// A 2x3 affine map `[[a, b, tx], [c, d, ty]]`: `(x, y) -> (a x + b y + tx, c x + d y + ty)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [[f32; 3]; 2]);

impl Affine {
    pub const IDENTITY: Affine = Affine([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);

    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        let [r0, r1] = self.0;
        (r0[0] * x + r0[1] * y + r0[2], r1[0] * x + r1[1] * y + r1[2])
    }

    /// `self` after `first`.
    pub fn after(&self, first: &Affine) -> Affine {
        let [a, b] = self.0;
        let [c, d] = first.0;
        let row = |r: [f32; 3]| {
            [
                r[0] * c[0] + r[1] * d[0],
                r[0] * c[1] + r[1] * d[1],
                r[0] * c[2] + r[1] * d[2] + r[2],
            ]
        };
        Affine([row(a), row(b)])
    }

    /// The inverse map, or `None` for a degenerate one.
    pub fn inverse(&self) -> Option<Affine> {
        let [[a, b, tx], [c, d, ty]] = self.0;
        let det = a * d - b * c;
        if det.abs() < 1e-12 {
            return None;
        }
        let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
        Some(Affine([
            [ia, ib, -(ia * tx + ib * ty)],
            [ic, id, -(ic * tx + id * ty)],
        ]))
    }

    /// Pixel-centre coordinates of a `from` side image -> those of a `to` side image covering
    /// the same square.
    pub fn rescale(from: usize, to: usize) -> Affine {
        let s = to as f32 / from as f32;
        Affine([[s, 0.0, 0.5 * s - 0.5], [0.0, s, 0.5 * s - 0.5]])
    }
}

impl Planes {
    pub fn new(channels: usize, side: usize, data: Vec<f32>) -> Planes {
        assert_eq!(
            data.len(),
            channels * side * side,
            "planes of the wrong size"
        );
        Planes {
            channels,
            side,
            data,
        }
    }

    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.side * self.side;
        &self.data[c * n..(c + 1) * n]
    }

    /// Bilinear sample of channel `c` at `(x, y)` (pixel centres at integers); outside the
    /// image the edge pixels repeat.
    pub fn sample(&self, c: usize, x: f32, y: f32) -> f32 {
        let max = (self.side - 1) as f32;
        let (x, y) = (x.clamp(0.0, max), y.clamp(0.0, max));
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.side - 1), (y0 + 1).min(self.side - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = self.plane(c);
        let row = |y: usize| p[y * self.side + x0] * (1.0 - fx) + p[y * self.side + x1] * fx;
        row(y0) * (1.0 - fy) + row(y1) * fy
    }

    /// A `side` image whose pixel `(x, y)` is this image at `to_source(x, y)`. When the map
    /// shrinks, each output pixel averages a grid of samples so nothing aliases.
    pub fn warp_affine(&self, to_source: &Affine, side: usize) -> Planes {
        let [r0, r1] = to_source.0;
        let stretch = (r0[0] * r0[0] + r1[0] * r1[0])
            .sqrt()
            .max((r0[1] * r0[1] + r1[1] * r1[1]).sqrt());
        let taps = (stretch.ceil() as usize).clamp(1, 4);
        let offsets: Vec<f32> = (0..taps)
            .map(|i| (i as f32 + 0.5) / taps as f32 - 0.5)
            .collect();
        let weight = 1.0 / (taps * taps) as f32;
        let mut data = vec![0.0; self.channels * side * side];
        for y in 0..side {
            for x in 0..side {
                let mut acc = [0.0f32; 4];
                for &oy in &offsets {
                    for &ox in &offsets {
                        let (sx, sy) = to_source.apply(x as f32 + ox, y as f32 + oy);
                        for (c, a) in acc.iter_mut().enumerate().take(self.channels) {
                            *a += self.sample(c, sx, sy);
                        }
                    }
                }
                for (c, a) in acc.iter().enumerate().take(self.channels) {
                    data[(c * side + y) * side + x] = a * weight;
                }
            }
        }
        Planes {
            channels: self.channels,
            side,
            data,
        }
    }

    /// This image resampled to `side`.
    pub fn resized(&self, side: usize) -> Planes {
        if side == self.side {
            return self.clone();
        }
        self.warp_affine(&Affine::rescale(side, self.side), side)
    }

    /// Every pixel `(x, y)` taken from `(x + dx, y + dy)`, the displacement given per pixel.
    pub fn warp_field(&self, field: &Field) -> Planes {
        assert_eq!(
            field.side, self.side,
            "a displacement field of another size"
        );
        let side = self.side;
        let mut data = vec![0.0; self.data.len()];
        for y in 0..side {
            for x in 0..side {
                let i = y * side + x;
                let (sx, sy) = (x as f32 + field.dx[i], y as f32 + field.dy[i]);
                for c in 0..self.channels {
                    data[c * side * side + i] = self.sample(c, sx, sy);
                }
            }
        }
        Planes {
            channels: self.channels,
            side,
            data,
        }
    }

    /// Mirrored left to right.
    pub fn flipped(&self) -> Planes {
        let side = self.side;
        let mut data = self.data.clone();
        for row in data.chunks_mut(side) {
            row.reverse();
        }
        Planes {
            channels: self.channels,
            side,
            data,
        }
    }
}

/// Per-pixel displacements of a square image, in pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub side: usize,
    pub dx: Vec<f32>,
    pub dy: Vec<f32>,
}

impl Field {
    /// The largest displacement, in pixels.
    pub fn max_shift(&self) -> f32 {
        self.dx
            .iter()
            .zip(&self.dy)
            .map(|(x, y)| (x * x + y * y).sqrt())
            .fold(0.0, f32::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(side: usize) -> Planes {
        Planes::new(
            1,
            side,
            (0..side * side).map(|i| (i % side) as f32).collect(),
        )
    }

    #[test]
    fn affine_inverse_and_composition_agree() {
        let a = Affine([[0.9, -0.2, 3.0], [0.2, 0.9, -1.0]]);
        let inv = a.inverse().unwrap();
        let (x, y) = inv.after(&a).apply(5.0, 7.0);
        assert!((x - 5.0).abs() < 1e-4 && (y - 7.0).abs() < 1e-4);
        assert!(Affine([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]])
            .inverse()
            .is_none());
    }

    #[test]
    fn resizing_keeps_a_ramp_linear_and_flipping_reverses_it() {
        let small = ramp(8).resized(4);
        // Pixel x of the small image covers big pixels 2x and 2x + 1.
        assert_eq!(small.plane(0)[..4], [0.5, 2.5, 4.5, 6.5]);
        assert_eq!(ramp(4).flipped().plane(0)[..4], [3.0, 2.0, 1.0, 0.0]);
    }

    #[test]
    fn a_field_moves_pixels_by_its_displacement() {
        let side = 6;
        let field = Field {
            side,
            dx: vec![1.0; side * side],
            dy: vec![0.0; side * side],
        };
        let moved = ramp(side).warp_field(&field);
        assert_eq!(moved.plane(0)[..side], [1.0, 2.0, 3.0, 4.0, 5.0, 5.0]);
        assert_eq!(field.max_shift(), 1.0);
    }
}
