//! The convert page's live preview: one frame before and after conversion, redone on every
//! settings change within a second.
//!
//! A preview has three steps of very different cost (see [`PreviewFrame`]): reading the frame
//! and finding its faces (decoding up to the frame, maybe the face networks), the model
//! (loading it, then one forward pass), and blending (milliseconds). Each step's result is
//! kept for the few frames and models in use, so changing the mask, colour or sharpening only
//! blends again; another frame reads and swaps once. One preview is worked at a time (the
//! cache's lock): on two cores, parallel previews only slow each other and training down.

use doppel_engine::analyze::FaceAnalyzer;
use doppel_engine::convert::{ConvertOptions, Direction, PreviewFrame, SwappedFace, Swapper};
use doppel_engine::device::ComputeDevice;
use doppel_engine::nets::ModelsDir;
use image::RgbImage;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How many of each step's results are kept.
const MODELS_KEPT: usize = 2;
const FRAMES_KEPT: usize = 8;

/// A model folder at one save (a new save makes a new key), loaded on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelKey {
    pub dir: PathBuf,
    pub iteration: u64,
    pub device: ComputeDevice,
}

type FrameKey = (PathBuf, Option<PathBuf>, u64);
type SwapKey = (ModelKey, FrameKey, Direction);

#[derive(Default)]
pub struct PreviewCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The face networks, on the device they were loaded on.
    analyzer: Option<(ComputeDevice, FaceAnalyzer)>,
    models: Recent<ModelKey, Arc<Swapper>>,
    frames: Recent<FrameKey, Arc<PreviewFrame>>,
    swaps: Recent<SwapKey, Arc<Vec<SwappedFace>>>,
}

/// The newest few entries, most recent first.
struct Recent<K, V> {
    items: Vec<(K, V)>,
}

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent { items: Vec::new() }
    }
}

impl<K: PartialEq, V: Clone> Recent<K, V> {
    /// The value of `key`, made by `make` if it is not kept; `cap` entries at most.
    fn get_or<E>(&mut self, key: K, cap: usize, make: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        if let Some(i) = self.items.iter().position(|(k, _)| *k == key) {
            let item = self.items.remove(i);
            self.items.insert(0, item);
        } else {
            let v = make()?;
            self.items.insert(0, (key, v));
            self.items.truncate(cap);
        }
        Ok(self.items[0].1.clone())
    }
}

impl PreviewCache {
    /// Frame `index` of `options.input` before (`before`) or after conversion by the model at
    /// `model` with `options`, the networks on `model.device`. Blocking.
    pub fn render(&self, model: &ModelKey, options: &ConvertOptions, index: u64, before: bool, nets: &ModelsDir) -> Result<RgbImage, String> {
        let on = model.device;
        let device = || on.to_burn().map_err(|e| format!("cannot use the {on} device: {e}"));
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *inner;
        let frame_key: FrameKey = (options.input.clone(), options.alignments.clone(), index);
        let frame = {
            let analyzer = &mut inner.analyzer;
            inner.frames.get_or(frame_key.clone(), FRAMES_KEPT, || -> Result<_, String> {
                if options.alignments.is_none() && analyzer.as_ref().is_none_or(|(loaded_on, _)| *loaded_on != on) {
                    *analyzer = None;
                    *analyzer = Some((on, FaceAnalyzer::load(nets, &device()?).map_err(|e| format!("cannot load the face networks: {e}"))?));
                }
                let found = if options.alignments.is_some() { None } else { analyzer.as_ref().map(|(_, a)| a) };
                PreviewFrame::read(options, found, index).map(Arc::new).map_err(|e| e.to_string())
            })?
        };
        if before {
            return Ok(frame.image.clone());
        }
        let swapper = inner.models.get_or(model.clone(), MODELS_KEPT, || Swapper::load(&model.dir, &device()?).map(Arc::new).map_err(|e| format!("cannot load the model: {e}")))?;
        let swapped = inner.swaps.get_or((model.clone(), frame_key, options.direction), FRAMES_KEPT, || Ok::<_, String>(Arc::new(frame.swap(&swapper, options.direction))))?;
        frame.render(swapped.as_ref().clone(), options).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_keeps_the_newest_and_makes_each_once() {
        let mut r: Recent<u32, u32> = Recent::default();
        let mut made = 0;
        for k in [1, 2, 1, 3, 1, 2] {
            r.get_or(k, 2, || -> Result<u32, ()> {
                made += 1;
                Ok(k * 10)
            })
            .unwrap();
        }
        // 1, 2 made; 1 kept; 3 made (2 dropped); 1 kept; 2 made again.
        assert_eq!(made, 4);
        assert_eq!(r.items.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(r.get_or(5, 2, || Err::<u32, &str>("failed")), Err("failed"));
        assert_eq!(r.items.len(), 2, "a failure keeps nothing");
    }
}
