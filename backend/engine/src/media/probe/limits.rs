//! The media limits checked at probe time, before a file costs memory or hours: frame size
//! (shared with still pictures, [`crate::image_io`]), frame count and duration.

use crate::image_io::{size_message, size_ok};

use super::super::error::MediaError;

/// Most video frames in one file: a million (9.3 hours at 30 frames/s; the duration limit
/// usually comes first).
pub const MAX_FRAMES: u64 = 1_000_000;
/// Longest video: 6 hours.
pub const MAX_DURATION_SECS: f64 = 6.0 * 3600.0;

/// Refuses a frame size over the limits; 0 x 0 (not known yet) passes.
pub(crate) fn check_size(width: u32, height: u32) -> Result<(), MediaError> {
    if size_ok(width, height) {
        Ok(())
    } else {
        Err(MediaError::OverLimit(size_message(width, height)))
    }
}

/// Refuses a (declared or counted) frame count over [`MAX_FRAMES`].
pub(crate) fn check_frames(frames: u64) -> Result<(), MediaError> {
    if frames <= MAX_FRAMES {
        Ok(())
    } else {
        Err(MediaError::OverLimit(format!(
            "the video has more than {MAX_FRAMES} frames ({frames} at least); Doppel takes at most {MAX_FRAMES}"
        )))
    }
}

/// Refuses a duration over [`MAX_DURATION_SECS`].
pub(crate) fn check_duration(secs: f64) -> Result<(), MediaError> {
    if secs <= MAX_DURATION_SECS {
        Ok(())
    } else {
        Err(MediaError::OverLimit(format!(
            "the video lasts {:.1} hours; Doppel takes videos of at most {:.0} hours",
            secs / 3600.0,
            MAX_DURATION_SECS / 3600.0
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_what_is_over() {
        assert!(check_size(7680, 4320).is_ok() && check_size(4320, 7680).is_ok() && check_size(0, 0).is_ok());
        let msg = check_size(7681, 4320).unwrap_err().to_string();
        assert!(msg.starts_with("the picture is 7681x4320 pixels (33.2 megapixels); Doppel takes at most 33.2 megapixels"), "{msg}");
        assert!(check_size(16385, 100).is_err() && check_size(100, 16385).is_err());
        assert!(check_frames(MAX_FRAMES).is_ok());
        assert!(check_frames(MAX_FRAMES + 1).unwrap_err().to_string().contains("more than 1000000 frames"));
        assert!(check_duration(6.0 * 3600.0).is_ok());
        let msg = check_duration(7.5 * 3600.0).unwrap_err().to_string();
        assert_eq!(msg, "the video lasts 7.5 hours; Doppel takes videos of at most 6 hours");
    }
}
