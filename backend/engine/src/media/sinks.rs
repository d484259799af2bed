//! Where converted frames go: a video ([`super::VideoWriter`]), a PNG sequence or an animated
//! GIF. Each is complete or absent (a temporary name until `finish`), and each carries the
//! synthetic-media marks its format can hold.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use image::RgbImage;

use super::writer::{AudioOutcome, Provenance, VideoWriter, WriteError};

/// A destination for frames in order.
pub trait FrameSink: Send {
    /// Adds `image`, shown at `time` seconds.
    fn write(&mut self, image: &RgbImage, time: f64) -> Result<(), WriteError>;
    /// Completes the output and moves it into place.
    fn finish(self: Box<Self>) -> Result<PathBuf, WriteError>;
    /// What happened to the source's audio.
    fn audio(&self) -> AudioOutcome {
        AudioOutcome::Dropped("this output format has no audio".into())
    }
    /// Where the output goes.
    fn path(&self) -> &Path;
}

impl FrameSink for VideoWriter {
    fn write(&mut self, image: &RgbImage, time: f64) -> Result<(), WriteError> {
        VideoWriter::write(self, image, time)
    }
    fn finish(self: Box<Self>) -> Result<PathBuf, WriteError> {
        VideoWriter::finish(*self)
    }
    fn audio(&self) -> AudioOutcome {
        self.audio_outcome.clone()
    }
    fn path(&self) -> &Path {
        VideoWriter::path(self)
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> WriteError + '_ {
    move |e| WriteError::Output { path: path.into(), reason: e.to_string() }
}

/// A folder of `frame_000000.png`..., each with the synthetic-media marks in its text chunks.
pub struct PngSequence {
    dir: PathBuf,
    temp: PathBuf,
    provenance: Provenance,
    count: u64,
    done: bool,
}

impl PngSequence {
    /// Frames into the folder `dir` (which must not exist yet).
    pub fn create(dir: &Path, provenance: &Provenance) -> Result<PngSequence, WriteError> {
        if dir.exists() {
            return Err(WriteError::Output { path: dir.into(), reason: "it already exists; pick a new folder for the frames".into() });
        }
        let temp = doppel_fsio::temp_path(dir);
        std::fs::create_dir_all(&temp).map_err(io(dir))?;
        Ok(PngSequence { dir: dir.into(), temp, provenance: provenance.clone(), count: 0, done: false })
    }
}

impl FrameSink for PngSequence {
    fn write(&mut self, image: &RgbImage, _time: f64) -> Result<(), WriteError> {
        let path = self.temp.join(format!("frame_{:06}.png", self.count));
        let err = |e: png::EncodingError| WriteError::Output { path: path.clone(), reason: e.to_string() };
        let file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io(&path))?);
        let mut encoder = png::Encoder::new(file, image.width(), image.height());
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.add_text_chunk("Software".into(), self.provenance.software.clone()).map_err(err)?;
        encoder.add_text_chunk("Comment".into(), self.provenance.comment()).map_err(err)?;
        encoder.add_itxt_chunk("XML:com.adobe.xmp".into(), self.provenance.xmp()).map_err(err)?;
        let mut writer = encoder.write_header().map_err(err)?;
        writer.write_image_data(image.as_raw()).map_err(err)?;
        writer.finish().map_err(err)?;
        self.count += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<PathBuf, WriteError> {
        std::fs::rename(&self.temp, &self.dir).map_err(io(&self.dir))?;
        self.done = true;
        Ok(self.dir.clone())
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PngSequence {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.temp);
        }
    }
}

/// An animated GIF (256 colours per frame), with the synthetic-media note as a GIF comment.
pub struct GifWriter {
    path: PathBuf,
    temp: PathBuf,
    encoder: Option<gif::Encoder<std::io::BufWriter<std::fs::File>>>,
    size: (u16, u16),
    last: Option<(RgbImage, f64)>,
}

impl GifWriter {
    pub fn create(path: &Path, size: (u32, u32), provenance: &Provenance) -> Result<GifWriter, WriteError> {
        let (w, h) = (u16::try_from(size.0), u16::try_from(size.1));
        let (Ok(w), Ok(h)) = (w, h) else { return Err(WriteError::Output { path: path.into(), reason: "a GIF is at most 65535 pixels wide and high".into() }) };
        let temp = doppel_fsio::temp_path(path);
        let file = std::io::BufWriter::new(std::fs::File::create(&temp).map_err(io(path))?);
        let gif_err = |e: gif::EncodingError| WriteError::Output { path: path.into(), reason: e.to_string() };
        let mut encoder = gif::Encoder::new(file, w, h, &[]).map_err(gif_err)?;
        encoder.set_repeat(gif::Repeat::Infinite).map_err(gif_err)?;
        // A comment extension (0xFE) with the note, in sub-blocks of at most 255 bytes.
        let note = format!("{} {}", provenance.comment(), Provenance::DIGITAL_SOURCE_TYPE);
        let blocks: Vec<&[u8]> = note.as_bytes().chunks(255).collect();
        encoder.write_raw_extension(gif::AnyExtension(0xFE), &blocks).map_err(gif_err)?;
        Ok(GifWriter { path: path.into(), temp, encoder: Some(encoder), size: (w, h), last: None })
    }

    /// Writes the held frame, lasting until `until` seconds.
    fn flush(&mut self, until: Option<f64>) -> Result<(), WriteError> {
        let Some((image, time)) = self.last.take() else { return Ok(()) };
        // GIF delays are in hundredths of a second; the last frame lasts 0.1 s.
        let delay = until.map_or(10.0, |u| ((u - time) * 100.0).round()).clamp(2.0, 65535.0) as u16;
        let mut frame = gif::Frame::from_rgb_speed(self.size.0, self.size.1, image.as_raw(), 10);
        frame.delay = delay;
        let path = self.path.clone();
        let encoder = self.encoder.as_mut().expect("open until finish");
        encoder.write_frame(&frame).map_err(|e| WriteError::Output { path, reason: e.to_string() })
    }
}

impl FrameSink for GifWriter {
    fn write(&mut self, image: &RgbImage, time: f64) -> Result<(), WriteError> {
        if image.dimensions() != (u32::from(self.size.0), u32::from(self.size.1)) {
            return Err(WriteError::FrameSize { index: 0, got: image.dimensions(), expected: (u32::from(self.size.0), u32::from(self.size.1)) });
        }
        self.flush(Some(time))?;
        self.last = Some((image.clone(), time));
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<PathBuf, WriteError> {
        self.flush(None)?;
        let encoder = self.encoder.take().expect("open until finish");
        let mut file = encoder.into_inner().map_err(|e| WriteError::Output { path: self.path.clone(), reason: e.to_string() })?;
        file.flush().map_err(io(&self.path))?;
        drop(file);
        std::fs::rename(&self.temp, &self.path).map_err(io(&self.path))?;
        Ok(self.path.clone())
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for GifWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.temp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("doppel-sinks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn frames() -> Vec<RgbImage> {
        (0..3).map(|i| RgbImage::from_fn(32, 24, |x, y| image::Rgb([(x * 8) as u8, (y * 10) as u8, (i * 80) as u8]))).collect()
    }

    #[test]
    fn png_sequences_and_gifs_are_complete_and_marked() {
        let p = Provenance::doppel();
        let dir = scratch("frames");
        let mut pngs: Box<dyn FrameSink> = Box::new(PngSequence::create(&dir, &p).unwrap());
        for (i, f) in frames().iter().enumerate() {
            pngs.write(f, i as f64 / 10.0).unwrap();
        }
        assert!(!dir.exists(), "nothing shows before finish");
        assert_eq!(pngs.finish().unwrap(), dir);
        let first = dir.join("frame_000000.png");
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&first).unwrap())).read_info().unwrap();
        let info = decoder.info();
        assert!(info.uncompressed_latin1_text.iter().any(|t| t.keyword == "Comment" && t.text.contains("Synthetic media")));
        assert!(info.utf8_text.iter().any(|t| t.keyword == "XML:com.adobe.xmp" && t.get_text().unwrap().contains("trainedAlgorithmicMedia")));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
        assert!(PngSequence::create(&dir, &p).is_err(), "an existing folder is never written into");

        let gif_path = scratch("out.gif");
        let mut gif: Box<dyn FrameSink> = Box::new(GifWriter::create(&gif_path, (32, 24), &p).unwrap());
        for (i, f) in frames().iter().enumerate() {
            gif.write(f, i as f64 / 10.0).unwrap();
        }
        gif.finish().unwrap();
        let bytes = std::fs::read(&gif_path).unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains("trainedAlgorithmicMedia"));
        let decoded = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(image::AnimationDecoder::into_frames(decoded).count(), 3);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}
