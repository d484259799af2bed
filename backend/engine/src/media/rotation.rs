//! Display rotation of a video stream: FFmpeg's display matrix or the legacy `rotate` tag,
//! normalised to a clockwise quarter turn.

use ffmpeg_next::codec::packet::side_data::Type as SideDataType;
use ffmpeg_next::format::stream::Stream;
use image::RgbImage;

/// Clockwise degrees (0, 90, 180 or 270) needed to show the stream's frames as the file asks.
///
/// Reads the stream's display matrix; falls back to the `rotate` metadata tag written by old
/// muxers and phones. Mirroring in the matrix is ignored.
pub(crate) fn stream_rotation(stream: &Stream<'_>) -> u32 {
    let from_matrix = stream
        .side_data()
        .filter(|sd| sd.kind() == SideDataType::DisplayMatrix)
        .find_map(|sd| from_display_matrix(sd.data()));
    from_matrix
        .or_else(|| stream.metadata().get("rotate").and_then(from_rotate_tag))
        .unwrap_or(0)
}

/// Clockwise rotation encoded by a display matrix (nine native-endian `i32`, 16.16 and 2.30
/// fixed point), or `None` when the data is too short or degenerate.
pub(crate) fn from_display_matrix(data: &[u8]) -> Option<u32> {
    if data.len() < 36 {
        return None;
    }
    let mut matrix = [0i32; 9];
    for (value, bytes) in matrix.iter_mut().zip(data.chunks_exact(4)) {
        *value = i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    // SAFETY: `matrix` is a live array of the nine `int32_t` the function reads.
    let counterclockwise = unsafe { ffmpeg_next::ffi::av_display_rotation_get(matrix.as_ptr()) };
    // FFmpeg returns the counterclockwise angle the matrix applies (NaN if degenerate);
    // players rotate clockwise by its opposite (fftools `get_rotation`).
    counterclockwise
        .is_finite()
        .then(|| normalize(-counterclockwise))
}

/// Clockwise rotation from a legacy `rotate` tag ("90", "-90", "270.0", ...).
pub(crate) fn from_rotate_tag(tag: &str) -> Option<u32> {
    tag.trim()
        .parse::<f64>()
        .ok()
        .filter(|d| d.is_finite())
        .map(normalize)
}

/// Rounds any angle in degrees to the nearest quarter turn in `0..360`.
pub(crate) fn normalize(clockwise_degrees: f64) -> u32 {
    let quarters = (clockwise_degrees / 90.0).round().rem_euclid(4.0);
    // `quarters` is 0, 1, 2 or 3 here.
    quarters as u32 * 90
}

/// Size of a `width` x `height` frame once rotated clockwise by `rotation` degrees.
pub(crate) fn displayed_size(width: u32, height: u32, rotation: u32) -> (u32, u32) {
    if rotation % 180 == 90 {
        (height, width)
    } else {
        (width, height)
    }
}

/// `image` rotated clockwise by `rotation` (0, 90, 180 or 270) degrees.
#[must_use]
pub(crate) fn rotate(image: RgbImage, rotation: u32) -> RgbImage {
    match rotation {
        90 => image::imageops::rotate90(&image),
        180 => image::imageops::rotate180(&image),
        270 => image::imageops::rotate270(&image),
        _ => image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A display matrix built by FFmpeg for a clockwise angle, as side-data bytes.
    fn matrix_bytes(clockwise: f64) -> Vec<u8> {
        let mut matrix = [0i32; 9];
        // SAFETY: `matrix` has the nine `int32_t` the function writes.
        unsafe { ffmpeg_next::ffi::av_display_rotation_set(matrix.as_mut_ptr(), clockwise) };
        matrix.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn display_matrix_angles_become_clockwise_quarter_turns() {
        assert_eq!(from_display_matrix(&matrix_bytes(0.0)), Some(0));
        assert_eq!(from_display_matrix(&matrix_bytes(90.0)), Some(90));
        assert_eq!(from_display_matrix(&matrix_bytes(-90.0)), Some(270));
        assert_eq!(from_display_matrix(&matrix_bytes(180.0)), Some(180));
        assert_eq!(from_display_matrix(&matrix_bytes(270.0)), Some(270));
    }

    #[test]
    fn phone_rotated90_matrix_as_ffprobe_prints_it() {
        // ffprobe: displaymatrix rows [0 -65536 0] [65536 0 0] [0 0 1073741824], "rotation=90"
        // (counterclockwise); `ffmpeg -i` autorotates it with transpose=cclock.
        let matrix: [i32; 9] = [0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30];
        let bytes: Vec<u8> = matrix.iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(from_display_matrix(&bytes), Some(270));
    }

    #[test]
    fn degenerate_or_short_matrices_are_ignored() {
        assert_eq!(from_display_matrix(&[0u8; 36]), None);
        assert_eq!(from_display_matrix(&[1u8; 8]), None);
    }

    #[test]
    fn rotate_tags_and_normalisation() {
        assert_eq!(from_rotate_tag("90"), Some(90));
        assert_eq!(from_rotate_tag("-90"), Some(270));
        assert_eq!(from_rotate_tag(" 180.0 "), Some(180));
        assert_eq!(from_rotate_tag("sideways"), None);
        assert_eq!(from_rotate_tag("NaN"), None);
        assert_eq!(normalize(359.0), 0);
        assert_eq!(normalize(-450.0), 270);
        assert_eq!(displayed_size(640, 360, 90), (360, 640));
        assert_eq!(displayed_size(640, 360, 180), (640, 360));
    }

    #[test]
    fn rotate_turns_clockwise() {
        // 2x1: red, blue. Clockwise 90 degrees -> 1x2 with red on top.
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        img.put_pixel(1, 0, image::Rgb([0, 0, 255]));
        let turned = rotate(img, 90);
        assert_eq!(turned.dimensions(), (1, 2));
        assert_eq!(turned.get_pixel(0, 0).0, [255, 0, 0]);
        assert_eq!(turned.get_pixel(0, 1).0, [0, 0, 255]);
    }
}
