use super::*;
use crate::media::testdata::{image as shared_image, TempFile};

/// A complete, valid 1-bit grey PNG of `width` x `height` black pixels: a few kilobytes on
/// disk, `width * height` bytes once decoded to 8-bit grey.
pub(crate) fn zeros_png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().unwrap();
    let stride = width.div_ceil(8) as usize;
    writer.write_image_data(&vec![0; stride * height as usize]).unwrap();
    writer.finish().unwrap();
    bytes
}

#[test]
fn a_16k_square_png_is_refused_from_its_header() {
    let bytes = zeros_png(16384, 16384);
    assert!(bytes.len() < 100_000, "a small file: {} bytes", bytes.len());
    let file = TempFile::with_bytes("huge.png", &bytes);
    let err = decode_file(&file.0).unwrap_err();
    assert!(matches!(err, ImageIoError::TooLarge { width: 16384, height: 16384, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("huge.png") && msg.contains("16384x16384") && msg.contains("33.2 megapixels"), "{msg}");
    assert_eq!(declared_size(&file.0), Some((16384, 16384)), "the header alone tells the size");
}

#[test]
fn a_bomb_in_memory_is_refused_and_named() {
    // 49 megapixels from 6 kB: within 16384 a side, over the 33.2 megapixels.
    let bytes = zeros_png(7000, 7000);
    let err = decode_bytes(&bytes, Some(ImageFormat::Png), "the painted mask").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("the painted mask: the picture is 7000x7000 pixels (49.0 megapixels)"), "{msg}");
    // A side over 16384 is refused even on a thin strip.
    let strip = zeros_png(20000, 8);
    assert!(matches!(decode_bytes(&strip, None, "strip").unwrap_err(), ImageIoError::TooLarge { width: 20000, .. }));
}

#[test]
fn the_face_png_reader_is_bounded_too() {
    let bytes = zeros_png(16384, 16384);
    let reader = png_decoder(Cursor::new(bytes)).read_info().unwrap();
    let err = check_png(reader.info(), "face.png").unwrap_err();
    assert!(err.to_string().starts_with("face.png: the picture is 16384x16384"), "{err}");
}

#[test]
fn ordinary_pictures_decode_as_before() {
    for name in ["obama-1080p.jpg", "32bit.png", "dogs.jpg"] {
        let path = shared_image(name);
        let ours = decode_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ours, image::open(&path).unwrap(), "{name}");
    }
    // Within limits exactly: 8K.
    let bytes = zeros_png(7680, 4320);
    assert_eq!(decode_bytes(&bytes, None, "8k").unwrap().width(), 7680);
    // Not a picture: a clear error naming it, no panic.
    let err = decode_bytes(b"#EXTM3U\n", None, "notes.txt").unwrap_err();
    assert!(err.to_string().starts_with("notes.txt: not a readable image"), "{err}");
}
