//! Seamless cloning (Pérez et al., Poisson image editing) in crop space: inside the mask the
//! new face keeps its own gradients (its features, shading and texture) while its values are
//! solved so that at the mask's edge they meet the frame's face exactly. The colour of the
//! whole face follows the frame's from the edge inwards, with no seam to hide.

use image::{GrayImage, RgbImage};

/// Most relaxation sweeps, and the change (0..255) under which a sweep counts as converged.
const MAX_SWEEPS: usize = 1000;
const CONVERGED: f32 = 0.01;
/// Over-relaxation factor: well above 1 converges an order of magnitude faster on these grids.
const OMEGA: f32 = 1.9;

/// Replaces `face` inside `mask` (>= half) by the Poisson solution with `face`'s gradients and
/// `original`'s values at the region's border; outside the region `face` becomes `original`.
pub fn seamless_clone(face: &mut RgbImage, original: &RgbImage, mask: &GrayImage) {
    let (w, h) = face.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    // The region: inside the mask and off the crop's own border (which gives the boundary).
    let region: Vec<bool> = (0..wu * hu).map(|i| {
        let (x, y) = (i % wu, i / wu);
        x > 0 && y > 0 && x + 1 < wu && y + 1 < hu && mask.as_raw()[i] >= 128
    }).collect();
    let cells: Vec<usize> = (0..wu * hu).filter(|&i| region[i]).collect();
    if cells.is_empty() {
        return;
    }
    for c in 0..3 {
        let src: Vec<f32> = face.pixels().map(|p| f32::from(p[c])).collect();
        let dst: Vec<f32> = original.pixels().map(|p| f32::from(p[c])).collect();
        // Start from the face shifted to the frame's mean: most of the answer already.
        let shift = cells.iter().map(|&i| dst[i] - src[i]).sum::<f32>() / cells.len() as f32;
        let mut f: Vec<f32> = (0..wu * hu).map(|i| if region[i] { src[i] + shift } else { dst[i] }).collect();
        // The guidance: the face's Laplacian at each cell.
        let lap: Vec<f32> = cells.iter().map(|&i| 4.0 * src[i] - src[i - 1] - src[i + 1] - src[i - wu] - src[i + wu]).collect();
        for _ in 0..MAX_SWEEPS {
            let mut largest = 0.0f32;
            for (k, &i) in cells.iter().enumerate() {
                let target = (f[i - 1] + f[i + 1] + f[i - wu] + f[i + wu] + lap[k]) / 4.0;
                let step = OMEGA * (target - f[i]);
                f[i] += step;
                largest = largest.max(step.abs());
            }
            if largest < CONVERGED {
                break;
            }
        }
        for (i, p) in face.pixels_mut().enumerate() {
            p[c] = f[i].round().clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb};

    #[test]
    fn the_face_keeps_its_detail_and_meets_the_frame_at_the_edge() {
        // The frame's face: a left-to-right ramp. The new face: brighter, with a dark "eye" and
        // a small texture of its own.
        let original = RgbImage::from_fn(64, 64, |x, _| Rgb([(100 + x) as u8, 90, 120]));
        let mut face = RgbImage::from_fn(64, 64, |x, y| {
            let eye = (x as i32 - 32).pow(2) + (y as i32 - 30).pow(2) < 16;
            let v = if eye { 40 } else { 150 + (x + y) % 3 };
            Rgb([v as u8, 150, 180])
        });
        let before = face.clone();
        let mask = GrayImage::from_fn(64, 64, |x, y| Luma([if (x as i32 - 32).pow(2) + (y as i32 - 32).pow(2) < 20 * 20 { 255 } else { 0 }]));
        seamless_clone(&mut face, &original, &mask);
        let at = |img: &RgbImage, x: u32, y: u32, c: usize| i32::from(img.get_pixel(x, y)[c]);
        // Just inside the edge: the frame's values (not 60 brighter).
        for (x, y) in [(13, 32), (50, 32), (32, 13), (32, 50)] {
            for c in 0..3 {
                assert!((at(&face, x, y, c) - at(&original, x, y, c)).abs() <= 6, "({x},{y}) c{c}: {} vs {}", at(&face, x, y, c), at(&original, x, y, c));
            }
        }
        // The eye is still as much darker than its surroundings as in the new face.
        let contrast = |img: &RgbImage| at(img, 36, 30, 0) - at(img, 32, 30, 0);
        assert!((contrast(&face) - contrast(&before)).abs() <= 8, "{} vs {}", contrast(&face), contrast(&before));
        // Outside the mask: the frame.
        assert_eq!(face.get_pixel(2, 2), original.get_pixel(2, 2));
    }

    #[test]
    fn an_empty_mask_changes_nothing() {
        let original = RgbImage::from_pixel(16, 16, Rgb([10, 20, 30]));
        let mut face = RgbImage::from_pixel(16, 16, Rgb([200, 20, 30]));
        seamless_clone(&mut face, &original, &GrayImage::new(16, 16));
        assert_eq!(face, RgbImage::from_pixel(16, 16, Rgb([200, 20, 30])));
    }
}
