//! Turning a face image into FaceRecognitionNet's input, as face-api.js does for tensors
//! (`NetInput.toBatchTensor(150, true)`): pad to a centred square with black, resize with
//! TensorFlow's legacy bilinear sampling, subtract the mean RGB, divide.
//!
//! The resize is private to this network for now; the landmark net needs the same one.

use image::RgbImage;

/// Per-channel normalization of 0..=255 pixel values: `(v - mean[c]) / divisor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    pub mean_rgb: [f32; 3],
    pub divisor: f32,
}

/// `face` as a normalized, planar `[3, size, size]` buffer (R, G, B planes, row-major).
pub fn face_input(face: &RgbImage, size: usize, norm: Normalization) -> Vec<f32> {
    let square = pad_to_square(face);
    let side = square.width() as usize;
    let pixels: Vec<f32> = square.as_raw().iter().map(|&v| f32::from(v)).collect();
    let resized = if side == size { pixels } else { resize_bilinear(&pixels, [side, side], [size, size]) };
    let mut planes = vec![0.0; 3 * size * size];
    for (i, rgb) in resized.chunks_exact(3).enumerate() {
        for c in 0..3 {
            planes[c * size * size + i] = (rgb[c] - norm.mean_rgb[c]) / norm.divisor;
        }
    }
    planes
}

/// Pads the shorter side with black to a square, image centred. An odd difference puts the
/// extra pixel after the image (right or bottom), as face-api.js' `padToSquare` does.
pub fn pad_to_square(face: &RgbImage) -> RgbImage {
    let (w, h) = face.dimensions();
    if w == h {
        return face.clone();
    }
    let side = w.max(h);
    let before = (side - w.min(h)) / 2;
    let (x, y) = if w < h { (before, 0) } else { (0, before) };
    let mut square = RgbImage::new(side, side);
    image::imageops::replace(&mut square, face, i64::from(x), i64::from(y));
    square
}

/// Bilinear resize of interleaved RGB data as TensorFlow's `resize_bilinear` with
/// `align_corners = false, half_pixel_centers = false` (the TF.js 1.x default): output pixel
/// `d` samples input position `d * in / out`, clamped at the last row/column.
pub fn resize_bilinear(src: &[f32], [in_h, in_w]: [usize; 2], [out_h, out_w]: [usize; 2]) -> Vec<f32> {
    assert_eq!(src.len(), in_h * in_w * 3, "resize_bilinear: {in_h}x{in_w}x3 input");
    let taps = |out: usize, input: usize| -> Vec<(usize, usize, f32)> {
        let scale = input as f32 / out as f32;
        (0..out)
            .map(|d| {
                let at = d as f32 * scale;
                let lo = (at.floor() as usize).min(input - 1);
                (lo, (lo + 1).min(input - 1), at - at.floor())
            })
            .collect()
    };
    let (rows, cols) = (taps(out_h, in_h), taps(out_w, in_w));
    let px = |y: usize, x: usize, c: usize| src[(y * in_w + x) * 3 + c];
    let mut out = Vec::with_capacity(out_h * out_w * 3);
    for &(y0, y1, fy) in &rows {
        for &(x0, x1, fx) in &cols {
            for c in 0..3 {
                let top = px(y0, x0, c) + (px(y0, x1, c) - px(y0, x0, c)) * fx;
                let bottom = px(y1, x0, c) + (px(y1, x1, c) - px(y1, x0, c)) * fx;
                out.push(top + (bottom - top) * fy);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn gray(w: u32, h: u32, v: impl Fn(u32, u32) -> u8) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([v(x, y); 3]))
    }

    fn column(img: &RgbImage, x: u32) -> Vec<u8> {
        (0..img.height()).map(|y| img.get_pixel(x, y)[0]).collect()
    }

    #[test]
    fn odd_padding_goes_after_the_image() {
        // 2 wide, 5 high: 3 columns of padding, 1 on the left, 2 on the right.
        let sq = pad_to_square(&gray(2, 5, |_, _| 200));
        assert_eq!(sq.dimensions(), (5, 5));
        let filled: Vec<bool> = (0..5).map(|x| column(&sq, x)[0] == 200).collect();
        assert_eq!(filled, [false, true, true, false, false]);
        // Wide images are padded at the top and bottom.
        let sq = pad_to_square(&gray(4, 2, |_, _| 9));
        assert_eq!(column(&sq, 0), [0, 9, 9, 0]);
    }

    #[test]
    fn bilinear_matches_tensorflow_legacy_sampling() {
        // 1x2 -> 1x4: positions 0, 0.5, 1, 1.5 (clamped to the last column).
        let src = [0.0, 0.0, 0.0, 100.0, 100.0, 100.0];
        let out = resize_bilinear(&src, [1, 2], [1, 4]);
        let red: Vec<f32> = out.chunks(3).map(|p| p[0]).collect();
        assert_eq!(red, [0.0, 50.0, 100.0, 100.0]);
        // 4 -> 3 rows: positions 0, 4/3, 8/3.
        let src: Vec<f32> = (0..4).flat_map(|y| [y as f32 * 30.0; 3]).collect();
        let out = resize_bilinear(&src, [4, 1], [3, 1]);
        let red: Vec<f32> = out.chunks(3).map(|p| p[0]).collect();
        for (got, want) in red.iter().zip([0.0, 40.0, 80.0]) {
            assert!((got - want).abs() < 1e-4, "{red:?}");
        }
        // Same size is the identity.
        assert_eq!(resize_bilinear(&src, [4, 1], [4, 1]), src);
    }

    #[test]
    fn input_is_planar_rgb_minus_mean_over_divisor() {
        let norm = Normalization { mean_rgb: [100.0, 50.0, 0.0], divisor: 256.0 };
        let face = RgbImage::from_fn(2, 2, |x, y| if (x, y) == (1, 0) { Rgb([228, 50, 255]) } else { Rgb([100, 50, 0]) });
        let input = face_input(&face, 2, norm);
        assert_eq!(input.len(), 12);
        assert_eq!(&input[0..4], &[0.0, 0.5, 0.0, 0.0]);
        assert_eq!(&input[4..8], &[0.0; 4]);
        assert_eq!(&input[8..12], &[0.0, 255.0 / 256.0, 0.0, 0.0]);
    }

    #[test]
    fn rectangular_faces_are_padded_then_resized() {
        let norm = Normalization { mean_rgb: [0.0; 3], divisor: 1.0 };
        // 2 wide, 4 high -> padded to 4x4 with one black column each side -> 2x2.
        let input = face_input(&gray(2, 4, |_, _| 80), 2, norm);
        // Samples at 0 and 2 in each direction: columns 0 (padding) and 2 (image).
        assert_eq!(&input[0..4], &[0.0, 80.0, 0.0, 80.0]);
    }
}
