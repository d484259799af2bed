//! The train job: a swap model from two face sets of the project, by the engine's training
//! run on a blocking thread, in the model's folder.
//!
//! Every iteration becomes the job's progress (iterations of the target, with the run's own
//! speed and ETA); a few times a second at most it is also a `train` event with the losses
//! and examples/s for the live graph, and every save a `saved` event (the page reloads the
//! preview, the timelapse strip and the history). A cancel is the engine's stop: it saves
//! first. Resuming the job trains on from the model folder's newest save, with the model's own
//! settings changed only by the job's options (as `doppel train` does).

use super::{JobCtx, JobError, JobHandle};
use crate::events::{EventBody, EventHub};
use app::api::ssr::ModelFiles;
use app::api::{ModelSaved, TrainParams, TrainTick, WarpChoice};
use doppel_engine::train::session::{has_save, latest_save, read_model_file, TrainProgress};
use doppel_engine::train::{self, ModelKind, Saved, Started, Status, Timelapse, TrainObserver, TrainOptions, WarpMode};
use doppel_store::Store;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Least time between two `train` events of a run.
const TICK_EVERY: Duration = Duration::from_millis(250);

pub async fn run(ctx: &JobCtx) -> Result<(), JobError> {
    let params: TrainParams = serde_json::from_value(ctx.job.params.clone())
        .map_err(|e| JobError::Failed(format!("bad job parameters: {e}")))?;
    let store = &ctx.store;
    let project = ctx.job.project_id;
    let model = store
        .model(project, params.model_id)
        .await
        .map_err(|_| JobError::Failed("the model of this training is gone (in the trash?)".into()))?;
    let kind = ModelKind::ALL
        .into_iter()
        .find(|k| k.name() == model.kind)
        .ok_or_else(|| JobError::Failed(format!("'{}' is not a model this server can train", model.kind)))?;
    let mut sides = Vec::new();
    for (id, side) in [(params.face_set_a, "A"), (params.face_set_b, "B")] {
        let set = store
            .face_set(project, id)
            .await
            .map_err(|_| JobError::Failed(format!("the face set of person {side} is no longer in the project (in the trash?)")))?;
        sides.push((store.dirs().face_set_dir(project, set.id), format!("face set '{}'", set.name)));
    }
    let model_dir = store.dirs().model_dir(project, model.id);
    let paths = Paths {
        a: sides[0].0.clone(),
        b: sides[1].0.clone(),
        timelapse: store.dirs().model_timelapse_dir(project, model.id),
        model: model_dir.clone(),
    };
    // Errors name face sets and the model, never the server's folders.
    let mut names = sides.clone();
    names.push((model_dir, "the model's folder".into()));
    ctx.log(&describe(&params, &model.kind)).await;
    let on = ctx.device()?;
    ctx.log(&format!("on {on}")).await;
    let target = params.iterations.unwrap_or(0);
    ctx.handle().progress_paced(model.iteration, target, None, None);

    let (notes, inbox) = mpsc::unbounded_channel();
    let recorder = tokio::spawn(record(store.clone(), ctx.job.id, model.id, inbox));
    let observer = JobObserver {
        handle: ctx.handle(),
        hub: ctx.hub.clone(),
        project,
        model: model.id,
        job: ctx.job.id,
        batch: params.batch as usize,
        last_sent: None,
        last_loss: None,
        notes,
    };
    let work = tokio::task::spawn_blocking(move || -> Result<train::TrainReport, String> {
        let device = on.to_burn().map_err(|e| format!("cannot use the {on} device: {e}"))?;
        let options = options(&params, kind, &paths)?;
        let mut observer = observer;
        train::train(&options, &device, &mut observer).map_err(|e| e.to_string())
    })
    .await;
    // The observer is gone with the blocking task: the recorder has its last note.
    let _ = recorder.await;
    let report = match work {
        Ok(Ok(report)) => report,
        Ok(Err(message)) => return Err(JobError::Failed(without_paths(message, &names))),
        Err(join) => return Err(JobError::Failed(format!("the training crashed: {join}"))),
    };
    let loss = report.last_loss.map(|l| format!(", loss A {:.5}, B {:.5}", l.a, l.b)).unwrap_or_default();
    if report.stopped {
        ctx.set_message(format!("stopped at iteration {}{loss}; resume to train on", report.iteration));
        return Err(JobError::Cancelled);
    }
    ctx.set_message(format!("done at iteration {}{loss}", report.iteration));
    Ok(())
}

/// Where the run reads and writes.
struct Paths {
    a: PathBuf,
    b: PathBuf,
    model: PathBuf,
    timelapse: PathBuf,
}

/// The engine's options: the model's own settings when it has a save, changed by the job's
/// options (as `doppel train` merges its flags); the face sets of A and B are also the
/// timelapse's fixed faces.
fn options(p: &TrainParams, kind: ModelKind, paths: &Paths) -> Result<TrainOptions, String> {
    let mut o = TrainOptions::new(paths.a.clone(), paths.b.clone(), paths.model.clone(), kind);
    if has_save(&paths.model) {
        let file = read_model_file(&paths.model).map_err(|e| e.to_string())?;
        o.training = file.training;
        o.optimizer = file.optimizer;
        o.override_settings = true;
    }
    o.training.batch = p.batch as usize;
    o.training.augment.warp = match p.warp {
        WarpChoice::Random => WarpMode::Random,
        WarpChoice::ToLandmarks => WarpMode::ToLandmarks,
        WarpChoice::None => WarpMode::None,
    };
    if let Some(lr) = p.learning_rate {
        o.optimizer.learning_rate = lr;
    }
    o.iterations = p.iterations;
    o.save_every = p.save_every.max(1);
    o.timelapse = Some(Timelapse { a: paths.a.clone(), b: paths.b.clone(), out: paths.timelapse.clone() });
    Ok(o)
}

/// What the blocking run tells the async side to write down.
enum Note {
    Log(String),
    Saved { iteration: u64, loss: Option<(f32, f32)> },
}

/// Writes the run's notes: log lines to the job, saves to the model's row.
async fn record(store: Store, job: i64, model: i64, mut inbox: mpsc::UnboundedReceiver<Note>) {
    while let Some(note) = inbox.recv().await {
        let written = match note {
            Note::Log(line) => store.append_job_log(job, &line).await,
            Note::Saved { iteration, loss } => store.record_model_save(model, iteration, loss).await,
        };
        if let Err(e) = written {
            tracing::warn!("job {job}: {e}");
        }
    }
}

/// Reports to the job: iterations as progress, throttled `train` events, `saved` events, and
/// the cancel flag.
struct JobObserver {
    handle: JobHandle,
    hub: EventHub,
    project: i64,
    model: i64,
    job: i64,
    batch: usize,
    last_sent: Option<Instant>,
    last_loss: Option<(f32, f32)>,
    notes: mpsc::UnboundedSender<Note>,
}

impl JobObserver {
    fn note(&self, note: Note) {
        // The recorder only ends after the run: a closed channel cannot happen.
        let _ = self.notes.send(note);
    }
}

impl TrainObserver for JobObserver {
    fn started(&mut self, s: &Started) {
        self.batch = s.batch;
        let how = if s.resumed { format!("resuming at iteration {}", s.iteration) } else { "a new model".into() };
        let skipped = if s.skipped > 0 { format!(" ({} files that are not Doppel faces skipped)", s.skipped) } else { String::new() };
        self.note(Note::Log(format!("{} ({} parameters), {how}; {} faces of A, {} of B{skipped}; batch {}", s.kind.name(), s.params, s.faces[0], s.faces[1], s.batch)));
    }

    fn status(&mut self, s: &Status) {
        self.last_loss = Some((s.loss.a, s.loss.b));
        let per_iteration = 2.0 * self.batch.max(1) as f64;
        let rate = (s.examples_per_second > 0.0).then(|| s.examples_per_second / per_iteration);
        self.handle.progress_paced(s.iteration, s.target.unwrap_or(0), rate, s.eta_seconds);
        let due = self.last_sent.is_none_or(|t| t.elapsed() >= TICK_EVERY) || s.target == Some(s.iteration);
        if due {
            self.last_sent = Some(Instant::now());
            self.hub.send(
                self.project,
                EventBody::Train(TrainTick {
                    model_id: self.model,
                    job_id: self.job,
                    iteration: s.iteration,
                    target: s.target,
                    loss_a: s.loss.a,
                    loss_b: s.loss.b,
                    examples_per_second: s.examples_per_second,
                    eta_seconds: s.eta_seconds,
                }),
            );
        }
    }

    fn saved(&mut self, s: &Saved) {
        self.note(Note::Saved { iteration: s.iteration, loss: self.last_loss });
        self.hub.send(self.project, EventBody::Saved(ModelSaved { model_id: self.model, iteration: s.iteration, timelapse: s.timelapse.is_some() }));
    }

    fn rolled_back(&mut self, to: u64, scale: f64) {
        self.note(Note::Log(format!("the loss became NaN or infinite: rolled back to iteration {to}, learning rate x{scale}")));
    }

    fn should_stop(&self) -> bool {
        self.handle.cancelled()
    }
}

/// `message` with each folder replaced by what people call it.
fn without_paths(mut message: String, names: &[(PathBuf, String)]) -> String {
    for (path, name) in names {
        message = message.replace(&path.display().to_string(), name);
    }
    message
}

/// One log line with the options.
fn describe(p: &TrainParams, kind: &str) -> String {
    let target = p.iterations.map(|n| format!("to iteration {n}")).unwrap_or_else(|| "until stopped".into());
    let lr = p.learning_rate.map(|r| format!("learning rate {r:e}")).unwrap_or_else(|| "the model's learning rate".into());
    format!("training {} ({kind}): batch {}, {target}, saving every {}, {} warp, {lr}", p.label, p.batch, p.save_every, p.warp.label())
}

/// Reads the loss history from the engine's saves, for the web app's graph.
pub struct EngineModelFiles;

impl ModelFiles for EngineModelFiles {
    fn loss_history(&self, model_dir: &Path) -> Result<Vec<[f32; 2]>, String> {
        // A save swapped in between finding the newest one and reading it: look again.
        for _ in 0..3 {
            let Some(save) = latest_save(model_dir) else { return Ok(Vec::new()) };
            let path = save.join("progress.json");
            match std::fs::read(&path) {
                Ok(bytes) => {
                    return serde_json::from_slice::<TrainProgress>(&bytes).map(|p| p.history).map_err(|e| format!("{}: {e}", path.display()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Err(format!("{}: the saves kept changing while being read", model_dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_model_names_are_the_engines() {
        let engine: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(app::api::MODEL_KINDS.to_vec(), engine);
        assert!(app::api::MODEL_KINDS.contains(&app::api::DEFAULT_MODEL_KIND));
    }

    fn params() -> TrainParams {
        TrainParams {
            model_id: 1,
            label: "A to B".into(),
            face_set_a: 1,
            face_set_b: 2,
            kind: "lightweight".into(),
            batch: 2,
            iterations: Some(6),
            save_every: 2,
            warp: WarpChoice::ToLandmarks,
            learning_rate: Some(1e-4),
            device: Some("cpu".into()),
        }
    }

    #[test]
    fn job_options_become_the_engines_and_the_face_sets_make_the_timelapse() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths { a: dir.path().join("a"), b: dir.path().join("b"), model: dir.path().join("m"), timelapse: dir.path().join("m/timelapse") };
        let o = options(&params(), ModelKind::Lightweight, &paths).unwrap();
        assert_eq!((o.training.batch, o.training.augment.warp, o.optimizer.learning_rate), (2, WarpMode::ToLandmarks, 1e-4));
        assert_eq!((o.iterations, o.save_every, o.override_settings), (Some(6), 2, false));
        assert_eq!(o.timelapse, Some(Timelapse { a: paths.a.clone(), b: paths.b.clone(), out: paths.timelapse.clone() }));
        let default_rate = options(&TrainParams { learning_rate: None, ..params() }, ModelKind::Lightweight, &paths).unwrap();
        assert_eq!(default_rate.optimizer.learning_rate, train::OptimizerSettings::default().learning_rate);
    }

    #[test]
    fn messages_name_things_not_folders() {
        let names = [(PathBuf::from("/data/projects/1/models/3"), "the model's folder".to_string())];
        let m = without_paths("another training run is using /data/projects/1/models/3; stop it first".into(), &names);
        assert_eq!(m, "another training run is using the model's folder; stop it first");
        assert_eq!(describe(&params(), "lightweight"), "training A to B (lightweight): batch 2, to iteration 6, saving every 2, to landmarks warp, learning rate 1e-4");
    }

    #[test]
    fn a_model_without_saves_has_no_history() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(EngineModelFiles.loss_history(dir.path()).unwrap(), Vec::<[f32; 2]>::new());
    }
}
