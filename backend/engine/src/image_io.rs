//! Decoding still images within bounds: every picture the engine or the server reads with the
//! `image` or `png` crates (uploads, face PNGs, painted masks, reference photos, `doppel
//! detect` inputs) goes through here, so a small hostile file (a PNG that declares 16384 x
//! 16384 pixels over a few kilobytes of zeros) is refused from its header, before its pixels
//! cost memory.
//!
//! The limits are the media limits of uploads: at most [`MAX_SIDE`] pixels a side and
//! [`MAX_PIXELS`] pixels in all (8K UHD, 7680 x 4320), and at most [`MAX_ALLOC`] bytes for
//! one decoder's buffers.

use std::io::{BufRead, BufReader, Cursor, Seek};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

/// Longest side of a picture or video frame, in pixels.
pub const MAX_SIDE: u32 = 16384;
/// Most pixels in one picture or video frame: 8K UHD (7680 x 4320, 33.2 megapixels).
pub const MAX_PIXELS: u64 = 7680 * 4320;
/// Most bytes one decoder may allocate: [`MAX_PIXELS`] at 4 channels of 16 bits.
pub const MAX_ALLOC: u64 = MAX_PIXELS * 8;

/// Why a picture was not decoded.
#[derive(Debug, thiserror::Error)]
pub enum ImageIoError {
    /// The file cannot be read at all.
    #[error("{file}: cannot read the file: {source}")]
    Io { file: String, source: std::io::Error },
    /// The header declares a picture over the limits.
    #[error("{file}: {}", size_message(*width, *height))]
    TooLarge { file: String, width: u32, height: u32 },
    /// A decoder would need more memory than [`MAX_ALLOC`].
    #[error("{file}: the image needs more than {} MiB to decode ({detail})", MAX_ALLOC >> 20)]
    TooMuchMemory { file: String, detail: String },
    /// Not a picture, or a damaged one.
    #[error("{file}: not a readable image: {source}")]
    Decode { file: String, source: image::ImageError },
}

/// "the picture is W x H pixels (N megapixels); Doppel takes at most ..." for a refused size.
pub fn size_message(width: u32, height: u32) -> String {
    let mp = |n: u64| n as f64 / 1e6;
    format!(
        "the picture is {width}x{height} pixels ({:.1} megapixels); Doppel takes at most {:.1} megapixels (8K, 7680x4320) and {MAX_SIDE} pixels a side",
        mp(u64::from(width) * u64::from(height)),
        mp(MAX_PIXELS)
    )
}

/// Whether a picture of `width` x `height` is within [`MAX_SIDE`] and [`MAX_PIXELS`].
pub fn size_ok(width: u32, height: u32) -> bool {
    width <= MAX_SIDE && height <= MAX_SIDE && u64::from(width) * u64::from(height) <= MAX_PIXELS
}

/// The `image` crate's limits for one decode.
fn limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

/// Decodes the picture at `path`, its format recognised by content (stored uploads have no
/// extension), else by extension.
pub fn decode_file(path: &Path) -> Result<DynamicImage, ImageIoError> {
    let file = path.display().to_string();
    let io = |source| ImageIoError::Io { file: file.clone(), source };
    let reader = ImageReader::new(BufReader::new(std::fs::File::open(path).map_err(io)?));
    let mut reader = reader.with_guessed_format().map_err(io)?;
    if reader.format().is_none() {
        if let Some(format) = ImageFormat::from_path(path).ok() {
            reader.set_format(format);
        }
    }
    decode(reader, &file)
}

/// Decodes a picture held in memory; `format` when known, else recognised by content.
/// `what` names it in errors (e.g. "the painted mask").
pub fn decode_bytes(bytes: &[u8], format: Option<ImageFormat>, what: &str) -> Result<DynamicImage, ImageIoError> {
    let mut reader = ImageReader::new(Cursor::new(bytes));
    match format {
        Some(format) => reader.set_format(format),
        None => reader = reader.with_guessed_format().map_err(|source| ImageIoError::Io { file: what.into(), source })?,
    }
    decode(reader, what)
}

/// The width and height the picture at `path` declares, read from its header only; `None`
/// when the `image` crate does not recognise it (a video, a damaged header).
pub fn declared_size(path: &Path) -> Option<(u32, u32)> {
    let reader = ImageReader::new(BufReader::new(std::fs::File::open(path).ok()?)).with_guessed_format().ok()?;
    reader.format()?;
    // No limits here: only the header is read, and a too-large size is what is asked for.
    let mut reader = reader;
    reader.no_limits();
    reader.into_dimensions().ok()
}

fn decode<R: BufRead + Seek>(mut reader: ImageReader<R>, file: &str) -> Result<DynamicImage, ImageIoError> {
    // The size is checked from the header first, with no limits, so the error names it.
    reader.no_limits();
    let decoder = reader.into_decoder().map_err(|e| error(file, e))?;
    let (width, height) = decoder.dimensions();
    if !size_ok(width, height) {
        return Err(ImageIoError::TooLarge { file: file.into(), width, height });
    }
    let mut decoder = decoder;
    let total = decoder.total_bytes();
    if total > MAX_ALLOC {
        return Err(ImageIoError::TooMuchMemory { file: file.into(), detail: format!("{total} bytes of pixels") });
    }
    decoder.set_limits(limits()).map_err(|e| error(file, e))?;
    DynamicImage::from_decoder(decoder).map_err(|e| error(file, e))
}

fn error(file: &str, err: image::ImageError) -> ImageIoError {
    match err {
        image::ImageError::Limits(limit) => ImageIoError::TooMuchMemory { file: file.into(), detail: limit.to_string() },
        image::ImageError::IoError(source) => ImageIoError::Io { file: file.into(), source },
        source => ImageIoError::Decode { file: file.into(), source },
    }
}

/// A `png` crate decoder over `reader` that allocates at most [`MAX_ALLOC`] bytes, for the
/// readers that need the PNG's own chunks (face PNGs and their metadata).
pub fn png_decoder<R: BufRead + Seek>(reader: R) -> png::Decoder<R> {
    png::Decoder::new_with_limits(reader, png::Limits { bytes: MAX_ALLOC as usize })
}

/// Refuses a PNG whose header declares a size over the limits (call after `read_info`).
pub fn check_png(info: &png::Info<'_>, file: &str) -> Result<(), ImageIoError> {
    if size_ok(info.width, info.height) {
        Ok(())
    } else {
        Err(ImageIoError::TooLarge { file: file.into(), width: info.width, height: info.height })
    }
}

#[cfg(test)]
pub(crate) mod tests;
