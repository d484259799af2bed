//! Colour matching of the new face to the frame, inside the blend mask, in crop space.

use image::{GrayImage, RgbImage};
use palette::{IntoColor, Lab, LinSrgb, Srgb};

/// How the new face's colour is matched to the frame.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum ColorMode {
    /// Left as the model made it.
    None,
    /// Each channel's mean moved to the frame's (inside the mask).
    #[default]
    AvgColor,
    /// Reinhard's transfer: mean and spread of L*, a*, b* matched to the frame's.
    ColorTransfer,
    /// Each channel's histogram matched to the frame's.
    MatchHist,
    /// Poisson blending: the face's own gradients, the frame's values at the mask's edge.
    SeamlessClone,
    /// By hand: contrast and brightness (-100..100) and per-channel shifts (-100..100).
    ManualBalance { contrast: f32, brightness: f32, red: f32, green: f32, blue: f32 },
}

/// Pixels that count: mask above half.
fn inside(mask: &GrayImage) -> impl Iterator<Item = usize> + '_ {
    mask.pixels().enumerate().filter(|(_, p)| p[0] >= 128).map(|(i, _)| i)
}

/// Matches `face` to `original` (the frame's face in the same crop) by `mode`.
pub fn match_color(face: &mut RgbImage, original: &RgbImage, mask: &GrayImage, mode: ColorMode) {
    match mode {
        ColorMode::None => {}
        ColorMode::AvgColor => avg_color(face, original, mask),
        ColorMode::ColorTransfer => color_transfer(face, original, mask),
        ColorMode::MatchHist => match_hist(face, original, mask),
        ColorMode::SeamlessClone => super::seamless::seamless_clone(face, original, mask),
        ColorMode::ManualBalance { contrast, brightness, red, green, blue } => manual(face, contrast, brightness, [red, green, blue]),
    }
}

fn avg_color(face: &mut RgbImage, original: &RgbImage, mask: &GrayImage) {
    let idx: Vec<usize> = inside(mask).collect();
    if idx.is_empty() {
        return;
    }
    let mean = |img: &RgbImage, c: usize| idx.iter().map(|&i| f64::from(img.as_raw()[3 * i + c])).sum::<f64>() / idx.len() as f64;
    for c in 0..3 {
        let shift = mean(original, c) - mean(face, c);
        for px in face.pixels_mut() {
            px[c] = (f64::from(px[c]) + shift).round().clamp(0.0, 255.0) as u8;
        }
    }
}

fn to_lab(img: &RgbImage) -> Vec<[f32; 3]> {
    img.pixels()
        .map(|p| {
            let lab: Lab = Srgb::new(p[0], p[1], p[2]).into_format::<f32>().into_linear().into_color();
            [lab.l, lab.a, lab.b]
        })
        .collect()
}

fn color_transfer(face: &mut RgbImage, original: &RgbImage, mask: &GrayImage) {
    let idx: Vec<usize> = inside(mask).collect();
    if idx.len() < 2 {
        return;
    }
    let (src, dst) = (to_lab(face), to_lab(original));
    let stats = |v: &[[f32; 3]], c: usize| {
        let n = idx.len() as f32;
        let mean = idx.iter().map(|&i| v[i][c]).sum::<f32>() / n;
        let var = idx.iter().map(|&i| (v[i][c] - mean).powi(2)).sum::<f32>() / n;
        (mean, var.sqrt().max(1e-3))
    };
    let s: Vec<(f32, f32)> = (0..3).map(|c| stats(&src, c)).collect();
    let d: Vec<(f32, f32)> = (0..3).map(|c| stats(&dst, c)).collect();
    for (px, lab) in face.pixels_mut().zip(&src) {
        let t: [f32; 3] = std::array::from_fn(|c| (lab[c] - s[c].0) * (d[c].1 / s[c].1) + d[c].0);
        let lin: LinSrgb = Lab::new(t[0].clamp(0.0, 100.0), t[1], t[2]).into_color();
        let rgb: Srgb<u8> = Srgb::<f32>::from_linear(lin).into_format();
        *px = image::Rgb([rgb.red, rgb.green, rgb.blue]);
    }
}

fn match_hist(face: &mut RgbImage, original: &RgbImage, mask: &GrayImage) {
    let idx: Vec<usize> = inside(mask).collect();
    if idx.is_empty() {
        return;
    }
    for c in 0..3 {
        let cdf = |img: &RgbImage| {
            let mut h = [0f64; 256];
            for &i in &idx {
                h[img.as_raw()[3 * i + c] as usize] += 1.0;
            }
            let mut acc = 0.0;
            h.map(|v| {
                acc += v / idx.len() as f64;
                acc
            })
        };
        let (src, dst) = (cdf(face), cdf(original));
        // Each level goes to the first reference level whose share reaches its own.
        let lut: Vec<u8> = (0..256).map(|v| dst.iter().position(|&q| q >= src[v] - 1e-9).unwrap_or(255) as u8).collect();
        for px in face.pixels_mut() {
            px[c] = lut[px[c] as usize];
        }
    }
}

fn manual(face: &mut RgbImage, contrast: f32, brightness: f32, channels: [f32; 3]) {
    let k = 1.0 + contrast.clamp(-100.0, 100.0) / 100.0;
    let b = brightness.clamp(-100.0, 100.0) / 100.0 * 127.5;
    for px in face.pixels_mut() {
        for c in 0..3 {
            let v = (f32::from(px[c]) - 127.5) * k + 127.5 + b + channels[c].clamp(-100.0, 100.0) / 100.0 * 127.5;
            px[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb};

    fn gradient(shift: i32, spread: f32) -> RgbImage {
        RgbImage::from_fn(32, 32, |x, y| {
            let v = |b: i32| ((b as f32 + (x + y) as f32 * spread) as i32 + shift).clamp(0, 255) as u8;
            Rgb([v(80), v(100), v(60)])
        })
    }

    fn mean(img: &RgbImage, c: usize) -> f32 {
        img.pixels().map(|p| f32::from(p[c])).sum::<f32>() / (img.width() * img.height()) as f32
    }

    #[test]
    fn every_mode_moves_the_face_towards_the_frame() {
        let mask = GrayImage::from_pixel(32, 32, Luma([255]));
        let original = gradient(40, 2.0);
        for mode in [ColorMode::AvgColor, ColorMode::ColorTransfer, ColorMode::MatchHist] {
            let mut face = gradient(-20, 1.0);
            let before: f32 = (0..3).map(|c| (mean(&face, c) - mean(&original, c)).abs()).sum();
            match_color(&mut face, &original, &mask, mode);
            let after: f32 = (0..3).map(|c| (mean(&face, c) - mean(&original, c)).abs()).sum();
            assert!(after < before * 0.2, "{mode:?}: {before} -> {after}");
        }
        let mut face = gradient(0, 1.0);
        let copy = face.clone();
        match_color(&mut face, &original, &mask, ColorMode::None);
        assert_eq!(face, copy);
        match_color(&mut face, &original, &GrayImage::new(32, 32), ColorMode::AvgColor);
        assert_eq!(face, copy, "an empty mask changes nothing");
        match_color(&mut face, &original, &mask, ColorMode::ManualBalance { contrast: 0.0, brightness: 20.0, red: 0.0, green: 0.0, blue: 0.0 });
        assert!(mean(&face, 0) > mean(&copy, 0) + 20.0);
    }
}
