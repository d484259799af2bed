//! 2-D similarity transforms (rotation, uniform scale, translation; no reflection) and their
//! least-squares estimate from point pairs (Umeyama's method, in the closed form it takes in
//! two dimensions).

use crate::geometry::Point;

/// `p -> scale * R(angle) * p + (tx, ty)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Similarity {
    pub scale: f64,
    /// Counter-clockwise in image axes (y down: a positive angle turns x towards y).
    pub angle: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity {
    pub const IDENTITY: Similarity = Similarity { scale: 1.0, angle: 0.0, tx: 0.0, ty: 0.0 };

    /// The 2x3 affine matrix `[[a, -b, tx], [b, a, ty]]`.
    pub fn matrix(&self) -> [[f64; 3]; 2] {
        let (s, c) = self.angle.sin_cos();
        let (a, b) = (self.scale * c, self.scale * s);
        [[a, -b, self.tx], [b, a, self.ty]]
    }

    pub fn apply(&self, p: Point) -> Point {
        let [[a, nb, tx], [b, _, ty]] = self.matrix();
        let (x, y) = (f64::from(p.x), f64::from(p.y));
        Point::new((a * x + nb * y + tx) as f32, (b * x + a * y + ty) as f32)
    }

    /// Pure scaling about the origin, then a shift.
    pub fn scale_shift(scale: f64, tx: f64, ty: f64) -> Similarity {
        Similarity { scale, angle: 0.0, tx, ty }
    }

    /// This transform followed by `next` (`next.apply(self.apply(p))`).
    pub fn then(&self, next: &Similarity) -> Similarity {
        let (s, c) = next.angle.sin_cos();
        let (a, b) = (next.scale * c, next.scale * s);
        Similarity {
            scale: self.scale * next.scale,
            angle: self.angle + next.angle,
            tx: a * self.tx - b * self.ty + next.tx,
            ty: b * self.tx + a * self.ty + next.ty,
        }
    }

    /// The transform that undoes this one.
    pub fn inverse(&self) -> Similarity {
        let scale = 1.0 / self.scale;
        let angle = -self.angle;
        let (s, c) = angle.sin_cos();
        let (tx, ty) = (-(scale * (c * self.tx - s * self.ty)), -(scale * (s * self.tx + c * self.ty)));
        Similarity { scale, angle, tx, ty }
    }
}

/// The similarity that maps `src` onto `dst` with the least squared error, or `None` when it
/// is not determined (fewer than two pairs, different lengths, or all `src` points equal).
pub fn estimate_similarity(src: &[Point], dst: &[Point]) -> Option<Similarity> {
    if src.len() != dst.len() || src.len() < 2 {
        return None;
    }
    let n = src.len() as f64;
    let mean = |pts: &[Point]| {
        let (sx, sy) = pts.iter().fold((0.0, 0.0), |(x, y), p| (x + f64::from(p.x), y + f64::from(p.y)));
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    // With centred points as complex numbers s and d, the best rotation-and-scale is
    // sum(conj(s) * d) / sum(|s|^2).
    let (mut re, mut im, mut norm) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (f64::from(s.x) - msx, f64::from(s.y) - msy);
        let (dx, dy) = (f64::from(d.x) - mdx, f64::from(d.y) - mdy);
        re += sx * dx + sy * dy;
        im += sx * dy - sy * dx;
        norm += sx * sx + sy * sy;
    }
    if norm <= f64::EPSILON * n {
        return None;
    }
    let (a, b) = (re / norm, im / norm);
    let scale = a.hypot(b);
    if scale <= 0.0 || !scale.is_finite() {
        return None;
    }
    Some(Similarity { scale, angle: b.atan2(a), tx: mdx - (a * msx - b * msy), ty: mdy - (b * msx + a * msy) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Vec<Point> {
        vec![Point::new(0.0, 0.0), Point::new(10.0, 0.0), Point::new(10.0, 10.0), Point::new(0.0, 10.0), Point::new(3.0, 7.0)]
    }

    #[test]
    fn recovers_a_known_transform_exactly() {
        let t = Similarity { scale: 2.5, angle: 0.3, tx: 40.0, ty: -12.0 };
        let src = square();
        let dst: Vec<Point> = src.iter().map(|&p| t.apply(p)).collect();
        let est = estimate_similarity(&src, &dst).unwrap();
        assert!((est.scale - 2.5).abs() < 1e-5 && (est.angle - 0.3).abs() < 1e-6, "{est:?}");
        assert!((est.tx - 40.0).abs() < 1e-3 && (est.ty + 12.0).abs() < 1e-3, "{est:?}");
    }

    #[test]
    fn inverse_undoes_the_transform() {
        let t = Similarity { scale: 0.7, angle: -1.1, tx: 5.0, ty: 9.0 };
        for p in square() {
            let back = t.inverse().apply(t.apply(p));
            assert!(back.distance(p) < 1e-4, "{p:?} -> {back:?}");
        }
    }

    #[test]
    fn no_transform_fits_better_than_the_estimate() {
        // Noisy targets: nudging any parameter of the estimate increases the squared error.
        let t = Similarity { scale: 1.3, angle: 0.2, tx: 3.0, ty: 4.0 };
        let src = square();
        let noise = [(0.3, -0.2), (-0.4, 0.1), (0.2, 0.5), (-0.1, -0.3), (0.25, 0.05)];
        let dst: Vec<Point> = src.iter().zip(noise).map(|(&p, (nx, ny))| {
            let q = t.apply(p);
            Point::new(q.x + nx, q.y + ny)
        }).collect();
        let est = estimate_similarity(&src, &dst).unwrap();
        let err = |s: &Similarity| src.iter().zip(&dst).map(|(&p, &q)| f64::from(s.apply(p).distance(q)).powi(2)).sum::<f64>();
        let best = err(&est);
        for (ds, da, dx, dy) in [(1e-3, 0.0, 0.0, 0.0), (-1e-3, 0.0, 0.0, 0.0), (0.0, 1e-3, 0.0, 0.0), (0.0, -1e-3, 0.0, 0.0), (0.0, 0.0, 1e-2, 0.0), (0.0, 0.0, 0.0, -1e-2)] {
            let other = Similarity { scale: est.scale + ds, angle: est.angle + da, tx: est.tx + dx, ty: est.ty + dy };
            assert!(err(&other) > best, "{other:?} fits better than {est:?}");
        }
    }

    #[test]
    fn then_composes_in_order() {
        let (t, u) = (Similarity { scale: 2.0, angle: 0.4, tx: 1.0, ty: -3.0 }, Similarity { scale: 0.5, angle: -1.0, tx: 7.0, ty: 2.0 });
        for p in square() {
            let want = u.apply(t.apply(p));
            assert!(t.then(&u).apply(p).distance(want) < 1e-4);
        }
    }

    #[test]
    fn degenerate_inputs_have_no_transform() {
        let p = Point::new(1.0, 2.0);
        assert!(estimate_similarity(&[p], &[p]).is_none());
        assert!(estimate_similarity(&[p, p, p], &[p, Point::new(3.0, 3.0), p]).is_none());
        assert!(estimate_similarity(&square(), &square()[..4]).is_none());
    }
}
