//! Face masks in aligned-crop space: which pixels of a crop belong to the face.
//!
//! Landmark masks are unions of filled convex hulls of landmark groups. `components` covers
//! brows to chin; `extended` raises the brow line by the brow-to-eye distance so the mask
//! reaches into the forehead and a swap never cuts the eyebrows.

use image::{GrayImage, Luma};
use imageproc::drawing::draw_polygon_mut;
use imageproc::geometry::convex_hull;
use imageproc::point::Point as IPoint;

use crate::geometry::{Landmarks68, Point};

/// How a mask was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskKind {
    /// Brows to chin, from the landmarks.
    Components,
    /// `Components` with the brow line raised into the forehead.
    Extended,
    /// Painted by a person in the frame editor.
    Painted,
    /// Predicted by a model's learned mask output.
    Learned,
}

impl MaskKind {
    /// The kinds computed from landmarks at extraction.
    pub const FROM_LANDMARKS: [MaskKind; 2] = [MaskKind::Components, MaskKind::Extended];

    pub fn name(self) -> &'static str {
        match self {
            MaskKind::Components => "components",
            MaskKind::Extended => "extended",
            MaskKind::Painted => "painted",
            MaskKind::Learned => "learned",
        }
    }
}

/// `mask`, a mask of the crop `from` (any size), redrawn for the crop `to` at `side` pixels:
/// each pixel goes back to the frame through `to`, then into `from` (outside it: 0).
pub fn between_crops(mask: &GrayImage, from: &crate::align::AlignedFace, to: &crate::align::AlignedFace, side: u32) -> GrayImage {
    let (mw, mh) = mask.dimensions();
    let k_to = f64::from(to.size) / f64::from(side);
    let (kx, ky) = (f64::from(mw) / f64::from(from.size), f64::from(mh) / f64::from(from.size));
    let to_image = to.to_image();
    GrayImage::from_fn(side, side, |x, y| {
        let in_crop = Point::new(((f64::from(x) + 0.5) * k_to) as f32, ((f64::from(y) + 0.5) * k_to) as f32);
        let old = from.to_crop.apply(to_image.apply(in_crop));
        let (ox, oy) = ((f64::from(old.x) * kx).floor(), (f64::from(old.y) * ky).floor());
        if ox < 0.0 || oy < 0.0 || ox >= f64::from(mw) || oy >= f64::from(mh) {
            Luma([0])
        } else {
            *mask.get_pixel(ox as u32, oy as u32)
        }
    })
}

/// A mask of an aligned crop: 255 inside the face, 0 outside, at any size (scaled to the
/// crop when used).
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    pub kind: MaskKind,
    pub image: GrayImage,
}

/// Landmark groups whose convex hulls make up the `components` mask: each half of the jaw
/// with its brow and the top of the nose, and the brow line down to the chin.
const GROUPS: [&[usize]; 3] = [
    &[0, 1, 2, 3, 4, 5, 6, 7, 8, 17, 18, 19, 20, 21, 27],
    &[8, 9, 10, 11, 12, 13, 14, 15, 16, 22, 23, 24, 25, 26, 27],
    &[17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 8],
];

/// The landmark mask of `kind` (`Components` or `Extended`) for a face whose landmarks in
/// crop pixels are `in_crop`, drawn at `mask_size` for a `crop_size` crop. `None` for the
/// kinds that do not come from landmarks.
pub fn landmark_mask(kind: MaskKind, in_crop: &Landmarks68, crop_size: u32, mask_size: u32) -> Option<Mask> {
    let points = match kind {
        MaskKind::Components => *in_crop.points(),
        MaskKind::Extended => raised_brows(in_crop),
        MaskKind::Painted | MaskKind::Learned => return None,
    };
    Some(Mask { kind, image: filled_hulls(&GROUPS, &points, mask_size as f32 / crop_size as f32, mask_size) })
}

/// Parts of the face the training loss weighs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceRegion {
    /// Each eye's outline.
    Eyes,
    /// The outer lip line.
    Mouth,
}

/// The region of a face whose landmarks (in pixels of a `side` image) are `points`, drawn
/// at `side`: 255 inside.
pub fn region_mask(region: FaceRegion, points: &[Point; 68], side: u32) -> GrayImage {
    let groups: &[&[usize]] = match region {
        FaceRegion::Eyes => &[&[36, 37, 38, 39, 40, 41], &[42, 43, 44, 45, 46, 47]],
        FaceRegion::Mouth => &[&[48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59]],
    };
    filled_hulls(groups, points, 1.0, side)
}

/// The union of the filled convex hulls of `groups` of `points` (scaled by `scale`), drawn
/// into a `size` square.
fn filled_hulls(groups: &[&[usize]], points: &[Point; 68], scale: f32, size: u32) -> GrayImage {
    let mut image = GrayImage::new(size, size);
    for group in groups {
        let hull = convex_hull(group.iter().map(|&i| IPoint::new((points[i].x * scale).round() as i32, (points[i].y * scale).round() as i32)).collect::<Vec<_>>());
        // draw_polygon_mut wants an open polygon of distinct points.
        let mut hull = hull;
        hull.dedup();
        if hull.len() > 1 && hull.first() == hull.last() {
            hull.pop();
        }
        if hull.len() >= 3 {
            draw_polygon_mut(&mut image, &hull, Luma([255]));
        }
    }
    image
}

/// The landmarks with each brow point moved up (away from the chin, along the face's own
/// vertical) by the distance between the brow and the eye below it.
fn raised_brows(face: &Landmarks68) -> [Point; 68] {
    let mut p = *face.points();
    let centre = |r: std::ops::Range<usize>| {
        let n = r.len() as f32;
        let (x, y) = p[r].iter().fold((0.0, 0.0), |(x, y), q| (x + q.x, y + q.y));
        Point::new(x / n, y / n)
    };
    let (right_eye, left_eye) = (centre(36..42), centre(42..48));
    let (right_brow, left_brow) = (centre(17..22), centre(22..27));
    let (chin, bridge) = (p[8], p[27]);
    let len = chin.distance(bridge).max(1e-3);
    let up = Point::new((bridge.x - chin.x) / len, (bridge.y - chin.y) / len);
    for (range, lift) in [(17..22, right_brow.distance(right_eye)), (22..27, left_brow.distance(left_eye))] {
        for q in &mut p[range] {
            q.x += up.x * lift;
            q.y += up.y * lift;
        }
    }
    p
}

/// Fraction of the mask's pixels that are set (above half).
pub fn coverage(mask: &GrayImage) -> f32 {
    let on = mask.pixels().filter(|p| p[0] >= 128).count();
    on as f32 / (mask.width() * mask.height()).max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::{mean_face, AlignedFace, CropFrame, Similarity};

    fn crop_landmarks() -> Landmarks68 {
        let face = Landmarks68(mean_face().points().map(|p| Similarity { scale: 150.0, angle: 0.2, tx: 300.0, ty: 250.0 }.apply(p)));
        AlignedFace::new(&face, 512, CropFrame::EXTRACT).unwrap().landmarks_in_crop(&face)
    }

    fn on(mask: &Mask, p: Point, crop: u32) -> bool {
        let s = mask.image.width() as f32 / crop as f32;
        mask.image.get_pixel((p.x * s) as u32, (p.y * s) as u32)[0] == 255
    }

    #[test]
    fn components_cover_the_inner_face_and_nothing_far_outside() {
        let lm = crop_landmarks();
        let mask = landmark_mask(MaskKind::Components, &lm, 512, 256).unwrap();
        for i in [30, 33, 36, 45, 48, 54, 57, 62] {
            assert!(on(&mask, lm.points()[i], 512), "landmark {i} is outside the mask");
        }
        assert!(!on(&mask, Point::new(5.0, 5.0), 512) && !on(&mask, Point::new(506.0, 506.0), 512));
        let c = coverage(&mask.image);
        assert!((0.1..0.4).contains(&c), "coverage {c}");
    }

    #[test]
    fn extended_reaches_above_the_brows_and_contains_components() {
        let lm = crop_landmarks();
        let comp = landmark_mask(MaskKind::Components, &lm, 512, 256).unwrap();
        let ext = landmark_mask(MaskKind::Extended, &lm, 512, 256).unwrap();
        let p = lm.points();
        // A point above the brows (by half the brow-eye distance) is only in `extended`.
        let brow = p[19];
        let above = Point::new(brow.x + (brow.x - p[37].x) * 0.6, brow.y + (brow.y - p[37].y) * 0.6);
        assert!(on(&ext, above, 512) && !on(&comp, above, 512));
        for (a, b) in comp.image.pixels().zip(ext.image.pixels()) {
            assert!(b[0] >= a[0], "extended must contain components");
        }
        assert!(coverage(&ext.image) > coverage(&comp.image) * 1.1);
    }

    #[test]
    fn painted_and_learned_masks_do_not_come_from_landmarks() {
        assert!(landmark_mask(MaskKind::Painted, &crop_landmarks(), 512, 128).is_none());
        assert!(landmark_mask(MaskKind::Learned, &crop_landmarks(), 512, 128).is_none());
    }
}
