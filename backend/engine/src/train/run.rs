//! A training run: new or resumed session, loader threads, iterations, saves with previews,
//! snapshots and timelapse frames, rollback after a NaN, and a save before every stop.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;

use super::data::{DataError, FaceSet};
use super::loader::{Loader, LoaderSettings};
use super::model::ModelKind;
use super::preview::{fixed_faces, grid, write_png, PREVIEW_FACES};
use super::session::{has_save, read_model_file, resume, save, SessionError, TrainProgress, TrainingSettings};
use super::step::{Batch, OptimizerSettings, StepLoss, Trainer};

/// Rollbacks after NaN or infinite losses before a run gives up.
pub const MAX_ROLLBACKS: u32 = 4;

/// The preview written at every save, in the model folder.
pub const PREVIEW: &str = "preview.png";

/// Snapshots live in this subfolder of the model folder, one folder per iteration.
pub const SNAPSHOTS: &str = "snapshots";

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("cannot write to the model folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("{dir} holds a {found} model, not {asked}: pick another folder or train it as {found}")]
    OtherKind { dir: PathBuf, found: &'static str, asked: &'static str },
    #[error("another training run is using {0}; stop it first (one run per model folder)")]
    Busy(PathBuf),
    #[error("training diverged: the loss became NaN or infinite {rollbacks} times (last at iteration {iteration}) even after lowering the learning rate each time; the last good save is kept in the model folder. Try a lower --lr, --clip-norm or a smaller batch")]
    Diverged { iteration: u64, rollbacks: u32 },
}

/// Fixed faces to show the model's progress on over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Timelapse {
    pub a: PathBuf,
    pub b: PathBuf,
    pub out: PathBuf,
}

/// What a run does.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub faces_a: PathBuf,
    pub faces_b: PathBuf,
    pub model_dir: PathBuf,
    /// The model of a new session (a resumed one must be the same kind).
    pub kind: ModelKind,
    /// Whether a new model learns a mask.
    pub learn_mask: bool,
    /// Stop when this many iterations are done in all (`None`: until stopped).
    pub iterations: Option<u64>,
    pub save_every: u64,
    /// Keep a copy of the save every this many iterations.
    pub snapshot_every: Option<u64>,
    /// For a new session; a resumed one keeps its own unless `override_settings`.
    pub training: TrainingSettings,
    pub optimizer: OptimizerSettings,
    /// Apply `training` and `optimizer` to a resumed session too (a new learning rate or
    /// batch size, say).
    pub override_settings: bool,
    pub loader_threads: usize,
    pub timelapse: Option<Timelapse>,
}

impl TrainOptions {
    pub fn new(faces_a: PathBuf, faces_b: PathBuf, model_dir: PathBuf, kind: ModelKind) -> TrainOptions {
        TrainOptions {
            faces_a,
            faces_b,
            model_dir,
            kind,
            learn_mask: false,
            iterations: None,
            save_every: 250,
            snapshot_every: None,
            training: TrainingSettings::default(),
            optimizer: OptimizerSettings::default(),
            override_settings: false,
            loader_threads: 2,
            timelapse: None,
        }
    }
}

/// How the run started.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub kind: ModelKind,
    pub params: usize,
    pub iteration: u64,
    pub resumed: bool,
    pub faces: [usize; 2],
    /// Files in the face folders that are not Doppel faces.
    pub skipped: usize,
    pub batch: usize,
}

/// Where the run is, after every iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub iteration: u64,
    pub target: Option<u64>,
    pub loss: StepLoss,
    /// 2 x batch x iterations per second, over the last iterations.
    pub examples_per_second: f64,
    /// Fraction of the time the model waited for the loader.
    pub data_wait: f64,
    pub eta_seconds: Option<f64>,
    pub learning_rate: f64,
}

/// A save just written.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub iteration: u64,
    pub preview: PathBuf,
    pub snapshot: Option<PathBuf>,
    pub timelapse: Option<PathBuf>,
}

/// Receives the run's events (for progress bars and the web page).
pub trait TrainObserver: Send {
    fn started(&mut self, _started: &Started) {}
    fn status(&mut self, _status: &Status) {}
    fn saved(&mut self, _saved: &Saved) {}
    fn rolled_back(&mut self, _to_iteration: u64, _rate_scale: f64) {}
    /// Polled between iterations: `true` saves and stops.
    fn should_stop(&self) -> bool {
        false
    }
}

/// An observer that does nothing.
pub struct Quiet;
impl TrainObserver for Quiet {}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    pub iteration: u64,
    pub last_loss: Option<StepLoss>,
    pub stopped: bool,
    pub seconds: f64,
}

/// Trains until the target iteration count or a stop, saving as it goes.
pub fn train(options: &TrainOptions, device: &Device, observer: &mut dyn TrainObserver) -> Result<TrainReport, TrainError> {
    let started_at = Instant::now();
    let dir = &options.model_dir;
    let (set_a, set_b) = (FaceSet::open(&options.faces_a)?, FaceSet::open(&options.faces_b)?);
    let _lock = lock(dir)?;
    let (mut trainer, mut progress, training, resumed) = open_session(options, device)?;
    let config = trainer.config.clone();
    let (input, output) = (config.input_size(), config.output_size());
    let frame = training.frame();
    let previews = (fixed_faces(&set_a, PREVIEW_FACES, frame, input, output)?, fixed_faces(&set_b, PREVIEW_FACES, frame, input, output)?);
    let timelapse = match &options.timelapse {
        Some(t) => Some((fixed_faces(&FaceSet::open(&t.a)?, PREVIEW_FACES, frame, input, output)?, fixed_faces(&FaceSet::open(&t.b)?, PREVIEW_FACES, frame, input, output)?, t.out.clone())),
        None => None,
    };
    observer.started(&Started {
        kind: config.kind,
        params: trainer.num_params(),
        iteration: progress.iteration,
        resumed,
        faces: [set_a.faces.len(), set_b.faces.len()],
        skipped: set_a.skipped + set_b.skipped,
        batch: training.batch,
    });
    let loader_settings = LoaderSettings { batch: training.batch, input, output, frame, augment: training.augment, seed: training.seed, threads: options.loader_threads, ahead: 2 };
    let mut loader = Loader::start(set_a.clone(), set_b.clone(), loader_settings.clone(), progress.iteration)?;
    let mut saved_at = if resumed { Some(progress.iteration) } else { None };
    let mut speed = Speed::new();
    let mut last_loss = None;
    let mut stopped = false;
    loop {
        if options.iterations.is_some_and(|t| progress.iteration >= t) {
            break;
        }
        if observer.should_stop() {
            stopped = true;
            break;
        }
        let (a, b) = loader.next_batches()?;
        let rate = trainer.settings.rate_at(progress.iteration) * progress.rate_scale;
        let loss = trainer.step_at(&a, &b, rate);
        if !(loss.a.is_finite() && loss.b.is_finite()) {
            let (rollbacks, scale) = (progress.rollbacks + 1, progress.rate_scale / 2.0);
            if rollbacks > MAX_ROLLBACKS {
                return Err(TrainError::Diverged { iteration: progress.iteration + 1, rollbacks });
            }
            (trainer, progress) = if saved_at.is_some() { resume(dir, device)? } else { (Trainer::new(&config, trainer.settings, device, training.seed), TrainProgress::default()) };
            trainer.loss = training.loss;
            progress.rollbacks = rollbacks;
            progress.rate_scale = scale;
            tracing::warn!("the loss became NaN or infinite: rolled back to iteration {} with the learning rate scaled by {scale}", progress.iteration);
            observer.rolled_back(progress.iteration, scale);
            drop(loader);
            loader = Loader::start(set_a.clone(), set_b.clone(), loader_settings.clone(), progress.iteration)?;
            speed = Speed::new();
            continue;
        }
        progress.record(loss);
        last_loss = Some(loss);
        let per_second = speed.tick(2 * training.batch, loader.take_waited().as_secs_f64());
        let eta = options.iterations.and_then(|t| (per_second.0 > 0.0).then(|| (t - progress.iteration) as f64 * 2.0 * training.batch as f64 / per_second.0));
        observer.status(&Status { iteration: progress.iteration, target: options.iterations, loss, examples_per_second: per_second.0, data_wait: per_second.1, eta_seconds: eta, learning_rate: rate });
        if progress.iteration.is_multiple_of(options.save_every.max(1)) {
            let s = save_all(&trainer, &progress, &training, options, &previews, timelapse.as_ref())?;
            saved_at = Some(progress.iteration);
            observer.saved(&s);
        }
    }
    if saved_at != Some(progress.iteration) && progress.iteration > 0 {
        let s = save_all(&trainer, &progress, &training, options, &previews, timelapse.as_ref())?;
        observer.saved(&s);
    }
    Ok(TrainReport { iteration: progress.iteration, last_loss, stopped, seconds: started_at.elapsed().as_secs_f64() })
}

/// Holds the model folder for this run (released when the process ends, however it ends),
/// and clears what runs killed mid-save left behind.
fn lock(dir: &Path) -> Result<std::fs::File, TrainError> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(".lock"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(TrainError::Busy(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
    }
    for folder in [dir.to_path_buf(), dir.join(SNAPSHOTS)] {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let path = entry.path();
                let _ = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            }
        }
    }
    Ok(file)
}

/// A new session, or the newest save of the model folder.
fn open_session(options: &TrainOptions, device: &Device) -> Result<(Trainer, TrainProgress, TrainingSettings, bool), TrainError> {
    let dir = &options.model_dir;
    if !has_save(dir) {
        let mut trainer = Trainer::new(&options.kind.config_with_mask(options.learn_mask), options.optimizer, device, options.training.seed);
        trainer.loss = options.training.loss;
        return Ok((trainer, TrainProgress::default(), options.training.clone(), false));
    }
    let file = read_model_file(dir)?;
    if file.model.kind != options.kind {
        return Err(TrainError::OtherKind { dir: dir.clone(), found: file.model.kind.name(), asked: options.kind.name() });
    }
    let (mut trainer, progress) = resume(dir, device)?;
    let training = if options.override_settings {
        trainer.settings = OptimizerSettings { kind: trainer.settings.kind, ..options.optimizer };
        options.training.clone()
    } else {
        file.training
    };
    trainer.loss = training.loss;
    Ok((trainer, progress, training, true))
}

/// A save, its preview, and the snapshot and timelapse frame when due.
fn save_all(trainer: &Trainer, progress: &TrainProgress, training: &TrainingSettings, options: &TrainOptions, previews: &(Batch, Batch), timelapse: Option<&(Batch, Batch, PathBuf)>) -> Result<Saved, TrainError> {
    let dir = &options.model_dir;
    save(trainer, progress, training, dir)?;
    let preview = dir.join(PREVIEW);
    write_png(&grid(trainer, &previews.0, &previews.1), &preview)?;
    let snapshot = match options.snapshot_every {
        Some(every) if progress.iteration.is_multiple_of(every.max(1)) => Some(snapshot(dir, progress.iteration)?),
        _ => None,
    };
    let timelapse = match timelapse {
        Some((a, b, out)) => {
            std::fs::create_dir_all(out)?;
            let path = out.join(format!("{:08}.png", progress.iteration));
            write_png(&grid(trainer, a, b), &path)?;
            Some(path)
        }
        None => None,
    };
    Ok(Saved { iteration: progress.iteration, preview, snapshot, timelapse })
}

/// Keeps the current save as `snapshots/<iteration>/`. Saves are written as new files, never
/// changed in place, so hard links share the bytes safely; a copy where links are refused.
fn snapshot(dir: &Path, iteration: u64) -> std::io::Result<PathBuf> {
    let target = dir.join(SNAPSHOTS).join(format!("{iteration:08}"));
    let tmp = doppel_fsio::temp_path(&target);
    std::fs::create_dir_all(tmp.join("save"))?;
    let save = dir.join("save");
    for entry in std::fs::read_dir(&save)? {
        let entry = entry?;
        let to = tmp.join("save").join(entry.file_name());
        if std::fs::hard_link(entry.path(), &to).is_err() {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    std::fs::copy(dir.join("config.json"), tmp.join("config.json"))?;
    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    std::fs::rename(&tmp, &target)?;
    Ok(target)
}

/// Examples per second and loader wait over a sliding window of iterations.
struct Speed {
    window: std::collections::VecDeque<(Instant, usize, f64)>,
}

impl Speed {
    const WINDOW: usize = 20;

    fn new() -> Speed {
        Speed { window: std::iter::once((Instant::now(), 0, 0.0)).collect() }
    }

    /// Records an iteration of `examples` after `waited` seconds of loader wait; returns
    /// (examples per second, fraction of time waiting).
    fn tick(&mut self, examples: usize, waited: f64) -> (f64, f64) {
        self.window.push_back((Instant::now(), examples, waited));
        if self.window.len() > Self::WINDOW + 1 {
            self.window.pop_front();
        }
        let (first, last) = (self.window.front().map(|w| w.0), self.window.back().map(|w| w.0));
        let seconds = match (first, last) {
            (Some(f), Some(l)) => (l - f).as_secs_f64(),
            _ => 0.0,
        };
        let (examples, waited) = self.window.iter().skip(1).fold((0, 0.0), |(e, w), x| (e + x.1, w + x.2));
        if seconds <= 0.0 {
            return (0.0, 0.0);
        }
        (examples as f64 / seconds, (waited / seconds).min(1.0))
    }
}

#[cfg(test)]
mod tests;
