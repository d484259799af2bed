//! Network inputs the way face-api.js prepares tensors for all three networks: the image padded
//! with black to a square, resized with TensorFlow's legacy bilinear sampling (tfjs 1.7:
//! `align_corners = false`, no half-pixel centres), normalised per channel, planar RGB.
//!
//! The padding is virtual (samples outside the image read as black), so a large frame is never
//! copied; any `GenericImageView` works, sub-image views included.

use image::{GenericImageView, Rgb};

/// Where the image sits inside the square.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Centred; an odd pixel of padding goes after the image (face-api.js `padToSquare(true)`).
    Centred,
    /// At the top-left corner, padding at the right or bottom (`padToSquare(false)`).
    TopLeft,
}

/// Where an image sits inside the black square the network sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SquareFrame {
    /// Side of the square, in source pixels.
    pub side: u32,
    /// Padding columns before the image.
    pub left: u32,
    /// Padding rows above the image.
    pub top: u32,
}

impl SquareFrame {
    pub fn around(width: u32, height: u32, placement: Placement) -> SquareFrame {
        let side = width.max(height);
        let before = |size: u32| match placement {
            Placement::Centred => (side - size) - (side - size).div_ceil(2),
            Placement::TopLeft => 0,
        };
        SquareFrame { side, left: before(width), top: before(height) }
    }
}

/// Per-channel normalisation of 0..=255 values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalize {
    /// `(v - mean[c]) / divisor`
    MeanDivide { mean: [f32; 3], divisor: f32 },
    /// `v * scale + shift`
    ScaleShift { scale: f32, shift: f32 },
}

impl Normalize {
    fn apply(self, v: f32, channel: usize) -> f32 {
        match self {
            Normalize::MeanDivide { mean, divisor } => (v - mean[channel]) / divisor,
            Normalize::ScaleShift { scale, shift } => v * scale + shift,
        }
    }
}

/// One image prepared for a network: `[3, size, size]` values (channel-major) and where the
/// image sits in the square they were sampled from.
#[derive(Debug, Clone, PartialEq)]
pub struct NetInput {
    pub data: Vec<f32>,
    pub frame: SquareFrame,
}

/// Pads `image` to a square, resizes it to `size` x `size` and normalises it.
pub fn prepare<I: GenericImageView<Pixel = Rgb<u8>>>(image: &I, size: usize, placement: Placement, norm: Normalize) -> NetInput {
    let (width, height) = image.dimensions();
    let frame = SquareFrame::around(width.max(1), height.max(1), placement);
    let mut data = vec![0.0f32; 3 * size * size];
    let plane = size * size;
    let pixel = |x: u32, y: u32| -> [f32; 3] {
        match (x.checked_sub(frame.left), y.checked_sub(frame.top)) {
            (Some(x), Some(y)) if x < width && y < height => image.get_pixel(x, y).0.map(f32::from),
            _ => [0.0; 3],
        }
    };
    let taps = legacy_bilinear_taps(frame.side, size);
    for (oy, &(y0, y1, fy)) in taps.iter().enumerate() {
        for (ox, &(x0, x1, fx)) in taps.iter().enumerate() {
            let (tl, tr, bl, br) = (pixel(x0, y0), pixel(x1, y0), pixel(x0, y1), pixel(x1, y1));
            for c in 0..3 {
                let top = tl[c] + (tr[c] - tl[c]) * fx;
                let bottom = bl[c] + (br[c] - bl[c]) * fx;
                data[c * plane + oy * size + ox] = norm.apply(top + (bottom - top) * fy, c);
            }
        }
    }
    NetInput { data, frame }
}

/// For each of `output` samples along an axis of `input` pixels: the two source pixels and the
/// weight of the second, as TensorFlow's `resize_bilinear` with `align_corners = false` and
/// `half_pixel_centers = false` computes them (source = destination * input / output).
fn legacy_bilinear_taps(input: u32, output: usize) -> Vec<(u32, u32, f32)> {
    let scale = f64::from(input) / output as f64;
    (0..output)
        .map(|o| {
            let source = o as f64 * scale;
            let lower = source.floor();
            let first = lower as u32;
            (first.min(input - 1), (first + 1).min(input - 1), (source - lower) as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    const MEAN: [f32; 3] = [122.782, 117.001, 104.298];
    const BY_255: Normalize = Normalize::MeanDivide { mean: MEAN, divisor: 255.0 };

    #[test]
    fn centred_squares_put_the_odd_pixel_after_the_image() {
        use Placement::*;
        assert_eq!(SquareFrame::around(150, 150, Centred), SquareFrame { side: 150, left: 0, top: 0 });
        assert_eq!(SquareFrame::around(122, 178, Centred), SquareFrame { side: 178, left: 28, top: 0 });
        assert_eq!(SquareFrame::around(10, 5, Centred), SquareFrame { side: 10, left: 0, top: 2 });
        assert_eq!(SquareFrame::around(1, 4, Centred), SquareFrame { side: 4, left: 1, top: 0 });
        assert_eq!(SquareFrame::around(10, 5, TopLeft), SquareFrame { side: 10, left: 0, top: 0 });
    }

    #[test]
    fn taps_follow_tensorflow_legacy_sampling() {
        // 2 -> 4: sources 0, 0.5, 1, 1.5 (the last clamps to the edge).
        assert_eq!(legacy_bilinear_taps(2, 4), vec![(0, 1, 0.0), (0, 1, 0.5), (1, 1, 0.0), (1, 1, 0.5)]);
        // 4 -> 2: sources 0 and 2, no blending.
        assert_eq!(legacy_bilinear_taps(4, 2), vec![(0, 1, 0.0), (2, 3, 0.0)]);
    }

    #[test]
    fn same_size_square_input_is_only_normalised() {
        let image = RgbImage::from_fn(4, 4, |x, y| Rgb([(x * 10) as u8, (y * 20) as u8, 200]));
        let input = prepare(&image, 4, Placement::Centred, BY_255);
        for y in 0..4 {
            for x in 0..4 {
                let p = image.get_pixel(x, y).0;
                for c in 0..3 {
                    let got = input.data[c * 16 + (y * 4 + x) as usize];
                    assert!((got - (p[c] as f32 - MEAN[c]) / 255.0).abs() < 1e-6, "({x}, {y}, {c})");
                }
            }
        }
    }

    #[test]
    fn padding_is_black_and_upscaling_blends_like_tensorflow() {
        // A 1 x 2 column (white over grey) becomes a 2 x 2 square with a black column on the
        // right, then is upscaled to 4 x 4.
        let mut image = RgbImage::new(1, 2);
        image.put_pixel(0, 0, Rgb([255, 255, 255]));
        image.put_pixel(0, 1, Rgb([100, 100, 100]));
        let input = prepare(&image, 4, Placement::Centred, Normalize::ScaleShift { scale: 1.0, shift: 0.0 });
        assert_eq!(input.frame, SquareFrame { side: 2, left: 0, top: 0 });
        let expected = [[255.0, 127.5, 0.0, 0.0], [177.5, 88.75, 0.0, 0.0], [100.0, 50.0, 0.0, 0.0], [100.0, 50.0, 0.0, 0.0]];
        for (y, row) in expected.iter().enumerate() {
            for (x, &want) in row.iter().enumerate() {
                assert!((input.data[y * 4 + x] - want).abs() < 1e-3, "({x}, {y})");
            }
        }
    }

    #[test]
    fn top_left_placement_pads_right_or_bottom_and_scales_to_plus_minus_one() {
        let img = RgbImage::from_fn(2, 1, |x, _| if x == 0 { Rgb([255, 0, 0]) } else { Rgb([0, 255, 0]) });
        let input = prepare(&img, 2, Placement::TopLeft, Normalize::ScaleShift { scale: 2.0 / 255.0, shift: -1.0 });
        let (r, g) = (&input.data[0..4], &input.data[4..8]);
        assert!((r[0] - 1.0).abs() < 1e-6 && (r[1] + 1.0).abs() < 1e-6, "{r:?}");
        assert!((g[1] - 1.0).abs() < 1e-6, "{g:?}");
        assert_eq!(&r[2..4], [-1.0, -1.0], "the bottom row is padding");
    }

    #[test]
    fn sub_images_are_prepared_without_copying() {
        let image = RgbImage::from_fn(8, 8, |x, y| Rgb([(x * 30) as u8, (y * 30) as u8, 7]));
        let view = image.view(2, 3, 4, 4);
        let input = prepare(&*view, 4, Placement::Centred, BY_255);
        assert!((input.data[0] - (60.0 - MEAN[0]) / 255.0).abs() < 1e-6);
        assert!((input.data[16] - (90.0 - MEAN[1]) / 255.0).abs() < 1e-6);
    }
}
