//! Face PNGs: the aligned crop as an RGB PNG carrying its [`FaceMeta`] as JSON in a
//! compressed iTXt chunk (keyword `doppel.face`, placed before the image data so readers can
//! stop early). Training and curation read only these files.

use std::path::Path;

use image::RgbImage;

use super::meta::{FaceMeta, FACE_SCHEMA, FACE_VERSION};

/// The iTXt keyword of the metadata chunk.
pub const KEYWORD: &str = "doppel.face";

#[derive(Debug, thiserror::Error)]
pub enum FacePngError {
    #[error("cannot read or write the face file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a readable PNG: {0}")]
    Decode(#[from] png::DecodingError),
    #[error("could not encode the face PNG: {0}")]
    Encode(#[from] png::EncodingError),
    #[error("the PNG has no Doppel face metadata (no `doppel.face` iTXt chunk): is it a face extracted by Doppel?")]
    NoMetadata,
    #[error("the face metadata is not valid: {0}")]
    BadMetadata(#[from] serde_json::Error),
    #[error("the face metadata has schema `{0}`, not `doppel.face`")]
    WrongSchema(String),
    #[error("the face file was written by a newer Doppel (schema version {0}, this one reads up to {FACE_VERSION}): update Doppel")]
    TooNew(u32),
    #[error("the face image is {found}, expected 8-bit RGB or RGBA")]
    PixelFormat { found: String },
    #[error("{0}")]
    Limit(#[from] crate::image_io::ImageIoError),
}

/// The PNG bytes of `crop` with `meta` embedded.
pub fn encode_face_png(crop: &RgbImage, meta: &FaceMeta) -> Result<Vec<u8>, FacePngError> {
    let mut bytes = Vec::with_capacity(crop.as_raw().len() / 2);
    let mut encoder = png::Encoder::new(&mut bytes, crop.width(), crop.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    let mut chunk = png::text_metadata::ITXtChunk::new(KEYWORD, serde_json::to_string(meta)?);
    chunk.compress_text()?;
    writer.write_text_chunk(&chunk)?;
    writer.write_image_data(crop.as_raw())?;
    writer.finish()?;
    Ok(bytes)
}

/// Writes a face PNG atomically (a crash never leaves half a face file).
pub fn write_face_png(path: &Path, crop: &RgbImage, meta: &FaceMeta) -> Result<(), FacePngError> {
    doppel_fsio::replace_atomic(path, &encode_face_png(crop, meta)?)?;
    Ok(())
}

/// The metadata of a face PNG, without decoding its pixels.
pub fn read_face_meta(path: &Path) -> Result<FaceMeta, FacePngError> {
    let reader = crate::image_io::png_decoder(std::io::BufReader::new(std::fs::File::open(path)?)).read_info()?;
    meta_of(reader.info())
}

/// The crop and metadata of a face PNG.
pub fn read_face_png(path: &Path) -> Result<(RgbImage, FaceMeta), FacePngError> {
    let mut reader = crate::image_io::png_decoder(std::io::BufReader::new(std::fs::File::open(path)?)).read_info()?;
    crate::image_io::check_png(reader.info(), &path.display().to_string())?;
    let meta = meta_of(reader.info())?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or(FacePngError::PixelFormat { found: "too large".into() })?];
    let frame = reader.next_frame(&mut buf)?;
    buf.truncate(frame.buffer_size());
    let (w, h) = (frame.width, frame.height);
    let rgb = match (frame.color_type, frame.bit_depth) {
        (png::ColorType::Rgb, png::BitDepth::Eight) => buf,
        (png::ColorType::Rgba, png::BitDepth::Eight) => buf.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
        (c, d) => return Err(FacePngError::PixelFormat { found: format!("{c:?} at {d:?}") }),
    };
    let image = RgbImage::from_raw(w, h, rgb).ok_or(FacePngError::PixelFormat { found: "a short image".into() })?;
    Ok((image, meta))
}

fn meta_of(info: &png::Info<'_>) -> Result<FaceMeta, FacePngError> {
    let chunk = info.utf8_text.iter().find(|c| c.keyword == KEYWORD).ok_or(FacePngError::NoMetadata)?;
    let text = chunk.get_text()?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let schema = value.get("schema").and_then(|s| s.as_str()).unwrap_or_default();
    if schema != FACE_SCHEMA {
        return Err(FacePngError::WrongSchema(schema.into()));
    }
    let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version > u64::from(FACE_VERSION) {
        return Err(FacePngError::TooNew(u32::try_from(version).unwrap_or(u32::MAX)));
    }
    // Version 1 is the first; older versions, when there are any, are migrated here.
    Ok(serde_json::from_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faces::meta::tests::sample_entry;
    use crate::faces::meta::{ExtractorSettings, FrameRef, SourceRef};

    fn sample_meta() -> FaceMeta {
        FaceMeta::new(
            SourceRef { file: "talk.mp4".into(), sha256: "ab".repeat(32), width: 512, height: 512 },
            FrameRef { index: 42, time: 1.4 },
            sample_entry(1),
            ExtractorSettings {
                software: "doppel 0.1.0".into(),
                detector: "ssd_mobilenetv1".into(),
                aligner: "face_landmark_68".into(),
                recognition: "face_recognition".into(),
                min_confidence: 0.5,
                min_size: 0,
                re_feed: 1,
                every_n: 1,
            },
        )
    }

    fn scratch() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("doppel-facepng-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_face_png_carries_its_metadata_and_pixels() {
        let dir = scratch();
        let crop = RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8 * 8, y as u8 * 8, 77]));
        let meta = sample_meta();
        let path = dir.join("f.png");
        write_face_png(&path, &crop, &meta).unwrap();
        assert_eq!(read_face_meta(&path).unwrap(), meta);
        let (back, meta2) = read_face_png(&path).unwrap();
        assert_eq!((back, meta2), (crop.clone(), meta));
        // Any PNG reader sees a normal image.
        assert_eq!(image::open(&path).unwrap().to_rgb8(), crop);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn foreign_and_future_files_are_refused_with_a_reason() {
        let dir = scratch();
        let plain = dir.join("plain.png");
        RgbImage::new(4, 4).save(&plain).unwrap();
        assert!(matches!(read_face_meta(&plain), Err(FacePngError::NoMetadata)));
        let not_png = dir.join("x.png");
        std::fs::write(&not_png, b"hello").unwrap();
        assert!(matches!(read_face_meta(&not_png), Err(FacePngError::Decode(_))));
        let mut future = sample_meta();
        future.version = 99;
        let path = dir.join("future.png");
        write_face_png(&path, &RgbImage::new(4, 4), &future).unwrap();
        let err = read_face_meta(&path).unwrap_err();
        assert!(err.to_string().contains("newer Doppel"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
