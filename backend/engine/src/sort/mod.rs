//! Sorting and grouping a face set, from what each face PNG carries (landmarks, box, identity
//! descriptor) and its pixels: the measures behind `doppel sort` and the gallery's sort menu.
//!
//! Every key gives each face one number ([`measure`]); sorting orders by it (the direction that
//! puts what people look for first, see [`SortKey::descending`]), grouping cuts the same numbers
//! into bins, or for `face` into identity clusters ([`cluster`]).

mod index;
mod measures;

use std::path::{Path, PathBuf};

use crate::faces::{read_face_png, FacePngError};
use crate::nets::recognition::FaceDescriptor;
pub use index::FaceIndex;
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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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
        if let Some(record) = load_face(&path)? {
            records.push(record);
        }
    }
    if records.is_empty() {
        return Err(SortError::Empty(dir.into()));
    }
    Ok(records)
}

/// The record of one face PNG; `None` for a PNG without Doppel metadata (not a face of a set).
pub fn load_face(path: &Path) -> Result<Option<FaceRecord>, SortError> {
    let (image, meta) = match read_face_png(path) {
        Ok(face) => face,
        Err(FacePngError::NoMetadata) => return Ok(None),
        Err(e) => return Err(SortError::Face(path.into(), e)),
    };
    let rect = meta.face.detection.rect;
    Ok(Some(FaceRecord {
        descriptor: meta.face.identity,
        area: rect.width.max(0.0) * rect.height.max(0.0),
        pose: pose(&meta.face.landmarks),
        histogram: measures::histogram(&image),
        sharpness: blur(&image),
        colourfulness: colourfulness(&image),
        path: path.into(),
    }))
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

/// Each face's identity distance to the face `reference` (an index into `records`): sorting
/// by it puts that person first.
pub fn distances_to(records: &[FaceRecord], reference: usize) -> Result<Vec<f32>, SortError> {
    let descriptor = |r: &FaceRecord| r.descriptor.ok_or_else(|| SortError::NoDescriptor(r.path.clone()));
    let target = descriptor(&records[reference])?;
    records.iter().map(|r| descriptor(r).map(|d| d.distance(&target))).collect()
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

/// Sets up to this size are clustered exactly (a full distance matrix: 16 MB at 2,000);
/// larger ones through a sample (see [`cluster`]).
const EXACT_CLUSTERING: usize = 2000;

/// Average-linkage clusters of descriptors: the closest two clusters merge while their mean
/// distance is under `threshold`. Largest cluster first; members in input order.
///
/// Exact up to [`EXACT_CLUSTERING`] faces (nearest-neighbour chains, O(n²)). A larger set is
/// clustered through an even sample of that size; every other face joins the sample cluster
/// whose centre is nearest when within `threshold`, and the faces near none are clustered the
/// same way in turn (so a person missed by the sample still gets a cluster of their own).
pub fn cluster(descriptors: &[FaceDescriptor], threshold: f32) -> Vec<Vec<usize>> {
    let all: Vec<usize> = (0..descriptors.len()).collect();
    let mut clusters = cluster_subset(descriptors, &all, threshold);
    clusters.iter_mut().for_each(|c| c.sort_unstable());
    clusters.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    clusters
}

fn cluster_subset(descriptors: &[FaceDescriptor], ids: &[usize], threshold: f32) -> Vec<Vec<usize>> {
    if ids.len() <= EXACT_CLUSTERING {
        return average_linkage(descriptors, ids, threshold);
    }
    let step = ids.len().div_ceil(EXACT_CLUSTERING);
    let sample: Vec<usize> = ids.iter().copied().step_by(step).collect();
    let mut clusters = average_linkage(descriptors, &sample, threshold);
    let centres: Vec<FaceDescriptor> = clusters.iter().map(|c| mean_descriptor(c.iter().map(|&i| &descriptors[i]))).collect();
    let in_sample: std::collections::HashSet<usize> = sample.iter().copied().collect();
    let mut leftover = Vec::new();
    for &i in ids.iter().filter(|i| !in_sample.contains(i)) {
        let nearest = centres.iter().enumerate().map(|(k, c)| (k, descriptors[i].distance(c))).min_by(|a, b| a.1.total_cmp(&b.1));
        match nearest {
            Some((k, d)) if d < threshold => clusters[k].push(i),
            _ => leftover.push(i),
        }
    }
    if !leftover.is_empty() {
        clusters.extend(cluster_subset(descriptors, &leftover, threshold));
    }
    clusters
}

/// Exact average linkage of the faces `ids` by nearest-neighbour chains on a full distance
/// matrix with Lance-Williams updates, cut at `threshold` (average linkage has no inversions,
/// so the merges under the threshold are exactly the clusters at that height).
fn average_linkage(descriptors: &[FaceDescriptor], ids: &[usize], threshold: f32) -> Vec<Vec<usize>> {
    use rayon::prelude::*;
    let n = ids.len();
    if n == 0 {
        return Vec::new();
    }
    let mut d = vec![0.0f32; n * n];
    d.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (j, v) in row.iter_mut().enumerate() {
            *v = descriptors[ids[i]].distance(&descriptors[ids[j]]);
        }
    });
    let mut size = vec![1usize; n];
    let mut active = vec![true; n];
    let mut parent: Vec<usize> = (0..n).collect();
    let mut chain: Vec<usize> = Vec::new();
    let mut remaining = n;
    while remaining > 1 {
        if chain.is_empty() {
            chain.push(active.iter().position(|&a| a).unwrap_or(0));
        }
        let a = chain[chain.len() - 1];
        let prev = chain.len().checked_sub(2).map(|k| chain[k]);
        // The nearest other active cluster; on a tie the one before in the chain (so the
        // chain always ends in a reciprocal pair).
        let (mut best, mut best_d) = match prev {
            Some(p) => (p, d[a * n + p]),
            None => (usize::MAX, f32::INFINITY),
        };
        for j in 0..n {
            if active[j] && j != a && d[a * n + j] < best_d {
                (best, best_d) = (j, d[a * n + j]);
            }
        }
        if best == usize::MAX {
            break;
        }
        if Some(best) != prev {
            chain.push(best);
            continue;
        }
        chain.truncate(chain.len() - 2);
        let (b, sa, sb) = (best, size[a] as f32, size[best] as f32);
        for k in 0..n {
            if active[k] && k != a && k != b {
                let v = (sa * d[k * n + a] + sb * d[k * n + b]) / (sa + sb);
                d[k * n + a] = v;
                d[a * n + k] = v;
            }
        }
        active[b] = false;
        size[a] += size[b];
        remaining -= 1;
        if best_d < threshold {
            // Union: b's tree under a's root.
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            parent[rb] = ra;
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = std::collections::BTreeMap::new();
    for i in 0..n {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(ids[i]);
    }
    groups.into_values().collect()
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
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
