//! Saving and resuming training so that no crash loses more than one save interval.
//!
//! A model folder holds `config.json` (the model and optimiser settings) and `save/`:
//! `weights.bpk`, `optimizer.bpk` (Burn's burnpack format) and `progress.json` (iteration and
//! loss history), with a `COMPLETE` marker written last. A save is written into a fresh
//! temporary folder, every file fsynced, then the old `save/` becomes `save.bak/` and the new
//! one takes its place by rename. Whenever the process dies, `save/` or `save.bak/` holds a
//! complete save, and [`resume`] takes the newest complete one.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;

use super::augment::AugmentSettings;
use crate::align::CropFrame;
use super::loss::LossSettings;
use super::model::SwapModelConfig;
use super::step::{OptimizerSettings, StepLoss, Trainer};

const CONFIG: &str = "config.json";
const SAVE: &str = "save";
const BACKUP: &str = "save.bak";
const COMPLETE: &str = "COMPLETE";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot read or write the model folder: {0}")]
    Io(#[from] std::io::Error),
    #[error("{path}: {reason}")]
    Record { path: PathBuf, reason: String },
    #[error("{0} is not a Doppel model folder (no config.json)")]
    NotAModel(PathBuf),
    #[error("{path}: the model settings are not valid: {source}")]
    BadConfig { path: PathBuf, source: serde_json::Error },
    #[error("{0} has no complete save to resume from")]
    NoSave(PathBuf),
}

/// What `config.json` holds: everything that decides how the model trains.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ModelFile {
    pub model: SwapModelConfig,
    pub optimizer: OptimizerSettings,
    #[serde(default)]
    pub training: TrainingSettings,
}

/// How batches are made (with the iteration count, this is the whole random state: see
/// [`super::loader`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrainingSettings {
    pub seed: u64,
    pub batch: usize,
    pub augment: AugmentSettings,
    pub loss: LossSettings,
    /// How much of the face-centred crop the model sees, as a fraction of its side (faceswap's
    /// coverage): less zooms in on the inner face.
    pub coverage: f32,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        TrainingSettings { seed: 0, batch: 16, augment: AugmentSettings::default(), loss: LossSettings::default(), coverage: 1.0 }
    }
}

/// Smallest and largest coverage.
pub const COVERAGE_RANGE: (f32, f32) = (0.5, 1.0);

impl TrainingSettings {
    /// The training crop: the face-centred frame shrunk to the coverage.
    pub fn frame(&self) -> CropFrame {
        let (lo, hi) = COVERAGE_RANGE;
        CropFrame { side: CropFrame::FACE.side * self.coverage.clamp(lo, hi), ..CropFrame::FACE }
    }
}

/// Where training is: the iterations done and the loss of every one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainProgress {
    pub iteration: u64,
    /// `[loss A, loss B]` per iteration.
    pub history: Vec<[f32; 2]>,
    /// The learning rate is multiplied by this: halved at each rollback after a NaN.
    #[serde(default = "one")]
    pub rate_scale: f64,
    /// Rollbacks after a NaN or infinite loss so far.
    #[serde(default)]
    pub rollbacks: u32,
}

fn one() -> f64 {
    1.0
}

impl Default for TrainProgress {
    fn default() -> Self {
        TrainProgress { iteration: 0, history: Vec::new(), rate_scale: 1.0, rollbacks: 0 }
    }
}

impl TrainProgress {
    pub fn record(&mut self, loss: StepLoss) {
        self.iteration += 1;
        self.history.push([loss.a, loss.b]);
    }
}

/// Writes a complete save of `trainer` and `progress` into `dir` (see the module docs), with
/// `training` in `config.json`.
pub fn save(trainer: &Trainer, progress: &TrainProgress, training: &TrainingSettings, dir: &Path) -> Result<(), SessionError> {
    std::fs::create_dir_all(dir)?;
    let file = ModelFile { model: trainer.config.clone(), optimizer: trainer.settings, training: training.clone() };
    doppel_fsio::write_atomic(&dir.join(CONFIG), &serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?)?;
    let tmp = doppel_fsio::temp_path(&dir.join(SAVE));
    std::fs::create_dir_all(&tmp)?;
    let written = write_save(trainer, progress, &tmp);
    if let Err(err) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(err);
    }
    let (save, backup) = (dir.join(SAVE), dir.join(BACKUP));
    if save.join(COMPLETE).is_file() {
        if backup.exists() {
            std::fs::remove_dir_all(&backup)?;
        }
        std::fs::rename(&save, &backup)?;
    } else if save.exists() {
        // An incomplete save/ (a crash between the renames cannot leave one, but a person
        // might): never let it shadow the backup.
        std::fs::remove_dir_all(&save)?;
    }
    std::fs::rename(&tmp, &save)?;
    sync_dir(dir);
    Ok(())
}

fn write_save(trainer: &Trainer, progress: &TrainProgress, tmp: &Path) -> Result<(), SessionError> {
    let record_err = |path: &Path, e: &dyn std::fmt::Display| SessionError::Record { path: path.into(), reason: e.to_string() };
    let weights = tmp.join("weights.bpk");
    trainer.model().clone().save_file(&weights).map_err(|e| record_err(&weights, &e))?;
    let optimizer = tmp.join("optimizer.bpk");
    trainer.optimizer.save(&optimizer).map_err(|e| record_err(&optimizer, &e))?;
    std::fs::write(tmp.join("progress.json"), serde_json::to_vec(progress).map_err(std::io::Error::other)?)?;
    for name in ["weights.bpk", "optimizer.bpk", "progress.json"] {
        std::fs::File::open(tmp.join(name))?.sync_all()?;
    }
    let mut done = std::fs::File::create(tmp.join(COMPLETE))?;
    std::io::Write::write_all(&mut done, b"ok\n")?;
    done.sync_all()?;
    sync_dir(tmp);
    Ok(())
}

/// The model folder's settings.
pub fn read_model_file(dir: &Path) -> Result<ModelFile, SessionError> {
    let path = dir.join(CONFIG);
    let bytes = std::fs::read(&path).map_err(|e| if e.kind() == std::io::ErrorKind::NotFound { SessionError::NotAModel(dir.into()) } else { e.into() })?;
    serde_json::from_slice(&bytes).map_err(|source| SessionError::BadConfig { path, source })
}

/// Whether `dir` holds a complete save to resume from.
pub fn has_save(dir: &Path) -> bool {
    [SAVE, BACKUP].iter().any(|s| dir.join(s).join(COMPLETE).is_file())
}

/// The newest complete save's folder in `dir`.
pub fn latest_save(dir: &Path) -> Option<PathBuf> {
    [SAVE, BACKUP].iter().map(|s| dir.join(s)).find(|s| s.join(COMPLETE).is_file())
}

/// Rebuilds the trainer and its progress from the newest complete save in `dir`.
pub fn resume(dir: &Path, device: &Device) -> Result<(Trainer, TrainProgress), SessionError> {
    let file = read_model_file(dir)?;
    let save = latest_save(dir).ok_or_else(|| SessionError::NoSave(dir.into()))?;
    // The seed does not matter: the saved weights replace the drawn ones.
    let mut trainer = Trainer::new(&file.model, file.optimizer, device, 0);
    let record_err = |path: PathBuf, e: &dyn std::fmt::Display| SessionError::Record { path, reason: e.to_string() };
    // The weights first: loading them restores the parameter ids the optimiser state is keyed by.
    let weights = save.join("weights.bpk");
    let model = trainer.take_model().try_load_file(&weights).map_err(|e| record_err(weights.clone(), &e))?;
    trainer.put_model(model);
    let optimizer = save.join("optimizer.bpk");
    let optim = std::mem::replace(&mut trainer.optimizer, super::step::fresh_optimizer(&file.optimizer));
    trainer.optimizer = optim.load(&optimizer).map_err(|e| record_err(optimizer.clone(), &e))?;
    let progress_path = save.join("progress.json");
    let progress = serde_json::from_slice(&std::fs::read(&progress_path)?).map_err(|e| record_err(progress_path, &e))?;
    Ok((trainer, progress))
}

/// The newest complete save's model in `dir`, ready for inference on `device` (no autodiff),
/// with the folder's settings.
pub fn load_model(dir: &Path, device: &Device) -> Result<(super::model::SwapModel, ModelFile), SessionError> {
    let file = read_model_file(dir)?;
    let save = latest_save(dir).ok_or_else(|| SessionError::NoSave(dir.into()))?;
    let weights = save.join("weights.bpk");
    let model = file.model.init(&device.clone().without_autodiff()).try_load_file(&weights).map_err(|e| SessionError::Record { path: weights.clone(), reason: e.to_string() })?;
    Ok((model, file))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::model::ModelKind;
    use crate::train::step::Batch;

    fn batch(seed: u32) -> Batch {
        let side = 64;
        let n = 2;
        let input: Vec<f32> = (0..n * 3 * side * side).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / (1u32 << 24) as f32).collect();
        let mask = vec![1.0; n * side * side];
        Batch { target: input.clone(), input, eyes: mask.clone(), mouth: mask.clone(), mask, size: n, input_side: side, output_side: side }
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("doppel-session-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Stopping after iteration k and resuming gives the same iteration k + 1 as going on.
    #[test]
    fn resume_is_exact_and_a_damaged_save_falls_back_to_the_backup() {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        let dir = scratch("exact");
        let settings = OptimizerSettings { learning_rate: 1e-4, ..OptimizerSettings::default() };
        let mut trainer = Trainer::new(&ModelKind::Lightweight.config(), settings, &device, 1);
        let mut progress = TrainProgress::default();
        let (a, b) = (batch(1), batch(2));
        for _ in 0..2 {
            progress.record(trainer.step(&a, &b));
        }
        save(&trainer, &progress, &TrainingSettings::default(), &dir).unwrap();
        progress.record(trainer.step(&a, &b));
        save(&trainer, &progress, &TrainingSettings::default(), &dir).unwrap();
        let going_on: Vec<StepLoss> = (0..2).map(|_| trainer.step(&a, &b)).collect();

        let (mut resumed, p) = resume(&dir, &device).unwrap();
        assert_eq!(p, progress);
        let after: Vec<StepLoss> = (0..2).map(|_| resumed.step(&a, &b)).collect();
        assert_eq!(after, going_on, "the resumed run must continue exactly");

        // A save cut short (no COMPLETE marker): the backup, one save older, is used.
        std::fs::remove_file(dir.join(SAVE).join(COMPLETE)).unwrap();
        let (_, older) = resume(&dir, &device).unwrap();
        assert_eq!(older.iteration, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn clear_errors_for_folders_that_are_not_models() {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        let dir = scratch("notmodel");
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(resume(&dir, &device), Err(SessionError::NotAModel(_))));
        std::fs::write(dir.join(CONFIG), b"{}").unwrap();
        assert!(matches!(resume(&dir, &device), Err(SessionError::BadConfig { .. })));
        let file = ModelFile { model: ModelKind::Lightweight.config(), optimizer: OptimizerSettings::default(), training: TrainingSettings::default() };
        std::fs::write(dir.join(CONFIG), serde_json::to_vec(&file).unwrap()).unwrap();
        assert!(matches!(resume(&dir, &device), Err(SessionError::NoSave(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
