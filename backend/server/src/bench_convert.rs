//! `doppel bench convert`: conversion frames/s next to a plain decode + encode of the same
//! video (the floor for this work), both in one run, with the ratio on its own line.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use doppel_engine::convert::{self, ConvertOptions, Quiet, Swapper};
use doppel_engine::media::{EncodeSettings, FrameReader, VideoWriter};

#[derive(Debug, Args)]
pub struct BenchConvertArgs {
    /// The video.
    #[arg(short, long)]
    pub input: PathBuf,
    /// A trained model folder.
    #[arg(short, long = "model-dir")]
    pub model_dir: PathBuf,
    /// The video's alignments store.
    #[arg(long)]
    pub alignments: PathBuf,
    /// Encoder preset for both runs.
    #[arg(long, default_value = "medium")]
    pub preset: String,
    #[arg(long, default_value = "auto", value_parser = crate::cli::DeviceArg::parse, help = crate::cli::DeviceArg::HELP)]
    pub device: crate::cli::DeviceArg,
}

pub fn run(args: BenchConvertArgs) -> anyhow::Result<()> {
    let device = crate::cli::to_device(args.device).to_burn()?;
    let swapper = Swapper::load(&args.model_dir, &device)?;
    let dir = tempfile_dir()?;
    let encode = EncodeSettings { preset: args.preset.clone(), ..EncodeSettings::default() };

    // The floor: every frame decoded and encoded again, audio copied, nothing else.
    let clock = Instant::now();
    let mut reader = FrameReader::open(&args.input)?;
    let mut writer = VideoWriter::create(&dir.join("plain.mp4"), reader.displayed_size(), reader.frame_rate().unwrap_or(25.0), &encode, Some(&args.input), None)?;
    for frame in reader.by_ref() {
        let frame = frame?;
        writer.write(&frame.image, frame.time)?;
    }
    let frames = writer.frames();
    writer.finish()?;
    let plain = frames as f64 / clock.elapsed().as_secs_f64();

    let mut options = ConvertOptions::new(args.input.clone(), dir.join("converted.mp4"), Some(args.alignments.clone()));
    options.encode = encode;
    let clock = Instant::now();
    let report = convert::run(&swapper, &options, None, &mut Quiet)?;
    let converted = report.progress.frames_done as f64 / clock.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    println!("doppel bench convert: {} ({} frames, {} faces), model {}, preset {}", args.input.display(), frames, report.progress.faces_swapped, swapper.file.model.kind.name(), args.preset);
    println!("plain decode + encode: {plain:.1} frames/s");
    println!("convert:               {converted:.1} frames/s");
    println!("ratio: {:.2}", converted / plain);
    Ok(())
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("doppel-bench-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
