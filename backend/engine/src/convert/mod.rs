//! Conversion: every frame of a video with its faces swapped, masked, colour-matched and
//! blended, written with the source's audio and marked as synthetic.
//!
//! Frames come from [`crate::media::FrameReader`], faces from the source's alignments store
//! (made by extraction), the swap from [`swap::Swapper`]. Frames outside the chosen ranges or
//! without faces are written unchanged, so the output has the source's frame count and
//! duration. The output appears only when complete (see [`crate::media::VideoWriter`]).

pub mod color;
pub mod composite;
pub mod mask;
pub mod swap;

use std::path::PathBuf;
use std::time::Instant;

use crate::faces::{Alignments, AlignmentsError};
use crate::media::{AudioOutcome, EncodeSettings, FrameReader, MediaError, Provenance, VideoWriter, WriteError};
pub use color::{match_color, ColorMode};
pub use mask::{blend_mask, MaskChoice, MaskError, MaskSettings};
pub use swap::{Direction, SwappedFace, Swapper};

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{0}")]
    Source(#[from] MediaError),
    #[error("{0}")]
    Write(#[from] WriteError),
    #[error("the alignments store: {0}")]
    Alignments(#[from] AlignmentsError),
    #[error("{0} has no alignments store: extract the faces of this source first (doppel extract), or pass --alignments")]
    NoAlignments(PathBuf),
    #[error(transparent)]
    Mask(#[from] MaskError),
    #[error("stopped before the end: no output was written")]
    Stopped,
}

/// What a conversion does.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub alignments: PathBuf,
    pub direction: Direction,
    pub mask: MaskSettings,
    pub color: ColorMode,
    pub encode: EncodeSettings,
    /// Swap only in these inclusive frame ranges (all frames when empty); the rest are
    /// written unchanged.
    pub ranges: Vec<(u64, u64)>,
}

impl ConvertOptions {
    pub fn new(input: PathBuf, output: PathBuf, alignments: PathBuf) -> ConvertOptions {
        ConvertOptions { input, output, alignments, direction: Direction::AToB, mask: MaskSettings::default(), color: ColorMode::default(), encode: EncodeSettings::default(), ranges: Vec::new() }
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
        let audio = match &self.audio {
            AudioOutcome::None => "no audio in the source".to_string(),
            AudioOutcome::Copied(codec) => format!("audio copied ({codec})"),
            AudioOutcome::Dropped(why) => format!("audio left out: {why}"),
        };
        let flicker = self.flicker.map(|(o, s)| format!("; flicker {o:.2} (source {s:.2})")).unwrap_or_default();
        format!("{} frames ({} unchanged), {} faces swapped, {fps:.1} frames/s; {audio}{flicker}", p.frames_done, self.frames_unchanged, p.faces_swapped)
    }
}

/// Converts `options.input` into `options.output` with `swapper`.
pub fn run(swapper: &Swapper, options: &ConvertOptions, observer: &mut dyn ConvertObserver) -> Result<ConvertReport, ConvertError> {
    let started = Instant::now();
    let alignments = Alignments::load_if_exists(&options.alignments)?.ok_or_else(|| ConvertError::NoAlignments(options.alignments.clone()))?;
    if options.mask.kind == MaskChoice::Learned && !swapper.learns_mask() {
        return Err(MaskError::NoLearnedMask.into());
    }
    let mut reader = FrameReader::open(&options.input)?;
    let size = reader.displayed_size();
    let mut writer = VideoWriter::create(&options.output, size, reader.frame_rate().unwrap_or(25.0), &options.encode, Some(&options.input), Some(&Provenance::doppel()))?;
    let mut progress = ConvertProgress { frames_total: reader.frame_count_hint(), ..ConvertProgress::default() };
    let mut unchanged = 0;
    let mut flicker = Flicker::default();
    for frame in reader.by_ref() {
        if observer.should_stop() {
            return Err(ConvertError::Stopped);
        }
        let frame = frame?;
        let faces: Vec<_> = alignments.frames.get(&frame.index).map(|f| f.faces.iter().map(|face| face.landmarks).collect()).unwrap_or_default();
        let mut image = frame.image.clone();
        let mut covered = Vec::new();
        let mut swapped_here = 0;
        if options.swaps(frame.index) && !faces.is_empty() {
            for mut swapped in swapper.swap(&frame.image, &faces, options.direction) {
                let mask = blend_mask(&swapped, &options.mask)?;
                match_color(&mut swapped.face, &swapped.original, &mask, options.color);
                covered.extend(composite::paste(&mut image, &swapped.face, &mask, &swapped.aligned));
                swapped_here += 1;
            }
        }
        progress.faces_swapped += swapped_here;
        if swapped_here == 0 {
            unchanged += 1;
        }
        flicker.add(&frame.image, &image, &covered);
        writer.write(&image, frame.time)?;
        progress.frames_done += 1;
        progress.seconds = started.elapsed().as_secs_f64();
        observer.progress(&progress);
    }
    let audio = writer.audio_outcome.clone();
    let output = writer.finish()?;
    Ok(ConvertReport { output, progress, frames_unchanged: unchanged, audio, flicker: flicker.result() })
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
