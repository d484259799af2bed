//! The media tools of `doppel media` (what faceswap's effmpeg offers): frames out of a video,
//! frames into a video, audio from another file, rotation, and cutting a time range without
//! re-encoding. Every output is written under a temporary name and renamed when complete.

use std::path::{Path, PathBuf};

use ffmpeg_next::format::context::{Input, Output};
use ffmpeg_next::{codec, encoder, format, media, Rational};
use image::RgbImage;

use super::error::{ffmpeg_reason, MediaError};
use super::writer::{EncodeSettings, Provenance, VideoWriter, WriteError};
use super::FrameReader;

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    Media(#[from] MediaError),
    #[error("{0}")]
    Write(#[from] WriteError),
    #[error("cannot write {path}: {reason}")]
    Output { path: PathBuf, reason: String },
    #[error("{0}")]
    Input(String),
}

fn out_err(path: &Path) -> impl Fn(ffmpeg_next::Error) -> ToolError + '_ {
    move |e| ToolError::Output { path: path.into(), reason: ffmpeg_reason(&e) }
}

/// Writes every frame of `video` as `frame_000000.png`.. into `dir`; returns how many.
pub fn frames_to_pngs(video: &Path, dir: &Path) -> Result<u64, ToolError> {
    std::fs::create_dir_all(dir).map_err(|e| ToolError::Output { path: dir.into(), reason: e.to_string() })?;
    let mut n = 0;
    for frame in FrameReader::open(video)? {
        let frame = frame?;
        let path = dir.join(format!("frame_{:06}.png", frame.index));
        frame.image.save(&path).map_err(|e| ToolError::Output { path: path.clone(), reason: e.to_string() })?;
        n += 1;
    }
    Ok(n)
}

/// The images of `dir` (sorted by name) as a video at `fps`; all must have the first one's
/// size. Returns the frame count.
pub fn pngs_to_video(dir: &Path, output: &Path, fps: f64, settings: &EncodeSettings) -> Result<u64, ToolError> {
    if !(fps.is_finite() && fps > 0.0) {
        return Err(ToolError::Input(format!("the frame rate must be a positive number, not {fps}")));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).map_err(|e| ToolError::Input(format!("cannot read {}: {e}", dir.display())))?.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    let load = |p: &Path| crate::image_io::decode_file(p).map(|i| i.to_rgb8()).map_err(|e| ToolError::Input(e.to_string()));
    let first = files.first().ok_or_else(|| ToolError::Input(format!("{} has no images", dir.display())))?;
    let size = load(first)?.dimensions();
    let mut writer = VideoWriter::create(output, size, fps, settings, None, None)?;
    for (i, file) in files.iter().enumerate() {
        let img = load(file)?;
        if img.dimensions() != size {
            return Err(ToolError::Input(format!("{} is {:?}, the first image is {size:?}", file.display(), img.dimensions())));
        }
        writer.write(&img, i as f64 / fps)?;
    }
    writer.finish()?;
    Ok(files.len() as u64)
}

/// `input` turned clockwise by `degrees` (90, 180 or 270), re-encoded, audio kept.
pub fn rotate(input: &Path, output: &Path, degrees: u32, settings: &EncodeSettings) -> Result<u64, ToolError> {
    let turn = |img: &RgbImage| -> RgbImage {
        match degrees {
            90 => image::imageops::rotate90(img),
            180 => image::imageops::rotate180(img),
            _ => image::imageops::rotate270(img),
        }
    };
    if ![90, 180, 270].contains(&degrees) {
        return Err(ToolError::Input(format!("rotate by 90, 180 or 270 degrees, not {degrees}")));
    }
    let mut reader = FrameReader::open(input)?;
    let (w, h) = reader.displayed_size();
    let size = if degrees == 180 { (w, h) } else { (h, w) };
    let provenance = source_provenance(input);
    let mut writer = VideoWriter::create(output, size, reader.frame_rate().unwrap_or(25.0), settings, Some(input), provenance.as_ref())?;
    for frame in reader.by_ref() {
        let frame = frame?;
        writer.write(&turn(&frame.image), frame.time)?;
    }
    let n = writer.frames();
    writer.finish()?;
    Ok(n)
}

/// A Doppel output stays marked as synthetic through the tools.
fn source_provenance(input: &Path) -> Option<Provenance> {
    let ctx = super::source::open(input).ok()?;
    let marked = ctx.metadata().get("digital_source_type").is_some_and(|v| v == Provenance::DIGITAL_SOURCE_TYPE);
    marked.then(Provenance::doppel)
}

/// Copies `start..end` seconds of `input` (video and audio, no re-encoding) into `output`.
/// The cut starts at the last key frame at or before `start`, so the video decodes.
pub fn slice(input: &Path, output: &Path, start: f64, end: f64) -> Result<(), ToolError> {
    if !(start >= 0.0 && end > start) {
        return Err(ToolError::Input(format!("the range {start}..{end} s is empty")));
    }
    let mut ictx = super::source::open(input)?;
    let (temp, mut octx, map) = copy_streams(&ictx, output, |_| true)?;
    let video = ictx.streams().best(media::Type::Video).map(|s| s.index());
    // Seek to the key frame before `start` (AV_TIME_BASE microseconds).
    let target = (start * 1e6) as i64;
    let _ = ictx.seek(target, ..target);
    octx.write_header().map_err(out_err(output))?;
    let bases: Vec<Rational> = ictx.streams().map(|s| s.time_base()).collect();
    let mut offset: Option<f64> = None;
    let mut packets = Vec::new();
    for (stream, packet) in ictx.packets() {
        let i = stream.index();
        let Some(&Some(o)) = map.get(i) else { continue };
        let t = packet.pts().or(packet.dts()).map(|p| p as f64 * f64::from(bases[i])).unwrap_or(0.0);
        if offset.is_none() {
            if Some(i) != video || !packet.is_key() {
                continue;
            }
            offset = Some(t);
        }
        if t >= end {
            if Some(i) == video {
                break;
            }
            continue;
        }
        packets.push((i, o, packet));
    }
    let offset = offset.ok_or_else(|| ToolError::Input(format!("{} has no video key frame in that range", input.display())))?;
    for (i, o, mut packet) in packets {
        let shift = (offset / f64::from(bases[i])).round() as i64;
        packet.set_pts(packet.pts().map(|p| p - shift));
        packet.set_dts(packet.dts().map(|d| d - shift));
        let out_base = octx.stream(o).map(|s| s.time_base()).unwrap_or(bases[i]);
        packet.rescale_ts(bases[i], out_base);
        packet.set_position(-1);
        packet.set_stream(o);
        packet.write_interleaved(&mut octx).map_err(out_err(output))?;
    }
    finish(octx, &temp, output)
}

/// The video (and everything but audio) of `video` with the audio of `audio`, no re-encoding;
/// the audio is cut at the video's end.
pub fn mux_audio(video: &Path, audio: &Path, output: &Path) -> Result<(), ToolError> {
    let vctx = super::source::open(video)?;
    let mut actx = super::source::open(audio)?;
    let astream = actx.streams().best(media::Type::Audio).ok_or_else(|| ToolError::Input(format!("{} has no audio", audio.display())))?;
    let (a_index, a_base, a_params) = (astream.index(), astream.time_base(), astream.parameters());
    let (temp, mut octx, map) = copy_streams(&vctx, output, |s| s.parameters().medium() != media::Type::Audio)?;
    let a_out = {
        let mut s = octx.add_stream(encoder::find(codec::Id::None)).map_err(out_err(output))?;
        s.set_parameters(a_params);
        // SAFETY: the parameters were just set; a zero tag lets the muxer choose its own.
        unsafe { (*s.parameters().as_mut_ptr()).codec_tag = 0 };
        s.index()
    };
    octx.write_header().map_err(out_err(output))?;
    let mut vctx = vctx;
    let bases: Vec<Rational> = vctx.streams().map(|s| s.time_base()).collect();
    let mut video_end = 0.0f64;
    for (stream, mut packet) in vctx.packets() {
        let i = stream.index();
        let Some(&Some(o)) = map.get(i) else { continue };
        let t = packet.pts().map(|p| (p + packet.duration()) as f64 * f64::from(bases[i])).unwrap_or(0.0);
        video_end = video_end.max(t);
        let out_base = octx.stream(o).map(|s| s.time_base()).unwrap_or(bases[i]);
        packet.rescale_ts(bases[i], out_base);
        packet.set_position(-1);
        packet.set_stream(o);
        packet.write_interleaved(&mut octx).map_err(out_err(output))?;
    }
    let out_base = octx.stream(a_out).map(|s| s.time_base()).unwrap_or(a_base);
    for (stream, mut packet) in actx.packets() {
        if stream.index() != a_index {
            continue;
        }
        if packet.pts().is_some_and(|p| p as f64 * f64::from(a_base) >= video_end) {
            break;
        }
        packet.rescale_ts(a_base, out_base);
        packet.set_position(-1);
        packet.set_stream(a_out);
        packet.write_interleaved(&mut octx).map_err(out_err(output))?;
    }
    finish(octx, &temp, output)
}

/// An output beside `output` (temporary name) with a copy of each stream of `ictx` that
/// `keep` accepts; the map from input stream index to output stream index.
fn copy_streams(ictx: &Input, output: &Path, keep: impl Fn(&format::stream::Stream) -> bool) -> Result<(Temp, Output, Vec<Option<usize>>), ToolError> {
    let mux = super::writer::muxer(output)?;
    let temp = Temp(doppel_fsio::temp_path(output));
    let mut octx = format::output_as(&temp.0, mux).map_err(out_err(output))?;
    let mut map = Vec::new();
    for stream in ictx.streams() {
        let medium = stream.parameters().medium();
        if !matches!(medium, media::Type::Video | media::Type::Audio) || !keep(&stream) {
            map.push(None);
            continue;
        }
        let mut s = octx.add_stream(encoder::find(codec::Id::None)).map_err(out_err(output))?;
        s.set_parameters(stream.parameters());
        // SAFETY: the parameters were just set; a zero tag lets the muxer choose its own.
        unsafe { (*s.parameters().as_mut_ptr()).codec_tag = 0 };
        map.push(Some(s.index()));
    }
    octx.set_metadata(ictx.metadata().to_owned());
    Ok((temp, octx, map))
}

/// A temporary output file, removed unless it was renamed into place.
struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn finish(mut octx: Output, temp: &Temp, output: &Path) -> Result<(), ToolError> {
    octx.write_trailer().map_err(out_err(output))?;
    drop(octx);
    std::fs::rename(&temp.0, output).map_err(|e| ToolError::Output { path: output.into(), reason: e.to_string() })
}

#[cfg(test)]
mod tests;
