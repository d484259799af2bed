//! [`probe`]: what a video or image file holds, checked by demuxing every video packet.

use std::path::Path;

use ffmpeg_next::{media, Rational};
use serde::{Deserialize, Serialize};

use super::error::{ffmpeg_reason, Damage, MediaError};
use super::rotation::{displayed_size, stream_rotation};
use super::source::{self, FirstFrame};

mod limits;

/// Whether a file is a moving picture or a single still.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A video stream (any container, any number of frames).
    Video,
    /// A single still image (JPEG, PNG, WebP, BMP, ...).
    Image,
}

/// Facts about a media file, as [`probe`] measured them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaFacts {
    /// Video or still image.
    pub kind: MediaKind,
    /// FFmpeg's short container name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "avi", "png_pipe".
    pub container: String,
    /// FFmpeg's long container name, e.g. "QuickTime / MOV".
    pub container_long: String,
    /// Video codec, e.g. "h264", "mpeg4", "png", "mjpeg".
    pub video_codec: String,
    /// Codec of the main audio stream, e.g. "aac", "ac3".
    pub audio_codec: Option<String>,
    /// Whether the file has an audio stream.
    pub has_audio: bool,
    /// Width as displayed, with the rotation applied.
    pub width: u32,
    /// Height as displayed, with the rotation applied.
    pub height: u32,
    /// Width of the stored (unrotated) frames.
    pub coded_width: u32,
    /// Height of the stored (unrotated) frames.
    pub coded_height: u32,
    /// Clockwise degrees (0, 90, 180 or 270) to turn stored frames to show them as intended.
    pub rotation: u32,
    /// Average frame rate; 0 for a still image.
    pub fps: f64,
    /// Video frames, counted by demuxing every video packet; 1 for an image.
    pub frame_count: u64,
    /// Duration in seconds (container's, else the video stream's); 0 for a still image.
    pub duration_secs: f64,
}

/// Opens `path`, checks that its video stream is complete and decodable, and reports its facts.
///
/// Reads the whole file (every video packet is counted, the first frame is decoded), so a
/// truncated upload is rejected here rather than halfway through a job.
///
/// Files over the media limits are refused before their frames cost memory or time: frames
/// over 8K ([`crate::image_io::MAX_PIXELS`], [`crate::image_io::MAX_SIDE`] a side), more
/// than [`limits::MAX_FRAMES`] frames (a million), longer than [`limits::MAX_DURATION_SECS`] (6 hours); and formats that name other
/// files (playlists, concat lists) are not opened at all.
pub fn probe(path: &Path) -> Result<MediaFacts, MediaError> {
    let mut input = source::open(path)?;
    let index = source::video_stream(&input).ok_or_else(|| source::no_video_stream(&input))?;
    let audio_codec = input
        .streams()
        .best(media::Type::Audio)
        .map(|s| s.parameters().id().name().to_owned());
    let (container, container_long) = {
        let format = input.format();
        (format.name().to_owned(), format.description().to_owned())
    };
    let container_secs = seconds(
        input.duration(),
        Rational::new(1, ffmpeg_next::ffi::AV_TIME_BASE),
    );

    // The stream borrows `input`; take what is needed before reading packets.
    let (
        video_codec,
        (coded_width, coded_height),
        rotation,
        declared_frames,
        fps,
        stream_secs,
        mut grabber,
    ) = {
        let stream = input
            .stream(index)
            .ok_or_else(|| source::no_video_stream(&input))?;
        let fps = frame_rate(stream.avg_frame_rate())
            .or_else(|| frame_rate(stream.rate()))
            .unwrap_or(0.0);
        (
            stream.parameters().id().name().to_owned(),
            source::stored_size(&stream),
            stream_rotation(&stream),
            u64::try_from(stream.frames()).unwrap_or(0),
            fps,
            seconds(stream.duration(), stream.time_base()),
            FirstFrame::new(&stream)?,
        )
    };

    // What the headers declare is checked before a packet is read.
    limits::check_size(coded_width, coded_height)?;
    limits::check_frames(declared_frames)?;
    limits::check_duration(container_secs.or(stream_secs).unwrap_or(0.0))?;

    let mut frame_count = 0u64;
    loop {
        match source::next_packet(&mut input) {
            Ok(Some(packet)) if packet.stream() == index => {
                frame_count += 1;
                limits::check_frames(frame_count)?;
                grabber.push(&packet);
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(err) => {
                let reason = ffmpeg_reason(&err);
                return Err(MediaError::Truncated(Damage::ReadError {
                    read: frame_count,
                    reason,
                }));
            }
        }
    }
    if frame_count < declared_frames {
        let damage = Damage::MissingFrames {
            read: frame_count,
            declared: declared_frames,
        };
        return Err(MediaError::Truncated(damage));
    }
    let first = grabber.finish()?;
    limits::check_size(first.width(), first.height())?;
    let (coded_width, coded_height) = if coded_width > 0 && coded_height > 0 {
        (coded_width, coded_height)
    } else {
        (first.width(), first.height())
    };
    let (width, height) = displayed_size(coded_width, coded_height, rotation);

    let kind = if frame_count == 1 && is_still_container(&container) {
        MediaKind::Image
    } else {
        MediaKind::Video
    };
    let (fps, duration_secs) = match kind {
        MediaKind::Image => (0.0, 0.0),
        MediaKind::Video => {
            let estimate = (fps > 0.0).then(|| frame_count as f64 / fps);
            (
                fps,
                container_secs.or(stream_secs).or(estimate).unwrap_or(0.0),
            )
        }
    };
    limits::check_duration(duration_secs)?;
    Ok(MediaFacts {
        kind,
        container,
        container_long,
        video_codec,
        has_audio: audio_codec.is_some(),
        audio_codec,
        width,
        height,
        coded_width,
        coded_height,
        rotation,
        fps,
        frame_count,
        duration_secs,
    })
}

/// Containers FFmpeg uses for single pictures: `image2` (by extension), `*_pipe` (by content,
/// e.g. `png_pipe`, `jpeg_pipe`, `webp_pipe`) and GIF (a still when it has one frame).
fn is_still_container(name: &str) -> bool {
    name == "image2" || name == "gif" || name.ends_with("_pipe")
}

/// A frame rate as f64, `None` when unset (0/0, 0/1) or nonsensical.
fn frame_rate(rate: Rational) -> Option<f64> {
    (rate.numerator() > 0 && rate.denominator() > 0).then(|| f64::from(rate))
}

/// `ticks` in `time_base` units as seconds, `None` when unknown (`AV_NOPTS_VALUE`) or not positive.
fn seconds(ticks: i64, time_base: Rational) -> Option<f64> {
    (ticks > 0 && time_base.numerator() > 0 && time_base.denominator() > 0)
        .then(|| ticks as f64 * f64::from(time_base))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod hostile;
