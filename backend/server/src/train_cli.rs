//! `doppel train`: a swap model from two face sets, with a progress line. Saves every
//! `--save-every` iterations; Ctrl-C saves and stops; running the same command again resumes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use doppel_engine::train::loss::LossFunction;
use doppel_engine::train::{self, OptimizerKind, Saved, Started, Status, Timelapse, TrainObserver, TrainOptions, WarpMode};

use crate::cli::{DeviceArg, ModelArg};

/// Model sizes, for `--help` (the web form shows the same text).
pub use app::api::MODELS_HELP;

#[derive(Debug, Args)]
#[command(after_help = MODELS_HELP)]
pub struct TrainArgs {
    /// Faces of person A (a folder of face PNGs made by `doppel extract`).
    #[arg(short = 'A', long = "faces-a")]
    pub faces_a: PathBuf,
    /// Faces of person B.
    #[arg(short = 'B', long = "faces-b")]
    pub faces_b: PathBuf,
    /// The model folder (created if missing; an existing model resumes).
    #[arg(short = 'm', long = "model-dir")]
    pub model_dir: PathBuf,
    /// The model to train.
    #[arg(short = 't', long = "trainer", value_enum, default_value_t = ModelArg::Original)]
    pub model: ModelArg,
    /// Faces of each side per iteration [default: 16, or the model's own when resuming].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=512))]
    pub batch_size: Option<u64>,
    /// Stop when the model has this many iterations in all (default: until Ctrl-C).
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Save every N iterations.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..))]
    pub save_every: u64,
    /// Keep a copy of the save every N iterations (in <model-dir>/snapshots/).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub snapshot_every: Option<u64>,
    /// Faces of A for timelapse frames (with --timelapse-b and --timelapse-out).
    #[arg(long, requires_all = ["timelapse_b", "timelapse_out"])]
    pub timelapse_a: Option<PathBuf>,
    #[arg(long, requires_all = ["timelapse_a", "timelapse_out"])]
    pub timelapse_b: Option<PathBuf>,
    /// Folder for a preview frame at every save.
    #[arg(long, requires_all = ["timelapse_a", "timelapse_b"])]
    pub timelapse_out: Option<PathBuf>,
    /// Do not warp the model's input.
    #[arg(long, conflicts_with = "warp_to_landmarks")]
    pub no_warp: bool,
    /// Warp each face towards the landmarks of a similar face of the other side.
    #[arg(long)]
    pub warp_to_landmarks: bool,
    /// How much of the face crop the model sees (0.5 to 1; less zooms in on the inner face)
    /// [default: 1].
    #[arg(long)]
    pub coverage: Option<f32>,
    /// Do not flip faces left to right.
    #[arg(long)]
    pub no_flip: bool,
    /// A new model also learns the face's mask (used by conversion with --mask learned).
    #[arg(long)]
    pub learn_mask: bool,
    /// The main loss [default: ssim].
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
    /// A second loss added to the first [default: mae].
    #[arg(long, value_enum)]
    pub loss_2: Option<LossArg>,
    /// Weight of the second loss (0 turns it off) [default: 1].
    #[arg(long)]
    pub loss_2_weight: Option<f32>,
    /// How many times the eyes count in the loss [default: 3].
    #[arg(long)]
    pub eye_multiplier: Option<f32>,
    /// How many times the mouth counts in the loss [default: 2].
    #[arg(long)]
    pub mouth_multiplier: Option<f32>,
    /// Learning rate [default: 5e-5].
    #[arg(long)]
    pub lr: Option<f64>,
    /// The optimiser of a new model.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Raise the learning rate from 0 over this many iterations.
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Clip each parameter's gradient to this L2 norm.
    #[arg(long)]
    pub clip_norm: Option<f32>,
    /// Seed of the shuffling and augmentation of a new model.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads preparing batches.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub loader_threads: u64,
    #[arg(long, default_value = "auto", value_parser = DeviceArg::parse, help = DeviceArg::HELP)]
    pub device: DeviceArg,
    /// No progress bar; a plain line every --log-every iterations and at each save (the
    /// default when the output is not a terminal).
    #[arg(long)]
    pub quiet: bool,
    /// With --quiet: print a status line every N iterations (0: only at saves).
    #[arg(long, default_value_t = 0)]
    pub log_every: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LossArg {
    Mae,
    Mse,
    Ssim,
    MsSsim,
}

impl LossArg {
    fn function(self) -> LossFunction {
        match self {
            LossArg::Mae => LossFunction::Mae,
            LossArg::Mse => LossFunction::Mse,
            LossArg::Ssim => LossFunction::Ssim,
            LossArg::MsSsim => LossFunction::MsSsim,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerArg {
    Adam,
    Adamw,
}

/// The progress line, or plain log lines, and the Ctrl-C flag.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    log_every: u64,
    stop: Arc<AtomicBool>,
}

fn status_line(s: &Status) -> String {
    let eta = s.eta_seconds.map(|e| format!(", ETA {}", duration(e))).unwrap_or_default();
    format!("loss A {:.5}, B {:.5}, {:.1} examples/s, {:.0}% waiting for data{eta}", s.loss.a, s.loss.b, s.examples_per_second, 100.0 * s.data_wait)
}

/// `2h 05m`, `4m 10s`, `12s`.
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

impl TrainObserver for Progress {
    fn started(&mut self, s: &Started) {
        let how = if s.resumed { format!("resuming at iteration {}", s.iteration) } else { "new model".into() };
        let skipped = if s.skipped > 0 { format!(" ({} files that are not Doppel faces skipped)", s.skipped) } else { String::new() };
        println!("{} ({} parameters), {how}; {} faces of A, {} of B{skipped}; batch {}", s.kind.name(), s.params, s.faces[0], s.faces[1], s.batch);
        if let Some(bar) = &self.bar {
            bar.set_position(s.iteration);
        }
    }

    fn status(&mut self, s: &Status) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(s.iteration);
                bar.set_message(status_line(s));
            }
            None if self.log_every > 0 && s.iteration.is_multiple_of(self.log_every) => println!("iteration {}: {}", s.iteration, status_line(s)),
            None => {}
        }
    }

    fn saved(&mut self, s: &Saved) {
        let line = format!("saved at iteration {}; preview in {}", s.iteration, s.preview.display());
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }

    fn rolled_back(&mut self, to: u64, scale: f64) {
        eprintln!("the loss became NaN: rolled back to iteration {to}, learning rate x{scale}");
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let device = crate::cli::to_device(args.device).to_burn()?;
    let options = options(&args)?;
    let stop = crate::cli::stop_on_ctrl_c("saving, then stopping (Ctrl-C again to quit at once and keep the last save)")?;
    // Without a terminal (a log file, nohup, a pipe) indicatif draws nothing, not even its
    // println lines, so the run would print nothing until it ends: plain lines instead.
    let bar = (!args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = match args.iterations {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        let template = if args.iterations.is_some() { "{bar:25} {pos}/{len} it, {msg}" } else { "{spinner} iteration {pos}, {msg}" };
        bar.set_style(indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
        bar
    });
    let mut observer = Progress { bar, log_every: args.log_every, stop };
    let report = train::train(&options, &device, &mut observer)?;
    if let Some(bar) = &observer.bar {
        bar.finish_and_clear();
    }
    let loss = report.last_loss.map(|l| format!(", last loss A {:.5}, B {:.5}", l.a, l.b)).unwrap_or_default();
    println!("{} at iteration {}{loss}, model in {}", if report.stopped { "stopped" } else { "done" }, report.iteration, options.model_dir.display());
    if report.stopped {
        println!("run the same command again to go on");
    }
    Ok(())
}

/// The engine's options: the model's own settings when it exists, changed by the flags given.
fn options(args: &TrainArgs) -> anyhow::Result<TrainOptions> {
    let mut o = TrainOptions::new(args.faces_a.clone(), args.faces_b.clone(), args.model_dir.clone(), args.model.kind());
    if train::session::has_save(&args.model_dir) {
        let file = train::session::read_model_file(&args.model_dir)?;
        o.training = file.training;
        o.optimizer = file.optimizer;
        o.override_settings = true;
    }
    let t = &mut o.training;
    if let Some(b) = args.batch_size {
        t.batch = b as usize;
    }
    if let Some(seed) = args.seed {
        t.seed = seed;
    }
    if args.no_warp {
        t.augment.warp = WarpMode::None;
    } else if args.warp_to_landmarks {
        t.augment.warp = WarpMode::ToLandmarks;
    }
    if args.no_flip {
        t.augment.flip = 0.0;
    }
    if let Some(c) = args.coverage {
        let (lo, hi) = train::session::COVERAGE_RANGE;
        anyhow::ensure!((lo..=hi).contains(&c), "--coverage must be from {lo} to {hi}, not {c}");
        t.coverage = c;
    }
    if let Some(f) = args.loss {
        t.loss.function = f.function();
    }
    if let Some(f) = args.loss_2 {
        t.loss.secondary = Some(f.function());
    }
    for (value, name, target) in [(args.loss_2_weight, "--loss-2-weight", &mut t.loss.secondary_weight), (args.eye_multiplier, "--eye-multiplier", &mut t.loss.eye_multiplier), (args.mouth_multiplier, "--mouth-multiplier", &mut t.loss.mouth_multiplier)] {
        if let Some(v) = value {
            anyhow::ensure!(v.is_finite() && (0.0..=100.0).contains(&v), "{name} must be a number from 0 to 100, not {v}");
            *target = v;
        }
    }
    let opt = &mut o.optimizer;
    if let Some(lr) = args.lr {
        anyhow::ensure!(lr > 0.0 && lr.is_finite(), "--lr must be a positive number, not {lr}");
        opt.learning_rate = lr;
    }
    if let Some(kind) = args.optimizer {
        opt.kind = match kind {
            OptimizerArg::Adam => OptimizerKind::Adam,
            OptimizerArg::Adamw => OptimizerKind::AdamW,
        };
    }
    if let Some(w) = args.warmup {
        opt.warmup = w;
    }
    if let Some(c) = args.clip_norm {
        anyhow::ensure!(c > 0.0, "--clip-norm must be positive");
        opt.clip_norm = Some(c);
    }
    o.learn_mask = args.learn_mask;
    o.iterations = args.iterations;
    o.save_every = args.save_every;
    o.snapshot_every = args.snapshot_every;
    o.loader_threads = args.loader_threads as usize;
    o.timelapse = match (&args.timelapse_a, &args.timelapse_b, &args.timelapse_out) {
        (Some(a), Some(b), Some(out)) => Some(Timelapse { a: a.clone(), b: b.clone(), out: out.clone() }),
        _ => None,
    };
    Ok(o)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_well() {
        assert_eq!(super::duration(12.4), "12s");
        assert_eq!(super::duration(250.0), "4m 10s");
        assert_eq!(super::duration(7500.0), "2h 05m");
    }
}
