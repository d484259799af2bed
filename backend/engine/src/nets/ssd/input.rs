//! The detector's input: the image padded to a square, resized to the network size and
//! scaled to `[-1, 1]`, as face-api.js prepares tensor inputs (`padToSquare` without
//! centering, then `tf.image.resizeBilinear`, then `x * (2 / 255) - 1`).

use image::RgbImage;

/// The factor face-api.js multiplies pixel values by (the f32 nearest to 2 / 255, as stored
/// in the weights as `Preprocessor/mul/x`); 1 is subtracted afterwards.
#[allow(clippy::excessive_precision)]
pub const PIXEL_SCALE: f32 = 0.007_843_137_718_737_125;

/// An image prepared for the network.
#[derive(Debug, Clone, PartialEq)]
pub struct SquareInput {
    /// Planar RGB, `[3, size, size]`, values in `[-1, 1]`.
    pub chw: Vec<f32>,
    /// Side of the padded square in source pixels (`max(width, height)`): a coordinate `c`
    /// normalized to the network input is `c * side` in the source image.
    pub side: f32,
}

/// Pads `image` with black at the right or bottom to a square, resizes it to `size` x `size`
/// (TensorFlow's bilinear resize with `align_corners = false` and no half-pixel centers, the
/// kernel of tfjs 1.7 that face-api.js was tested with) and normalizes it.
#[must_use]
pub fn prepare(image: &RgbImage, size: usize) -> SquareInput {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let side = w.max(h);
    assert!(side > 0 && size > 0, "empty image or network size");
    let xs = interpolation(size, side);
    let ys = interpolation(size, side);
    let raw = image.as_raw();
    // The padded square, read lazily: outside the image every channel is 0.
    let px = |x: usize, y: usize, c: usize| -> f32 {
        if x < w && y < h {
            raw[(y * w + x) * 3 + c] as f32
        } else {
            0.0
        }
    };
    let plane = size * size;
    let mut chw = vec![0.0f32; 3 * plane];
    for (oy, &(y0, y1, dy)) in ys.iter().enumerate() {
        for (ox, &(x0, x1, dx)) in xs.iter().enumerate() {
            for c in 0..3 {
                let top = px(x0, y0, c) + (px(x1, y0, c) - px(x0, y0, c)) * dx;
                let bottom = px(x0, y1, c) + (px(x1, y1, c) - px(x0, y1, c)) * dx;
                let v = top + (bottom - top) * dy;
                chw[c * plane + oy * size + ox] = v * PIXEL_SCALE - 1.0;
            }
        }
    }
    SquareInput { chw, side: side as f32 }
}

/// For each output index: the two source indices to blend and the weight of the second
/// (TensorFlow's legacy scaler: `src = dst * in / out`).
fn interpolation(out: usize, input: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f32 / out as f32;
    (0..out)
        .map(|i| {
            let src = i as f32 * scale;
            let lower = src.floor();
            let lo = lower as usize;
            let hi = (src.ceil() as usize).min(input - 1);
            (lo.min(input - 1), hi, src - lower)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn norm(v: f32) -> f32 {
        v * PIXEL_SCALE - 1.0
    }

    #[test]
    fn legacy_scaler_maps_the_top_left_corners() {
        // Upscaling 2 -> 4: source positions 0, 0.5, 1, 1.5 (clamped at the last pixel).
        assert_eq!(interpolation(4, 2), [(0, 0, 0.0), (0, 1, 0.5), (1, 1, 0.0), (1, 1, 0.5)]);
        // Downscaling 4 -> 2 samples pixels 0 and 2, no averaging.
        assert_eq!(interpolation(2, 4), [(0, 0, 0.0), (2, 2, 0.0)]);
    }

    #[test]
    fn pads_right_or_bottom_with_black_and_normalizes() {
        // 2 wide, 1 high: the square is 2x2 with a black bottom row.
        let img = RgbImage::from_fn(2, 1, |x, _| if x == 0 { Rgb([255, 0, 0]) } else { Rgb([0, 255, 0]) });
        let input = prepare(&img, 2);
        assert_eq!(input.side, 2.0);
        let r = &input.chw[0..4];
        let g = &input.chw[4..8];
        assert!((r[0] - 1.0).abs() < 1e-6 && (r[1] + 1.0).abs() < 1e-6, "{r:?}");
        assert!((g[1] - 1.0).abs() < 1e-6, "{g:?}");
        assert_eq!(&r[2..4], [-1.0, -1.0]);
        // Blending halfway between 255 and 0.
        let up = prepare(&img, 4);
        assert!((up.chw[1] - norm(127.5)).abs() < 1e-5, "{}", up.chw[1]);
    }
}
