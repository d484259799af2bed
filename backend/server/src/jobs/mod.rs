//! The job runner: takes queued jobs from the database, runs them off the async runtime's
//! request path, streams their progress to the database and to open pages, and records how
//! they ended. Jobs left running by a previous process are marked interrupted at start-up and
//! wait for a user to resume them.
//!
//! Workers run in lanes, so a long extraction never holds up the quick check of a new upload,
//! and a training run (hours) holds up neither: each worker claims only its lane's kinds, one
//! job at a time; the quick and heavy lanes have one worker each, the training lane one per
//! compute device the server found at start ([`EngineConfig::devices`]).
//!
//! Extraction, training and conversion jobs name their device in their parameters
//! (`"device": "cpu" | "cuda:N" | "wgpu:N"`): the one the user picked, else the server's
//! default (`--device`), written when the job is made, so a job always says where it runs
//! and a resumed one runs there again. A training worker claims only the training jobs of its
//! own device (the store's [`doppel_store::DeviceClaim`]): two runs on two devices train at
//! once, a second one on the same device waits in the queue instead of halving the first
//! one's speed. The default device's worker also takes the jobs that name no device the
//! server has, which then fail with a message that says so. The heavy lane's one worker runs
//! each job on that job's device.

pub mod convert;
mod engine;
mod extract;
mod probe;
pub mod train;

pub use engine::EngineConfig;

use crate::events::{EventBody, EventHub};
use app::api::ssr::{job_dto, JobControl};
use doppel_store::{Job, JobProgress, JobState, Store};
use doppel_engine::device::ComputeDevice;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// The kinds of work a job can do; stored by name in the job table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Probe an uploaded file with FFmpeg and make its thumbnail.
    Probe,
    /// Extract the faces of a video or photo into a face set.
    Extract,
    /// Train a swap model from two face sets.
    Train,
    /// Swap the faces of a video with a trained model.
    Convert,
}

/// Workers of one lane take only its kinds, one job at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Seconds of work: checking uploads.
    Quick,
    /// Minutes to hours of network inference.
    Heavy,
    /// Hours of training, one run per compute device.
    Train,
}

impl Lane {
    pub const ALL: [Lane; 3] = [Lane::Quick, Lane::Heavy, Lane::Train];

    /// Workers of the lane: one, and for training one per compute device of the server.
    pub fn workers(self, engine: &EngineConfig) -> usize {
        match self {
            Lane::Quick | Lane::Heavy => 1,
            Lane::Train => engine.devices.len().max(1),
        }
    }
}

impl JobKind {
    pub const ALL: [JobKind; 4] = [JobKind::Probe, JobKind::Extract, JobKind::Train, JobKind::Convert];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Probe => "probe",
            JobKind::Extract => app::api::EXTRACT_JOB,
            JobKind::Train => app::api::TRAIN_JOB,
            JobKind::Convert => app::api::CONVERT_JOB,
        }
    }

    pub fn lane(self) -> Lane {
        match self {
            JobKind::Probe => Lane::Quick,
            JobKind::Extract => Lane::Heavy,
            JobKind::Train => Lane::Train,
            JobKind::Convert => Lane::Heavy,
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a job's work ended, short of success.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cancelled by a user")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
}

impl From<doppel_store::StoreError> for JobError {
    fn from(e: doppel_store::StoreError) -> Self {
        JobError::Failed(e.to_string())
    }
}

/// Where a job is: units done of a total, and how to get its rate and ETA.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tick {
    done: u64,
    total: u64,
    pace: Pace,
}

/// Where a job's rate and ETA come from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
enum Pace {
    /// The units done since the job started.
    #[default]
    FromStart,
    /// The units done over the seconds the work itself took.
    Timed(f64),
    /// The work measured them itself (training: its recent speed, from a resumed count).
    Given { rate: Option<f64>, eta_secs: Option<f64> },
}

/// What a running job gets: its row, the store, the event hub, the engine settings, and its
/// progress and cancel handles.
pub struct JobCtx {
    pub job: Job,
    pub store: Store,
    pub hub: EventHub,
    pub engine: Arc<EngineConfig>,
    /// The face set folder locks, shared with the gallery (see [`crate::curation::SetLocks`]).
    pub set_locks: crate::curation::SetLocks,
    handle: JobHandle,
    message: Mutex<Option<String>>,
}

/// The progress and cancel handles of a job, for the worker thread that does its work.
#[derive(Clone)]
pub struct JobHandle {
    cancel: Arc<AtomicBool>,
    progress: Arc<watch::Sender<Tick>>,
}

impl JobHandle {
    /// Whether a user asked the job to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    pub fn progress(&self, done: u64, total: u64) {
        self.progress.send_replace(Tick { done, total, pace: Pace::FromStart });
    }

    /// Progress with the seconds the work itself took (the rate and ETA then leave out
    /// set-up time such as loading networks).
    pub fn progress_timed(&self, done: u64, total: u64, seconds: f64) {
        self.progress.send_replace(Tick { done, total, pace: Pace::Timed(seconds) });
    }

    /// Progress with the rate (units per second) and ETA the work measured itself.
    pub fn progress_paced(&self, done: u64, total: u64, rate: Option<f64>, eta_secs: Option<f64>) {
        self.progress.send_replace(Tick { done, total, pace: Pace::Given { rate, eta_secs } });
    }

    fn last(&self) -> Tick {
        *self.progress.borrow()
    }
}

impl JobCtx {
    /// Returns `Err(Cancelled)` once a user asked the job to stop.
    pub fn check_cancel(&self) -> Result<(), JobError> {
        if self.handle.cancelled() {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }

    pub fn progress(&self, done: u64, total: u64) {
        self.handle.progress(done, total);
    }

    /// A handle to move to the thread doing the work.
    pub fn handle(&self) -> JobHandle {
        self.handle.clone()
    }

    /// The device this job runs on (see [`EngineConfig::job_device`]).
    pub fn device(&self) -> Result<ComputeDevice, JobError> {
        self.engine.job_device(&self.job.params).map_err(JobError::Failed)
    }

    /// The job's last word on its work, kept whatever its end (see `Job::message`).
    pub fn set_message(&self, message: impl Into<String>) {
        *self.message.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.into());
    }

    pub async fn log(&self, line: &str) {
        if let Err(e) = self.store.append_job_log(self.job.id, line).await {
            tracing::warn!("job {}: could not write log: {e}", self.job.id);
        }
    }
}

pub struct JobRunner {
    store: Store,
    hub: EventHub,
    engine: Arc<EngineConfig>,
    set_locks: crate::curation::SetLocks,
    cancels: Mutex<HashMap<i64, Arc<AtomicBool>>>,
    wake: Notify,
}

impl JobRunner {
    /// The weights and device the jobs run with (the convert page's preview uses the same).
    pub fn engine(&self) -> &Arc<EngineConfig> {
        &self.engine
    }
}

/// How often progress is written and sent while a job runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

impl JobRunner {
    pub fn new(store: Store, hub: EventHub, engine: EngineConfig, set_locks: crate::curation::SetLocks) -> Arc<JobRunner> {
        Arc::new(JobRunner { store, hub, engine: Arc::new(engine), set_locks, cancels: Mutex::new(HashMap::new()), wake: Notify::new() })
    }

    /// Marks jobs of a previous process as interrupted and starts the lanes' workers: one
    /// each, and for training one per device.
    pub async fn start(self: &Arc<Self>) -> Result<(), doppel_store::StoreError> {
        for job in self.store.interrupt_running_jobs().await? {
            tracing::warn!("job {} ({}) was interrupted by a restart; resume it from its project page", job.id, job.kind);
        }
        for lane in Lane::ALL {
            let devices: Vec<Option<ComputeDevice>> = match lane {
                Lane::Train if self.engine.devices.is_empty() => vec![Some(self.engine.device)],
                Lane::Train => self.engine.devices.iter().map(|d| Some(d.device)).collect(),
                Lane::Quick | Lane::Heavy => vec![None],
            };
            debug_assert_eq!(devices.len(), lane.workers(&self.engine));
            for device in devices {
                let runner = Arc::clone(self);
                tokio::spawn(async move { runner.work(lane, device).await });
            }
        }
        Ok(())
    }

    /// A worker of `lane`; with `device`, it claims only that device's jobs.
    async fn work(self: Arc<Self>, lane: Lane, device: Option<ComputeDevice>) {
        let kinds: Vec<&str> = JobKind::ALL.iter().filter(|k| k.lane() == lane).map(|k| k.as_str()).collect();
        let own = device.map(|d| d.to_string());
        let known: Vec<String> = self.engine.devices.iter().map(|d| d.device.to_string()).collect();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        let claim = own.as_deref().map(|own| doppel_store::DeviceClaim {
            device: own,
            // The default device's worker also takes jobs naming no device the server has.
            known: (device == Some(self.engine.device)).then_some(known.as_slice()),
        });
        loop {
            match self.store.claim_next_job_on(&kinds, claim.as_ref()).await {
                Ok(Some(job)) => self.run(job).await,
                Ok(None) => {
                    // Woken by any new job; a worker of another lane just looks again.
                    let _ = tokio::time::timeout(Duration::from_secs(2), self.wake.notified()).await;
                }
                Err(e) => {
                    tracing::error!("job queue: {e}");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }

    async fn run(&self, job: Job) {
        let id = job.id;
        let cancel = Arc::new(AtomicBool::new(false));
        self.lock_cancels().insert(id, cancel.clone());
        self.announce(&job);
        let (tx, rx) = watch::channel(Tick { done: job.progress.done, total: job.progress.total, pace: Pace::FromStart });
        let handle = JobHandle { cancel, progress: Arc::new(tx) };
        let ctx = JobCtx {
            job: job.clone(),
            store: self.store.clone(),
            hub: self.hub.clone(),
            engine: self.engine.clone(),
            set_locks: self.set_locks.clone(),
            handle,
            message: Mutex::new(None),
        };
        let ticker = tokio::spawn(forward_progress(self.store.clone(), self.hub.clone(), job.clone(), rx));
        let outcome = match JobKind::parse(&job.kind) {
            Some(JobKind::Probe) => probe::run(&ctx).await,
            Some(JobKind::Extract) => extract::run(&ctx).await,
            Some(JobKind::Train) => train::run(&ctx).await,
            Some(JobKind::Convert) => convert::run(&ctx).await,
            None => Err(JobError::Failed(format!("unknown job kind '{}'", job.kind))),
        };
        ticker.abort();
        let Tick { done, total, .. } = ctx.handle.last();
        let last = JobProgress { done, total, rate: None, eta_secs: Some(0.0) };
        if let Err(e) = self.store.set_job_progress(id, &last).await {
            tracing::warn!("job {id}: {e}");
        }
        let message = ctx.message.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(m) = &message {
            ctx.log(m).await;
            if let Err(e) = self.store.set_job_message(id, m).await {
                tracing::warn!("job {id}: could not record its message: {e}");
            }
        }
        let (state, error) = match &outcome {
            Ok(()) => (JobState::Done, None),
            Err(JobError::Cancelled) => (JobState::Cancelled, Some("cancelled by a user".to_string())),
            Err(JobError::Failed(m)) => (JobState::Failed, Some(m.clone())),
        };
        if let Some(e) = &error {
            ctx.log(e).await;
        }
        match self.store.transition_job(id, state, error.as_deref()).await {
            Ok(j) => self.announce(&j),
            Err(e) => tracing::error!("job {id}: could not record its end: {e}"),
        }
        self.lock_cancels().remove(&id);
    }

    fn lock_cancels(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<AtomicBool>>> {
        self.cancels.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn announce(&self, job: &Job) {
        self.hub.send(job.project_id, EventBody::Job(job_dto(job.clone(), title(job))));
    }
}

impl JobControl for JobRunner {
    fn cancel_running(&self, job_id: i64) {
        if let Some(flag) = self.lock_cancels().get(&job_id) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    fn changed(&self, job: &Job) {
        self.announce(job);
        if job.state == JobState::Queued {
            // Every lane looks: the one that takes this kind claims it.
            self.wake.notify_waiters();
            // And a permit for a worker that was between two looks.
            self.wake.notify_one();
        }
    }

    fn title(&self, job: &Job) -> String {
        title(job)
    }
}

/// "check clip.mp4", "extract faces from clip.mp4", "train A to B"
pub fn title(job: &Job) -> String {
    let label = job.params.get("label").and_then(|l| l.as_str());
    match JobKind::parse(&job.kind) {
        Some(JobKind::Probe) => format!("check {}", label.unwrap_or("a file")),
        Some(JobKind::Extract) => format!("extract faces from {}", label.unwrap_or("a file")),
        Some(JobKind::Train) => format!("train {}", label.unwrap_or("a model")),
        Some(JobKind::Convert) => format!("convert {}", label.unwrap_or("a video")),
        None => job.kind.clone(),
    }
}

/// Rate (units per second since the job started) and ETA from the remaining units.
pub fn rate_and_eta(done: u64, total: u64, elapsed: Duration) -> (Option<f64>, Option<f64>) {
    let secs = elapsed.as_secs_f64();
    if done == 0 || secs <= 0.0 {
        return (None, None);
    }
    let rate = done as f64 / secs;
    (Some(rate), Some(total.saturating_sub(done) as f64 / rate))
}

async fn forward_progress(store: Store, hub: EventHub, mut job: Job, mut rx: watch::Receiver<Tick>) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tick.tick().await;
        if !rx.has_changed().unwrap_or(false) {
            continue;
        }
        let Tick { done, total, pace } = *rx.borrow_and_update();
        let (rate, eta_secs) = match pace {
            Pace::FromStart => rate_and_eta(done, total, started.elapsed()),
            Pace::Timed(seconds) => rate_and_eta(done, total, Duration::from_secs_f64(seconds)),
            Pace::Given { rate, eta_secs } => (rate, eta_secs),
        };
        job.progress = JobProgress { done, total, rate, eta_secs };
        if let Err(e) = store.set_job_progress(job.id, &job.progress).await {
            tracing::warn!("job {}: {e}", job.id);
        }
        hub.send(job.project_id, EventBody::Job(job_dto(job.clone(), title(&job))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doppel_engine::device::DeviceInfo;
    use doppel_engine::nets::ModelsDir;

    #[test]
    fn eta_comes_from_the_observed_rate() {
        let (rate, eta) = rate_and_eta(25, 100, Duration::from_secs(5));
        assert_eq!(rate, Some(5.0));
        assert_eq!(eta, Some(15.0));
        assert_eq!(rate_and_eta(0, 100, Duration::from_secs(5)), (None, None));
    }

    #[test]
    fn kinds_round_trip() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(JobKind::parse("nope"), None);
        assert_eq!(JobKind::Extract.as_str(), "extract", "the app starts extract jobs by this name");
        assert_eq!(JobKind::Train.as_str(), "train", "the app starts train jobs by this name");
        assert_eq!(JobKind::Probe.lane(), Lane::Quick);
        assert_eq!(JobKind::Extract.lane(), Lane::Heavy);
        assert_eq!(JobKind::Train.lane(), Lane::Train, "training has a lane of its own");
        assert_eq!(JobKind::Convert.as_str(), "convert", "the app starts convert jobs by this name");
        assert_eq!(JobKind::Convert.lane(), Lane::Heavy);
        assert_eq!(Lane::Train.workers(&EngineConfig::from_env()), 1, "one training run per device: a second one queues");
        let gpus = engine_with(&["cpu", "wgpu:0", "wgpu:1"], ComputeDevice::Wgpu(0));
        assert_eq!(Lane::Train.workers(&gpus), 3, "a training worker for each device");
        assert_eq!((Lane::Heavy.workers(&gpus), Lane::Quick.workers(&gpus)), (1, 1), "extraction and conversion keep one worker");
    }

    fn engine_with(devices: &[&str], default: ComputeDevice) -> EngineConfig {
        let devices = devices
            .iter()
            .map(|d| DeviceInfo { device: d.parse().unwrap(), name: d.to_string(), memory_bytes: None, software: false })
            .collect();
        EngineConfig::new(ModelsDir::from_env(), default, devices).unwrap()
    }

    #[test]
    fn a_job_runs_on_its_own_device_else_the_default_and_never_on_one_the_server_lacks() {
        let engine = engine_with(&["cpu", "wgpu:0"], ComputeDevice::Wgpu(0));
        assert_eq!(engine.job_device(&serde_json::json!({ "device": "cpu" })), Ok(ComputeDevice::Cpu));
        assert_eq!(engine.job_device(&serde_json::json!({ "label": "x" })), Ok(ComputeDevice::Wgpu(0)), "no device: the default");
        let gone = engine.job_device(&serde_json::json!({ "device": "wgpu:3" })).unwrap_err();
        assert!(gone.contains("wgpu:3") && gone.contains("it has cpu, wgpu:0"), "{gone}");
        assert!(engine.job_device(&serde_json::json!({ "device": "tpu" })).unwrap_err().contains("unknown device 'tpu'"));
        let err = EngineConfig::new(ModelsDir::from_env(), ComputeDevice::Cuda(0), engine.devices.clone()).unwrap_err();
        assert_eq!(err, "the device cuda:0 is not on this machine; it has cpu, wgpu:0");
    }
}
