//! [`VideoWriter`]: frames to an H.264 or H.265 video with the source's audio, marked as
//! synthetic, written under a temporary name and renamed into place only when complete.
//!
//! Timestamps are the source frames' own (a 1/90000 s time base), so variable frame rates and
//! the duration survive. The source's main audio stream is copied packet by packet when the
//! output container accepts its codec; otherwise the writer says so in its report. Frames
//! come in upright (as [`super::FrameReader`] gives them), so the output needs no rotation
//! tag and plays upright everywhere.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ffmpeg_next::format::context::Output;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{codec, encoder, format, frame, Dictionary, Packet, Rational};
use image::RgbImage;

pub use super::audio::AudioOutcome;
use super::audio::AudioTrack;
use super::error::ffmpeg_reason;

/// Time base of the written video: 90 kHz, the MPEG clock.
const TIME_BASE: Rational = Rational(1, 90_000);

/// The video codecs Doppel writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    fn encoder_name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "libx264",
            VideoCodec::H265 => "libx265",
        }
    }
}

/// How the video is encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeSettings {
    pub codec: VideoCodec,
    /// Constant rate factor: lower is better and bigger (18 looks lossless to most eyes).
    pub crf: u8,
    /// x264/x265 preset: ultrafast .. veryslow.
    pub preset: String,
}

impl Default for EncodeSettings {
    fn default() -> Self {
        EncodeSettings { codec: VideoCodec::H264, crf: 18, preset: "medium".into() }
    }
}

/// The x264/x265 presets.
pub const PRESETS: [&str; 9] = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"];

/// What marks a Doppel output as synthetic: always written, never optional.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// `Doppel <version>`.
    pub software: String,
}

impl Provenance {
    pub fn doppel() -> Provenance {
        Provenance { software: format!("Doppel {}", env!("CARGO_PKG_VERSION")) }
    }

    /// IPTC's digital source type for media made by a trained model.
    pub const DIGITAL_SOURCE_TYPE: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";

    /// The human-readable note.
    pub fn comment(&self) -> String {
        format!("Synthetic media: faces replaced by a trained model with {} (digital source type: trainedAlgorithmicMedia)", self.software)
    }

    /// An XMP packet with the digital source type and the creator tool.
    pub fn xmp(&self) -> String {
        format!(
            concat!(
                "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>",
                "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">",
                "<rdf:Description rdf:about=\"\" xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">",
                "<Iptc4xmpExt:DigitalSourceType>{}</Iptc4xmpExt:DigitalSourceType>",
                "<xmp:CreatorTool>{}</xmp:CreatorTool>",
                "<dc:description><rdf:Alt><rdf:li xml:lang=\"x-default\">{}</rdf:li></rdf:Alt></dc:description>",
                "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
            ),
            Self::DIGITAL_SOURCE_TYPE,
            self.software,
            self.comment()
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}: Doppel writes videos as .mp4, .mov or .mkv")]
    UnsupportedContainer(PathBuf),
    #[error("this FFmpeg has no {0} encoder; pick another codec (h264 or h265)")]
    NoEncoder(&'static str),
    #[error("unknown preset '{0}': use one of ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow")]
    BadPreset(String),
    #[error("cannot write {path}: {reason}")]
    Output { path: PathBuf, reason: String },
    #[error("frame {index} is {got:?}, the video is {expected:?}")]
    FrameSize { index: u64, got: (u32, u32), expected: (u32, u32) },
}

/// The RGB -> YUV converter.
struct Scaler(scaling::Context);

// SAFETY: the scaler is owned by one writer alone and only used through `&mut self`; swscale
// contexts are not tied to the thread that made them. This lets a writer move to a worker.
unsafe impl Send for Scaler {}

pub struct VideoWriter {
    output: Option<Output>,
    encoder: encoder::Video,
    video_index: usize,
    out_base: Rational,
    scaler: Scaler,
    size: (u32, u32),
    audio: Option<AudioTrack>,
    pub audio_outcome: AudioOutcome,
    temp: PathBuf,
    path: PathBuf,
    xmp: Option<String>,
    frames: u64,
    last_pts: Option<i64>,
    /// One frame's duration in [`TIME_BASE`] ticks.
    frame_ticks: i64,
}

/// The FFmpeg muxer for `path`'s extension.
pub(crate) fn muxer(path: &Path) -> Result<&'static str, WriteError> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("mp4" | "m4v") => Ok("mp4"),
        Some("mov") => Ok("mov"),
        Some("mkv") => Ok("matroska"),
        _ => Err(WriteError::UnsupportedContainer(path.into())),
    }
}

impl VideoWriter {
    /// Starts a video of `size` at `frame_rate` (frames per second, for the encoder's rate
    /// control) at `path`, with the audio of `audio_from` when it has any.
    /// With a `provenance`, the video is marked as synthetic (conversion always passes one).
    pub fn create(path: &Path, size: (u32, u32), frame_rate: f64, settings: &EncodeSettings, audio_from: Option<&Path>, provenance: Option<&Provenance>) -> Result<VideoWriter, WriteError> {
        super::init();
        let mux = muxer(path)?;
        if !PRESETS.contains(&settings.preset.as_str()) {
            return Err(WriteError::BadPreset(settings.preset.clone()));
        }
        let fail = |reason: String| WriteError::Output { path: path.into(), reason };
        let ff = |e: ffmpeg_next::Error| fail(ffmpeg_reason(&e));
        let temp = doppel_fsio::temp_path(path);
        let mut output = format::output_as(&temp, mux).map_err(|e| fail(format!("{} (is the folder there and writable?)", ffmpeg_reason(&e))))?;
        let global_header = output.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let codec = encoder::find_by_name(settings.codec.encoder_name()).ok_or(WriteError::NoEncoder(settings.codec.encoder_name()))?;
        // 4:2:0 needs even sides: an odd last row or column is left out.
        let (w, h) = (size.0 & !1, size.1 & !1);
        let mut video = codec::context::Context::new_with_codec(codec).encoder().video().map_err(ff)?;
        video.set_width(w);
        video.set_height(h);
        video.set_format(Pixel::YUV420P);
        video.set_time_base(TIME_BASE);
        let rate = if frame_rate.is_finite() && frame_rate > 0.0 { Rational::from(frame_rate) } else { Rational(25, 1) };
        video.set_frame_rate(Some(rate));
        if global_header {
            video.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut options = Dictionary::new();
        options.set("crf", &settings.crf.to_string());
        options.set("preset", &settings.preset);
        if settings.codec == VideoCodec::H265 {
            options.set("x265-params", "log-level=error");
        }
        let encoder = video.open_with(options).map_err(ff)?;
        let video_index = {
            let mut stream = output.add_stream(codec).map_err(ff)?;
            stream.set_parameters(&encoder);
            stream.set_time_base(TIME_BASE);
            stream.index()
        };
        let (audio, audio_outcome) = match audio_from {
            Some(source) => AudioTrack::open(source, &mut output),
            None => (None, AudioOutcome::None),
        };
        if let Some(provenance) = provenance {
            let mut meta = Dictionary::new();
            meta.set("comment", &provenance.comment());
            meta.set("software", &provenance.software);
            meta.set("digital_source_type", Provenance::DIGITAL_SOURCE_TYPE);
            output.set_metadata(meta);
        }
        let mut header = Dictionary::new();
        if mux != "matroska" {
            header.set("movflags", "+faststart+use_metadata_tags");
        }
        output.write_header_with(header).map_err(ff)?;
        let out_base = output.stream(video_index).map(|s| s.time_base()).unwrap_or(TIME_BASE);
        let audio = audio.map(|mut a| {
            a.started(&output);
            a
        });
        let scaler = Scaler(scaling::Context::get(Pixel::RGB24, w, h, Pixel::YUV420P, w, h, scaling::Flags::BICUBIC).map_err(ff)?);
        let xmp = provenance.filter(|_| mux != "matroska").map(Provenance::xmp);
        Ok(VideoWriter { output: Some(output), encoder, video_index, out_base, scaler, size, audio, audio_outcome, temp, path: path.into(), xmp, frames: 0, last_pts: None, frame_ticks: (f64::from(TIME_BASE.1) / f64::from(rate)).round().max(1.0) as i64 })
    }

    /// Adds `image` shown at `time` seconds from the start.
    pub fn write(&mut self, image: &RgbImage, time: f64) -> Result<(), WriteError> {
        let got = image.dimensions();
        if got != self.size {
            return Err(WriteError::FrameSize { index: self.frames, got, expected: self.size });
        }
        let (w, h) = (self.size.0 & !1, self.size.1 & !1);
        let mut rgb = frame::Video::new(Pixel::RGB24, w, h);
        let stride = rgb.stride(0);
        let data = rgb.data_mut(0);
        for y in 0..h as usize {
            let row = &image.as_raw()[y * 3 * self.size.0 as usize..][..3 * w as usize];
            data[y * stride..y * stride + 3 * w as usize].copy_from_slice(row);
        }
        let mut yuv = frame::Video::empty();
        self.scaler.0.run(&rgb, &mut yuv).map_err(|e| self.fail(e))?;
        let mut pts = (time.max(0.0) * f64::from(TIME_BASE.1)).round() as i64;
        if let Some(last) = self.last_pts.filter(|&l| pts <= l) {
            pts = last + 1;
        }
        self.last_pts = Some(pts);
        yuv.set_pts(Some(pts));
        self.encoder.send_frame(&yuv).map_err(|e| self.fail(e))?;
        self.frames += 1;
        self.drain()?;
        self.copy_audio_until(time)
    }

    /// Where the video goes when finished.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Flushes the encoder, copies the rest of the audio, closes the file, adds the XMP packet
    /// and moves the video into place.
    pub fn finish(mut self) -> Result<PathBuf, WriteError> {
        self.encoder.send_eof().map_err(|e| self.fail(e))?;
        self.drain()?;
        self.copy_audio_until(f64::INFINITY)?;
        let mut output = self.output.take().expect("the output is open until finish");
        output.write_trailer().map_err(|e| self.fail(e))?;
        drop(output);
        let io = |e: std::io::Error| WriteError::Output { path: self.path.clone(), reason: e.to_string() };
        if let Some(xmp) = &self.xmp {
            append_xmp_box(&self.temp, xmp).map_err(io)?;
        }
        std::fs::File::open(&self.temp).and_then(|f| f.sync_all()).map_err(io)?;
        std::fs::rename(&self.temp, &self.path).map_err(io)?;
        Ok(self.path.clone())
    }

    fn fail(&self, e: ffmpeg_next::Error) -> WriteError {
        WriteError::Output { path: self.path.clone(), reason: ffmpeg_reason(&e) }
    }

    fn drain(&mut self) -> Result<(), WriteError> {
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.video_index);
            // The nominal frame duration, so the last frame lasts as long as the others.
            if packet.duration() <= 0 {
                packet.set_duration(self.frame_ticks);
            }
            packet.rescale_ts(TIME_BASE, self.out_base);
            let output = self.output.as_mut().expect("the output is open until finish");
            if let Err(e) = packet.write_interleaved(output) {
                return Err(self.fail(e));
            }
        }
        Ok(())
    }

    /// Writes the audio that starts before `time` seconds.
    fn copy_audio_until(&mut self, time: f64) -> Result<(), WriteError> {
        let Some(audio) = self.audio.as_mut() else { return Ok(()) };
        let output = self.output.as_mut().expect("the output is open until finish");
        audio.write_until(time, output).map_err(|e| WriteError::Output { path: self.path.clone(), reason: ffmpeg_reason(&e) })
    }
}

impl Drop for VideoWriter {
    /// A writer dropped before [`finish`](Self::finish) leaves nothing behind.
    fn drop(&mut self) {
        if self.output.take().is_some() || self.temp.exists() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// The XMP packet as a top-level `uuid` box (Adobe's XMP UUID) at the end of an MP4/MOV file,
/// where XMP readers look for it.
fn append_xmp_box(path: &Path, xmp: &str) -> std::io::Result<()> {
    const XMP_UUID: [u8; 16] = [0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC];
    let size = u32::try_from(8 + 16 + xmp.len()).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
    file.write_all(&size.to_be_bytes())?;
    file.write_all(b"uuid")?;
    file.write_all(&XMP_UUID)?;
    file.write_all(xmp.as_bytes())?;
    file.flush()
}

#[cfg(test)]
mod tests;
