//! Sorting and grouping a face set, from what each face PNG carries (landmarks, box, identity
//! descriptor) and its pixels: the measures behind `doppel sort` and the gallery's sort menu.
//!
//! Every key gives each face one number ([`measure`]); sorting orders by it (the direction that
//! puts what people look for first, see [`SortKey::descending`]), grouping cuts the same numbers
//! into bins, or for `face` into identity clusters ([`cluster`]).

mod measures;

use std::path::{Path, PathBuf};

use crate::faces::{read_face_png, FacePngError};
use crate::nets::recognition::FaceDescriptor;
pub use measures::{blur, colourfulness, pose};

/// What faces are sorted or grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    /// Identity: distance to the set's main person (its mean descriptor), nearest first.
    Face,
    /// Colour histogram: distance to the set's mean histogram, nearest first.
    Hist,
    /// Sharpness (variance of the Laplacian), sharpest first.
    Blur,
    /// Head turn left/right, from the landmarks.
    Yaw,
    /// Head tilt up/down, from the landmarks.
    Pitch,
    /// Face size in the source, largest first.
    Size,
    /// Colourfulness, most colourful first.
    Color,
}

impl SortKey {
    pub const ALL: [SortKey; 7] = [SortKey::Face, SortKey::Hist, SortKey::Blur, SortKey::Yaw, SortKey::Pitch, SortKey::Size, SortKey::Color];

    /// Larger values first.
    pub fn descending(self) -> bool {
        matches!(self, SortKey::Blur | SortKey::Size | SortKey::Color)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SortError {
    #[error("{0}: {1}")]
    Face(PathBuf, FacePngError),
    #[error("cannot read the folder {0}: {1}")]
    Folder(PathBuf, std::io::Error),
    #[error("{0} has no Doppel faces (PNG files made by doppel extract)")]
    Empty(PathBuf),
    #[error("{0} has no identity descriptor: sort by face needs faces extracted with descriptors")]
    NoDescriptor(PathBuf),
}

/// One face of a set, with what the measures need.
#[derive(Debug, Clone)]
pub struct FaceRecord {
    pub path: PathBuf,
    pub descriptor: Option<FaceDescriptor>,
    /// Width x height of the detection in source pixels.
    pub area: f32,
    /// (yaw, pitch), see [`pose`].
    pub pose: (f32, f32),
    /// Normalised 3 x 8-bin colour histogram of the crop.
    pub histogram: [f32; 24],
    pub sharpness: f32,
    pub colourfulness: f32,
}

/// Every face PNG of `dir` (others, such as the alignments store, are left alone), by name.
pub fn load_dir(dir: &Path) -> Result<Vec<FaceRecord>, SortError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SortError::Folder(dir.into(), e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    paths.sort();
    let mut records = Vec::with_capacity(paths.len());
    for path in paths {
        let (image, meta) = match read_face_png(&path) {
            Ok(face) => face,
            // A PNG without Doppel metadata is not a face of the set.
            Err(FacePngError::NoMetadata) => continue,
            Err(e) => return Err(SortError::Face(path, e)),
        };
        let rect = meta.face.detection.rect;
        records.push(FaceRecord {
            descriptor: meta.face.identity,
            area: rect.width.max(0.0) * rect.height.max(0.0),
            pose: pose(&meta.face.landmarks),
            histogram: measures::histogram(&image),
            sharpness: blur(&image),
            colourfulness: colourfulness(&image),
            path,
        });
    }
    if records.is_empty() {
        return Err(SortError::Empty(dir.into()));
    }
    Ok(records)
}

/// Each face's number for `key`.
pub fn measure(records: &[FaceRecord], key: SortKey) -> Result<Vec<f32>, SortError> {
    Ok(match key {
        SortKey::Face => {
            let descriptors = records.iter().map(|r| r.descriptor.as_ref().ok_or_else(|| SortError::NoDescriptor(r.path.clone()))).collect::<Result<Vec<_>, _>>()?;
            let centre = mean_descriptor(descriptors.iter().copied());
            descriptors.iter().map(|d| d.distance(&centre)).collect()
        }
        SortKey::Hist => {
            let mut mean = [0.0f32; 24];
            for r in records {
                mean.iter_mut().zip(&r.histogram).for_each(|(m, v)| *m += v / records.len() as f32);
            }
            records.iter().map(|r| r.histogram.iter().zip(&mean).map(|(a, b)| (a - b).abs()).sum()).collect()
        }
        SortKey::Blur => records.iter().map(|r| r.sharpness).collect(),
        SortKey::Yaw => records.iter().map(|r| r.pose.0).collect(),
        SortKey::Pitch => records.iter().map(|r| r.pose.1).collect(),
        SortKey::Size => records.iter().map(|r| r.area).collect(),
        SortKey::Color => records.iter().map(|r| r.colourfulness).collect(),
    })
}

/// The faces' indices in `key` order (ties keep file order).
pub fn sort(records: &[FaceRecord], key: SortKey) -> Result<Vec<usize>, SortError> {
    let values = measure(records, key)?;
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| {
        let o = values[a].total_cmp(&values[b]);
        if key.descending() { o.reverse() } else { o }
    });
    Ok(order)
}

/// The faces in `bins` groups by `key`: for `face`, identity clusters (see [`cluster`]; `bins`
/// is ignored); otherwise equal-width ranges of the key's values, in sort order.
pub fn group(records: &[FaceRecord], key: SortKey, bins: usize) -> Result<Vec<Vec<usize>>, SortError> {
    if key == SortKey::Face {
        let descriptors = records.iter().map(|r| r.descriptor.clone().ok_or_else(|| SortError::NoDescriptor(r.path.clone()))).collect::<Result<Vec<_>, _>>()?;
        return Ok(cluster(&descriptors, SAME_PERSON));
    }
    let values = measure(records, key)?;
    let bins = bins.max(1);
    let (lo, hi) = values.iter().fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let width = ((hi - lo) / bins as f32).max(f32::MIN_POSITIVE);
    let mut groups = vec![Vec::new(); bins];
    for i in sort(records, key)? {
        let mut b = (((values[i] - lo) / width) as usize).min(bins - 1);
        if key.descending() {
            b = bins - 1 - b;
        }
        groups[b].push(i);
    }
    groups.retain(|g| !g.is_empty());
    Ok(groups)
}

/// Descriptor distance under which two faces are taken for the same person (face-api.js'
/// usual threshold).
pub const SAME_PERSON: f32 = 0.6;

/// Average-linkage clusters of descriptors: the closest two clusters merge while their mean
/// distance is under `threshold`. Largest cluster first; members in input order.
pub fn cluster(descriptors: &[FaceDescriptor], threshold: f32) -> Vec<Vec<usize>> {
    let n = descriptors.len();
    let dist: Vec<Vec<f32>> = (0..n).map(|i| (0..n).map(|j| descriptors[i].distance(&descriptors[j])).collect()).collect();
    let mut clusters: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    loop {
        let mut best: Option<(f32, usize, usize)> = None;
        for a in 0..clusters.len() {
            for b in a + 1..clusters.len() {
                let sum: f32 = clusters[a].iter().flat_map(|&i| clusters[b].iter().map(move |&j| (i, j))).map(|(i, j)| dist[i][j]).sum();
                let mean = sum / (clusters[a].len() * clusters[b].len()) as f32;
                if mean < threshold && best.is_none_or(|(d, _, _)| mean < d) {
                    best = Some((mean, a, b));
                }
            }
        }
        let Some((_, a, b)) = best else { break };
        let merged = clusters.remove(b);
        clusters[a].extend(merged);
        clusters[a].sort_unstable();
    }
    clusters.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    clusters
}

fn mean_descriptor<'a>(all: impl Iterator<Item = &'a FaceDescriptor>) -> FaceDescriptor {
    let mut sum = [0.0f32; 128];
    let mut n = 0usize;
    for d in all {
        sum.iter_mut().zip(&d.0).for_each(|(s, v)| *s += v);
        n += 1;
    }
    FaceDescriptor(sum.map(|s| s / n.max(1) as f32))
}

#[cfg(test)]
mod tests;
