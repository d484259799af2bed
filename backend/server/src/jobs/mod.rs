//! The job runner: takes queued jobs from the database, runs them off the async runtime's
//! request path, streams their progress to the database and to open pages, and records how
//! they ended. Jobs left running by a previous process are marked interrupted at start-up and
//! wait for a user to resume them.

mod probe;

use crate::events::{EventBody, EventHub};
use app::api::ssr::{job_dto, JobControl};
use doppel_store::{Job, JobProgress, JobState, Store};
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
}

impl JobKind {
    pub const ALL: [JobKind; 1] = [JobKind::Probe];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Probe => "probe",
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

/// What a running job gets: its row, the store, the event hub, and its progress and cancel
/// handles.
pub struct JobCtx {
    pub job: Job,
    pub store: Store,
    pub hub: EventHub,
    cancel: Arc<AtomicBool>,
    progress: watch::Sender<(u64, u64)>,
}

impl JobCtx {
    /// Returns `Err(Cancelled)` once a user asked the job to stop.
    pub fn check_cancel(&self) -> Result<(), JobError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(JobError::Cancelled)
        } else {
            Ok(())
        }
    }

    pub fn progress(&self, done: u64, total: u64) {
        self.progress.send_replace((done, total));
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
    cancels: Mutex<HashMap<i64, Arc<AtomicBool>>>,
    wake: Notify,
}

/// How often progress is written and sent while a job runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

impl JobRunner {
    pub fn new(store: Store, hub: EventHub) -> Arc<JobRunner> {
        Arc::new(JobRunner { store, hub, cancels: Mutex::new(HashMap::new()), wake: Notify::new() })
    }

    /// Marks jobs of a previous process as interrupted and starts `workers` worker loops.
    pub async fn start(self: &Arc<Self>, workers: usize) -> Result<(), doppel_store::StoreError> {
        for job in self.store.interrupt_running_jobs().await? {
            tracing::warn!("job {} ({}) was interrupted by a restart; resume it from its project page", job.id, job.kind);
        }
        for _ in 0..workers.max(1) {
            let runner = Arc::clone(self);
            tokio::spawn(async move { runner.work().await });
        }
        Ok(())
    }

    async fn work(self: Arc<Self>) {
        let kinds: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
        loop {
            match self.store.claim_next_job(&kinds).await {
                Ok(Some(job)) => self.run(job).await,
                Ok(None) => {
                    let _ = tokio::time::timeout(Duration::from_secs(5), self.wake.notified()).await;
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
        let (tx, rx) = watch::channel((job.progress.done, job.progress.total));
        let ctx = JobCtx { job: job.clone(), store: self.store.clone(), hub: self.hub.clone(), cancel, progress: tx };
        let ticker = tokio::spawn(forward_progress(self.store.clone(), self.hub.clone(), job.clone(), rx));
        let outcome = match JobKind::parse(&job.kind) {
            Some(JobKind::Probe) => probe::run(&ctx).await,
            None => Err(JobError::Failed(format!("unknown job kind '{}'", job.kind))),
        };
        ticker.abort();
        let (done, total) = *ctx.progress.borrow();
        let last = JobProgress { done, total, rate: None, eta_secs: Some(0.0) };
        if let Err(e) = self.store.set_job_progress(id, &last).await {
            tracing::warn!("job {id}: {e}");
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
            self.wake.notify_one();
        }
    }

    fn title(&self, job: &Job) -> String {
        title(job)
    }
}

/// "check clip.mp4"
pub fn title(job: &Job) -> String {
    let label = job.params.get("label").and_then(|l| l.as_str()).unwrap_or("a file");
    match JobKind::parse(&job.kind) {
        Some(JobKind::Probe) => format!("check {label}"),
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

async fn forward_progress(store: Store, hub: EventHub, mut job: Job, mut rx: watch::Receiver<(u64, u64)>) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tick.tick().await;
        if !rx.has_changed().unwrap_or(false) {
            continue;
        }
        let (done, total) = *rx.borrow_and_update();
        let (rate, eta_secs) = rate_and_eta(done, total, started.elapsed());
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
    }
}
