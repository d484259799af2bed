//! Pasting a swapped face back into its frame: each frame pixel under the crop looks up the
//! new face and the mask through the crop's affine (bilinear), and blends by the mask.

use image::{GrayImage, RgbImage};

use crate::align::AlignedFace;
use crate::geometry::Point;

/// Blends `face` (crop pixels of `aligned`) into `frame` by `mask`; returns the frame pixels
/// (as `y * width + x`) where the new face shows at least half.
pub fn paste(frame: &mut RgbImage, face: &RgbImage, mask: &GrayImage, aligned: &AlignedFace) -> Vec<u32> {
    let to_image = aligned.to_image();
    let size = aligned.size as f32;
    let corners = [(0.0, 0.0), (size, 0.0), (0.0, size), (size, size)].map(|(x, y)| to_image.apply(Point::new(x, y)));
    let (w, h) = frame.dimensions();
    let clamp = |v: f32, hi: u32| (v.max(0.0) as u32).min(hi);
    let x0 = clamp(corners.iter().map(|p| p.x).fold(f32::MAX, f32::min).floor(), w);
    let x1 = clamp(corners.iter().map(|p| p.x).fold(f32::MIN, f32::max).ceil(), w);
    let y0 = clamp(corners.iter().map(|p| p.y).fold(f32::MAX, f32::min).floor(), h);
    let y1 = clamp(corners.iter().map(|p| p.y).fold(f32::MIN, f32::max).ceil(), h);
    let mut covered = Vec::new();
    for y in y0..y1 {
        for x in x0..x1 {
            // Pixel centres sit at +0.5 in our geometry; bilinear samples at whole coordinates.
            let q = aligned.to_crop.apply(Point::new(x as f32 + 0.5, y as f32 + 0.5));
            let (qx, qy) = (q.x - 0.5, q.y - 0.5);
            if qx < -0.5 || qy < -0.5 || qx > size - 0.5 || qy > size - 0.5 {
                continue;
            }
            let alpha = bilinear_grey(mask, qx, qy) / 255.0;
            if alpha <= 0.0 {
                continue;
            }
            let new = bilinear_rgb(face, qx, qy);
            let px = frame.get_pixel_mut(x, y);
            for c in 0..3 {
                px[c] = (f32::from(px[c]) * (1.0 - alpha) + new[c] * alpha).round().clamp(0.0, 255.0) as u8;
            }
            if alpha >= 0.5 {
                covered.push(y * w + x);
            }
        }
    }
    covered
}

fn taps(x: f32, side: u32) -> (u32, u32, f32) {
    let max = (side - 1) as f32;
    let x = x.clamp(0.0, max);
    let x0 = x.floor() as u32;
    (x0, (x0 + 1).min(side - 1), x - x0 as f32)
}

fn bilinear_grey(img: &GrayImage, x: f32, y: f32) -> f32 {
    let ((x0, x1, fx), (y0, y1, fy)) = (taps(x, img.width()), taps(y, img.height()));
    let v = |x, y| f32::from(img.get_pixel(x, y)[0]);
    (v(x0, y0) * (1.0 - fx) + v(x1, y0) * fx) * (1.0 - fy) + (v(x0, y1) * (1.0 - fx) + v(x1, y1) * fx) * fy
}

fn bilinear_rgb(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let ((x0, x1, fx), (y0, y1, fy)) = (taps(x, img.width()), taps(y, img.height()));
    std::array::from_fn(|c| {
        let v = |x, y| f32::from(img.get_pixel(x, y)[c]);
        (v(x0, y0) * (1.0 - fx) + v(x1, y0) * fx) * (1.0 - fy) + (v(x0, y1) * (1.0 - fx) + v(x1, y1) * fx) * fy
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::{mean_face, CropFrame, Similarity};
    use crate::geometry::Landmarks68;
    use image::{Luma, Rgb};

    #[test]
    fn the_face_lands_where_its_crop_came_from_and_nowhere_else() {
        let lm = Landmarks68(mean_face().points().map(|p| Similarity { scale: 80.0, angle: 0.2, tx: 150.0, ty: 120.0 }.apply(p)));
        let aligned = AlignedFace::new(&lm, 64, CropFrame::FACE).unwrap();
        let mut frame = RgbImage::from_pixel(300, 240, Rgb([0, 0, 0]));
        let face = RgbImage::from_pixel(64, 64, Rgb([200, 100, 50]));
        let mask = GrayImage::from_pixel(64, 64, Luma([255]));
        let covered = paste(&mut frame, &face, &mask, &aligned);
        // The nose tip is inside the crop: it takes the new face's colour.
        let nose = lm.points()[30];
        assert_eq!(frame.get_pixel(nose.x as u32, nose.y as u32), &Rgb([200, 100, 50]));
        assert_eq!(frame.get_pixel(5, 5), &Rgb([0, 0, 0]), "far away nothing changes");
        // The covered area is the crop square's area in the frame.
        let side = 64.0 / aligned.to_crop.scale as f32;
        let expected = side * side;
        assert!((covered.len() as f32 - expected).abs() < expected * 0.05, "{} vs {expected}", covered.len());
        // A zero mask leaves the frame alone.
        let mut untouched = RgbImage::from_pixel(300, 240, Rgb([9, 9, 9]));
        assert!(paste(&mut untouched, &face, &GrayImage::new(64, 64), &aligned).is_empty());
        assert!(untouched.pixels().all(|p| p == &Rgb([9, 9, 9])));
    }
}
