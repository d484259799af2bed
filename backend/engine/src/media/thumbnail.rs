//! [`thumbnail`]: the first frame of a video or image, upright and small, as RGB.

use std::path::Path;

use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame;
use ffmpeg_next::software::scaling;
use image::RgbImage;

use super::error::MediaError;
use super::rotation::{displayed_size, rotate};
use super::source;

/// Mean level (0-255) under which a frame counts as black for a thumbnail.
const DARK_LEVEL: f64 = 16.0;

/// A poster frame (the first one that is not black, within the first seconds), rotated
/// upright, scaled so the longest side is at most `max_side` (aspect kept, never enlarged;
/// area averaging), as RGB. Alpha is dropped, grey is expanded.
///
/// Reads only the first frames, so it does not notice truncation: call
/// [`probe`](super::probe()) to validate a file.
pub fn thumbnail(path: &Path, max_side: u32) -> Result<RgbImage, MediaError> {
    let (frame, rotation) = source::poster_frame(path, DARK_LEVEL, mean_level)?;
    let (width, height) = displayed_size(frame.width(), frame.height(), rotation);
    let (width, height) = fit(width, height, max_side);
    // Scale in the stored orientation, then turn: the target swaps back for quarter turns.
    let (stored_width, stored_height) = displayed_size(width, height, rotation);
    let rgb = to_rgb(&frame, stored_width, stored_height)?;
    Ok(rotate(rgb, rotation))
}

/// Mean of all channels of a 16 x 16 reduction of the frame; 255 when it cannot be converted
/// (the frame is then taken as it is).
fn mean_level(frame: &frame::Video) -> f64 {
    match to_rgb(frame, 16, 16) {
        Ok(small) => small.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / small.as_raw().len() as f64,
        Err(_) => 255.0,
    }
}

/// `width` x `height` shrunk to fit in a `max_side` square (at least 1 x 1), aspect kept.
fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let max_side = max_side.max(1);
    let longest = width.max(height);
    if longest <= max_side {
        return (width.max(1), height.max(1));
    }
    let scale = |side: u32| {
        let scaled =
            (u64::from(side) * u64::from(max_side) + u64::from(longest) / 2) / u64::from(longest);
        u32::try_from(scaled).unwrap_or(max_side).clamp(1, max_side)
    };
    (scale(width), scale(height))
}

/// Converts `frame` to RGB24 at `width` x `height` with swscale, copying rows by stride.
pub(crate) fn to_rgb(
    frame: &frame::Video,
    width: u32,
    height: u32,
) -> Result<RgbImage, MediaError> {
    let unsupported = |_| MediaError::Undecodable {
        reason: format!("cannot convert {:?} frames to rgb", frame.format()).to_lowercase(),
    };
    let flags =
        scaling::Flags::AREA | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT;
    let mut scaler = scaling::Context::get(
        frame.format(),
        frame.width(),
        frame.height(),
        Pixel::RGB24,
        width,
        height,
        flags,
    )
    .map_err(unsupported)?;
    let mut rgb = frame::Video::empty();
    scaler.run(frame, &mut rgb).map_err(unsupported)?;

    let row_len = width as usize * 3;
    let stride = rgb.stride(0);
    let data = rgb.data(0);
    let mut pixels = Vec::with_capacity(row_len * height as usize);
    for row in data.chunks(stride.max(1)).take(height as usize) {
        // A short row leaves `pixels` short, which `from_raw` rejects below.
        pixels.extend_from_slice(row.get(..row_len).unwrap_or_default());
    }
    RgbImage::from_raw(width, height, pixels).ok_or_else(|| MediaError::Undecodable {
        reason: "the converted frame has the wrong size".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_never_enlarges() {
        assert_eq!(fit(720, 1080, 256), (171, 256));
        assert_eq!(fit(1080, 720, 256), (256, 171));
        assert_eq!(fit(512, 512, 128), (128, 128));
        assert_eq!(fit(100, 50, 256), (100, 50));
        assert_eq!(fit(10_000, 1, 100), (100, 1));
        assert_eq!(fit(640, 360, 0), (1, 1));
    }
}

#[cfg(test)]
mod data_tests {
    use super::*;
    use crate::media::testdata::{image, root, video, TempFile};
    use crate::media::{Damage, MediaError};

    /// Mean absolute difference per channel, 0..=255.
    fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!(a.dimensions(), b.dimensions());
        let total: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| u64::from(x.abs_diff(y)))
            .sum();
        total as f64 / a.as_raw().len() as f64
    }

    fn channel_means(img: &RgbImage) -> [f64; 3] {
        let mut sums = [0u64; 3];
        for p in img.pixels() {
            for (sum, &v) in sums.iter_mut().zip(&p.0) {
                *sum += u64::from(v);
            }
        }
        let n = f64::from(img.width() * img.height());
        sums.map(|s| s as f64 / n)
    }

    #[test]
    fn video_thumbnails_fit_and_keep_aspect() {
        let cases = [
            ("talk_woman_a.mp4", 128, (128, 128)),
            ("full_body.mp4", 256, (171, 256)),
            ("short_hamilton_clip.mp4", 160, (160, 90)),
            ("cartoon_mpeg4_ac3.avi", 200, (200, 147)),
            ("tiny_5frames.mp4", 100, (100, 56)),
            ("interview.mp4", 1000, (410, 412)),
        ];
        for (file, max_side, size) in cases {
            let thumb = thumbnail(&video(file), max_side).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(thumb.dimensions(), size, "{file}");
        }
    }

    #[test]
    fn first_frame_colours_match_an_exact_conversion() {
        // Videos: the frame from `ffmpeg -i F -frames:v 1 -f rawvideo -pix_fmt yuv420p -`
        // converted to RGB in floating point (BT.601, limited range) and averaged per channel.
        // (The CLI's default fast swscale path gives about 1 level less red, e.g. 145.53.)
        // Images: `... -pix_fmt rgb24 -` averaged (no YUV rounding question for PNG; JPEG
        // gives the same means with the CLI's default and our accurate flags).
        let cases = [
            (video("talk_man_glasses.mp4"), [146.47, 107.88, 70.14]),
            (video("tiny_5frames.mp4"), [83.43, 72.92, 68.77]),
            (image("32bit.png"), [89.06, 64.8, 69.61]),
            (image("obama.jpg"), [94.86, 71.81, 74.4]),
        ];
        for (path, expected) in cases {
            let full = thumbnail(&path, 4096).unwrap();
            for (got, want) in channel_means(&full).iter().zip(expected) {
                assert!(
                    (got - want).abs() < 0.3,
                    "{}: {got} vs {want}",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn a_black_leader_is_skipped() {
        // cartoon_mpeg4_ac3.avi starts with black frames; its thumbnail shows the picture.
        let thumb = thumbnail(&video("cartoon_mpeg4_ac3.avi"), 200).unwrap();
        let level = channel_means(&thumb).iter().sum::<f64>() / 3.0;
        assert!(level > DARK_LEVEL, "mean level {level}");
    }

    #[test]
    fn rotated_video_thumbnail_is_turned_270_clockwise() {
        let upright = thumbnail(&video("talk_man_glasses.mp4"), 128).unwrap();
        let phone = thumbnail(&video("phone_rotated90.mov"), 128).unwrap();
        let expected = image::imageops::rotate270(&upright);
        assert!(
            mean_abs_diff(&phone, &expected) < 1.0,
            "{}",
            mean_abs_diff(&phone, &expected)
        );
        for wrong in [upright.clone(), image::imageops::rotate90(&upright)] {
            assert!(
                mean_abs_diff(&phone, &wrong) > 20.0,
                "{}",
                mean_abs_diff(&phone, &wrong)
            );
        }
    }

    #[test]
    fn image_thumbnails_match_the_image_crate() {
        for (file, max_side) in [
            ("32bit.png", 300),
            ("obama.jpg", 256),
            ("astronaut.png", 512),
        ] {
            let ours = thumbnail(&image(file), max_side).unwrap();
            let theirs = image::open(image(file)).unwrap().to_rgb8();
            let (w, h) = ours.dimensions();
            assert_eq!(w.max(h), max_side, "{file}");
            let theirs =
                image::imageops::resize(&theirs, w, h, image::imageops::FilterType::Triangle);
            let diff = mean_abs_diff(&ours, &theirs);
            assert!(diff < 3.0, "{file}: {diff}");
        }
    }

    #[test]
    fn grey_and_grey_alpha_images_become_rgb() {
        let grey = image::GrayImage::from_fn(40, 20, |x, _| image::Luma([(x * 6) as u8]));
        let mut png = std::io::Cursor::new(Vec::new());
        grey.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let file = TempFile::with_bytes("grey.png", png.get_ref());
        let thumb = thumbnail(&file.0, 64).unwrap();
        assert_eq!(thumb.dimensions(), (40, 20));
        assert_eq!(thumb.get_pixel(10, 5).0, [60, 60, 60]);

        let grey_alpha = image::GrayAlphaImage::from_pixel(30, 30, image::LumaA([200, 10]));
        let mut png = std::io::Cursor::new(Vec::new());
        grey_alpha
            .write_to(&mut png, image::ImageFormat::Png)
            .unwrap();
        let file = TempFile::with_bytes("grey-alpha.png", png.get_ref());
        assert_eq!(
            thumbnail(&file.0, 10).unwrap().get_pixel(5, 5).0,
            [200, 200, 200]
        );
    }

    #[test]
    fn thumbnail_errors_are_clear() {
        let text = thumbnail(&root().join("README.md"), 64).unwrap_err();
        assert!(matches!(text, MediaError::NotMedia { .. }), "{text:?}");
        let cut = thumbnail(&video("truncated.mp4"), 64).unwrap_err();
        assert!(
            matches!(cut, MediaError::Truncated(Damage::Header { .. })),
            "{cut:?}"
        );
        let folder = thumbnail(&root(), 64).unwrap_err();
        assert!(matches!(folder, MediaError::Io(_)), "{folder:?}");
    }
}
