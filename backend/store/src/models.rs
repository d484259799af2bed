//! Swap models: trained from two face sets of a project, kept under
//! `projects/<project>/models/<id>/` ([`crate::DataDir::model_dir`]).
//!
//! A model is made with its first training job; training it more after a run ended gives it a
//! new job ([`Store::start_model_job`]). Its state is its current job's state, read through a
//! join, never stored twice. The iteration and losses are those of the last save, for lists;
//! the model folder holds the whole history.
//!
//! Like face sets, a model goes to the trash before it is gone; trashed models are left out of
//! [`Store::model`] and [`Store::list_models`]. No access check here: callers check the project
//! first.

use crate::jobs::insert_job;
use crate::{now, Job, JobState, Store, StoreError};
use serde::{Deserialize, Serialize};

/// Where a model is, from its current training job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelState {
    /// Its training waits for the device.
    Queued,
    Training,
    /// The run reached its target iteration count.
    Done,
    /// Stopped by a user or interrupted by a restart: the last save is kept, resuming goes on.
    Stopped,
    /// The run failed; the message is on the job.
    Failed,
}

impl ModelState {
    /// The state of a model whose current job is in `job` (a model without one is stopped).
    pub fn from_job(job: Option<JobState>) -> ModelState {
        match job {
            Some(JobState::Queued) => ModelState::Queued,
            Some(JobState::Running) => ModelState::Training,
            Some(JobState::Done) => ModelState::Done,
            Some(JobState::Failed) => ModelState::Failed,
            Some(JobState::Cancelled | JobState::Interrupted) | None => ModelState::Stopped,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ModelState::Queued => "queued",
            ModelState::Training => "training",
            ModelState::Done => "done",
            ModelState::Stopped => "stopped",
            ModelState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    /// The engine's model name (`original`, `lightweight`, ...).
    pub kind: String,
    /// The face sets of person A and B (gone if they were deleted).
    pub face_set_a: Option<i64>,
    pub face_set_b: Option<i64>,
    pub face_set_a_name: Option<String>,
    pub face_set_b_name: Option<String>,
    /// The current training job (its params hold the options).
    pub job_id: Option<i64>,
    pub state: ModelState,
    /// Iterations done in all, at the last save.
    pub iteration: u64,
    /// The losses of A and B at the last save.
    pub loss: Option<(f32, f32)>,
    pub created_by: Option<i64>,
    pub created_by_name: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub trashed_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct ModelRow {
    id: i64,
    project_id: i64,
    name: String,
    kind: String,
    face_set_a: Option<i64>,
    face_set_b: Option<i64>,
    face_set_a_name: Option<String>,
    face_set_b_name: Option<String>,
    job_id: Option<i64>,
    job_state: Option<String>,
    iteration: i64,
    loss_a: Option<f64>,
    loss_b: Option<f64>,
    created_by: Option<i64>,
    created_by_name: Option<String>,
    created_at: i64,
    updated_at: i64,
    trashed_at: Option<i64>,
}

impl TryFrom<ModelRow> for Model {
    type Error = StoreError;
    fn try_from(r: ModelRow) -> Result<Model, StoreError> {
        let job_state = r.job_state.as_deref().map(JobState::parse).transpose()?;
        Ok(Model {
            id: r.id,
            project_id: r.project_id,
            name: r.name,
            kind: r.kind,
            face_set_a: r.face_set_a,
            face_set_b: r.face_set_b,
            face_set_a_name: r.face_set_a_name,
            face_set_b_name: r.face_set_b_name,
            job_id: r.job_id,
            state: ModelState::from_job(job_state),
            iteration: r.iteration.max(0) as u64,
            loss: r.loss_a.zip(r.loss_b).map(|(a, b)| (a as f32, b as f32)),
            created_by: r.created_by,
            created_by_name: r.created_by_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
            trashed_at: r.trashed_at,
        })
    }
}

const MODEL_SELECT: &str = "SELECT x.id, x.project_id, x.name, x.kind, x.face_set_a, x.face_set_b, fa.name AS face_set_a_name, \
     fb.name AS face_set_b_name, x.job_id, j.state AS job_state, x.iteration, x.loss_a, x.loss_b, x.created_by, \
     u.username AS created_by_name, x.created_at, x.updated_at, x.trashed_at \
     FROM models x LEFT JOIN face_sets fa ON fa.id = x.face_set_a LEFT JOIN face_sets fb ON fb.id = x.face_set_b \
     LEFT JOIN jobs j ON j.id = x.job_id LEFT JOIN users u ON u.id = x.created_by";

/// Longest model name, in characters.
pub const MAX_MODEL_NAME_CHARS: usize = 120;

/// A model to make: its name, the engine's model name, and the face sets of A and B.
#[derive(Debug, Clone, PartialEq)]
pub struct NewModel<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub face_set_a: i64,
    pub face_set_b: i64,
}

fn validate_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_MODEL_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(StoreError::invalid(format!("model names are 1 to {MAX_MODEL_NAME_CHARS} characters, without control characters")));
    }
    Ok(name.to_string())
}

fn validate_kind(kind: &str) -> Result<(), StoreError> {
    if kind.is_empty() || kind.len() > 32 || !kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(StoreError::invalid(format!("'{kind}' is not a model name")));
    }
    Ok(())
}

/// Puts `model_id` into a job's parameters.
fn with_model_id(mut params: serde_json::Value, id: i64) -> Result<serde_json::Value, StoreError> {
    match params.as_object_mut() {
        Some(map) => {
            map.insert("model_id".into(), id.into());
            Ok(params)
        }
        None => Err(StoreError::invalid("job parameters must be a JSON object")),
    }
}

impl Store {
    /// Creates a model and the job that trains it, in one transaction. Both face sets must be
    /// the project's and not in the trash, and two different sets. The job's `params` get the
    /// new model's id as `model_id`.
    pub async fn create_model_with_job(
        &self,
        project: i64,
        new: &NewModel<'_>,
        created_by: i64,
        job_kind: &str,
        params: serde_json::Value,
    ) -> Result<(Model, Job), StoreError> {
        let name = validate_name(new.name)?;
        validate_kind(new.kind)?;
        if new.face_set_a == new.face_set_b {
            return Err(StoreError::invalid("person A and person B need two different face sets"));
        }
        let mut tx = self.write_tx().await?;
        for set in [new.face_set_a, new.face_set_b] {
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM face_sets WHERE id = ? AND project_id = ? AND trashed_at IS NULL")
                .bind(set)
                .bind(project)
                .fetch_optional(&mut *tx)
                .await?;
            found.ok_or(StoreError::NotFound)?;
        }
        let t = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO models (project_id, name, kind, face_set_a, face_set_b, created_by, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(project)
        .bind(&name)
        .bind(new.kind)
        .bind(new.face_set_a)
        .bind(new.face_set_b)
        .bind(created_by)
        .bind(t)
        .bind(t)
        .fetch_one(&mut *tx)
        .await?;
        let params = with_model_id(params, id)?;
        let job = insert_job(&mut tx, job_kind, project, &params, Some(created_by)).await?;
        sqlx::query("UPDATE models SET job_id = ? WHERE id = ?").bind(job.id).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok((self.model(project, id).await?, job))
    }

    /// Gives a model a new training job (to train it further after a run ended). Refused while
    /// its current job is queued or running, or interrupted (resume that one instead).
    pub async fn start_model_job(
        &self,
        project: i64,
        id: i64,
        created_by: i64,
        job_kind: &str,
        params: serde_json::Value,
    ) -> Result<(Model, Job), StoreError> {
        let params = with_model_id(params, id)?;
        let mut tx = self.write_tx().await?;
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT x.name, j.state FROM models x LEFT JOIN jobs j ON j.id = x.job_id \
             WHERE x.id = ? AND x.project_id = ? AND x.trashed_at IS NULL",
        )
        .bind(id)
        .bind(project)
        .fetch_optional(&mut *tx)
        .await?;
        let (name, state) = row.ok_or(StoreError::NotFound)?;
        match state.as_deref().map(JobState::parse).transpose()? {
            Some(JobState::Queued | JobState::Running) => {
                return Err(StoreError::invalid(format!("'{name}' is already training: stop it first")));
            }
            Some(JobState::Interrupted) => {
                return Err(StoreError::invalid(format!("the training of '{name}' was interrupted: resume it instead")));
            }
            _ => {}
        }
        let job = insert_job(&mut tx, job_kind, project, &params, Some(created_by)).await?;
        sqlx::query("UPDATE models SET job_id = ?, updated_at = ? WHERE id = ?").bind(job.id).bind(now()).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok((self.model(project, id).await?, job))
    }

    /// A model of the project, not in the trash.
    pub async fn model(&self, project: i64, id: i64) -> Result<Model, StoreError> {
        self.model_any(project, id).await.and_then(|m| if m.trashed_at.is_some() { Err(StoreError::NotFound) } else { Ok(m) })
    }

    async fn model_any(&self, project: i64, id: i64) -> Result<Model, StoreError> {
        sqlx::query_as::<_, ModelRow>(&format!("{MODEL_SELECT} WHERE x.project_id = ? AND x.id = ?"))
            .bind(project)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    /// The project's models, newest first; `trashed` chooses the trash or the rest.
    pub async fn list_models(&self, project: i64, trashed: bool) -> Result<Vec<Model>, StoreError> {
        let which = if trashed { "IS NOT NULL" } else { "IS NULL" };
        sqlx::query_as::<_, ModelRow>(&format!("{MODEL_SELECT} WHERE x.project_id = ? AND x.trashed_at {which} ORDER BY x.id DESC"))
            .bind(project)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(Model::try_from)
            .collect()
    }

    /// Records a save: iterations done in all and the losses then.
    pub async fn record_model_save(&self, id: i64, iteration: u64, loss: Option<(f32, f32)>) -> Result<(), StoreError> {
        sqlx::query("UPDATE models SET iteration = ?, loss_a = COALESCE(?, loss_a), loss_b = COALESCE(?, loss_b), updated_at = ? WHERE id = ?")
            .bind(iteration as i64)
            .bind(loss.map(|l| l.0 as f64))
            .bind(loss.map(|l| l.1 as f64))
            .bind(now())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Moves a model to the trash; its files stay. Not while it is queued or training.
    pub async fn trash_model(&self, project: i64, id: i64) -> Result<(), StoreError> {
        let m = self.model(project, id).await?;
        if matches!(m.state, ModelState::Queued | ModelState::Training) {
            return Err(StoreError::invalid(format!("'{}' is training: stop it first", m.name)));
        }
        sqlx::query("UPDATE models SET trashed_at = ?, updated_at = ? WHERE id = ?").bind(now()).bind(now()).bind(id).execute(self.pool()).await?;
        Ok(())
    }

    pub async fn restore_model(&self, project: i64, id: i64) -> Result<(), StoreError> {
        self.model_any(project, id).await?;
        sqlx::query("UPDATE models SET trashed_at = NULL, updated_at = ? WHERE id = ?").bind(now()).bind(id).execute(self.pool()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::temp_store;

    /// A user, a project and two face sets in it.
    async fn fixture(s: &Store) -> (i64, i64, i64, i64) {
        let u = s.create_user("u", "password1", false).await.unwrap();
        let p = s.create_project(u.id, "p").await.unwrap();
        let m = s.create_media(p.id, "clip.mp4", &crate::new_server_name(), 10, u.id).await.unwrap();
        let (a, _) = s.create_face_set_with_job(p.id, "A faces", m.id, u.id, "extract", serde_json::json!({})).await.unwrap();
        let (b, _) = s.create_face_set_with_job(p.id, "B faces", m.id, u.id, "extract", serde_json::json!({})).await.unwrap();
        (u.id, p.id, a.id, b.id)
    }

    fn new<'a>(name: &'a str, a: i64, b: i64) -> NewModel<'a> {
        NewModel { name, kind: "lightweight", face_set_a: a, face_set_b: b }
    }

    #[tokio::test]
    async fn a_model_comes_with_its_job_and_follows_its_state() {
        let t = temp_store().await;
        let s = &t.store;
        let (u, p, a, b) = fixture(s).await;
        let (model, job) = s.create_model_with_job(p, &new("  A to B ", a, b), u, "train", serde_json::json!({"batch": 2})).await.unwrap();
        assert_eq!((model.name.as_str(), model.kind.as_str()), ("A to B", "lightweight"));
        assert_eq!((model.face_set_a_name.as_deref(), model.face_set_b_name.as_deref()), (Some("A faces"), Some("B faces")));
        assert_eq!((model.job_id, model.state, model.iteration, model.loss), (Some(job.id), ModelState::Queued, 0, None));
        assert_eq!(model.created_by_name.as_deref(), Some("u"));
        assert_eq!(job.params["model_id"], model.id, "the job knows its model");
        assert_eq!(job.params["batch"], 2);

        s.claim_next_job(&["train"]).await.unwrap().unwrap();
        assert_eq!(s.model(p, model.id).await.unwrap().state, ModelState::Training);
        s.record_model_save(model.id, 250, Some((0.12, 0.25))).await.unwrap();
        s.record_model_save(model.id, 300, None).await.unwrap();
        let m = s.model(p, model.id).await.unwrap();
        assert_eq!((m.iteration, m.loss), (300, Some((0.12, 0.25))), "a save without losses keeps the last ones");
        s.interrupt_running_jobs().await.unwrap();
        assert_eq!(s.model(p, model.id).await.unwrap().state, ModelState::Stopped, "a restart stops it");
        let err = s.start_model_job(p, model.id, u, "train", serde_json::json!({})).await.unwrap_err();
        assert!(err.to_string().contains("resume it instead"), "{err}");
        s.transition_job(job.id, JobState::Queued, None).await.unwrap();
        assert_eq!(s.model(p, model.id).await.unwrap().state, ModelState::Queued);
        let err = s.start_model_job(p, model.id, u, "train", serde_json::json!({})).await.unwrap_err();
        assert!(err.to_string().contains("already training"), "{err}");
        s.claim_next_job(&["train"]).await.unwrap().unwrap();
        s.transition_job(job.id, JobState::Done, None).await.unwrap();
        assert_eq!(s.model(p, model.id).await.unwrap().state, ModelState::Done);

        // Training more: a new job, the model follows it.
        let (more, job2) = s.start_model_job(p, model.id, u, "train", serde_json::json!({"iterations": 600})).await.unwrap();
        assert_ne!(job2.id, job.id);
        assert_eq!((more.job_id, more.state, more.iteration), (Some(job2.id), ModelState::Queued, 300));
        assert_eq!((job2.params["model_id"].as_i64(), job2.params["iterations"].as_i64()), (Some(model.id), Some(600)));
        assert_eq!(s.list_models(p, false).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn names_kinds_and_face_sets_are_checked() {
        let t = temp_store().await;
        let s = &t.store;
        let (u, p, a, b) = fixture(s).await;
        let params = || serde_json::json!({});
        let long = "x".repeat(121);
        for bad in ["", "   ", "a\nb", long.as_str()] {
            let err = s.create_model_with_job(p, &new(bad, a, b), u, "train", params()).await.unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{bad:?}: {err}");
        }
        for kind in ["", "Original", "../x", "a b"] {
            let err = s.create_model_with_job(p, &NewModel { kind, ..new("m", a, b) }, u, "train", params()).await.unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{kind:?}: {err}");
        }
        let err = s.create_model_with_job(p, &new("m", a, a), u, "train", params()).await.unwrap_err();
        assert!(err.to_string().contains("two different face sets"), "{err}");
        let other = s.create_project(u, "other").await.unwrap();
        let err = s.create_model_with_job(other.id, &new("m", a, b), u, "train", params()).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "face sets of another project: {err}");
        assert!(s.list_jobs(other.id, 10).await.unwrap().is_empty(), "nothing half-made is left");
        let err = s.create_model_with_job(p, &new("m", a, b), u, "train", serde_json::json!([1])).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)));
        assert!(s.list_models(p, false).await.unwrap().is_empty(), "the transaction was rolled back");

        // A trashed face set is not offered for training.
        let set_b = s.face_set(p, b).await.unwrap();
        s.transition_job(set_b.job_id.unwrap(), JobState::Cancelled, None).await.unwrap();
        s.trash_face_set(p, b).await.unwrap();
        let err = s.create_model_with_job(p, &new("m", a, b), u, "train", params()).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err}");
        s.restore_face_set(p, b).await.unwrap();
        let (m, _) = s.create_model_with_job(p, &new("m", a, b), u, "train", params()).await.unwrap();
        assert!(matches!(s.model(other.id, m.id).await, Err(StoreError::NotFound)), "models are scoped to their project");
        assert!(matches!(s.start_model_job(other.id, m.id, u, "train", params()).await, Err(StoreError::NotFound)));
    }

    #[tokio::test]
    async fn the_trash_hides_a_stopped_model_until_it_is_restored() {
        let t = temp_store().await;
        let s = &t.store;
        let (u, p, a, b) = fixture(s).await;
        let (m, job) = s.create_model_with_job(p, &new("m", a, b), u, "train", serde_json::json!({})).await.unwrap();
        let err = s.trash_model(p, m.id).await.unwrap_err();
        assert!(err.to_string().contains("stop it first"), "{err}");
        s.transition_job(job.id, JobState::Cancelled, None).await.unwrap();
        s.trash_model(p, m.id).await.unwrap();
        assert!(matches!(s.model(p, m.id).await, Err(StoreError::NotFound)));
        assert!(s.list_models(p, false).await.unwrap().is_empty());
        assert!(matches!(s.start_model_job(p, m.id, u, "train", serde_json::json!({})).await, Err(StoreError::NotFound)), "no training in the trash");
        assert_eq!(s.list_models(p, true).await.unwrap()[0].id, m.id);
        s.restore_model(p, m.id).await.unwrap();
        assert_eq!(s.model(p, m.id).await.unwrap().state, ModelState::Stopped);
    }
}
