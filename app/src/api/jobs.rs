//! Jobs of a project: list, cancel, resume. Live progress comes from the event stream.

use super::{AppError, JobDto};
use leptos::prelude::*;

/// How many recent jobs a project page lists.
pub const JOBS_SHOWN: i64 = 50;

#[server(endpoint = "list_jobs")]
pub async fn list_jobs(project: i64) -> Result<Vec<JobDto>, AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let jobs = ctx.store.list_jobs(p.id, JOBS_SHOWN).await?;
    Ok(jobs.into_iter().map(|j| {
        let title = ctx.jobs.title(&j);
        job_dto(j, title)
    }).collect())
}

#[server(endpoint = "cancel_job")]
pub async fn cancel_job(project: i64, job: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    let j = ctx.store.job(job).await?;
    if j.project_id != p.id {
        return Err(AppError::NotFound);
    }
    use doppel_store::JobState;
    match j.state {
        JobState::Running => ctx.jobs.cancel_running(j.id),
        _ => {
            let j = ctx.store.transition_job(j.id, JobState::Cancelled, Some("cancelled by a user")).await?;
            ctx.jobs.changed(&j);
        }
    }
    Ok(())
}

/// Puts an interrupted, failed or cancelled job back in the queue, on the device it ran on
/// (refused when the server no longer has that device).
#[server(endpoint = "resume_job")]
pub async fn resume_job(project: i64, job: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    let j = ctx.store.job(job).await?;
    if j.project_id != p.id {
        return Err(AppError::NotFound);
    }
    if let Some(device) = j.params.get("device").and_then(|d| d.as_str()) {
        if super::pick_device(&ctx.devices, device).is_err() {
            return Err(invalid(format!(
                "this job runs on {device}, which this server no longer has (it has {}): start it again on another device",
                super::device_list(&ctx.devices)
            )));
        }
    }
    let j = ctx.store.transition_job(j.id, doppel_store::JobState::Queued, None).await?;
    ctx.jobs.changed(&j);
    Ok(())
}
