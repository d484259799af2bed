//! What training looks like: a grid of fixed faces of each side, each next to its
//! reconstruction and its swap, written at every save (and as timelapse frames).
//!
//! Columns: A | A -> A | A -> B, then B | B -> B | B -> A; one row per face.

use std::path::Path;

use image::imageops::{overlay, resize, FilterType};
use image::{Rgb, RgbImage};

use super::augment::{augment, AugmentSettings};
use super::data::{load_face, DataError, FaceSet};
use super::step::{Batch, Identity, Trainer};
use crate::align::CropFrame;

/// Faces per side in a preview.
pub const PREVIEW_FACES: usize = 4;

/// Side of a tile in the grid: small models' faces are shown larger.
const MIN_TILE: u32 = 128;

/// Up to `count` faces spread evenly over `set`, unaugmented, as a batch for the model.
pub fn fixed_faces(set: &FaceSet, count: usize, frame: CropFrame, input: usize, output: usize) -> Result<Batch, DataError> {
    let n = set.faces.len();
    let count = count.min(n).max(1);
    let mut batch = Batch::empty(count, input, output);
    let mut rng = rand::rngs::mock::StepRng::new(0, 0);
    for k in 0..count {
        let (path, _) = &set.faces[k * n / count];
        let face = load_face(path, frame, input.max(output) as u32)?;
        batch.push(&augment(&face.to_source(), None, &AugmentSettings::NONE, input, output, &mut rng));
    }
    Ok(batch)
}

/// The preview grid of `a` and `b` (fixed faces of each side) through `trainer`'s model.
pub fn grid(trainer: &Trainer, a: &Batch, b: &Batch) -> RgbImage {
    let o = a.output_side;
    let tile = (o as u32).max(MIN_TILE);
    let gap = tile / 8;
    let rows = a.size.max(b.size) as u32;
    let mut out = RgbImage::from_pixel(6 * tile + gap, rows * tile, Rgb([24, 24, 24]));
    for (batch, own, other, x0) in [(a, Identity::A, Identity::B, 0), (b, Identity::B, Identity::A, 3 * tile + gap)] {
        let columns = [batch.target.clone(), trainer.predict(batch, own), trainer.predict(batch, other)];
        for (c, data) in columns.iter().enumerate() {
            for row in 0..batch.size {
                let face = to_image(&data[row * 3 * o * o..(row + 1) * 3 * o * o], o);
                let face = if tile == o as u32 { face } else { resize(&face, tile, tile, FilterType::CatmullRom) };
                overlay(&mut out, &face, i64::from(x0 + c as u32 * tile), i64::from(row as u32 * tile));
            }
        }
    }
    out
}

/// One face's CHW planes in `[0, 1]` as an image.
pub fn to_image(planes: &[f32], side: usize) -> RgbImage {
    let n = side * side;
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    RgbImage::from_fn(side as u32, side as u32, |x, y| {
        let i = y as usize * side + x as usize;
        Rgb([byte(planes[i]), byte(planes[n + i]), byte(planes[2 * n + i])])
    })
}

/// Writes `image` as a PNG at `path` atomically (no backup: a preview is remade every save).
pub fn write_png(image: &RgbImage, path: &Path) -> std::io::Result<()> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image.clone()).write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).map_err(std::io::Error::other)?;
    doppel_fsio::replace_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_become_an_image() {
        // Red, green and blue planes of a 2x2 image; values outside [0, 1] are clamped.
        let planes = [1.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.2, 2.0, 0.0, 0.0, -1.0];
        let img = to_image(&planes, 2);
        assert_eq!(img.get_pixel(0, 0), &Rgb([255, 128, 255]));
        assert_eq!(img.get_pixel(1, 0), &Rgb([0, 0, 0]));
        assert_eq!(img.get_pixel(1, 1), &Rgb([0, 51, 0]));
    }
}
