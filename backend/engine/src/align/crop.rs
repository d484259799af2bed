//! Aligned face crops: the similarity that maps a face's inner landmarks onto the
//! [mean face](super::mean_face()), then a square window around the face in that unit space,
//! scaled to the crop size.
//!
//! Unit space is the mean face's: the box of its 51 inner points is `[0, 1]²`, the chin sits
//! near y = 1.26, the brows near y = 0.02. A crop is a square of `side` units around a
//! centre chosen by [`Centering`].

use image::RgbImage;

use super::mean_face::{mean_face, ALIGN_POINTS};
use super::similarity::{estimate_similarity, Similarity};
use super::warp::warp_bicubic;
use crate::geometry::{Landmarks68, Point};

/// Where a crop is centred, as in faceswap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Centering {
    /// The centre of the mean face's inner box, whatever the pose (the oldest convention).
    Legacy,
    /// The middle of the face: between the jaw's ends across (so a turned head stays
    /// centred), a little above the middle of brows and mouth down (so the forehead shows).
    Face,
    /// The middle of the head: the face centre moved up towards the crown.
    Head,
}

impl Centering {
    /// The crop's centre in unit space for a face whose landmarks, mapped to unit space, are
    /// `unit`.
    fn centre(self, unit: &[Point; 68]) -> Point {
        // The jaw's ends (ear level) show where the head is across; clamped for wild poses.
        let across = ((unit[0].x + unit[16].x) / 2.0).clamp(0.0, 1.0);
        match self {
            Centering::Legacy => Point::new(0.5, 0.5),
            Centering::Face => Point::new(across, 0.45),
            Centering::Head => Point::new(across, 0.2),
        }
    }
}

/// A square window in unit space: its centring and side (in mean-face widths).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CropFrame {
    pub centering: Centering,
    pub side: f32,
}

impl CropFrame {
    /// What extraction stores: face-centred, wide enough that the whole head (hair, ears,
    /// chin) is inside the border, so training can later cut any tighter crop from it.
    pub const EXTRACT: CropFrame = CropFrame { centering: Centering::Face, side: 3.2 };
    /// Brows to chin with a small margin: what a face model trains on.
    pub const FACE: CropFrame = CropFrame { centering: Centering::Face, side: 1.9 };
}

/// One face aligned into a `size` x `size` crop.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlignedFace {
    pub size: u32,
    pub frame: CropFrame,
    /// Image pixels -> crop pixels.
    pub to_crop: Similarity,
}

impl AlignedFace {
    /// Aligns `landmarks` (image pixels) into a `size` crop of `frame`, or `None` if the
    /// landmarks are degenerate (all at one point).
    pub fn new(landmarks: &Landmarks68, size: u32, frame: CropFrame) -> Option<AlignedFace> {
        let mean = mean_face();
        let to_unit = estimate_similarity(&landmarks.points()[ALIGN_POINTS], &mean.points()[ALIGN_POINTS])?;
        let unit: [Point; 68] = std::array::from_fn(|i| to_unit.apply(landmarks.points()[i]));
        let centre = frame.centering.centre(&unit);
        let scale = f64::from(size) / f64::from(frame.side);
        let (cx, cy) = (f64::from(centre.x), f64::from(centre.y));
        let to_crop = to_unit.then(&Similarity::scale_shift(scale, f64::from(size) / 2.0 - cx * scale, f64::from(size) / 2.0 - cy * scale));
        Some(AlignedFace { size, frame, to_crop })
    }

    /// How far the face's shape is from the mean face: the root-mean-square distance of the
    /// inner landmarks from their mean-face positions after alignment, in unit-face widths.
    /// Real faces of any pose score low; the landmarks the aligner invents for something
    /// that is not a face score high.
    pub fn fit_error(landmarks: &Landmarks68) -> Option<f32> {
        let mean = mean_face();
        let (src, dst) = (&landmarks.points()[ALIGN_POINTS], &mean.points()[ALIGN_POINTS]);
        let t = estimate_similarity(src, dst)?;
        let sum: f32 = src.iter().zip(dst).map(|(p, q)| t.apply(*p).distance(*q).powi(2)).sum();
        Some((sum / src.len() as f32).sqrt())
    }

    /// Crop pixels -> image pixels.
    pub fn to_image(&self) -> Similarity {
        self.to_crop.inverse()
    }

    /// The landmarks moved into the crop.
    pub fn landmarks_in_crop(&self, landmarks: &Landmarks68) -> Landmarks68 {
        Landmarks68(landmarks.points().map(|p| self.to_crop.apply(p)))
    }

    /// Cuts the crop out of `image` with bicubic interpolation; outside the image is black.
    /// When the crop is much smaller than the face in the image, the image is first shrunk
    /// by area averaging so the bicubic filter does not alias.
    pub fn crop(&self, image: &RgbImage) -> RgbImage {
        let mut to_crop = self.to_crop;
        let shrunk;
        let mut source = image;
        // Shrink by whole factors while the crop would sample more than 2 source pixels per pixel.
        let factor = (1.0 / to_crop.scale / 2.0).floor();
        if factor >= 2.0 {
            let f = factor as u32;
            let (w, h) = ((image.width() / f).max(1), (image.height() / f).max(1));
            shrunk = image::imageops::resize(image, w, h, image::imageops::FilterType::Triangle);
            let sx = f64::from(w) / f64::from(image.width());
            to_crop = Similarity::scale_shift(1.0 / sx, 0.0, 0.0).then(&to_crop);
            source = &shrunk;
        }
        let mut out = RgbImage::new(self.size, self.size);
        warp_bicubic(source, &to_crop, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// The mean face placed in an image by a known similarity.
    fn placed(t: &Similarity) -> Landmarks68 {
        Landmarks68(mean_face().points().map(|p| t.apply(p)))
    }

    #[test]
    fn a_face_lands_in_the_same_place_whatever_its_pose_in_the_image() {
        let a = placed(&Similarity { scale: 180.0, angle: 0.0, tx: 300.0, ty: 200.0 });
        let b = placed(&Similarity { scale: 75.0, angle: 0.6, tx: 40.0, ty: 500.0 });
        let (fa, fb) = (AlignedFace::new(&a, 256, CropFrame::EXTRACT).unwrap(), AlignedFace::new(&b, 256, CropFrame::EXTRACT).unwrap());
        for (p, q) in fa.landmarks_in_crop(&a).points().iter().zip(fb.landmarks_in_crop(&b).points()) {
            assert!(p.distance(*q) < 1e-2, "{p:?} vs {q:?}");
        }
        // Upright: the eyes are level in the crop even though face b is turned 0.6 rad.
        let in_crop = fb.landmarks_in_crop(&b);
        assert!((in_crop.points()[36].y - in_crop.points()[45].y).abs() < 1e-2);
    }

    #[test]
    fn the_extract_crop_holds_the_whole_head_and_the_face_crop_is_tighter() {
        let face = placed(&Similarity { scale: 100.0, angle: 0.0, tx: 200.0, ty: 200.0 });
        let extract = AlignedFace::new(&face, 512, CropFrame::EXTRACT).unwrap();
        let pts = extract.landmarks_in_crop(&face);
        let p = pts.points();
        // The face (brows to chin) takes under half the crop's height, with room above the
        // brows for forehead and hair (the crown sits about 0.8 brow-to-chin heights above the
        // brows) and below the chin.
        let (top, chin) = (p[19].y, p[8].y);
        assert!(chin - top < 0.45 * 512.0, "face height {}", chin - top);
        assert!(top > 0.8 * (chin - top), "room above the brows: {top}");
        assert!(512.0 - chin > 0.2 * 512.0, "room below the chin: {}", 512.0 - chin);
        // Centred across.
        assert!((p[30].x - 256.0).abs() < 2.0);
        let tight = AlignedFace::new(&face, 512, CropFrame::FACE).unwrap();
        let q = tight.landmarks_in_crop(&face);
        assert!(q.points()[8].y < 512.0 && q.points()[19].y > 0.0 && q.points()[8].y - q.points()[19].y > 0.5 * 512.0);
    }

    #[test]
    fn face_centring_follows_a_turned_head_legacy_does_not() {
        // Turn the head: the jaw outline shifts to one side of the inner features.
        let mut pts = *mean_face().points();
        for p in &mut pts[0..17] {
            p.x += 0.2;
        }
        let face = Landmarks68(pts.map(|p| Similarity { scale: 100.0, angle: 0.0, tx: 0.0, ty: 0.0 }.apply(p)));
        let nose_x = |frame| AlignedFace::new(&face, 200, frame).unwrap().landmarks_in_crop(&face).points()[30].x;
        assert!((nose_x(CropFrame { centering: Centering::Legacy, side: 2.0 }) - 100.0).abs() < 1.0);
        assert!(nose_x(CropFrame { centering: Centering::Face, side: 2.0 }) < 95.0, "the crop follows the head");
    }

    #[test]
    fn crop_samples_the_image_where_the_matrix_says() {
        // A bright square at known image pixels must appear where to_crop maps it.
        let mut image = RgbImage::new(400, 400);
        for y in 190..210 {
            for x in 140..160 {
                image.put_pixel(x, y, Rgb([255, 255, 255]));
            }
        }
        let face = placed(&Similarity { scale: 120.0, angle: 0.3, tx: 120.0, ty: 100.0 });
        let aligned = AlignedFace::new(&face, 256, CropFrame::EXTRACT).unwrap();
        let out = aligned.crop(&image);
        let c = aligned.to_crop.apply(Point::new(150.0, 200.0));
        assert!(out.get_pixel(c.x as u32, c.y as u32)[0] > 200, "the square's centre is bright in the crop");
        let far = aligned.to_crop.apply(Point::new(300.0, 300.0));
        if far.x >= 0.0 && far.y >= 0.0 && (far.x as u32) < 256 && (far.y as u32) < 256 {
            assert_eq!(out.get_pixel(far.x as u32, far.y as u32)[0], 0);
        }
    }

    #[test]
    fn a_large_face_in_a_small_crop_is_shrunk_first_and_lands_in_the_same_place() {
        let mut image = RgbImage::new(1600, 1600);
        for y in 700..900 {
            for x in 700..900 {
                image.put_pixel(x, y, Rgb([200, 100, 50]));
            }
        }
        let face = placed(&Similarity { scale: 600.0, angle: 0.0, tx: 500.0, ty: 500.0 });
        let aligned = AlignedFace::new(&face, 64, CropFrame::EXTRACT).unwrap();
        let out = aligned.crop(&image);
        let c = aligned.to_crop.apply(Point::new(800.0, 800.0));
        let px = out.get_pixel(c.x as u32, c.y as u32);
        assert!((i32::from(px[0]) - 200).abs() < 10 && (i32::from(px[1]) - 100).abs() < 10, "{px:?}");
    }
}
