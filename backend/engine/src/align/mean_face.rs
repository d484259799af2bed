//! The mean 68-point face that every face is aligned to.
//!
//! Provenance: derived by Doppel from its own FaceLandmark68Net landmarks on the 40 face
//! crops of `../shared/data/identities/<person>/` (8 people, 5 each): generalised Procrustes
//! analysis (each shape aligned to the running mean by a similarity, the mean re-estimated,
//! until it settles), then scaled so that the 51 inner points (brows, eyes, nose, mouth; the
//! jaw left out because it moves with the mouth and the pose) span the unit square. The test
//! `mean_face_is_reproduced_from_the_identities` re-derives it and fails if it drifts.

use super::similarity::estimate_similarity;
use crate::geometry::{Landmarks68, Point};

/// The inner points (brows, nose, eyes, mouth) used to align: the jaw is left out.
pub const ALIGN_POINTS: std::ops::Range<usize> = 17..68;

/// The mean face in unit coordinates: the box of the [`ALIGN_POINTS`] fits `[0, 1]²`, centred.
pub fn mean_face() -> Landmarks68 {
    Landmarks68(std::array::from_fn(|i| Point::new(MEAN_FACE[i][0], MEAN_FACE[i][1])))
}

#[rustfmt::skip]
const MEAN_FACE: [[f32; 2]; 68] = [
    [-0.1286, 0.2512], [-0.1177, 0.4228], [-0.0905, 0.5824], [-0.0599, 0.7273],
    [-0.0056, 0.8868], [0.0785, 1.0163], [0.1763, 1.1069], [0.3034, 1.2005],
    [0.5000, 1.2581], [0.6966, 1.2005], [0.8237, 1.1069], [0.9215, 1.0163],
    [1.0056, 0.8868], [1.0599, 0.7273], [1.0905, 0.5824], [1.1177, 0.4228],
    [1.1286, 0.2512], [0.0000, 0.0925], [0.0720, 0.0380], [0.1694, 0.0222],
    [0.2588, 0.0330], [0.3376, 0.0616], [0.6624, 0.0616], [0.7412, 0.0330],
    [0.8306, 0.0222], [0.9280, 0.0380], [1.0000, 0.0925], [0.5000, 0.2537],
    [0.5000, 0.3756], [0.5000, 0.4903], [0.5000, 0.5907], [0.3938, 0.6473],
    [0.4401, 0.6642], [0.5000, 0.6776], [0.5599, 0.6642], [0.6062, 0.6473],
    [0.1225, 0.2278], [0.1776, 0.1986], [0.2600, 0.1982], [0.3325, 0.2410],
    [0.2665, 0.2632], [0.1818, 0.2626], [0.6675, 0.2410], [0.7400, 0.1982],
    [0.8224, 0.1986], [0.8775, 0.2278], [0.8182, 0.2626], [0.7335, 0.2632],
    [0.2521, 0.8397], [0.3390, 0.8108], [0.4464, 0.7865], [0.5000, 0.7988],
    [0.5536, 0.7865], [0.6610, 0.8108], [0.7479, 0.8397], [0.6583, 0.9246],
    [0.5798, 0.9658], [0.5000, 0.9778], [0.4202, 0.9658], [0.3417, 0.9246],
    [0.2686, 0.8406], [0.4238, 0.8393], [0.5000, 0.8393], [0.5762, 0.8393],
    [0.7314, 0.8406], [0.5739, 0.8937], [0.5000, 0.9017], [0.4261, 0.8937],
];

/// For each landmark, its mirror image's index (the subject's right eye corner <-> left).
const MIRROR: [usize; 68] = {
    let mut m = [0; 68];
    let mut i = 0;
    while i < 68 {
        m[i] = match i {
            0..=16 => 16 - i,
            17..=26 => 43 - i,
            27..=30 => i,
            31..=35 => 66 - i,
            36..=39 => 81 - i,
            40..=41 => 87 - i,
            42..=45 => 81 - i,
            46..=47 => 87 - i,
            48..=54 => 102 - i,
            55..=59 => 114 - i,
            60..=64 => 124 - i,
            _ => 132 - i,
        };
        i += 1;
    }
    m
};

/// The face seen in a mirror: x negated, left and right points swapped.
pub fn mirrored(face: &Landmarks68) -> Landmarks68 {
    let p = face.points();
    Landmarks68(std::array::from_fn(|i| Point::new(-p[MIRROR[i]].x, p[MIRROR[i]].y)))
}

/// Generalised Procrustes analysis: the mean shape of `shapes` and their mirror images (so
/// it is symmetric), up to a similarity, normalised so the box of the [`ALIGN_POINTS`] fits
/// the unit square. `None` for no shapes.
pub fn procrustes_mean(shapes: &[Landmarks68]) -> Option<Landmarks68> {
    let shapes: Vec<Landmarks68> = shapes.iter().flat_map(|s| [*s, mirrored(s)]).collect();
    let first = shapes.first()?;
    let mut mean: Vec<Point> = first.points().to_vec();
    for _ in 0..20 {
        let mut sum = vec![(0.0f64, 0.0f64); 68];
        for shape in &shapes {
            let t = estimate_similarity(shape.points(), &mean)?;
            for (acc, p) in sum.iter_mut().zip(shape.points()) {
                let q = t.apply(*p);
                acc.0 += f64::from(q.x);
                acc.1 += f64::from(q.y);
            }
        }
        let n = shapes.len() as f64;
        let next: Vec<Point> = sum.iter().map(|(x, y)| Point::new((x / n) as f32, (y / n) as f32)).collect();
        let next = normalise(&next);
        let moved = next.iter().zip(&mean).map(|(a, b)| a.distance(*b)).fold(0.0f32, f32::max);
        mean = next;
        if moved < 1e-5 {
            break;
        }
    }
    Some(upright(&Landmarks68(mean.try_into().ok()?)))
}

/// `face` turned so the eye centres are level, averaged with its mirror image (exactly
/// symmetric about a vertical line), and normalised.
fn upright(face: &Landmarks68) -> Landmarks68 {
    let p = face.points();
    let centre = |r: std::ops::Range<usize>| {
        let n = r.len() as f32;
        let (x, y) = p[r].iter().fold((0.0, 0.0), |(x, y), q| (x + q.x, y + q.y));
        Point::new(x / n, y / n)
    };
    let (right_eye, left_eye) = (centre(36..42), centre(42..48));
    let (s, c) = (-(left_eye.y - right_eye.y).atan2(left_eye.x - right_eye.x)).sin_cos();
    let level = Landmarks68(std::array::from_fn(|i| Point::new(c * p[i].x - s * p[i].y, s * p[i].x + c * p[i].y)));
    let mirror = mirrored(&level);
    let (a, b) = (level.points(), mirror.points());
    // The mirror is about x = 0; shift it back so both share the eye line's midpoint.
    let shift = (right_eye.x + left_eye.x) * c - (right_eye.y + left_eye.y) * s;
    let both: Vec<Point> = (0..68).map(|i| Point::new((a[i].x + b[i].x + shift) / 2.0, (a[i].y + b[i].y) / 2.0)).collect();
    Landmarks68(normalise(&both).try_into().expect("68 points"))
}

/// Scales and shifts `points` so the box of the [`ALIGN_POINTS`] fits the unit square,
/// centred, its longer side spanning `[0, 1]` (one scale for both axes: no distortion).
fn normalise(points: &[Point]) -> Vec<Point> {
    let inner = &points[ALIGN_POINTS];
    let (min_x, max_x) = inner.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| (lo.min(p.x), hi.max(p.x)));
    let (min_y, max_y) = inner.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| (lo.min(p.y), hi.max(p.y)));
    let side = (max_x - min_x).max(max_y - min_y);
    let (cx, cy) = ((min_x + max_x) / 2.0, (min_y + max_y) / 2.0);
    points.iter().map(|p| Point::new((p.x - cx) / side + 0.5, (p.y - cy) / side + 0.5)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::ComputeDevice;
    use crate::nets::landmark68::FaceLandmark68Net;
    use crate::nets::tfjs::TfjsWeights;

    fn identity_landmarks() -> Vec<Landmarks68> {
        let device = ComputeDevice::Cpu.to_burn().unwrap();
        let models = crate::nets::test_models();
        let weights = TfjsWeights::load(&models.face_api_manifest("face_landmark_68_model")).unwrap_or_else(|e| panic!("{e}"));
        let net = FaceLandmark68Net::load(weights, &device).unwrap();
        let root = crate::media::testdata::root().join("identities");
        let mut files: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_dir() && e.file_name() != "knn")
            .flat_map(|person| std::fs::read_dir(person.path()).unwrap().flatten().map(|f| f.path()))
            .collect();
        files.sort();
        assert_eq!(files.len(), 40, "8 people x 5 crops");
        files.iter().map(|f| net.detect_landmarks(&image::open(f).unwrap().to_rgb8(), None).unwrap()).collect()
    }

    #[test]
    fn mean_face_is_reproduced_from_the_identities() {
        let derived = procrustes_mean(&identity_landmarks()).unwrap();
        let committed = mean_face();
        let worst = derived.points().iter().zip(committed.points()).map(|(a, b)| a.distance(*b)).fold(0.0f32, f32::max);
        if worst > 0.002 {
            // Print the constant so a deliberate change can be pasted in.
            for (i, p) in derived.points().iter().enumerate() {
                print!("[{:.4}, {:.4}],{}", p.x, p.y, if i % 4 == 3 { "\n" } else { " " });
            }
        }
        assert!(worst <= 0.002, "the committed mean face is {worst} units from the derived one");
    }

    #[test]
    fn mirror_is_an_involution_that_swaps_sides() {
        for i in 0..68 {
            assert_eq!(MIRROR[MIRROR[i]], i);
        }
        assert_eq!((MIRROR[36], MIRROR[39], MIRROR[40], MIRROR[48], MIRROR[55], MIRROR[60], MIRROR[65]), (45, 42, 47, 54, 59, 64, 67));
        assert_eq!((MIRROR[8], MIRROR[30], MIRROR[51], MIRROR[57], MIRROR[62], MIRROR[66]), (8, 30, 51, 57, 62, 66));
    }

    #[test]
    fn mean_face_is_upright_and_nearly_symmetric() {
        let m = mean_face();
        let p = m.points();
        // Eyes above the nose tip above the mouth above the chin.
        assert!(p[36].y < p[30].y && p[30].y < p[51].y && p[51].y < p[8].y);
        // The subject's right eye (36..42) is on the image's left.
        assert!(p[39].x < p[42].x);
        // Mirror pairs (outer eye corners, mouth corners, jaw ends) about the nose line.
        let axis = p[27..31].iter().map(|q| q.x).sum::<f32>() / 4.0;
        for (a, b) in [(36, 45), (48, 54), (0, 16), (17, 26)] {
            assert!(((axis - p[a].x) - (p[b].x - axis)).abs() < 0.01, "points {a} and {b} are not mirrored");
            assert!((p[a].y - p[b].y).abs() < 0.01, "points {a} and {b} are not level");
        }
    }
}
