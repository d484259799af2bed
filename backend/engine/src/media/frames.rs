//! [`FrameReader`]: every frame of a video (or the one frame of an image), decoded in order,
//! upright, as RGB; the source of face extraction.
//!
//! Damage is not fatal here: a packet or frame that fails to decode is skipped and counted
//! ([`FrameReader::skipped`]), and a file that ends early or stops reading yields the frames
//! before the damage, then says so ([`FrameReader::damage`]).

use std::path::Path;

use ffmpeg_next::format::context::Input;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{codec, decoder, ffi, frame, threading, Rational};
use image::RgbImage;

use super::error::{ffmpeg_reason, Damage, MediaError};
use super::rotation::{displayed_size, rotate, stream_rotation};
use super::source;

/// Decoding errors in a row after which the rest of the stream is given up as damaged.
const MAX_ERRORS_IN_ROW: u32 = 1000;

/// One decoded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// 0-based position in presentation order among the decoded frames (skipped damaged
    /// frames take no index).
    pub index: u64,
    /// Seconds from the start of the stream (the frame's own timestamp, so variable frame
    /// rates are exact).
    pub time: f64,
    /// The picture, turned upright by the stream's rotation.
    pub image: RgbImage,
}

/// Where the reader is: reading packets, draining the decoder after the last one, or done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Draining,
    Done,
}

/// Decodes the main video stream of a file frame by frame (send_packet / receive_frame).
///
/// Also an [`Iterator`] over all frames; [`next_frame`](Self::next_frame) chooses frames by
/// index and leaves the others unconverted.
pub struct FrameReader {
    input: Input,
    stream: usize,
    decoder: decoder::Video,
    time_base: f64,
    start: i64,
    rotation: u32,
    stored: (u32, u32),
    frame_rate: Option<f64>,
    frame_count_hint: Option<u64>,
    declared: u64,
    decoded: frame::Video,
    converter: Option<Converter>,
    state: State,
    next_index: u64,
    last_time: Option<f64>,
    packets: u64,
    skipped: u64,
    errors_in_row: u32,
    last_error: Option<ffmpeg_next::Error>,
    damage: Option<Damage>,
}

impl FrameReader {
    /// Opens `path` and a decoder for its main video stream. Fails as
    /// [`probe`](super::probe()) does on unreadable, non-media and undecodable files and on a
    /// damaged header; damage further in shows up while reading.
    pub fn open(path: &Path) -> Result<FrameReader, MediaError> {
        let input = source::open(path)?;
        let stream = source::video_stream(&input).ok_or_else(|| source::no_video_stream(&input))?;
        let video = input
            .stream(stream)
            .ok_or_else(|| source::no_video_stream(&input))?;
        let codec_name = video.parameters().id().name();
        let undecodable = |err: ffmpeg_next::Error| MediaError::Undecodable {
            reason: format!(
                "no decoder for the {codec_name} codec ({})",
                ffmpeg_reason(&err)
            ),
        };
        let mut context =
            codec::context::Context::from_parameters(video.parameters()).map_err(undecodable)?;
        // Frame threads, as many as FFmpeg sees fit (count 0); the output is the same.
        context.set_threading(threading::Config::kind(threading::Type::Frame));
        source::limit_decoder(&mut context);
        let decoder = context.decoder().video().map_err(undecodable)?;

        let time_base = rational(video.time_base()).unwrap_or(0.0);
        let frame_rate = rational(video.avg_frame_rate()).or_else(|| rational(video.rate()));
        let declared = u64::try_from(video.frames()).unwrap_or(0);
        let estimate = (video.duration() > 0)
            .then(|| frame_rate.map(|fps| (video.duration() as f64 * time_base * fps).round()))
            .flatten()
            .filter(|&n| n >= 1.0)
            .map(|n| n as u64);
        let start = match video.start_time() {
            ffi::AV_NOPTS_VALUE => 0,
            start => start,
        };
        let reader = FrameReader {
            stream,
            decoder,
            time_base,
            start,
            rotation: stream_rotation(&video),
            stored: source::stored_size(&video),
            frame_rate,
            frame_count_hint: (declared > 0).then_some(declared).or(estimate),
            declared,
            decoded: frame::Video::empty(),
            converter: None,
            state: State::Reading,
            next_index: 0,
            last_time: None,
            packets: 0,
            skipped: 0,
            errors_in_row: 0,
            last_error: None,
            damage: None,
            input,
        };
        Ok(reader)
    }

    /// Clockwise degrees (0, 90, 180 or 270) applied to every frame to turn it upright.
    pub fn rotation(&self) -> u32 {
        self.rotation
    }

    /// Width and height of the frames as returned (rotation applied), from the header.
    pub fn displayed_size(&self) -> (u32, u32) {
        displayed_size(self.stored.0, self.stored.1, self.rotation)
    }

    /// Average frame rate from the header (else its base rate); `None` when unset. Images
    /// report FFmpeg's nominal rate (25).
    pub fn frame_rate(&self) -> Option<f64> {
        self.frame_rate
    }

    /// Frames the header declares, else its duration times the frame rate; `None` when it
    /// says neither. Only a hint for progress: damage or a lying header make it wrong.
    pub fn frame_count_hint(&self) -> Option<u64> {
        self.frame_count_hint
    }

    /// Packets and frames skipped so far because they failed to decode or to convert.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Why the file ended early, once reading has stopped there, e.g. "only 83 of 169 frames
    /// could be read" (the text of a [`Damage`]); `None` for a complete file.
    pub fn damage(&self) -> Option<String> {
        self.damage.as_ref().map(Damage::to_string)
    }

    /// The next frame whose index passes `want`, or `Ok(None)` after the last one. Frames not
    /// wanted are decoded (later frames depend on them) but not converted, so taking every
    /// n-th frame or a range is cheap.
    ///
    /// Errs only when the stream ends without a single decodable frame
    /// ([`MediaError::Truncated`] when it was cut, else [`MediaError::Undecodable`]).
    pub fn next_frame(
        &mut self,
        want: &mut dyn FnMut(u64) -> bool,
    ) -> Result<Option<Frame>, MediaError> {
        while self.state != State::Done {
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) if self.decoded.width() > 0 && self.decoded.height() > 0 => {
                    self.errors_in_row = 0;
                    let index = self.next_index;
                    self.next_index += 1;
                    let time = self.frame_time();
                    if !want(index) {
                        continue;
                    }
                    match self.convert() {
                        Ok(image) => return Ok(Some(Frame { index, time, image })),
                        Err(err) => {
                            tracing::debug!("frame {index} skipped: {err}");
                            self.skipped += 1;
                        }
                    }
                }
                Ok(()) => self.skipped += 1,
                Err(ffmpeg_next::Error::Other {
                    errno: ffmpeg_next::error::EAGAIN,
                }) => match self.state {
                    State::Reading => self.feed(),
                    // Cannot happen while draining; taken as the end rather than a loop.
                    _ => return self.finish(),
                },
                Err(ffmpeg_next::Error::Eof) => return self.finish(),
                Err(err) => {
                    // A damaged frame: the decoder has dropped it and goes on.
                    self.skipped += 1;
                    self.last_error = Some(err);
                    self.errors_in_row += 1;
                    if self.errors_in_row >= MAX_ERRORS_IN_ROW {
                        let reason = format!("{MAX_ERRORS_IN_ROW} decoding errors in a row");
                        self.damage.get_or_insert(Damage::ReadError {
                            read: self.packets,
                            reason,
                        });
                        return self.finish();
                    }
                }
            }
        }
        Ok(None)
    }

    /// Sends the next packet of the video stream to the decoder; at the end of the file or
    /// on a read error, notes any damage and starts draining.
    fn feed(&mut self) {
        loop {
            match source::next_packet(&mut self.input) {
                Ok(Some(packet)) if packet.stream() == self.stream => {
                    self.packets += 1;
                    // A damaged packet is skipped: a later keyframe may still decode.
                    if let Err(err) = self.decoder.send_packet(&packet) {
                        self.skipped += 1;
                        self.last_error = Some(err);
                    }
                    return;
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    if self.packets < self.declared {
                        self.damage = Some(Damage::MissingFrames {
                            read: self.packets,
                            declared: self.declared,
                        });
                    }
                    break;
                }
                Err(err) => {
                    self.damage = Some(Damage::ReadError {
                        read: self.packets,
                        reason: ffmpeg_reason(&err),
                    });
                    break;
                }
            }
        }
        self.state = State::Draining;
        if let Err(err) = self.decoder.send_eof() {
            self.last_error = Some(err);
        }
    }

    /// Ends the stream: `Ok(None)`, or an error when not a single frame came out.
    fn finish(&mut self) -> Result<Option<Frame>, MediaError> {
        self.state = State::Done;
        if self.next_index > 0 {
            return Ok(None);
        }
        Err(match (&self.damage, &self.last_error) {
            (Some(damage), _) => MediaError::Truncated(damage.clone()),
            (None, Some(err)) => MediaError::Undecodable {
                reason: format!("no frame could be decoded ({})", ffmpeg_reason(err)),
            },
            (None, None) => MediaError::Undecodable {
                reason: "no frame could be decoded".into(),
            },
        })
    }

    /// Seconds of the decoded frame from the stream start; without a timestamp, one frame
    /// period after the previous frame.
    fn frame_time(&mut self) -> f64 {
        let time = match self.decoded.timestamp() {
            Some(ts) => ts.saturating_sub(self.start) as f64 * self.time_base,
            None => match (self.last_time, self.frame_rate) {
                (Some(last), Some(fps)) => last + 1.0 / fps,
                (Some(last), None) => last,
                (None, _) => 0.0,
            },
        };
        self.last_time = Some(time);
        time
    }

    /// The decoded frame as upright RGB, through the cached scaler.
    fn convert(&mut self) -> Result<RgbImage, MediaError> {
        let converter = match self.converter.take() {
            Some(converter) if converter.fits(&self.decoded) => converter,
            _ => Converter::new(&self.decoded)?,
        };
        let rgb = self.converter.insert(converter).run(&self.decoded)?;
        Ok(rotate(rgb, self.rotation))
    }
}

impl Iterator for FrameReader {
    type Item = Result<Frame, MediaError>;

    /// Every frame in order.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame(&mut |_| true).transpose()
    }
}

/// A swscale context to RGB24 at the source size, with its output frame; kept while the
/// frames keep their size and pixel format.
struct Converter {
    scaler: scaling::Context,
    rgb: frame::Video,
}

// SAFETY: the scaler is owned here alone and only used through `&mut self`; swscale contexts
// are not tied to the thread that made them. This lets a `FrameReader` move to a worker.
unsafe impl Send for Converter {}

impl Converter {
    /// Same flags as [`thumbnail`](super::thumbnail()), so a first frame looks the same there.
    fn new(frame: &frame::Video) -> Result<Converter, MediaError> {
        let flags =
            scaling::Flags::AREA | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT;
        let (format, width, height) = (frame.format(), frame.width(), frame.height());
        let scaler =
            scaling::Context::get(format, width, height, Pixel::RGB24, width, height, flags)
                .map_err(|_| unsupported(format))?;
        Ok(Converter {
            scaler,
            rgb: frame::Video::empty(),
        })
    }

    /// Whether `frame` has the size and pixel format this scaler was made for.
    fn fits(&self, frame: &frame::Video) -> bool {
        let input = self.scaler.input();
        (input.format, input.width, input.height) == (frame.format(), frame.width(), frame.height())
    }

    /// Converts `frame` and copies the rows out by stride.
    fn run(&mut self, frame: &frame::Video) -> Result<RgbImage, MediaError> {
        self.scaler
            .run(frame, &mut self.rgb)
            .map_err(|_| unsupported(frame.format()))?;
        let (width, height) = (frame.width(), frame.height());
        let row_len = width as usize * 3;
        let mut pixels = Vec::with_capacity(row_len * height as usize);
        for row in self
            .rgb
            .data(0)
            .chunks(self.rgb.stride(0).max(1))
            .take(height as usize)
        {
            // A short row leaves `pixels` short, which `from_raw` rejects below.
            pixels.extend_from_slice(row.get(..row_len).unwrap_or_default());
        }
        RgbImage::from_raw(width, height, pixels).ok_or_else(|| MediaError::Undecodable {
            reason: "the converted frame has the wrong size".into(),
        })
    }
}

/// The error for a pixel format swscale cannot turn into RGB.
fn unsupported(format: Pixel) -> MediaError {
    MediaError::Undecodable {
        reason: format!("cannot convert {format:?} frames to rgb").to_lowercase(),
    }
}

/// A rational as f64, `None` when unset (0/0, 0/1) or nonsensical.
fn rational(value: Rational) -> Option<f64> {
    (value.numerator() > 0 && value.denominator() > 0).then(|| f64::from(value))
}

mod seek;
pub use seek::{frame_of, SeekIndex, Seeked};

#[cfg(test)]
mod tests;
