//! `doppel convert`: a video with its faces swapped by a trained model, with a progress bar.
//! Ctrl-C stops and leaves no partial output.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Args, ValueEnum};
use doppel_engine::convert::{self, ColorMode, ConvertObserver, ConvertOptions, ConvertProgress, Direction, MaskChoice, MaskSettings, Swapper};
use doppel_engine::media::{EncodeSettings, VideoCodec};

use crate::cli::DeviceArg;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The source video.
    #[arg(short, long)]
    pub input: PathBuf,
    /// The video to write (.mp4, .mov or .mkv).
    #[arg(short, long)]
    pub output: PathBuf,
    /// The trained model folder.
    #[arg(short, long = "model-dir")]
    pub model_dir: PathBuf,
    /// The source's alignments store (made by `doppel extract`); without it, faces are found
    /// while converting.
    #[arg(long)]
    pub alignments: Option<PathBuf>,
    /// Folder with the face networks (used when there is no alignments store).
    #[arg(long, env = "DOPPEL_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = MaskArg::Extended)]
    pub mask: MaskArg,
    /// Shrink (positive) or grow (negative) the mask, percent of the face crop.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub erode: f32,
    /// Feather the mask edge: Gaussian blur sigma in pixels of the model's face.
    #[arg(long, default_value_t = 2.0)]
    pub blur: f32,
    /// Mask values under this fraction are cut (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub threshold: f32,
    #[arg(long, value_enum, default_value_t = ColorArg::AvgColor)]
    pub color: ColorArg,
    /// manual-balance: contrast, brightness and per-channel shifts, each -100..100.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true, value_parser = balance)]
    pub contrast: f32,
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true, value_parser = balance)]
    pub brightness: f32,
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true, value_parser = balance)]
    pub red: f32,
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true, value_parser = balance)]
    pub green: f32,
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true, value_parser = balance)]
    pub blue: f32,
    #[arg(long, value_enum, default_value_t = SharpenArg::None)]
    pub sharpen: SharpenArg,
    /// Sharpening amount (1.5 = 150 %).
    #[arg(long, default_value_t = 1.5)]
    pub sharpen_amount: f32,
    /// ffmpeg: a video with the source's audio; png: a folder of frames; gif: an animated GIF.
    #[arg(long, value_enum, default_value_t = WriterArg::Ffmpeg)]
    pub writer: WriterArg,
    #[arg(long, value_enum, default_value_t = CodecArg::H264)]
    pub codec: CodecArg,
    /// Constant rate factor (lower: better and bigger).
    #[arg(long, default_value_t = 18, value_parser = clap::value_parser!(u8).range(0..=51))]
    pub crf: u8,
    /// Encoder preset (ultrafast .. veryslow).
    #[arg(long, default_value = "medium")]
    pub preset: String,
    /// Swap only in these frame ranges, e.g. 0-100,250-300 (other frames are kept as they are).
    #[arg(long, value_delimiter = ',', value_parser = crate::extract_cli::parse_range)]
    pub frames: Vec<(u64, u64)>,
    #[arg(long, value_enum, default_value_t = DirectionArg::AToB)]
    pub direction: DirectionArg,
    /// Smooth landmarks over time so the face does not shake: the lowest cut-off frequency in
    /// Hz of a one-euro filter (lower is steadier; 1 to 3 suits talking heads; 0: off).
    #[arg(long, default_value_t = 0.0)]
    pub smooth: f64,
    /// Output size, percent of the source's.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=400))]
    pub output_scale: u32,
    #[arg(long, default_value = "auto", value_parser = DeviceArg::parse, help = DeviceArg::HELP)]
    pub device: DeviceArg,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// A manual-balance value: a number from -100 to 100.
fn balance(raw: &str) -> Result<f32, String> {
    raw.parse::<f32>().ok().filter(|v| (-100.0..=100.0).contains(v)).ok_or_else(|| format!("'{raw}' is not a number from -100 to 100"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MaskArg {
    Extended,
    Components,
    Learned,
    /// The mask painted in the frame editor where a face has one, extended elsewhere.
    Painted,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    AvgColor,
    ColorTransfer,
    MatchHist,
    SeamlessClone,
    /// By hand: --contrast, --brightness, --red, --green, --blue.
    ManualBalance,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WriterArg {
    Ffmpeg,
    Png,
    Gif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SharpenArg {
    None,
    Box,
    Gaussian,
    Unsharp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CodecArg {
    H264,
    H265,
}

impl CodecArg {
    pub fn codec(self) -> VideoCodec {
        match self {
            CodecArg::H264 => VideoCodec::H264,
            CodecArg::H265 => VideoCodec::H265,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    AToB,
    BToA,
}

struct Bar {
    bar: indicatif::ProgressBar,
    stop: Arc<AtomicBool>,
}

impl ConvertObserver for Bar {
    fn progress(&mut self, p: &ConvertProgress) {
        if let Some(total) = p.frames_total {
            self.bar.set_length(total);
        }
        self.bar.set_position(p.frames_done);
        let fps = if p.seconds > 0.0 { p.frames_done as f64 / p.seconds } else { 0.0 };
        self.bar.set_message(format!("{fps:.1} frames/s, {} faces swapped", p.faces_swapped));
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let device = crate::cli::to_device(args.device).to_burn()?;
    let swapper = Swapper::load(&args.model_dir, &device)?;
    let options = options(&args);
    let stop = crate::cli::stop_on_ctrl_c("stopping (no partial video is left)")?;
    let bar = if args.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} frames, {msg}, ETA {eta}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    let mut observer = Bar { bar, stop };
    let analyzer = match options.alignments {
        Some(_) => None,
        None => Some(doppel_engine::analyze::FaceAnalyzer::load(&doppel_engine::nets::ModelsDir::new(&args.models_dir), &device)?),
    };
    let report = convert::run(&swapper, &options, analyzer.as_ref(), &mut observer)?;
    observer.bar.finish_and_clear();
    println!("{}", report.summary());
    println!("written to {} (marked as synthetic media)", report.output.display());
    Ok(())
}

fn options(args: &ConvertArgs) -> ConvertOptions {
    let mut o = ConvertOptions::new(args.input.clone(), args.output.clone(), args.alignments.clone());
    o.mask = MaskSettings {
        kind: match args.mask {
            MaskArg::Extended => MaskChoice::Extended,
            MaskArg::Components => MaskChoice::Components,
            MaskArg::Learned => MaskChoice::Learned,
            MaskArg::Painted => MaskChoice::Painted,
            MaskArg::None => MaskChoice::None,
        },
        erode: args.erode,
        blur: args.blur,
        threshold: args.threshold,
    };
    o.color = match args.color {
        ColorArg::AvgColor => ColorMode::AvgColor,
        ColorArg::ColorTransfer => ColorMode::ColorTransfer,
        ColorArg::MatchHist => ColorMode::MatchHist,
        ColorArg::SeamlessClone => ColorMode::SeamlessClone,
        ColorArg::ManualBalance => ColorMode::ManualBalance { contrast: args.contrast, brightness: args.brightness, red: args.red, green: args.green, blue: args.blue },
        ColorArg::None => ColorMode::None,
    };
    o.encode = EncodeSettings {
        codec: args.codec.codec(),
        crf: args.crf,
        preset: args.preset.clone(),
    };
    o.ranges = args.frames.clone();
    o.scale = args.output_scale;
    o.writer = match args.writer {
        WriterArg::Ffmpeg => convert::OutputKind::Video,
        WriterArg::Png => convert::OutputKind::Png,
        WriterArg::Gif => convert::OutputKind::Gif,
    };
    o.sharpen = convert::SharpenSettings {
        mode: match args.sharpen {
            SharpenArg::None => convert::SharpenMode::None,
            SharpenArg::Box => convert::SharpenMode::Box,
            SharpenArg::Gaussian => convert::SharpenMode::Gaussian,
            SharpenArg::Unsharp => convert::SharpenMode::Unsharp,
        },
        amount: args.sharpen_amount,
        ..convert::SharpenSettings::default()
    };
    o.smooth = (args.smooth > 0.0).then(|| convert::SmoothSettings::with_cutoff(args.smooth));
    o.direction = match args.direction {
        DirectionArg::AToB => Direction::AToB,
        DirectionArg::BToA => Direction::BToA,
    };
    o
}
