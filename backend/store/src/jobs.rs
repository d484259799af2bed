//! The persistent job table and its state machine.
//!
//! ```text
//! queued ──► running ──► done | failed | cancelled
//!   │           │
//!   │           └──► interrupted (server stopped while it ran) ──► queued (resume)
//!   └──► cancelled
//! failed | cancelled ──► queued (retry)
//! ```
//! Every change goes through [`JobState::can_become`], checked inside the UPDATE itself so two
//! writers cannot both win.

use crate::{now, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Lines of log kept per job.
pub const LOG_TAIL_LINES: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Result<JobState, StoreError> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| StoreError::invalid(format!("unknown job state '{s}'")))
    }

    /// Whether the state machine allows `self -> next`.
    pub fn can_become(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Queued, Running)
                | (Queued, Cancelled)
                | (Running, Done)
                | (Running, Failed)
                | (Running, Cancelled)
                | (Running, Interrupted)
                | (Interrupted, Queued)
                | (Interrupted, Cancelled)
                | (Failed, Queued)
                | (Cancelled, Queued)
        )
    }

    /// States from which `next` can be reached.
    fn sources_of(next: JobState) -> Vec<&'static str> {
        JobState::ALL.into_iter().filter(|s| s.can_become(next)).map(JobState::as_str).collect()
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed | JobState::Cancelled)
    }
}

/// Progress of a running job.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct JobProgress {
    pub done: u64,
    pub total: u64,
    /// Units per second.
    pub rate: Option<f64>,
    pub eta_secs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub project_id: i64,
    pub params: serde_json::Value,
    pub state: JobState,
    pub progress: JobProgress,
    pub log_tail: String,
    pub error: Option<String>,
    /// The job's last word on work it did (e.g. what an extraction found), kept whatever its
    /// end; cleared when it runs again.
    pub message: Option<String>,
    pub created_by: Option<i64>,
    /// The username of who started it.
    pub created_by_name: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    kind: String,
    project_id: i64,
    params: String,
    state: String,
    done: i64,
    total: i64,
    rate: Option<f64>,
    eta_secs: Option<f64>,
    log_tail: String,
    error: Option<String>,
    message: Option<String>,
    created_by: Option<i64>,
    created_by_name: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    updated_at: i64,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Job, StoreError> {
        Ok(Job {
            id: r.id,
            kind: r.kind,
            project_id: r.project_id,
            params: serde_json::from_str(&r.params).unwrap_or(serde_json::Value::Null),
            state: JobState::parse(&r.state)?,
            progress: JobProgress {
                done: r.done.max(0) as u64,
                total: r.total.max(0) as u64,
                rate: r.rate,
                eta_secs: r.eta_secs,
            },
            log_tail: r.log_tail,
            error: r.error,
            message: r.message,
            created_by: r.created_by,
            created_by_name: r.created_by_name,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            updated_at: r.updated_at,
        })
    }
}

const JOB_COLUMNS: &str = "id, kind, project_id, params, state, done, total, rate, eta_secs, log_tail, error, message, \
     created_by, (SELECT username FROM users WHERE users.id = jobs.created_by) AS created_by_name, \
     created_at, started_at, finished_at, updated_at";

/// Inserts a queued job (inside a caller's transaction when it needs one).
pub(crate) async fn insert_job(
    conn: &mut sqlx::SqliteConnection,
    kind: &str,
    project: i64,
    params: &serde_json::Value,
    created_by: Option<i64>,
) -> Result<Job, StoreError> {
    let t = now();
    sqlx::query_as::<_, JobRow>(&format!(
        "INSERT INTO jobs (kind, project_id, params, state, created_by, created_at, updated_at) \
         VALUES (?, ?, ?, 'queued', ?, ?, ?) RETURNING {JOB_COLUMNS}"
    ))
    .bind(kind)
    .bind(project)
    .bind(params.to_string())
    .bind(created_by)
    .bind(t)
    .bind(t)
    .fetch_one(&mut *conn)
    .await?
    .try_into()
}

/// The device a job's parameters name (`cpu`, `cuda:0`, `wgpu:1`), NULL when they name none.
const JOB_DEVICE: &str = "json_extract(params, '$.device')";

/// Which queued jobs the worker of one compute device takes.
///
/// Its own: those whose parameters name `device`. The worker of the server's default device
/// also takes the jobs that name none of the server's devices (`known`): jobs made before
/// jobs had a device, and jobs whose device is gone since they were queued. They run there
/// (and the second kind fails with a message that says so) instead of waiting for a worker
/// that never comes.
#[derive(Debug, Clone, Copy)]
pub struct DeviceClaim<'a> {
    /// The device's name as job parameters hold it (`cpu`, `cuda:0`, `wgpu:1`).
    pub device: &'a str,
    /// For the default device's worker: every device of the server. `None` for the others.
    pub known: Option<&'a [&'a str]>,
}

fn in_list(states: &[&str]) -> String {
    states.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
}

impl Store {
    pub async fn create_job(
        &self,
        kind: &str,
        project: i64,
        params: &serde_json::Value,
        created_by: Option<i64>,
    ) -> Result<Job, StoreError> {
        let mut conn = self.pool().acquire().await?;
        insert_job(&mut conn, kind, project, params, created_by).await
    }

    pub async fn job(&self, id: i64) -> Result<Job, StoreError> {
        sqlx::query_as::<_, JobRow>(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    /// Jobs of a project, newest first.
    pub async fn list_jobs(&self, project: i64, limit: i64) -> Result<Vec<Job>, StoreError> {
        sqlx::query_as::<_, JobRow>(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE project_id = ? ORDER BY id DESC LIMIT ?"))
            .bind(project)
            .bind(limit)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(Job::try_from)
            .collect()
    }

    /// Moves a job to `next` if the state machine allows it from its current state.
    pub async fn transition_job(&self, id: i64, next: JobState, error: Option<&str>) -> Result<Job, StoreError> {
        let sources = JobState::sources_of(next);
        let t = now();
        let (started, finished) = match next {
            JobState::Running => ("?", "NULL"),
            JobState::Queued => ("NULL", "NULL"),
            s if s.is_finished() => ("started_at", "?"),
            _ => ("started_at", "finished_at"),
        };
        let sql = format!(
            "UPDATE jobs SET state = ?, error = ?, updated_at = ?, started_at = {started}, finished_at = {finished} \
             WHERE id = ? AND state IN ({}) RETURNING {JOB_COLUMNS}",
            in_list(&sources)
        );
        let mut q = sqlx::query_as::<_, JobRow>(&sql).bind(next.as_str()).bind(error).bind(t);
        if started == "?" {
            q = q.bind(t);
        }
        if finished == "?" {
            q = q.bind(t);
        }
        match q.bind(id).fetch_optional(self.pool()).await? {
            Some(row) => row.try_into(),
            None => {
                let current = self.job(id).await?;
                Err(StoreError::BadTransition { from: current.state.as_str(), to: next.as_str() })
            }
        }
    }

    /// Takes the oldest queued job of one of `kinds` and marks it running, atomically.
    pub async fn claim_next_job(&self, kinds: &[&str]) -> Result<Option<Job>, StoreError> {
        self.claim_next_job_on(kinds, None).await
    }

    /// [`Store::claim_next_job`] for the worker of one compute device: with `device`, only
    /// jobs whose `params.device` names it (see [`DeviceClaim`]).
    pub async fn claim_next_job_on(&self, kinds: &[&str], device: Option<&DeviceClaim<'_>>) -> Result<Option<Job>, StoreError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let placeholders = vec!["?"; kinds.len()].join(", ");
        let on_device = match device {
            None => String::new(),
            Some(DeviceClaim { known: None, .. }) => format!(" AND {JOB_DEVICE} = ?"),
            Some(DeviceClaim { known: Some(known), .. }) => {
                let known = vec!["?"; known.len()].join(", ");
                format!(" AND ({JOB_DEVICE} = ? OR {JOB_DEVICE} IS NULL OR {JOB_DEVICE} NOT IN ({known}))")
            }
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', started_at = ?, finished_at = NULL, updated_at = ?, error = NULL, message = NULL \
             WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND kind IN ({placeholders}){on_device} ORDER BY id LIMIT 1) \
             AND state = 'queued' RETURNING {JOB_COLUMNS}"
        );
        let t = now();
        let mut q = sqlx::query_as::<_, JobRow>(&sql).bind(t).bind(t);
        for k in kinds {
            q = q.bind(*k);
        }
        if let Some(claim) = device {
            q = q.bind(claim.device);
            for known in claim.known.unwrap_or_default() {
                q = q.bind(*known);
            }
        }
        q.fetch_optional(self.pool()).await?.map(Job::try_from).transpose()
    }

    pub async fn set_job_progress(&self, id: i64, p: &JobProgress) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET done = ?, total = ?, rate = ?, eta_secs = ?, updated_at = ? WHERE id = ? AND state = 'running'")
            .bind(p.done as i64)
            .bind(p.total as i64)
            .bind(p.rate)
            .bind(p.eta_secs)
            .bind(now())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records the job's last word on its work (see [`Job::message`]).
    pub async fn set_job_message(&self, id: i64, message: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET message = ?, updated_at = ? WHERE id = ?")
            .bind(message)
            .bind(now())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Appends a line to the job's log, keeping the last [`LOG_TAIL_LINES`].
    pub async fn append_job_log(&self, id: i64, line: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let tail: String = sqlx::query_scalar("SELECT log_tail FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut lines: Vec<&str> = tail.lines().collect();
        lines.push(line);
        let start = lines.len().saturating_sub(LOG_TAIL_LINES);
        let new_tail = lines[start..].join("\n");
        sqlx::query("UPDATE jobs SET log_tail = ?, updated_at = ? WHERE id = ?")
            .bind(new_tail)
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// At start-up: every job left `running` by a previous process becomes `interrupted`.
    /// Returns the jobs changed.
    pub async fn interrupt_running_jobs(&self) -> Result<Vec<Job>, StoreError> {
        sqlx::query_as::<_, JobRow>(&format!(
            "UPDATE jobs SET state = 'interrupted', updated_at = ?, error = 'the server stopped while this job ran' \
             WHERE state = 'running' RETURNING {JOB_COLUMNS}"
        ))
        .bind(now())
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(Job::try_from)
        .collect()
    }
}

/// The repair [`Store::requeue_probe`] made.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeRepair {
    /// A probe job was already queued: nothing to do.
    Queued,
    /// The job that was running or interrupted when the server stopped is queued again.
    Requeued(Job),
    /// No probe job was waiting (none, or one that ended without settling the record): a new one.
    Created(Job),
}

impl Store {
    /// Records a stored upload (state `probing`) and queues its check, a job of `kind` with
    /// `params(media id)`, in one transaction: either both exist or neither, so a crash never
    /// leaves a record without the job that settles it. Returns the record and the job.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_media_with_job(
        &self,
        project: i64,
        label: &str,
        stored_name: &str,
        size_bytes: i64,
        uploaded_by: i64,
        kind: &str,
        params: impl FnOnce(i64) -> serde_json::Value,
    ) -> Result<(crate::Media, Job), StoreError> {
        let mut tx = self.write_tx().await?;
        let media = crate::media::insert_media(&mut *tx, project, label, stored_name, size_bytes, uploaded_by).await?;
        let job = insert_job(&mut *tx, kind, project, &params(media.id), Some(uploaded_by)).await?;
        tx.commit().await?;
        Ok((media, job))
    }

    /// The media records still `probing`, of every project (for the start-up sweep).
    pub async fn probing_media(&self) -> Result<Vec<crate::Media>, StoreError> {
        let ids: Vec<(i64, i64)> = sqlx::query_as("SELECT project_id, id FROM media WHERE state = 'probing' ORDER BY id").fetch_all(self.pool()).await?;
        let mut out = Vec::with_capacity(ids.len());
        for (project, id) in ids {
            out.push(self.media(project, id).await?);
        }
        Ok(out)
    }

    /// Makes sure the `probing` record `media` has a queued job of `kind` (whose params name it
    /// by `media_id`): kept if one is queued; the latest one put back in the queue if it was
    /// running or interrupted (through `interrupted`, as the state machine goes); otherwise a
    /// new one with `params`. One transaction.
    pub async fn requeue_probe(&self, media: &crate::Media, kind: &str, params: serde_json::Value) -> Result<ProbeRepair, StoreError> {
        let mut tx = self.write_tx().await?;
        let jobs: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, state FROM jobs WHERE kind = ? AND project_id = ? AND json_extract(params, '$.media_id') = ? ORDER BY id DESC",
        )
        .bind(kind)
        .bind(media.project_id)
        .bind(media.id)
        .fetch_all(&mut *tx)
        .await?;
        if jobs.iter().any(|(_, s)| s == "queued") {
            return Ok(ProbeRepair::Queued);
        }
        let repair = match jobs.first() {
            Some((id, state)) if state == "running" || state == "interrupted" => {
                let t = now();
                sqlx::query("UPDATE jobs SET state = 'interrupted', updated_at = ? WHERE id = ? AND state = 'running'").bind(t).bind(id).execute(&mut *tx).await?;
                sqlx::query("UPDATE jobs SET state = 'queued', error = NULL, started_at = NULL, finished_at = NULL, updated_at = ? WHERE id = ? AND state = 'interrupted'")
                    .bind(t)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query_as::<_, JobRow>(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?")).bind(id).fetch_one(&mut *tx).await?;
                ProbeRepair::Requeued(row.try_into()?)
            }
            _ => ProbeRepair::Created(insert_job(&mut *tx, kind, media.project_id, &params, media.uploaded_by).await?),
        };
        tx.commit().await?;
        Ok(repair)
    }

    /// The storage names of every media record, of every project.
    pub async fn media_stored_names(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, String>("SELECT stored_name FROM media").fetch_all(self.pool()).await?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests;
