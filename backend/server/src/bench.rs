//! `doppel bench ...`: speed measured against a reference run in the same go, printed as
//! frames/s per stage and a `ratio: X.XX` line (Doppel / reference).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use doppel_engine::analyze::{AnalyzeOptions, FaceAnalyzer};
use doppel_engine::extract::{self, ExtractOptions, Silent};
use doppel_engine::media::FrameReader;
use doppel_engine::nets::ModelsDir;
use image::RgbImage;

use crate::cli::{DeviceArg, ModelArg};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Extraction: frames/s per stage and overall, next to face-api.js (the networks as
    /// their authors ship them, on TensorFlow.js under Node) on the same frames.
    Extract(BenchExtractArgs),
    /// Training: examples/s (2 x batch x iterations / s) and inference faces/s after warm-up,
    /// next to the same model in TensorFlow on the CPU in the same run (Original only).
    Train(BenchTrainArgs),
    /// Conversion: frames/s next to a plain decode + encode of the same video in the same
    /// run.
    Convert(crate::bench_convert::BenchConvertArgs),
    /// The web server under load: many users on one project (pages, event streams, uploads,
    /// sorts, trash and restore), p50/p99 latency and errors, a consistency check of the face
    /// set, its alignments store and the database; `--kills N` adds N crashes (SIGKILL) at
    /// random moments, each followed by a restart and the same check.
    Serve(crate::bench_serve::BenchServeArgs),
}

#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// The model.
    #[arg(short = 't', long = "trainer", value_enum, default_value_t = ModelArg::Original)]
    pub model: ModelArg,
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Timed iterations (after the warm-up).
    #[arg(long, default_value_t = 5)]
    pub iterations: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Faces per inference batch.
    #[arg(long, default_value_t = 64)]
    pub infer_batch: usize,
    /// Threads for the reference (this machine's cores by default).
    #[arg(long)]
    pub threads: Option<usize>,
    /// The reference script (scripts/bench/original_tf.py).
    #[arg(long, default_value = "scripts/bench/original_tf.py")]
    pub reference: PathBuf,
    /// Skip the reference: Doppel's numbers only, no ratio.
    #[arg(long)]
    pub no_reference: bool,
    /// Also time each block of the model, forward and backward.
    #[arg(long)]
    pub layers: bool,
    #[arg(long, default_value = "auto", value_parser = DeviceArg::parse, help = DeviceArg::HELP)]
    pub device: DeviceArg,
}

#[derive(Debug, Args)]
pub struct BenchExtractArgs {
    /// The video to measure on.
    #[arg(short, long)]
    pub input: PathBuf,
    /// Frames to use from the start of the video (0 = all).
    #[arg(long, default_value_t = 150)]
    pub frames: u64,
    /// Frames per network batch.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    #[arg(long, env = "DOPPEL_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    #[arg(long, default_value = "auto", value_parser = DeviceArg::parse, help = DeviceArg::HELP)]
    pub device: DeviceArg,
    /// The reference runner (scripts/bench/face-api-reference.mjs).
    #[arg(long, default_value = "scripts/bench/face-api-reference.mjs")]
    pub reference: PathBuf,
    /// TensorFlow.js backend of the reference: wasm or cpu.
    #[arg(long, default_value = "wasm")]
    pub reference_backend: String,
    /// Threads for the reference's WASM backend.
    #[arg(long, default_value_t = 2)]
    pub reference_threads: u32,
    /// Skip the reference (no Node.js): prints Doppel's numbers only, and no ratio.
    #[arg(long)]
    pub no_reference: bool,
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Extract(args) => extract_bench(args),
        BenchCommand::Train(args) => crate::bench_train::run(args),
        BenchCommand::Convert(args) => crate::bench_convert::run(args),
        BenchCommand::Serve(args) => crate::bench_serve::run(args),
    }
}

/// What the reference runner prints.
#[derive(Debug, serde::Deserialize)]
struct Reference {
    backend: String,
    frames: u64,
    faces: u64,
    seconds: ReferenceSeconds,
}

#[derive(Debug, serde::Deserialize)]
struct ReferenceSeconds {
    detect: f64,
    landmarks: f64,
    descriptor: f64,
    total: f64,
}

fn extract_bench(args: BenchExtractArgs) -> anyhow::Result<()> {
    let compute = crate::cli::to_device(args.device);
    let device = compute.to_burn()?;
    let analyzer = FaceAnalyzer::load(&ModelsDir::new(&args.models_dir), &device)?;
    let scratch = std::env::temp_dir().join(format!("doppel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = measure(&args, compute, &analyzer, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn measure(args: &BenchExtractArgs, compute: doppel_engine::device::ComputeDevice, analyzer: &FaceAnalyzer, scratch: &Path) -> anyhow::Result<()> {
    // Decode: every frame, upright RGB.
    let clock = Instant::now();
    let mut reader = FrameReader::open(&args.input).with_context(|| args.input.display().to_string())?;
    let limit = if args.frames == 0 { u64::MAX } else { args.frames };
    let mut frames: Vec<RgbImage> = Vec::new();
    while (frames.len() as u64) < limit {
        match reader.next_frame(&mut |_| true)? {
            Some(frame) => frames.push(frame.image),
            None => break,
        }
    }
    let decode = clock.elapsed().as_secs_f64();
    anyhow::ensure!(!frames.is_empty(), "{}: no frames could be decoded", args.input.display());
    let n = frames.len() as f64;
    let (w, h) = frames[0].dimensions();
    println!("doppel bench extract: {}, {w}x{h}, {} frames, batch {}, {}", args.input.display(), frames.len(), args.batch, compute);

    // Analysis stages, batched as extraction batches them (warm-up batch first, untimed).
    let options = AnalyzeOptions::default();
    let batch = args.batch.max(1);
    let warm: Vec<&RgbImage> = frames.iter().take(batch).collect();
    analyzer.analyze_batch(&warm, &options)?;
    let mut stages = [0.0f64; 3];
    let mut faces = 0;
    for chunk in frames.chunks(batch) {
        let refs: Vec<&RgbImage> = chunk.iter().collect();
        let (found, t) = analyzer.analyze_batch_timed(&refs, &options)?;
        faces += found.iter().map(Vec::len).sum::<usize>();
        stages.iter_mut().zip(t).for_each(|(s, t)| *s += t);
    }
    let analysis: f64 = stages.iter().sum();

    // The whole pipeline as `doppel extract` runs it (stages overlapped, PNGs written).
    let mut opts = ExtractOptions::new(args.input.clone(), scratch.join("faces"));
    opts.frames = Some((0, frames.len() as u64 - 1));
    opts.batch = batch;
    let report = extract::run(analyzer, &opts, &mut Silent)?;
    let pipeline_fps = report.progress.frames_done as f64 / report.progress.seconds.max(1e-9);

    let line = |name: &str, seconds: f64, note: &str| println!("  {name:<11} {:>8.1} frames/s  {note}", n / seconds.max(1e-9));
    line("decode", decode, "(FFmpeg, upright RGB)");
    line("detect", stages[0], "(SSD MobileNetV1, 512x512)");
    line("landmarks", stages[1], "(68 points; re-feed runs of the face check)");
    line("descriptor", stages[2], "(128-d identity)");
    line("write", report.stage_seconds[2], "(align, 512 crop, masks, PNG, store)");
    println!("  {:<11} {:>8.1} frames/s  (doppel extract: all stages overlapped; {faces} faces in {} frames)", "pipeline", pipeline_fps, frames.len());

    if args.no_reference {
        println!("reference: skipped (--no-reference)");
        return Ok(());
    }
    let reference = reference(args, &frames, scratch)?;
    let rn = reference.frames as f64;
    println!("reference: face-api 1.7.15 on TensorFlow.js {} ({} threads), same {} frames, {} faces", reference.backend, args.reference_threads, reference.frames, reference.faces);
    for (name, s) in [("detect", reference.seconds.detect), ("landmarks", reference.seconds.landmarks), ("descriptor", reference.seconds.descriptor)] {
        println!("  {name:<11} {:>8.1} frames/s", rn / s.max(1e-9));
    }
    let doppel_fps = n / analysis.max(1e-9);
    let reference_fps = rn / reference.seconds.total.max(1e-9);
    println!("analysis (detect + landmarks + descriptor): doppel {doppel_fps:.1} frames/s, reference {reference_fps:.1} frames/s");
    println!("ratio: {:.2}", doppel_fps / reference_fps);
    Ok(())
}

/// Writes the frames as binary PPM and runs the Node reference on them.
fn reference(args: &BenchExtractArgs, frames: &[RgbImage], scratch: &Path) -> anyhow::Result<Reference> {
    let dir = scratch.join("ppm");
    std::fs::create_dir_all(&dir)?;
    for (i, f) in frames.iter().enumerate() {
        let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join(format!("{i:06}.ppm")))?);
        write!(file, "P6\n{} {}\n255\n", f.width(), f.height())?;
        file.write_all(f.as_raw())?;
    }
    anyhow::ensure!(args.reference.is_file(), "the reference runner {} is missing: run from the repository root, or pass --reference (or --no-reference)", args.reference.display());
    let setup = args.reference.with_file_name("setup.sh");
    if setup.is_file() {
        let status = Command::new("bash").arg(&setup).status().context("running the reference's setup (bash)")?;
        anyhow::ensure!(status.success(), "{} failed", setup.display());
    }
    let models = args.models_dir.join("face-api");
    let out = Command::new("node")
        .arg(&args.reference)
        .args(["--models".as_ref(), models.as_os_str(), "--frames".as_ref(), dir.as_os_str()])
        .args(["--backend", &args.reference_backend, "--threads", &args.reference_threads.to_string()])
        .output()
        .context("running the reference with node (is Node.js installed? or pass --no-reference)")?;
    anyhow::ensure!(out.status.success(), "the reference failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    let text = String::from_utf8_lossy(&out.stdout);
    let json = text.lines().rev().find(|l| l.trim_start().starts_with('{')).context("the reference printed no JSON")?;
    serde_json::from_str(json).with_context(|| format!("the reference's output is not what was expected: {json}"))
}
