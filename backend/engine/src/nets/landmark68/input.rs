//! Input preparation as face-api.js does it for tensor inputs (`NetInput::toBatchTensor(112,
//! true)`): pad to a centred square with black, resize with TensorFlow's `resizeBilinear`
//! (tfjs 1.7: `align_corners = false`, no half-pixel centres), subtract the mean RGB, divide by
//! 255.

use image::{GenericImageView, Rgb};

/// Mean RGB of face-api.js' training data, subtracted before dividing by 255.
pub const MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];

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
    /// The centred square around a `width` x `height` image. As in face-api.js' `padToSquare`,
    /// an odd pixel of padding goes after the image (right or bottom).
    pub fn around(width: u32, height: u32) -> SquareFrame {
        let side = width.max(height);
        // `Math.round(diff / 2)` after the image, the rest before it.
        let before = |size: u32| (side - size) - (side - size).div_ceil(2);
        SquareFrame { side, left: before(width), top: before(height) }
    }
}

/// One image prepared for the network: `[3, size, size]` values (channel-major) and where
/// the image sits in the square they were sampled from.
#[derive(Debug, Clone, PartialEq)]
pub struct NetInput {
    pub data: Vec<f32>,
    pub frame: SquareFrame,
}

/// Pads `image` to a centred square, resizes it to `size` x `size` and normalises it.
///
/// The padding is virtual (samples outside the image are black), so a large frame is never
/// copied.
pub fn prepare_input<I: GenericImageView<Pixel = Rgb<u8>>>(image: &I, size: usize) -> NetInput {
    let (width, height) = image.dimensions();
    let frame = SquareFrame::around(width, height);
    let mut data = vec![0.0f32; 3 * size * size];
    let plane = size * size;
    let pixel = |x: u32, y: u32| -> [f32; 3] {
        match (x.checked_sub(frame.left), y.checked_sub(frame.top)) {
            (Some(x), Some(y)) if x < width && y < height => image.get_pixel(x, y).0.map(f32::from),
            _ => [0.0; 3],
        }
    };
    let ys = legacy_bilinear_taps(frame.side, size);
    let xs = legacy_bilinear_taps(frame.side, size);
    for (oy, &(y0, y1, fy)) in ys.iter().enumerate() {
        for (ox, &(x0, x1, fx)) in xs.iter().enumerate() {
            let (tl, tr, bl, br) = (pixel(x0, y0), pixel(x1, y0), pixel(x0, y1), pixel(x1, y1));
            for c in 0..3 {
                let top = tl[c] + (tr[c] - tl[c]) * fx;
                let bottom = bl[c] + (br[c] - bl[c]) * fx;
                let value = top + (bottom - top) * fy;
                data[c * plane + oy * size + ox] = (value - MEAN_RGB[c]) / 255.0;
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
            ((first).min(input - 1), (first + 1).min(input - 1), (source - lower) as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    fn normalized(value: f32, channel: usize) -> f32 {
        (value - MEAN_RGB[channel]) / 255.0
    }

    #[test]
    fn square_frame_centres_the_image_with_the_odd_pixel_after() {
        assert_eq!(SquareFrame::around(150, 150), SquareFrame { side: 150, left: 0, top: 0 });
        assert_eq!(SquareFrame::around(122, 178), SquareFrame { side: 178, left: 28, top: 0 });
        assert_eq!(SquareFrame::around(10, 5), SquareFrame { side: 10, left: 0, top: 2 });
        assert_eq!(SquareFrame::around(1, 4), SquareFrame { side: 4, left: 1, top: 0 });
    }

    #[test]
    fn taps_follow_tensorflow_legacy_sampling() {
        // 2 -> 4: sources 0, 0.5, 1, 1.5 (the last clamps to the edge).
        assert_eq!(legacy_bilinear_taps(2, 4), vec![(0, 1, 0.0), (0, 1, 0.5), (1, 1, 0.0), (1, 1, 0.5)]);
        // 4 -> 2: sources 0 and 2, no blending.
        assert_eq!(legacy_bilinear_taps(4, 2), vec![(0, 1, 0.0), (2, 3, 0.0)]);
    }

    #[test]
    fn same_size_square_input_is_only_normalized() {
        let image = RgbImage::from_fn(4, 4, |x, y| Rgb([(x * 10) as u8, (y * 20) as u8, 200]));
        let input = prepare_input(&image, 4);
        assert_eq!(input.frame, SquareFrame { side: 4, left: 0, top: 0 });
        for y in 0..4 {
            for x in 0..4 {
                let p = image.get_pixel(x, y).0;
                for c in 0..3 {
                    let got = input.data[c * 16 + (y * 4 + x) as usize];
                    assert!((got - normalized(p[c] as f32, c)).abs() < 1e-6, "({x}, {y}, {c})");
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
        let input = prepare_input(&image, 4);
        assert_eq!(input.frame, SquareFrame { side: 2, left: 0, top: 0 });
        let at = |x: usize, y: usize| input.data[y * 4 + x] * 255.0 + MEAN_RGB[0];
        let expected = [
            [255.0, 127.5, 0.0, 0.0],
            [177.5, 88.75, 0.0, 0.0],
            [100.0, 50.0, 0.0, 0.0],
            [100.0, 50.0, 0.0, 0.0],
        ];
        for (y, row) in expected.iter().enumerate() {
            for (x, &want) in row.iter().enumerate() {
                assert!((at(x, y) - want).abs() < 1e-3, "({x}, {y}): {} != {want}", at(x, y));
            }
        }
    }

    #[test]
    fn sub_images_are_prepared_without_copying() {
        let image = RgbImage::from_fn(8, 8, |x, y| Rgb([(x * 30) as u8, (y * 30) as u8, 7]));
        let view = image.view(2, 3, 4, 4);
        let input = prepare_input(&*view, 4);
        assert!((input.data[0] - normalized(60.0, 0)).abs() < 1e-6);
        assert!((input.data[16] - normalized(90.0, 1)).abs() < 1e-6);
    }
}
