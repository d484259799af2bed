//! Conversion: every frame of a video with its faces swapped, masked, colour-matched and
//! blended, written with the source's audio and marked as synthetic.
//!
//! Frames come from [`crate::media::FrameReader`], faces from the source's alignments store
//! (or, without one, from the face networks run on each batch of frames)
//! (made by extraction), the swap from [`swap::Swapper`]. Frames outside the chosen ranges or
//! without faces are written unchanged, so the output has the source's frame count and
//! duration. The output appears only when complete (see [`crate::media::VideoWriter`]).

pub mod color;
pub mod composite;
pub mod mask;
pub mod seamless;
pub mod sharpen;
pub mod smooth;
pub mod swap;

use std::path::PathBuf;
use std::time::Instant;

use crate::faces::{Alignments, AlignmentsError};
use crate::media::{AudioOutcome, EncodeSettings, FrameReader, FrameSink, GifWriter, MediaError, PngSequence, Provenance, VideoWriter, WriteError};
pub use color::{match_color, ColorMode};
pub use mask::{blend_mask, MaskChoice, MaskError, MaskSettings};
pub use sharpen::{sharpen, SharpenMode, SharpenSettings};
pub use smooth::{SmoothSettings, Smoother};
pub use swap::{Direction, SwappedFace, Swapper};

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{0}")]
    Source(#[from] MediaError),
    #[error("{0}")]
    Write(#[from] WriteError),
    #[error("the alignments store: {0}")]
    Alignments(#[from] AlignmentsError),
    #[error("{0} has no alignments store: extract the faces of this source first (doppel extract), or leave out --alignments to find faces while converting")]
    NoAlignments(PathBuf),
    #[error("finding faces: {0}")]
    Analyze(#[from] crate::analyze::AnalyzeError),
    #[error(transparent)]
    Mask(#[from] MaskError),
    #[error("the source has no frame {0}")]
    NoFrame(u64),
    #[error("stopped before the end: no output was written")]
    Stopped,
}

/// Frames decoded ahead so their faces go through the model as one batch.
const FRAMES_PER_BATCH: usize = 64;

/// Frames per batch for frames of `size`: [`FRAMES_PER_BATCH`] at 512 x 512 (bigger batches
/// keep the model's matrix products efficient: 24.4 frames/s at 64 against 21.8 at 16 on
/// talk_woman_a), fewer for bigger frames so the frames in flight stay near 100 MB (4 for 4K).
fn frames_per_batch(size: (u32, u32)) -> usize {
    let pixels = u64::from(size.0.max(1)) * u64::from(size.1.max(1));
    ((FRAMES_PER_BATCH as u64 * 512 * 512 / pixels) as usize).clamp(4, FRAMES_PER_BATCH)
}

/// What a conversion does.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    /// The source's alignments store; `None`: find faces while converting.
    pub alignments: Option<PathBuf>,
    pub direction: Direction,
    pub mask: MaskSettings,
    pub color: ColorMode,
    pub encode: EncodeSettings,
    /// Swap only in these inclusive frame ranges (all frames when empty); the rest are
    /// written unchanged.
    pub ranges: Vec<(u64, u64)>,
    /// Smooth landmarks over time before cropping (none: as extracted).
    pub smooth: Option<SmoothSettings>,
    pub sharpen: SharpenSettings,
    pub writer: OutputKind,
    /// Output size in percent of the source's (100: as it is).
    pub scale: u32,
}

/// What the frames become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// A video through FFmpeg, with the source's audio.
    #[default]
    Video,
    /// A folder of PNG frames.
    Png,
    /// An animated GIF.
    Gif,
}

impl ConvertOptions {
    pub fn new(input: PathBuf, output: PathBuf, alignments: Option<PathBuf>) -> ConvertOptions {
        ConvertOptions { input, output, alignments, direction: Direction::AToB, mask: MaskSettings::default(), color: ColorMode::default(), encode: EncodeSettings::default(), ranges: Vec::new(), smooth: None, sharpen: SharpenSettings::default(), writer: OutputKind::Video, scale: 100 }
    }

    fn swaps(&self, index: u64) -> bool {
        self.ranges.is_empty() || self.ranges.iter().any(|&(a, b)| (a..=b).contains(&index))
    }
}

/// Where a conversion is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvertProgress {
    pub frames_done: u64,
    pub frames_total: Option<u64>,
    pub faces_swapped: u64,
    pub seconds: f64,
}

/// Receives progress; can stop the run.
pub trait ConvertObserver: Send {
    fn progress(&mut self, _p: &ConvertProgress) {}
    fn should_stop(&self) -> bool {
        false
    }
}

/// An observer that does nothing.
pub struct Quiet;
impl ConvertObserver for Quiet {}

/// How a conversion ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertReport {
    pub output: PathBuf,
    pub progress: ConvertProgress,
    /// Frames written unchanged (no face, or outside the ranges).
    pub frames_unchanged: u64,
    pub audio: AudioOutcome,
    /// Mean frame-to-frame change inside the swapped faces, output and source (0..255): how
    /// much the new faces flicker next to how much the originals moved.
    pub flicker: Option<(f64, f64)>,
}

impl ConvertReport {
    /// One line for people.
    pub fn summary(&self) -> String {
        let p = &self.progress;
        let fps = if p.seconds > 0.0 { p.frames_done as f64 / p.seconds } else { 0.0 };
        let audio = self.audio.describe();
        let flicker = self.flicker.map(|(o, s)| format!("; flicker {o:.2} (source {s:.2})")).unwrap_or_default();
        format!("{} frames ({} unchanged), {} faces swapped, {fps:.1} frames/s; {audio}{flicker}", p.frames_done, self.frames_unchanged, p.faces_swapped)
    }
}

/// A face's painted mask and the crop it was painted in.
type Painted = Option<(image::GrayImage, crate::align::AlignedFace)>;

/// `swapped` with its painted mask, redrawn in its own crop.
fn with_painted(mut swapped: SwappedFace, painted: Option<&Painted>) -> SwappedFace {
    if let Some(Some((mask, from))) = painted {
        swapped.painted = Some(crate::mask::between_crops(mask, from, &swapped.aligned, swapped.aligned.size));
    }
    swapped
}

/// Where the faces of each frame come from.
pub enum Faces<'a> {
    /// The source's alignments store.
    Store(Alignments),
    /// The face networks, on each batch of frames (faces that fail the face check are left
    /// alone).
    Detect(&'a crate::analyze::FaceAnalyzer, crate::analyze::AnalyzeOptions),
}

impl<'a> Faces<'a> {
    /// The store of `options`, else `analyzer`.
    fn choose(options: &ConvertOptions, analyzer: Option<&'a crate::analyze::FaceAnalyzer>) -> Result<Faces<'a>, ConvertError> {
        Ok(match (&options.alignments, analyzer) {
            (Some(path), _) => Faces::Store(Alignments::load_if_exists(path)?.ok_or_else(|| ConvertError::NoAlignments(path.clone()))?),
            (None, Some(analyzer)) => Faces::Detect(analyzer, crate::analyze::AnalyzeOptions::default()),
            (None, None) => return Err(ConvertError::NoAlignments(options.input.clone())),
        })
    }

    /// The painted masks (frame editor) of the store's faces of frame `index`, in face order,
    /// each with the crop it was painted in; none when the faces are found as it goes.
    fn painted(&self, index: u64) -> Vec<Painted> {
        match self {
            Faces::Store(a) => a
                .frames
                .get(&index)
                .map(|e| e.faces.iter().map(|f| f.mask(crate::mask::MaskKind::Painted).and_then(|m| m.decode().ok()).map(|m| (m.image, f.aligned))).collect())
                .unwrap_or_default(),
            Faces::Detect(..) => Vec::new(),
        }
    }

    /// The faces of each of `frames`; the networks look only at frames `wanted` accepts.
    fn of(&self, frames: &[crate::media::Frame], wanted: impl Fn(u64) -> bool) -> Result<Vec<Vec<crate::geometry::Landmarks68>>, ConvertError> {
        Ok(match self {
            Faces::Store(a) => frames.iter().map(|f| a.frames.get(&f.index).map(|e| e.faces.iter().map(|face| face.landmarks).collect()).unwrap_or_default()).collect(),
            Faces::Detect(analyzer, options) => {
                let looked: Vec<&crate::media::Frame> = frames.iter().filter(|f| wanted(f.index)).collect();
                let images: Vec<&image::RgbImage> = looked.iter().map(|f| &f.image).collect();
                let mut found = if images.is_empty() { Vec::new() } else { analyzer.analyze_batch(&images, options)? }.into_iter();
                frames.iter().map(|f| if wanted(f.index) { found.next().unwrap_or_default().into_iter().filter(|r| !r.doubtful).map(|r| r.landmarks).collect() } else { Vec::new() }).collect()
            }
        })
    }
}

/// Converts with the alignments store of `options`, or with `analyzer` finding faces when the
/// options name no store.
pub fn run(swapper: &Swapper, options: &ConvertOptions, analyzer: Option<&crate::analyze::FaceAnalyzer>, observer: &mut dyn ConvertObserver) -> Result<ConvertReport, ConvertError> {
    let started = Instant::now();
    let faces_of = Faces::choose(options, analyzer)?;
    if options.mask.kind == MaskChoice::Learned && !swapper.learns_mask() {
        return Err(MaskError::NoLearnedMask.into());
    }
    let reader = FrameReader::open(&options.input)?;
    let size = scaled(reader.displayed_size(), options.scale);
    let provenance = Provenance::doppel();
    let writer: Box<dyn FrameSink> = match options.writer {
        OutputKind::Video => Box::new(VideoWriter::create(&options.output, size, reader.frame_rate().unwrap_or(25.0), &options.encode, Some(&options.input), Some(&provenance))?),
        OutputKind::Png => Box::new(PngSequence::create(&options.output, &provenance)?),
        OutputKind::Gif => Box::new(GifWriter::create(&options.output, size, &provenance)?),
    };
    let mut progress = ConvertProgress { frames_total: reader.frame_count_hint(), ..ConvertProgress::default() };
    let mut unchanged = 0;
    let mut flicker = Flicker::default();
    // Decoding, the swap and encoding overlap: a decoder thread and a writer thread around
    // this one, joined by bounded queues.
    let batch = frames_per_batch(reader.displayed_size());
    let (frame_tx, frame_rx) = std::sync::mpsc::sync_channel::<Result<crate::media::Frame, MediaError>>(2 * batch);
    let (out_tx, out_rx) = std::sync::mpsc::sync_channel::<(image::RgbImage, f64)>(batch);
    let abort = std::sync::atomic::AtomicBool::new(false);
    let (written, result) = std::thread::scope(|scope| -> (Result<(PathBuf, AudioOutcome), WriteError>, Result<(), ConvertError>) {
        scope.spawn(move || {
            for frame in reader {
                if frame_tx.send(frame).is_err() {
                    return;
                }
            }
        });
        let abort = &abort;
        let writing = scope.spawn(move || -> Result<(PathBuf, AudioOutcome), WriteError> {
            let mut writer = writer;
            for (image, time) in out_rx {
                if image.dimensions() == size {
                    writer.write(&image, time)?;
                } else {
                    writer.write(&image::imageops::resize(&image, size.0, size.1, image::imageops::FilterType::CatmullRom), time)?;
                }
            }
            if abort.load(std::sync::atomic::Ordering::SeqCst) {
                // Dropped unfinished: the temporary file goes with it.
                return Err(WriteError::Output { path: writer.path().to_path_buf(), reason: "stopped".into() });
            }
            let audio = writer.audio();
            Ok((writer.finish()?, audio))
        });
        let result = (|| -> Result<(), ConvertError> {
            let mut frames = Vec::with_capacity(batch);
            let mut smoother = options.smooth.map(Smoother::new);
            loop {
                if observer.should_stop() {
                    return Err(ConvertError::Stopped);
                }
                frames.clear();
                for frame in frame_rx.iter().take(batch) {
                    frames.push(frame?);
                }
                if frames.is_empty() {
                    return Ok(());
                }
                // Every face of these frames through the model at once.
                let mut items = Vec::new();
                let mut owner = Vec::new();
                let painted: Vec<Vec<Painted>> = if options.mask.kind == MaskChoice::Painted { frames.iter().map(|f| faces_of.painted(f.index)).collect() } else { Vec::new() };
                for (f, (frame, stored)) in frames.iter().zip(faces_of.of(&frames, |i| options.swaps(i))?).enumerate() {
                    // Smoothing follows every frame's faces, swapped or not, so it is steady
                    // when a range starts.
                    let faces = match smoother.as_mut() {
                        Some(s) => s.smooth(frame.time, &stored),
                        None => stored,
                    };
                    if !options.swaps(frame.index) {
                        continue;
                    }
                    for (k, landmarks) in faces.into_iter().enumerate() {
                        items.push((&frame.image, landmarks));
                        owner.push((f, k));
                    }
                }
                let mut swapped: Vec<Vec<SwappedFace>> = frames.iter().map(|_| Vec::new()).collect();
                for (s, (f, k)) in swapper.swap_batch(&items, options.direction).into_iter().zip(owner) {
                    if let Some(s) = s {
                        swapped[f].push(with_painted(s, painted.get(f).and_then(|p| p.get(k))));
                    }
                }
                let counts: Vec<u64> = swapped.iter().map(|f| f.len() as u64).collect();
                // Frames blend independently: on every core.
                let blended: Vec<Result<(image::RgbImage, Vec<u32>), ConvertError>> = {
                    use rayon::prelude::*;
                    frames.par_iter().zip(swapped.into_par_iter()).map(|(frame, faces)| blend_faces(&frame.image, faces, options)).collect()
                };
                for ((frame, result), count) in frames.iter().zip(blended).zip(counts) {
                    let (image, covered) = result?;
                    progress.faces_swapped += count;
                    if count == 0 {
                        unchanged += 1;
                    }
                    flicker.add(&frame.image, &image, &covered);
                    if out_tx.send((image, frame.time)).is_err() {
                        // The writer stopped: its error is reported below.
                        return Ok(());
                    }
                    progress.frames_done += 1;
                }
                progress.seconds = started.elapsed().as_secs_f64();
                observer.progress(&progress);
            }
        })();
        // Closing the queues ends both threads; a stopped or failed run drops the writer
        // unfinished, which removes its temporary file.
        drop(frame_rx);
        if result.is_err() {
            abort.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(out_tx);
            let _ = writing.join();
            return (Err(WriteError::Output { path: options.output.clone(), reason: "stopped".into() }), result);
        }
        drop(out_tx);
        (writing.join().unwrap_or_else(|_| Err(WriteError::Output { path: options.output.clone(), reason: "the writer thread crashed".into() })), result)
    });
    result?;
    let (output, audio) = written?;
    progress.seconds = started.elapsed().as_secs_f64();
    Ok(ConvertReport { output, progress, frames_unchanged: unchanged, audio, flicker: flicker.result() })
}

/// A frame size at `percent` of `size` (at least 2 x 2, even sides for video encoders).
pub fn scaled(size: (u32, u32), percent: u32) -> (u32, u32) {
    if percent == 100 {
        return size;
    }
    let side = |v: u32| ((u64::from(v) * u64::from(percent) / 100) as u32 & !1).max(2);
    (side(size.0), side(size.1))
}

/// `frame` with the swapped `faces` masked, colour-matched, sharpened and pasted in; also
/// the frame pixels where the new faces show.
pub fn blend_faces(frame: &image::RgbImage, faces: Vec<SwappedFace>, options: &ConvertOptions) -> Result<(image::RgbImage, Vec<u32>), ConvertError> {
    let mut image = frame.clone();
    let mut covered = Vec::new();
    for mut face in faces {
        let mask = blend_mask(&face, &options.mask)?;
        match_color(&mut face.face, &face.original, &mask, options.color);
        sharpen(&mut face.face, &options.sharpen);
        covered.extend(composite::paste(&mut image, &face.face, &mask, &face.aligned));
    }
    Ok((image, covered))
}

/// One frame of `options.input` (by index) before and after conversion with `options`: the
/// live preview of the convert page. Faces come as in [`run`].
pub fn preview(swapper: &Swapper, options: &ConvertOptions, analyzer: Option<&crate::analyze::FaceAnalyzer>, index: u64) -> Result<(image::RgbImage, image::RgbImage), ConvertError> {
    let source = PreviewFrame::read(options, analyzer, index)?;
    let swapped = source.swap(swapper, options.direction);
    let after = source.render(swapped, options)?;
    Ok((source.image, after))
}

/// A frame of the source and its faces, for previews. The three steps of a preview cost very
/// different amounts (decoding up to the frame and finding faces: most; the model: some;
/// blending: little), so a live preview keeps each step's result and redoes only what a
/// settings change touches.
#[derive(Debug, Clone)]
pub struct PreviewFrame {
    pub index: u64,
    pub image: image::RgbImage,
    /// The faces to swap in frame pixels (none: the frame is written unchanged).
    pub faces: Vec<crate::geometry::Landmarks68>,
    /// Their painted masks, when the store has them.
    painted: Vec<Painted>,
}

impl PreviewFrame {
    /// Frame `index` of `options.input` with its faces (from the store of `options`, else found
    /// by `analyzer`).
    pub fn read(options: &ConvertOptions, analyzer: Option<&crate::analyze::FaceAnalyzer>, index: u64) -> Result<PreviewFrame, ConvertError> {
        let faces_of = Faces::choose(options, analyzer)?;
        let frame = crate::media::frame_of(&options.input, index)?.ok_or(ConvertError::NoFrame(index))?;
        let faces = faces_of.of(std::slice::from_ref(&frame), |_| true)?.pop().unwrap_or_default();
        let painted = faces_of.painted(index);
        Ok(PreviewFrame { index, image: frame.image, faces, painted })
    }

    /// The model's faces for this frame.
    pub fn swap(&self, swapper: &Swapper, direction: Direction) -> Vec<SwappedFace> {
        let items: Vec<(&image::RgbImage, crate::geometry::Landmarks68)> = self.faces.iter().map(|f| (&self.image, *f)).collect();
        swapper.swap_batch(&items, direction).into_iter().enumerate().filter_map(|(k, s)| s.map(|s| with_painted(s, self.painted.get(k)))).collect()
    }

    /// The frame with `swapped` blended in by the mask, colour and sharpening of `options`
    /// (the frame as it is when the frame is outside the options' ranges).
    pub fn render(&self, swapped: Vec<SwappedFace>, options: &ConvertOptions) -> Result<image::RgbImage, ConvertError> {
        if !options.swaps(self.index) {
            return Ok(self.image.clone());
        }
        Ok(blend_faces(&self.image, swapped, options)?.0)
    }
}

/// Mean absolute change from one frame to the next inside this frame's swapped faces, for
/// the output and for the source.
#[derive(Default)]
struct Flicker {
    last: Option<(image::RgbImage, image::RgbImage)>,
    sums: (f64, f64),
    count: u64,
}

impl Flicker {
    fn add(&mut self, source: &image::RgbImage, output: &image::RgbImage, covered: &[u32]) {
        if let Some((last_source, last_output)) = &self.last {
            for &i in covered {
                for c in 0..3 {
                    let k = 3 * i as usize + c;
                    self.sums.0 += f64::from(output.as_raw()[k].abs_diff(last_output.as_raw()[k]));
                    self.sums.1 += f64::from(source.as_raw()[k].abs_diff(last_source.as_raw()[k]));
                }
                self.count += 3;
            }
        }
        self.last = Some((source.clone(), output.clone()));
    }

    fn result(&self) -> Option<(f64, f64)> {
        (self.count > 0).then(|| (self.sums.0 / self.count as f64, self.sums.1 / self.count as f64))
    }
}

#[cfg(test)]
mod tests;
#[cfg(all(test, feature = "wgpu"))]
mod gpu_tests;
