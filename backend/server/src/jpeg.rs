//! Thumbnails on disk: small JPEGs that can always be made again from their source (so they
//! are replaced atomically, without a backup).

use std::path::Path;

/// Quality of every thumbnail.
const QUALITY: u8 = 85;

/// Encodes `image` as a JPEG and replaces `path` with it atomically.
pub fn save_thumbnail(path: &Path, image: &image::RgbImage) -> Result<(), String> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, QUALITY)
        .encode_image(image)
        .map_err(|e| format!("could not encode the thumbnail: {e}"))?;
    doppel_store::replace_atomic(path, &bytes).map_err(|e| format!("could not save the thumbnail {}: {e}", path.display()))
}
