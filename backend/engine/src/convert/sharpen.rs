//! Sharpening of the model's face before it is pasted back (the model's output is soft, and
//! more so when it is scaled up to a large face).

use image::RgbImage;
use imageproc::filter::{gaussian_blur_f32, separable_filter_equal};

/// How the swapped face is sharpened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SharpenMode {
    #[default]
    None,
    /// The difference from a box blur added back.
    Box,
    /// The difference from a Gaussian blur added back.
    Gaussian,
    /// As Gaussian, but only where the difference is above a threshold (leaves flat skin alone).
    Unsharp,
}

/// Sharpening strength.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SharpenSettings {
    pub mode: SharpenMode,
    /// How much of the detail is added back (1.5 = 150 %).
    pub amount: f32,
    /// Blur radius, percent of the face crop's side.
    pub radius: f32,
    /// Unsharp only: differences below this (0..255) are left alone.
    pub threshold: f32,
}

impl Default for SharpenSettings {
    fn default() -> Self {
        SharpenSettings { mode: SharpenMode::None, amount: 1.5, radius: 1.0, threshold: 5.0 }
    }
}

/// Sharpens `face` in place.
pub fn sharpen(face: &mut RgbImage, s: &SharpenSettings) {
    let radius = (s.radius / 100.0 * face.width() as f32).max(0.5);
    let blurred = match s.mode {
        SharpenMode::None => return,
        SharpenMode::Box => {
            let r = radius.round().max(1.0) as usize;
            let kernel = vec![1.0 / (2 * r + 1) as f32; 2 * r + 1];
            separable_filter_equal(face, &kernel)
        }
        SharpenMode::Gaussian | SharpenMode::Unsharp => gaussian_blur_f32(face, radius),
    };
    let threshold = if s.mode == SharpenMode::Unsharp { s.threshold } else { 0.0 };
    for (p, b) in face.pixels_mut().zip(blurred.pixels()) {
        for c in 0..3 {
            let detail = f32::from(p[c]) - f32::from(b[c]);
            if detail.abs() >= threshold {
                p[c] = (f32::from(p[c]) + s.amount * detail).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A soft edge: a ramp from dark to light across the middle.
    fn edge() -> RgbImage {
        RgbImage::from_fn(64, 8, |x, _| {
            let v = (((x as f32 - 32.0) / 4.0).tanh() * 80.0 + 128.0) as u8;
            Rgb([v, v, v])
        })
    }

    fn contrast(img: &RgbImage) -> i32 {
        i32::from(img.get_pixel(34, 4)[0]) - i32::from(img.get_pixel(30, 4)[0])
    }

    #[test]
    fn sharpening_steepens_edges_and_none_changes_nothing() {
        let base = contrast(&edge());
        for mode in [SharpenMode::Box, SharpenMode::Gaussian, SharpenMode::Unsharp] {
            let mut img = edge();
            sharpen(&mut img, &SharpenSettings { mode, radius: 3.0, ..SharpenSettings::default() });
            assert!(contrast(&img) > base, "{mode:?}: {} vs {base}", contrast(&img));
        }
        let mut img = edge();
        sharpen(&mut img, &SharpenSettings::default());
        assert_eq!(img, edge());
        // Flat areas stay flat under unsharp masking.
        let mut flat = RgbImage::from_pixel(16, 16, Rgb([100, 100, 100]));
        sharpen(&mut flat, &SharpenSettings { mode: SharpenMode::Unsharp, ..SharpenSettings::default() });
        assert!(flat.pixels().all(|p| p == &Rgb([100, 100, 100])));
    }
}
