//! `doppel extract`: faces of a video or image folder into a face set, with a progress bar.
//! Ctrl-C stops after saving the alignments store; running the same command again resumes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use doppel_engine::analyze::FaceAnalyzer;
use doppel_engine::extract::{self, ExtractOptions, Observer, Progress};
use doppel_engine::identity::{IdentityFilter, DEFAULT_THRESHOLD};
use doppel_engine::nets::ModelsDir;

use crate::cli::DeviceArg;

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// A video file, or a folder of images.
    #[arg(short, long)]
    pub input: PathBuf,
    /// Folder for the face PNGs (created if missing).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The alignments store [default: <output>/<input name>.alignments.json].
    #[arg(long)]
    pub alignments: Option<PathBuf>,
    /// Look at every N-th frame only.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub every_n: u64,
    /// Side of the face images in pixels.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(64..=2048))]
    pub size: u32,
    /// Ignore faces whose detected box is smaller than this many pixels.
    #[arg(long, default_value_t = 0)]
    pub min_size: u32,
    /// Keep only faces of the people in these photos.
    #[arg(long, num_args = 1..)]
    pub filter: Vec<PathBuf>,
    /// Drop faces of the people in these photos.
    #[arg(long, num_args = 1..)]
    pub nfilter: Vec<PathBuf>,
    /// Identity distance that counts as the same person for --filter / --nfilter.
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Run the aligner on N slightly moved boxes and average (steadier landmarks, slower).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub re_feed: u32,
    /// Only frames A to B (inclusive, counted from 0), e.g. 100-250.
    #[arg(long, value_parser = parse_range)]
    pub frames: Option<(u64, u64)>,
    /// Faces the detector scores at or below this are dropped.
    #[arg(long, default_value_t = 0.5)]
    pub min_confidence: f32,
    /// Keep detections whose landmarks are unstable (normally dropped as "not a face").
    #[arg(long)]
    pub keep_unstable: bool,
    /// Frames per network batch.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub batch: u64,
    /// Folder with the fetched network weights (scripts/fetch-models.sh).
    #[arg(long, env = "DOPPEL_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    #[arg(long, default_value = "auto", value_parser = DeviceArg::parse, help = DeviceArg::HELP)]
    pub device: DeviceArg,
    /// No progress bar (for logs).
    #[arg(long)]
    pub quiet: bool,
}

/// `A-B` with A <= B.
pub fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once('-').ok_or_else(|| format!("`{s}` is not a range like 100-250"))?;
    let parse = |v: &str| v.trim().parse::<u64>().map_err(|_| format!("`{v}` in `{s}` is not a frame number"));
    let (a, b) = (parse(a)?, parse(b)?);
    if a > b {
        return Err(format!("the range {s} is empty (the first frame is after the last)"));
    }
    Ok((a, b))
}

/// A terminal progress bar over [`Progress`], and the Ctrl-C flag.
struct Bar {
    bar: indicatif::ProgressBar,
    stop: Arc<AtomicBool>,
}

impl Observer for Bar {
    fn progress(&mut self, p: &Progress) {
        if let Some(total) = p.frames_total {
            self.bar.set_length(total);
        }
        self.bar.set_position(p.frames_done);
        let rate = if p.seconds > 0.0 { p.frames_done as f64 / p.seconds } else { 0.0 };
        self.bar.set_message(format!("{rate:.1} frames/s, {} faces", p.faces_written));
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

pub fn run(args: ExtractArgs) -> anyhow::Result<()> {
    let device = crate::cli::to_device(args.device).to_burn()?;
    let analyzer = FaceAnalyzer::load(&ModelsDir::new(&args.models_dir), &device)?;
    let filter = IdentityFilter::from_images(&analyzer, &args.filter, &args.nfilter, args.threshold)?;
    let options = options(&args, filter);
    let stop = crate::cli::stop_on_ctrl_c("stopping after saving the alignments (Ctrl-C again to quit at once)")?;
    let bar = if args.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} frames, {msg}, ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut observer = Bar { bar, stop };
    let report = extract::run(&analyzer, &options, &mut observer)?;
    observer.bar.finish_and_clear();
    let [decode, analyse, write] = report.stage_seconds;
    let p = &report.progress;
    let fps = if p.seconds > 0.0 { p.frames_done as f64 / p.seconds } else { 0.0 };
    println!("{}", report.summary());
    println!("{:.1} frames/s ({} frames in {:.1} s; busy: decode {decode:.1} s, detect+align+embed {analyse:.1} s, write {write:.1} s)", fps, p.frames_done, p.seconds);
    println!("faces in {}, alignments in {}", options.output.display(), report.alignments.display());
    if report.stopped {
        println!("stopped: run the same command again to resume");
    }
    Ok(())
}

fn options(args: &ExtractArgs, filter: IdentityFilter) -> ExtractOptions {
    let mut o = ExtractOptions::new(args.input.clone(), args.output.clone());
    o.alignments = args.alignments.clone();
    o.every_n = args.every_n;
    o.frames = args.frames;
    o.min_size = args.min_size;
    o.size = args.size;
    o.re_feed = args.re_feed;
    o.detect.min_confidence = args.min_confidence;
    o.max_spread = if args.keep_unstable { None } else { o.max_spread };
    o.filter = filter;
    o.batch = args.batch as usize;
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ranges() {
        assert_eq!(parse_range("100-250"), Ok((100, 250)));
        assert_eq!(parse_range("7-7"), Ok((7, 7)));
        assert!(parse_range("250-100").unwrap_err().contains("empty"));
        assert!(parse_range("12").unwrap_err().contains("not a range"));
        assert!(parse_range("a-3").unwrap_err().contains("not a frame number"));
    }
}
