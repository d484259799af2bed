//! Displacement fields for warping the model's input: a random smooth grid warp, and a
//! thin-plate spline that moves one face's landmarks onto another's.
//!
//! Only the input is warped, never the target: the model has to learn to undo the warp, which
//! is what makes it rebuild a face from its identity rather than copy pixels.

use rand::Rng;

use super::planes::Field;

/// Control points per side of the random warp's grid.
pub const GRID: usize = 5;

/// A random smooth warp of a `side` image: a [`GRID`] x [`GRID`] grid of control points over
/// the whole image, each moved by normal noise of `sigma` (a fraction of the side),
/// interpolated bilinearly in between.
pub fn random_grid(side: usize, sigma: f32, rng: &mut impl Rng) -> Field {
    let scale = sigma * side as f32;
    let mut control = [[(0.0f32, 0.0f32); GRID]; GRID];
    for row in &mut control {
        for p in row.iter_mut() {
            *p = (normal(rng) * scale, normal(rng) * scale);
        }
    }
    let (mut dx, mut dy) = (
        Vec::with_capacity(side * side),
        Vec::with_capacity(side * side),
    );
    let cell = (side.max(2) - 1) as f32 / (GRID - 1) as f32;
    for y in 0..side {
        let gy = (y as f32 / cell).min((GRID - 1) as f32 - 1e-4);
        let (y0, fy) = (gy.floor() as usize, gy.fract());
        for x in 0..side {
            let gx = (x as f32 / cell).min((GRID - 1) as f32 - 1e-4);
            let (x0, fx) = (gx.floor() as usize, gx.fract());
            let lerp = |f: fn(&(f32, f32)) -> f32| {
                let top = f(&control[y0][x0]) * (1.0 - fx) + f(&control[y0][x0 + 1]) * fx;
                let bottom =
                    f(&control[y0 + 1][x0]) * (1.0 - fx) + f(&control[y0 + 1][x0 + 1]) * fx;
                top * (1.0 - fy) + bottom * fy
            };
            dx.push(lerp(|p| p.0));
            dy.push(lerp(|p| p.1));
        }
    }
    Field { side, dx, dy }
}

/// A standard normal sample (Box-Muller).
pub fn normal(rng: &mut impl Rng) -> f32 {
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// The smooth field of a `side` image under which the points `from` move to `to` (both in
/// its pixels): pixel `to[i]` takes its value from `from[i]`. The image border stays in place
/// (anchors at the corners and edge midpoints). `None` if the points are degenerate.
pub fn landmark_field(from: &[(f32, f32)], to: &[(f32, f32)], side: usize) -> Option<Field> {
    let s = (side - 1) as f32;
    let anchors = [
        (0.0, 0.0),
        (s / 2.0, 0.0),
        (s, 0.0),
        (0.0, s / 2.0),
        (s, s / 2.0),
        (0.0, s),
        (s / 2.0, s),
        (s, s),
    ];
    let mut points: Vec<(f32, f32)> = to.to_vec();
    let mut values: Vec<(f32, f32)> = from
        .iter()
        .zip(to)
        .map(|(f, t)| (f.0 - t.0, f.1 - t.1))
        .collect();
    for a in anchors {
        points.push(a);
        values.push((0.0, 0.0));
    }
    let spline = Spline::fit(&points, &values, side as f64)?;
    let (mut dx, mut dy) = (
        Vec::with_capacity(side * side),
        Vec::with_capacity(side * side),
    );
    for y in 0..side {
        for x in 0..side {
            let (vx, vy) = spline.eval(x as f32, y as f32);
            dx.push(vx);
            dy.push(vy);
        }
    }
    Some(Field { side, dx, dy })
}

/// A 2-D thin-plate spline with two outputs: `f(p) = a + B p + sum_i w_i U(|p - c_i|)`,
/// `U(r) = r^2 ln r^2`. Coordinates are divided by `scale` so the system is well conditioned.
struct Spline {
    centres: Vec<(f64, f64)>,
    weights: Vec<[f64; 2]>,
    affine: [[f64; 2]; 3],
    scale: f64,
}

fn kernel(r2: f64) -> f64 {
    if r2 < 1e-12 {
        0.0
    } else {
        r2 * r2.ln()
    }
}

impl Spline {
    fn fit(points: &[(f32, f32)], values: &[(f32, f32)], scale: f64) -> Option<Spline> {
        let n = points.len();
        let centres: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (f64::from(p.0) / scale, f64::from(p.1) / scale))
            .collect();
        let m = n + 3;
        // [K + lambda I, P; P^T, 0] [w; a] = [v; 0], solved for both outputs at once.
        let mut a = vec![vec![0.0f64; m + 2]; m];
        for i in 0..n {
            for j in 0..n {
                let (dx, dy) = (centres[i].0 - centres[j].0, centres[i].1 - centres[j].1);
                a[i][j] = kernel(dx * dx + dy * dy);
            }
            // A little smoothing keeps near-duplicate landmarks from exploding the fit.
            a[i][i] += 1e-4;
            let p = [1.0, centres[i].0, centres[i].1];
            for k in 0..3 {
                a[i][n + k] = p[k];
                a[n + k][i] = p[k];
            }
            a[i][m] = f64::from(values[i].0);
            a[i][m + 1] = f64::from(values[i].1);
        }
        let solution = solve(a)?;
        let weights = (0..n).map(|i| solution[i]).collect();
        Some(Spline {
            centres,
            weights,
            affine: [solution[n], solution[n + 1], solution[n + 2]],
            scale,
        })
    }

    fn eval(&self, x: f32, y: f32) -> (f32, f32) {
        let (x, y) = (f64::from(x) / self.scale, f64::from(y) / self.scale);
        let mut out: [f64; 2] = std::array::from_fn(|o| self.affine[0][o] + self.affine[1][o] * x + self.affine[2][o] * y);
        for (c, w) in self.centres.iter().zip(&self.weights) {
            let u = kernel((x - c.0).powi(2) + (y - c.1).powi(2));
            out[0] += w[0] * u;
            out[1] += w[1] * u;
        }
        (out[0] as f32, out[1] as f32)
    }
}

/// Gauss-Jordan elimination with partial pivoting of an augmented system with two right-hand
/// sides; the solution row by row, or `None` if singular.
fn solve(mut a: Vec<Vec<f64>>) -> Option<Vec<[f64; 2]>> {
    let m = a.len();
    for col in 0..m {
        let pivot = (col..m).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let lead = a[col][col];
        for v in a[col].iter_mut() {
            *v /= lead;
        }
        let row = a[col].clone();
        for (i, r) in a.iter_mut().enumerate() {
            if i != col && r[col] != 0.0 {
                let f = r[col];
                for (v, p) in r.iter_mut().zip(&row) {
                    *v -= f * p;
                }
            }
        }
    }
    Some(a.iter().map(|r| [r[m], r[m + 1]]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_random_warp_is_smooth_seeded_and_of_the_asked_strength() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let field = random_grid(64, 0.02, &mut rng);
        let again = random_grid(64, 0.02, &mut rand::rngs::StdRng::seed_from_u64(7));
        assert_eq!(field, again, "the same seed gives the same warp");
        let rms = (field.dx.iter().chain(&field.dy).map(|v| v * v).sum::<f32>()
            / (2 * 64 * 64) as f32)
            .sqrt();
        assert!((0.4..3.0).contains(&rms), "about 2 % of 64 px: {rms}");
        // Smooth: neighbours never differ by more than a fraction of a pixel.
        let step = field
            .dx
            .windows(2)
            .enumerate()
            .filter(|(i, _)| (i + 1) % 64 != 0)
            .map(|(_, w)| (w[1] - w[0]).abs())
            .fold(0.0, f32::max);
        assert!(step < 0.5, "{step}");
    }

    #[test]
    fn the_landmark_warp_moves_points_onto_their_targets_and_keeps_the_border() {
        let side = 64;
        let from = [
            (20.0, 20.0),
            (44.0, 20.0),
            (32.0, 40.0),
            (25.0, 50.0),
            (39.0, 50.0),
        ];
        let to = [
            (22.0, 21.0),
            (42.0, 19.0),
            (32.0, 43.0),
            (27.0, 49.0),
            (37.0, 52.0),
        ];
        let field = landmark_field(&from, &to, side).unwrap();
        for (f, t) in from.iter().zip(&to) {
            let i = t.1 as usize * side + t.0 as usize;
            assert!(
                (t.0 + field.dx[i] - f.0).abs() < 0.05 && (t.1 + field.dy[i] - f.1).abs() < 0.05,
                "{f:?} {t:?}"
            );
        }
        assert!(field.dx[0].abs() < 1e-3 && field.dy[side * side - 1].abs() < 1e-3);
        assert!(
            landmark_field(&[(1.0, 1.0); 3], &[(1.0, 1.0); 3], 4).is_some(),
            "duplicates are smoothed, not fatal"
        );
    }
}
