//! Face sets: the faces extracted from one source, kept under
//! `projects/<project>/facesets/<id>/` ([`crate::DataDir::face_set_dir`]).
//!
//! A face set is made by its extraction job. Its state is that job's state, read through a
//! join, never stored twice: a restart, a cancel or a resume of the job moves the face set
//! with it. The counts and the summary line are those of the last run.
//!
//! Like projects, a face set goes to the trash (`trashed_at`) before it is gone; trashed sets
//! are left out of [`Store::face_set`] and [`Store::list_face_sets`]. No access check here:
//! callers check the project first, as for media.

use crate::jobs::insert_job;
use crate::{now, Job, JobState, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Where a face set is, from its extraction job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaceSetState {
    /// The extraction waits for a worker.
    Queued,
    Extracting,
    Ready,
    /// The extraction failed; the message is on the job.
    Failed,
    /// Cancelled, or interrupted by a restart: faces so far are kept, resuming continues.
    Stopped,
}

impl FaceSetState {
    /// The state of a face set whose job is in `job` (a set without a job is ready).
    pub fn from_job(job: Option<JobState>) -> FaceSetState {
        match job {
            Some(JobState::Queued) => FaceSetState::Queued,
            Some(JobState::Running) => FaceSetState::Extracting,
            Some(JobState::Failed) => FaceSetState::Failed,
            Some(JobState::Cancelled | JobState::Interrupted) => FaceSetState::Stopped,
            Some(JobState::Done) | None => FaceSetState::Ready,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FaceSetState::Queued => "queued",
            FaceSetState::Extracting => "extracting",
            FaceSetState::Ready => "ready",
            FaceSetState::Failed => "failed",
            FaceSetState::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceSet {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    /// The media record the faces come from (gone if it was deleted).
    pub source_media: Option<i64>,
    pub source_label: Option<String>,
    /// The extraction job (its params hold the options).
    pub job_id: Option<i64>,
    pub state: FaceSetState,
    /// Faces in the set after the last run.
    pub face_count: u64,
    /// Frames looked at, in all runs.
    pub frame_count: u64,
    /// The last run's line for people, e.g. "no faces found in 354 frames looked at".
    pub summary: Option<String>,
    pub created_by: Option<i64>,
    pub created_by_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub trashed_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct FaceSetRow {
    id: i64,
    project_id: i64,
    name: String,
    source_media: Option<i64>,
    source_label: Option<String>,
    job_id: Option<i64>,
    job_state: Option<String>,
    face_count: i64,
    frame_count: i64,
    summary: Option<String>,
    created_by: Option<i64>,
    created_by_name: Option<String>,
    created_at: i64,
    updated_at: i64,
    trashed_at: Option<i64>,
}

impl TryFrom<FaceSetRow> for FaceSet {
    type Error = StoreError;
    fn try_from(r: FaceSetRow) -> Result<FaceSet, StoreError> {
        let job_state = r.job_state.as_deref().map(JobState::parse).transpose()?;
        Ok(FaceSet {
            id: r.id,
            project_id: r.project_id,
            name: r.name,
            source_media: r.source_media,
            source_label: r.source_label,
            job_id: r.job_id,
            state: FaceSetState::from_job(job_state),
            face_count: r.face_count.max(0) as u64,
            frame_count: r.frame_count.max(0) as u64,
            summary: r.summary,
            created_by: r.created_by,
            created_by_name: r.created_by_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
            trashed_at: r.trashed_at,
        })
    }
}

const FACE_SET_SELECT: &str = "SELECT f.id, f.project_id, f.name, f.source_media, m.label AS source_label, f.job_id, \
     j.state AS job_state, f.face_count, f.frame_count, f.summary, f.created_by, u.username AS created_by_name, \
     f.created_at, f.updated_at, f.trashed_at \
     FROM face_sets f LEFT JOIN media m ON m.id = f.source_media LEFT JOIN jobs j ON j.id = f.job_id \
     LEFT JOIN users u ON u.id = f.created_by";

/// Longest face set name, in characters.
pub const MAX_FACE_SET_NAME_CHARS: usize = 120;

fn validate_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_FACE_SET_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(StoreError::invalid(format!(
            "face set names are 1 to {MAX_FACE_SET_NAME_CHARS} characters, without control characters"
        )));
    }
    Ok(name.to_string())
}

impl Store {
    /// Creates a face set from `source_media` and the job that fills it, in one transaction.
    /// The job's `params` get the new set's id as `face_set_id`.
    pub async fn create_face_set_with_job(
        &self,
        project: i64,
        name: &str,
        source_media: i64,
        created_by: i64,
        kind: &str,
        mut params: serde_json::Value,
    ) -> Result<(FaceSet, Job), StoreError> {
        let name = validate_name(name)?;
        let mut tx = self.write_tx().await?;
        let media: Option<i64> = sqlx::query_scalar("SELECT id FROM media WHERE id = ? AND project_id = ?")
            .bind(source_media)
            .bind(project)
            .fetch_optional(&mut *tx)
            .await?;
        media.ok_or(StoreError::NotFound)?;
        let t = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO face_sets (project_id, name, source_media, created_by, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(project)
        .bind(&name)
        .bind(source_media)
        .bind(created_by)
        .bind(t)
        .bind(t)
        .fetch_one(&mut *tx)
        .await?;
        match params.as_object_mut() {
            Some(map) => {
                map.insert("face_set_id".into(), id.into());
            }
            None => return Err(StoreError::invalid("job parameters must be a JSON object")),
        }
        let job = insert_job(&mut tx, kind, project, &params, Some(created_by)).await?;
        sqlx::query("UPDATE face_sets SET job_id = ? WHERE id = ?").bind(job.id).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok((self.face_set(project, id).await?, job))
    }

    /// A face set of the project, not in the trash.
    pub async fn face_set(&self, project: i64, id: i64) -> Result<FaceSet, StoreError> {
        self.face_set_any(project, id).await.and_then(|f| if f.trashed_at.is_some() { Err(StoreError::NotFound) } else { Ok(f) })
    }

    async fn face_set_any(&self, project: i64, id: i64) -> Result<FaceSet, StoreError> {
        sqlx::query_as::<_, FaceSetRow>(&format!("{FACE_SET_SELECT} WHERE f.project_id = ? AND f.id = ?"))
            .bind(project)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    /// The project's face sets, newest first; `trashed` chooses the trash or the rest.
    pub async fn list_face_sets(&self, project: i64, trashed: bool) -> Result<Vec<FaceSet>, StoreError> {
        let which = if trashed { "IS NOT NULL" } else { "IS NULL" };
        sqlx::query_as::<_, FaceSetRow>(&format!("{FACE_SET_SELECT} WHERE f.project_id = ? AND f.trashed_at {which} ORDER BY f.id DESC"))
            .bind(project)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(FaceSet::try_from)
            .collect()
    }

    /// Records what a run left in the set.
    pub async fn record_face_set_run(&self, id: i64, face_count: u64, frame_count: u64, summary: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE face_sets SET face_count = ?, frame_count = ?, summary = ?, updated_at = ? WHERE id = ?")
            .bind(face_count as i64)
            .bind(frame_count as i64)
            .bind(summary)
            .bind(now())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The number of faces in a set after people deleted or restored some.
    pub async fn set_face_count(&self, id: i64, face_count: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE face_sets SET face_count = ?, updated_at = ? WHERE id = ?")
            .bind(face_count as i64)
            .bind(now())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Moves a face set to the trash; its files stay. Not while its extraction is queued or
    /// running.
    pub async fn trash_face_set(&self, project: i64, id: i64) -> Result<(), StoreError> {
        let set = self.face_set(project, id).await?;
        if matches!(set.state, FaceSetState::Queued | FaceSetState::Extracting) {
            return Err(StoreError::invalid(format!("'{}' is still being extracted: cancel its job first", set.name)));
        }
        sqlx::query("UPDATE face_sets SET trashed_at = ?, updated_at = ? WHERE id = ?")
            .bind(now())
            .bind(now())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn restore_face_set(&self, project: i64, id: i64) -> Result<(), StoreError> {
        self.face_set_any(project, id).await?;
        sqlx::query("UPDATE face_sets SET trashed_at = NULL, updated_at = ? WHERE id = ?")
            .bind(now())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::temp_store;

    async fn fixture(s: &Store) -> (i64, i64, i64) {
        let u = s.create_user("u", "password1", false).await.unwrap();
        let p = s.create_project(u.id, "p").await.unwrap();
        let m = s.create_media(p.id, "clip.mp4", &crate::new_server_name(), 10, u.id).await.unwrap();
        (u.id, p.id, m.id)
    }

    #[tokio::test]
    async fn a_face_set_comes_with_its_job_and_follows_its_state() {
        let t = temp_store().await;
        let s = &t.store;
        let (u, p, m) = fixture(s).await;
        let (set, job) = s
            .create_face_set_with_job(p, "  clip faces ", m, u, "extract", serde_json::json!({"media_id": m, "every_n": 2}))
            .await
            .unwrap();
        assert_eq!(set.name, "clip faces");
        assert_eq!((set.source_media, set.source_label.as_deref()), (Some(m), Some("clip.mp4")));
        assert_eq!(set.job_id, Some(job.id));
        assert_eq!(set.created_by_name.as_deref(), Some("u"));
        assert_eq!(job.params["face_set_id"], set.id, "the job knows its face set");
        assert_eq!(job.params["every_n"], 2);
        assert_eq!(set.state, FaceSetState::Queued);

        s.claim_next_job(&["extract"]).await.unwrap().unwrap();
        assert_eq!(s.face_set(p, set.id).await.unwrap().state, FaceSetState::Extracting);
        s.interrupt_running_jobs().await.unwrap();
        assert_eq!(s.face_set(p, set.id).await.unwrap().state, FaceSetState::Stopped, "a restart stops it");
        s.transition_job(job.id, JobState::Queued, None).await.unwrap();
        s.claim_next_job(&["extract"]).await.unwrap().unwrap();
        s.record_face_set_run(set.id, 0, 354, "no faces found in 354 frames looked at").await.unwrap();
        s.transition_job(job.id, JobState::Done, None).await.unwrap();
        let done = s.face_set(p, set.id).await.unwrap();
        assert_eq!(done.state, FaceSetState::Ready);
        assert_eq!((done.face_count, done.frame_count), (0, 354));
        assert_eq!(done.summary.as_deref(), Some("no faces found in 354 frames looked at"));
        assert_eq!(s.list_face_sets(p, false).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn names_and_sources_are_checked() {
        let t = temp_store().await;
        let s = &t.store;
        let (u, p, m) = fixture(s).await;
        let params = || serde_json::json!({});
        let long = "x".repeat(121);
        for bad in ["", "   ", "a\nb", long.as_str()] {
            let err = s.create_face_set_with_job(p, bad, m, u, "extract", params()).await.unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{bad:?}: {err}");
        }
        let other = s.create_project(u, "other").await.unwrap();
        let err = s.create_face_set_with_job(other.id, "x", m, u, "extract", params()).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "media of another project: {err}");
        assert!(s.list_face_sets(other.id, false).await.unwrap().is_empty(), "nothing half-made is left");
        assert!(s.list_jobs(other.id, 10).await.unwrap().is_empty());
        let err = s.create_face_set_with_job(p, "x", m, u, "extract", serde_json::json!([1])).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)));
        assert!(s.list_face_sets(p, false).await.unwrap().is_empty(), "the transaction was rolled back");
        let (set, _) = s.create_face_set_with_job(p, "x", m, u, "extract", params()).await.unwrap();
        assert!(matches!(s.face_set(other.id, set.id).await, Err(StoreError::NotFound)), "sets are scoped to their project");
    }

    #[tokio::test]
    async fn the_trash_hides_a_finished_set_until_it_is_restored() {
        let t = temp_store().await;
        let s = &t.store;
        let (u, p, m) = fixture(s).await;
        let (set, job) = s.create_face_set_with_job(p, "x", m, u, "extract", serde_json::json!({})).await.unwrap();
        let err = s.trash_face_set(p, set.id).await.unwrap_err();
        assert!(err.to_string().contains("cancel its job first"), "{err}");
        s.transition_job(job.id, JobState::Cancelled, None).await.unwrap();
        s.trash_face_set(p, set.id).await.unwrap();
        assert!(matches!(s.face_set(p, set.id).await, Err(StoreError::NotFound)));
        assert!(s.list_face_sets(p, false).await.unwrap().is_empty());
        assert_eq!(s.list_face_sets(p, true).await.unwrap()[0].id, set.id);
        s.restore_face_set(p, set.id).await.unwrap();
        assert_eq!(s.face_set(p, set.id).await.unwrap().state, FaceSetState::Stopped);
        assert!(s.list_face_sets(p, true).await.unwrap().is_empty());
    }
}
