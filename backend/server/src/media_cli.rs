//! `doppel media`: probe facts, frames out of and into videos, audio from another file,
//! rotation, cutting a time range.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use doppel_engine::media::{self, tools, EncodeSettings};

#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// What a file holds (container, codecs, size, rotation, frame rate, frame count,
    /// duration), as JSON.
    Info { file: PathBuf },
    /// Every frame of a video as numbered PNGs.
    Frames {
        #[arg(short, long)]
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// A folder of images (sorted by name) as a video.
    Video {
        #[arg(short, long)]
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, default_value_t = 25.0)]
        fps: f64,
        #[command(flatten)]
        encode: EncodeArgs,
    },
    /// The video of one file with the audio of another (no re-encoding).
    MuxAudio {
        #[arg(short, long)]
        input: PathBuf,
        /// The file whose audio is used.
        #[arg(short, long)]
        audio: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Turn a video clockwise by 90, 180 or 270 degrees (re-encoded; audio kept).
    Rotate {
        #[arg(short, long)]
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, value_parser = ["90", "180", "270"])]
        degrees: String,
        #[command(flatten)]
        encode: EncodeArgs,
    },
    /// Copy a time range without re-encoding (starts at the key frame before --start).
    Slice {
        #[arg(short, long)]
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// Seconds from the start.
        #[arg(long)]
        start: f64,
        #[arg(long)]
        end: f64,
    },
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[arg(long, value_enum, default_value_t = crate::convert_cli::CodecArg::H264)]
    pub codec: crate::convert_cli::CodecArg,
    #[arg(long, default_value_t = 18, value_parser = clap::value_parser!(u8).range(0..=51))]
    pub crf: u8,
    #[arg(long, default_value = "medium")]
    pub preset: String,
}

impl EncodeArgs {
    pub fn settings(&self) -> EncodeSettings {
        EncodeSettings { codec: self.codec.codec(), crf: self.crf, preset: self.preset.clone() }
    }
}

pub fn run(command: MediaCommand) -> anyhow::Result<()> {
    match command {
        MediaCommand::Info { file } => println!("{}", serde_json::to_string_pretty(&media::probe(&file)?)?),
        MediaCommand::Frames { input, output } => println!("{} frames written to {}", tools::frames_to_pngs(&input, &output)?, output.display()),
        MediaCommand::Video { input, output, fps, encode } => println!("{} frames written to {}", tools::pngs_to_video(&input, &output, fps, &encode.settings())?, output.display()),
        MediaCommand::MuxAudio { input, audio, output } => {
            tools::mux_audio(&input, &audio, &output)?;
            println!("written to {}", output.display());
        }
        MediaCommand::Rotate { input, output, degrees, encode } => {
            let degrees: u32 = degrees.parse()?;
            println!("{} frames written to {}", tools::rotate(&input, &output, degrees, &encode.settings())?, output.display());
        }
        MediaCommand::Slice { input, output, start, end } => {
            tools::slice(&input, &output, start, end)?;
            println!("written to {}", output.display());
        }
    }
    Ok(())
}
