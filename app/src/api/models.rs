//! Swap models of a project: list them, start training a new one, train one further, its loss
//! history and timelapse frames. Stop and resume are the job functions (`cancel_job`,
//! `resume_job`: the engine saves before it stops and resumes from the model folder); the
//! preview and timelapse images are file routes of the server.

use super::{AppError, LossHistory, ModelDto, TimelapseFrames, TrainStarted};
use leptos::prelude::*;

#[server(endpoint = "list_models")]
pub async fn list_models(project: i64) -> Result<Vec<ModelDto>, AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let mut out = Vec::new();
    for m in ctx.store.list_models(p.id, false).await? {
        let job = match m.job_id {
            Some(id) => ctx.store.job(id).await.ok(),
            None => None,
        };
        out.push(model_dto(m, job, |j| ctx.jobs.title(j)));
    }
    Ok(out)
}

/// Creates a model from two face sets of the project and queues the job that trains it.
/// Editors and owners.
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "start_training")]
pub async fn start_training(
    project: i64,
    #[server(default)] name: String,
    #[server(default)] face_set_a: String,
    #[server(default)] face_set_b: String,
    #[server(default)] kind: String,
    #[server(default)] batch: String,
    #[server(default)] iterations: String,
    #[server(default)] save_every: String,
    #[server(default)] warp: String,
    #[server(default)] learning_rate: String,
    #[server(default)] device: String,
) -> Result<TrainStarted, AppError> {
    use super::ssr::*;
    use super::{default_model_name, TrainForm, TRAIN_JOB};
    let (me, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    let form = TrainForm { face_set_a, face_set_b, kind, batch, iterations, save_every, warp, learning_rate };
    let mut params = form.parse("").map_err(invalid)?;
    params.device = Some(job_device(&ctx, &device)?);
    let a = checks::usable_face_set(&ctx, p.id, params.face_set_a, "A").await?;
    let b = checks::usable_face_set(&ctx, p.id, params.face_set_b, "B").await?;
    let name = match name.trim() {
        "" => default_model_name(&a.name, &b.name),
        n => n.to_string(),
    };
    params.label = name.clone();
    let json = serde_json::to_value(&params).map_err(internal)?;
    let new = doppel_store::NewModel { name: &name, kind: &params.kind, face_set_a: a.id, face_set_b: b.id };
    let (model, job) = ctx.store.create_model_with_job(p.id, &new, me.id, TRAIN_JOB, json).await?;
    ctx.jobs.changed(&job);
    Ok(TrainStarted { model_id: model.id, job_id: job.id })
}

/// Trains a model further, to `iterations` in all, with the options of its last run: a new
/// job (a stopped run is resumed with `resume_job` instead, a finished one cannot be), on
/// `device`, or when none is named on the last run's device (the default for runs that named
/// none). Editors and owners.
#[server(endpoint = "continue_training")]
pub async fn continue_training(project: i64, model: i64, #[server(default)] iterations: String, #[server(default)] device: String) -> Result<TrainStarted, AppError> {
    use super::ssr::*;
    use super::{parse_more_iterations, TrainParams, TRAIN_JOB};
    let (me, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    let m = ctx.store.model(p.id, model).await?;
    let last = match m.job_id {
        Some(id) => ctx.store.job(id).await.ok(),
        None => None,
    };
    let mut params: TrainParams = last
        .and_then(|j| serde_json::from_value(j.params).ok())
        .ok_or_else(|| invalid(format!("the options of '{}' are gone (its job was deleted): start a new model", m.name)))?;
    params.iterations = Some(parse_more_iterations(&iterations, m.iteration).map_err(invalid)?);
    let device = match (device.trim(), &params.device) {
        ("", Some(last)) => last.clone(),
        (named, _) => named.to_string(),
    };
    params.device = Some(job_device(&ctx, &device)?);
    checks::usable_face_set(&ctx, p.id, params.face_set_a, "A").await?;
    checks::usable_face_set(&ctx, p.id, params.face_set_b, "B").await?;
    params.label = m.name.clone();
    let json = serde_json::to_value(&params).map_err(internal)?;
    let (m, job) = ctx.store.start_model_job(p.id, m.id, me.id, TRAIN_JOB, json).await?;
    ctx.jobs.changed(&job);
    Ok(TrainStarted { model_id: m.id, job_id: job.id })
}

/// The loss history of `model` (the project's newest when `None`) at its newest save, at
/// most [`super::MAX_GRAPH_POINTS`] points (bucket means).
#[server(endpoint = "get_loss_history")]
pub async fn get_loss_history(project: i64, #[server(default)] model: Option<i64>) -> Result<LossHistory, AppError> {
    use super::ssr::*;
    use super::{downsample, MAX_GRAPH_POINTS};
    let (_, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let Some(m) = checks::pick_model(&ctx, p.id, model).await? else {
        return Ok(LossHistory { model_id: None, iterations: 0, points: Vec::new() });
    };
    let dir = ctx.store.dirs().model_dir(p.id, m.id);
    let files = ctx.model_files.clone();
    let history = tokio::task::spawn_blocking(move || files.loss_history(&dir)).await.map_err(internal)?.map_err(internal)?;
    Ok(LossHistory { model_id: Some(m.id), iterations: history.len() as u64, points: downsample(&history, MAX_GRAPH_POINTS) })
}

/// The iterations of the timelapse frames of `model` (the project's newest when `None`).
#[server(endpoint = "list_timelapse_frames")]
pub async fn list_timelapse_frames(project: i64, #[server(default)] model: Option<i64>) -> Result<TimelapseFrames, AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let Some(m) = checks::pick_model(&ctx, p.id, model).await? else {
        return Ok(TimelapseFrames { model_id: None, iterations: Vec::new() });
    };
    let dirs = ctx.store.dirs().clone();
    let iterations = tokio::task::spawn_blocking(move || dirs.timelapse_frames(m.project_id, m.id)).await.map_err(internal)??;
    Ok(TimelapseFrames { model_id: Some(m.id), iterations })
}

#[cfg(feature = "ssr")]
mod checks {
    use super::super::ssr::{invalid, ServerContext};
    use super::AppError;
    use doppel_store::{FaceSet, FaceSetState, Model, StoreError};

    /// A face set of the project that training can read: done being written, with faces.
    pub async fn usable_face_set(ctx: &ServerContext, project: i64, id: i64, side: &str) -> Result<FaceSet, AppError> {
        let set = match ctx.store.face_set(project, id).await {
            Ok(set) => set,
            Err(StoreError::NotFound) => return Err(invalid(format!("face set #{id} (person {side}) is not in this project"))),
            Err(e) => return Err(e.into()),
        };
        if matches!(set.state, FaceSetState::Queued | FaceSetState::Extracting) {
            return Err(invalid(format!("'{}' (person {side}) is still being extracted: wait until it is ready", set.name)));
        }
        if set.face_count == 0 {
            return Err(invalid(format!("'{}' (person {side}) has no faces: pick a face set with faces", set.name)));
        }
        Ok(set)
    }

    /// The model asked for, or the project's newest when none was named.
    pub async fn pick_model(ctx: &ServerContext, project: i64, model: Option<i64>) -> Result<Option<Model>, AppError> {
        Ok(match model {
            Some(id) => Some(ctx.store.model(project, id).await?),
            None => ctx.store.list_models(project, false).await?.into_iter().next(),
        })
    }
}
