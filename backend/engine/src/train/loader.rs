//! Batches for training, made ahead of time on loader threads.
//!
//! Which faces go into the batch of iteration `i`, and every random augmentation choice, are
//! functions of `(seed, side, i)` alone: the faces of each side are shuffled afresh every
//! epoch by a permutation drawn from the seed and the epoch number, and each example gets its
//! own random generator seeded from its position in that stream. A resumed session therefore
//! sees exactly the batches the uninterrupted one would have, and the RNG state a save needs
//! is just the seed and the iteration count.
//!
//! Worker `w` of `W` makes the batches of iterations `i` with `i % W == w` into its own
//! bounded queue; the trainer takes them round-robin, so order is kept while the work is
//! spread. Faces are decoded once and kept, compact, in memory.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::augment::{augment, AugmentSettings, Example, WarpMode};
use super::data::{landmarks_in_training_crop, load_face, DataError, Face, FaceSet};
use super::step::Batch;
use crate::align::CropFrame;
use crate::geometry::Point;

/// How batches are made.
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderSettings {
    pub batch: usize,
    pub input: usize,
    pub output: usize,
    pub frame: CropFrame,
    pub augment: AugmentSettings,
    pub seed: u64,
    /// Loader threads.
    pub threads: usize,
    /// Batches each thread may have ready ahead.
    pub ahead: usize,
}

impl LoaderSettings {
    /// Side at which faces are decoded and kept: twice the larger of input and output (so
    /// rotation and zoom resample from more detail), at most 256.
    pub fn base_side(&self) -> usize {
        (2 * self.input.max(self.output))
            .min(256)
            .max(self.input.max(self.output))
    }
}

/// One side's faces, loaded on first use.
struct Side {
    set: FaceSet,
    faces: Vec<OnceLock<Result<Arc<Face>, String>>>,
    /// For warping to landmarks: for each face, the nearest faces of the other side.
    partners: Vec<Vec<usize>>,
    /// The landmarks of the other side's faces, in the training crop.
    other: Arc<Vec<[Point; 68]>>,
}

/// Faces of the other side a face may be warped towards.
const PARTNERS: usize = 10;

/// The running loader: iteration after iteration, a batch of A and one of B.
pub struct Loader {
    queues: Vec<Receiver<Result<(Batch, Batch), DataError>>>,
    next: u64,
    waited: Duration,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Loader {
    /// Starts the threads; the first batch is that of iteration `start`.
    pub fn start(
        a: FaceSet,
        b: FaceSet,
        settings: LoaderSettings,
        start: u64,
    ) -> Result<Loader, DataError> {
        let base = settings.base_side() as u32;
        let la = all_landmarks(&a, settings.frame, base)?;
        let lb = all_landmarks(&b, settings.frame, base)?;
        let warp_to_landmarks = settings.augment.warp == WarpMode::ToLandmarks;
        let side = |set: FaceSet, own: &[[Point; 68]], other: Arc<Vec<[Point; 68]>>| Side {
            faces: (0..set.faces.len()).map(|_| OnceLock::new()).collect(),
            partners: if warp_to_landmarks {
                nearest(own, &other)
            } else {
                Vec::new()
            },
            set,
            other,
        };
        let (la, lb) = (Arc::new(la), Arc::new(lb));
        let sides = Arc::new([side(a, &la, lb.clone()), side(b, &lb, la.clone())]);
        let threads = settings.threads.max(1);
        let settings = Arc::new(settings);
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for w in 0..threads as u64 {
            let (tx, rx) = sync_channel(settings.ahead.max(1));
            let (sides, settings) = (sides.clone(), settings.clone());
            // The first iteration at or after `start` that is this worker's.
            let first = start + (w + threads as u64 - start % threads as u64) % threads as u64;
            workers.push(
                std::thread::Builder::new()
                    .name(format!("loader-{w}"))
                    .spawn(move || {
                        let mut i = first;
                        loop {
                            let batches = make_batch(&sides[0], 0, i, &settings)
                                .and_then(|a| Ok((a, make_batch(&sides[1], 1, i, &settings)?)));
                            if tx.send(batches).is_err() {
                                return;
                            }
                            i += threads as u64;
                        }
                    })?,
            );
            queues.push(rx);
        }
        // Queue `k` must hold iteration `start + k`'s worker: rotate so it does.
        queues.rotate_left((start % threads as u64) as usize);
        Ok(Loader {
            queues,
            next: start,
            waited: Duration::ZERO,
            workers,
        })
    }

    /// The batches of the next iteration (blocks until they are ready).
    pub fn next_batches(&mut self) -> Result<(Batch, Batch), DataError> {
        let k = self.queues.len();
        let started = Instant::now();
        let got = self.queues[0]
            .recv()
            .map_err(|_| DataError::Loader("a loader thread stopped".into()))?;
        self.waited += started.elapsed();
        self.queues.rotate_left(1 % k);
        self.next += 1;
        got
    }

    /// Time spent waiting for batches since the last call (the model waiting for data).
    pub fn take_waited(&mut self) -> Duration {
        std::mem::take(&mut self.waited)
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Closing the queues ends every worker at its next send.
        self.queues.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl From<std::io::Error> for DataError {
    fn from(e: std::io::Error) -> Self {
        DataError::Loader(format!("cannot start a loader thread: {e}"))
    }
}

fn all_landmarks(
    set: &FaceSet,
    frame: CropFrame,
    side: u32,
) -> Result<Vec<[Point; 68]>, DataError> {
    set.faces
        .iter()
        .map(|(path, meta)| landmarks_in_training_crop(path, meta, frame, side))
        .collect()
}

/// For each face of `own`, the [`PARTNERS`] faces of `other` whose landmarks are closest.
fn nearest(own: &[[Point; 68]], other: &[[Point; 68]]) -> Vec<Vec<usize>> {
    own.iter()
        .map(|p| {
            let mut d: Vec<(f32, usize)> = other
                .iter()
                .enumerate()
                .map(|(j, q)| {
                    (
                        p.iter()
                            .zip(q)
                            .map(|(a, b)| (a.x - b.x).powi(2) + (a.y - b.y).powi(2))
                            .sum(),
                        j,
                    )
                })
                .collect();
            let k = PARTNERS.min(d.len());
            d.select_nth_unstable_by(k.saturating_sub(1), |x, y| x.0.total_cmp(&y.0));
            d.truncate(k);
            d.into_iter().map(|(_, j)| j).collect()
        })
        .collect()
}

/// A 64-bit mix of several numbers (SplitMix64 steps), for seeding.
pub fn mix(parts: &[u64]) -> u64 {
    let mut z = 0x9E37_79B9_7F4A_7C15u64;
    for &p in parts {
        z = (z ^ p).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// The face index at position `k` of `side`'s endless stream of shuffled epochs.
fn face_at(
    k: u64,
    n: usize,
    seed: u64,
    side: u64,
    epoch_cache: &mut Option<(u64, Vec<usize>)>,
) -> usize {
    let epoch = k / n as u64;
    if epoch_cache.as_ref().is_none_or(|(e, _)| *e != epoch) {
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(mix(&[
            seed, side, epoch,
        ])));
        *epoch_cache = Some((epoch, order));
    }
    epoch_cache
        .as_ref()
        .map(|(_, o)| o[(k % n as u64) as usize])
        .unwrap_or(0)
}

fn make_batch(
    side: &Side,
    which: u64,
    iteration: u64,
    s: &LoaderSettings,
) -> Result<Batch, DataError> {
    let n = side.set.faces.len();
    let mut epoch = None;
    let mut batch = Batch::empty(s.batch, s.input, s.output);
    for slot in 0..s.batch {
        let k = iteration * s.batch as u64 + slot as u64;
        let index = face_at(k, n, s.seed, which, &mut epoch);
        let face = side.faces[index].get_or_init(|| {
            load_face(&side.set.faces[index].0, s.frame, s.base_side() as u32)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        });
        let face = face.as_ref().map_err(|e| DataError::Loader(e.clone()))?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(mix(&[s.seed, which, k, 1]));
        let partner = side
            .partners
            .get(index)
            .and_then(|p| p.choose(&mut rng))
            .map(|&j| &side.other[j]);
        let example = augment(
            &face.to_source(),
            partner,
            &s.augment,
            s.input,
            s.output,
            &mut rng,
        );
        batch.push(&example);
    }
    Ok(batch)
}

impl Batch {
    /// A batch with room for `size` examples and none in it yet.
    pub fn empty(size: usize, input: usize, output: usize) -> Batch {
        let (i, o) = (input * input, output * output);
        Batch {
            input: Vec::with_capacity(size * 3 * i),
            target: Vec::with_capacity(size * 3 * o),
            mask: Vec::with_capacity(size * o),
            eyes: Vec::with_capacity(size * o),
            mouth: Vec::with_capacity(size * o),
            size: 0,
            input_side: input,
            output_side: output,
        }
    }

    /// Appends one example (of this batch's sizes).
    pub fn push(&mut self, e: &Example) {
        self.input.extend_from_slice(&e.input.data);
        self.target.extend_from_slice(&e.target.data);
        self.mask.extend_from_slice(&e.mask.data);
        self.eyes.extend_from_slice(&e.eyes.data);
        self.mouth.extend_from_slice(&e.mouth.data);
        self.size += 1;
    }
}

#[cfg(test)]
mod tests;
