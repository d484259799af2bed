//! Conversions: a source video of a project with its faces swapped by one of its models, the
//! output kept under `projects/<project>/outputs/` ([`crate::DataDir::output_file`]) with a
//! server-chosen name.
//!
//! A conversion is made with its convert job, in one transaction; its state is the job's,
//! read through a join. The output's size and the run's summary are set when the output is
//! complete: before that there is nothing to download. No access check here: callers check
//! the project first.

use crate::jobs::insert_job;
use crate::{now, Job, JobState, Store, StoreError};
use serde::Serialize;

/// Where a conversion is, from its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversionState {
    Queued,
    Converting,
    /// The output is complete.
    Done,
    /// Stopped or interrupted: no output (a conversion writes its file only when complete).
    Stopped,
    Failed,
}

impl ConversionState {
    pub fn from_job(job: Option<JobState>) -> ConversionState {
        match job {
            Some(JobState::Queued) => ConversionState::Queued,
            Some(JobState::Running) => ConversionState::Converting,
            Some(JobState::Done) => ConversionState::Done,
            Some(JobState::Failed) => ConversionState::Failed,
            Some(JobState::Cancelled | JobState::Interrupted) | None => ConversionState::Stopped,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversion {
    pub id: i64,
    pub project_id: i64,
    pub media_id: Option<i64>,
    pub media_label: Option<String>,
    pub model_id: Option<i64>,
    pub model_name: Option<String>,
    pub job_id: Option<i64>,
    pub state: ConversionState,
    /// What a download is called.
    pub label: String,
    /// The file under the project's outputs folder.
    pub stored_name: String,
    /// Set when the output is complete.
    pub size_bytes: Option<u64>,
    pub summary: Option<String>,
    pub created_by_name: Option<String>,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct ConversionRow {
    id: i64,
    project_id: i64,
    media_id: Option<i64>,
    media_label: Option<String>,
    model_id: Option<i64>,
    model_name: Option<String>,
    job_id: Option<i64>,
    job_state: Option<String>,
    label: String,
    stored_name: String,
    size_bytes: Option<i64>,
    summary: Option<String>,
    created_by_name: Option<String>,
    created_at: i64,
}

impl TryFrom<ConversionRow> for Conversion {
    type Error = StoreError;
    fn try_from(r: ConversionRow) -> Result<Conversion, StoreError> {
        let job_state = r.job_state.as_deref().map(JobState::parse).transpose()?;
        Ok(Conversion {
            id: r.id,
            project_id: r.project_id,
            media_id: r.media_id,
            media_label: r.media_label,
            model_id: r.model_id,
            model_name: r.model_name,
            job_id: r.job_id,
            state: ConversionState::from_job(job_state),
            label: r.label,
            stored_name: r.stored_name,
            size_bytes: r.size_bytes.map(|b| b.max(0) as u64),
            summary: r.summary,
            created_by_name: r.created_by_name,
            created_at: r.created_at,
        })
    }
}

const SELECT: &str = "SELECT c.id, c.project_id, c.media_id, m.label AS media_label, c.model_id, x.name AS model_name, c.job_id, \
     j.state AS job_state, c.label, c.stored_name, c.size_bytes, c.summary, u.username AS created_by_name, c.created_at \
     FROM conversions c LEFT JOIN media m ON m.id = c.media_id LEFT JOIN models x ON x.id = c.model_id \
     LEFT JOIN jobs j ON j.id = c.job_id LEFT JOIN users u ON u.id = c.created_by";

impl Store {
    /// Creates a conversion of `media` by `model` (both the project's; the model not in the
    /// trash) and the job that makes it, in one transaction. The job's `params` get the new
    /// conversion's id as `conversion_id`; the output gets a server-chosen name.
    pub async fn create_conversion_with_job(
        &self,
        project: i64,
        media: i64,
        model: i64,
        label: &str,
        created_by: i64,
        job_kind: &str,
        mut params: serde_json::Value,
    ) -> Result<(Conversion, Job), StoreError> {
        let label = crate::sanitize_label(label)?;
        let mut tx = self.write_tx().await?;
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM media WHERE id = ? AND project_id = ?").bind(media).bind(project).fetch_optional(&mut *tx).await?;
        found.ok_or(StoreError::NotFound)?;
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM models WHERE id = ? AND project_id = ? AND trashed_at IS NULL")
            .bind(model)
            .bind(project)
            .fetch_optional(&mut *tx)
            .await?;
        found.ok_or(StoreError::NotFound)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO conversions (project_id, media_id, model_id, label, stored_name, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(project)
        .bind(media)
        .bind(model)
        .bind(&label)
        .bind(crate::new_output_name())
        .bind(created_by)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        params.as_object_mut().ok_or_else(|| StoreError::invalid("job parameters must be a JSON object"))?.insert("conversion_id".into(), id.into());
        let job = insert_job(&mut tx, job_kind, project, &params, Some(created_by)).await?;
        sqlx::query("UPDATE conversions SET job_id = ? WHERE id = ?").bind(job.id).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok((self.conversion(project, id).await?, job))
    }

    /// A conversion of the project, not in the trash.
    pub async fn conversion(&self, project: i64, id: i64) -> Result<Conversion, StoreError> {
        sqlx::query_as::<_, ConversionRow>(&format!("{SELECT} WHERE c.project_id = ? AND c.id = ? AND c.trashed_at IS NULL"))
            .bind(project)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    /// The project's conversions, newest first.
    pub async fn list_conversions(&self, project: i64) -> Result<Vec<Conversion>, StoreError> {
        sqlx::query_as::<_, ConversionRow>(&format!("{SELECT} WHERE c.project_id = ? AND c.trashed_at IS NULL ORDER BY c.id DESC"))
            .bind(project)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(Conversion::try_from)
            .collect()
    }

    /// Records a complete output: its size and the run's summary.
    pub async fn record_conversion_output(&self, id: i64, size_bytes: u64, summary: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE conversions SET size_bytes = ?, summary = ? WHERE id = ?").bind(size_bytes as i64).bind(summary).bind(id).execute(self.pool()).await?;
        Ok(())
    }

    /// Moves a conversion to the trash (its file stays until purged). Not while it runs.
    pub async fn trash_conversion(&self, project: i64, id: i64) -> Result<(), StoreError> {
        let c = self.conversion(project, id).await?;
        if matches!(c.state, ConversionState::Queued | ConversionState::Converting) {
            return Err(StoreError::invalid(format!("'{}' is being made: stop it first", c.label)));
        }
        sqlx::query("UPDATE conversions SET trashed_at = ? WHERE id = ?").bind(now()).bind(id).execute(self.pool()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::temp_store;
    use crate::NewModel;

    #[tokio::test]
    async fn a_conversion_comes_with_its_job_and_a_server_chosen_file() {
        let t = temp_store().await;
        let s = &t.store;
        let u = s.create_user("u", "password1", false).await.unwrap();
        let p = s.create_project(u.id, "p").await.unwrap();
        let m = s.create_media(p.id, "clip.mp4", &crate::new_server_name(), 10, u.id).await.unwrap();
        let (a, _) = s.create_face_set_with_job(p.id, "A", m.id, u.id, "extract", serde_json::json!({})).await.unwrap();
        let (b, _) = s.create_face_set_with_job(p.id, "B", m.id, u.id, "extract", serde_json::json!({})).await.unwrap();
        let (model, _) = s.create_model_with_job(p.id, &NewModel { name: "A to B", kind: "lightweight", face_set_a: a.id, face_set_b: b.id }, u.id, "train", serde_json::json!({})).await.unwrap();

        let (c, job) = s.create_conversion_with_job(p.id, m.id, model.id, "../../clip (A to B).mp4", u.id, "convert", serde_json::json!({"crf": 18})).await.unwrap();
        assert_eq!(c.label, "clip (A to B).mp4", "a label is never a path");
        assert!(s.dirs().output_file(p.id, &c.stored_name).is_ok(), "{}", c.stored_name);
        assert_eq!((c.media_label.as_deref(), c.model_name.as_deref(), c.state, c.size_bytes), (Some("clip.mp4"), Some("A to B"), ConversionState::Queued, None));
        assert_eq!((job.params["conversion_id"].as_i64(), job.params["crf"].as_i64()), (Some(c.id), Some(18)));
        assert!(matches!(s.trash_conversion(p.id, c.id).await, Err(StoreError::Invalid(_))), "not while queued");

        s.claim_next_job(&["convert"]).await.unwrap().unwrap();
        assert_eq!(s.conversion(p.id, c.id).await.unwrap().state, ConversionState::Converting);
        s.record_conversion_output(c.id, 1234, "300 frames").await.unwrap();
        s.transition_job(job.id, JobState::Done, None).await.unwrap();
        let done = s.conversion(p.id, c.id).await.unwrap();
        assert_eq!((done.state, done.size_bytes, done.summary.as_deref()), (ConversionState::Done, Some(1234), Some("300 frames")));
        assert_eq!(s.list_conversions(p.id).await.unwrap().len(), 1);

        // Another project's media or model, or a trashed model: refused, nothing left behind.
        let other = s.create_project(u.id, "other").await.unwrap();
        assert!(matches!(s.create_conversion_with_job(other.id, m.id, model.id, "x.mp4", u.id, "convert", serde_json::json!({})).await, Err(StoreError::NotFound)));
        assert!(matches!(s.conversion(other.id, c.id).await, Err(StoreError::NotFound)));
        s.trash_conversion(p.id, c.id).await.unwrap();
        assert!(s.list_conversions(p.id).await.unwrap().is_empty());
        assert!(s.dirs().output_file(p.id, "../doppel.sqlite").is_err());
        assert!(s.dirs().output_file(p.id, &crate::new_server_name()).is_err(), "only .mp4 names");
    }
}
