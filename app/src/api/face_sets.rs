//! Face sets of a project: start an extraction, list the sets, one set with its job, its
//! faces. The face images themselves are a file route of the server.

use super::{AppError, ExtractStarted, FaceList, FaceSetDetail, FaceSetDto};
use leptos::prelude::*;

/// Most face names one listing returns (the page shows them as a plain grid).
pub const FACES_LISTED: usize = 5000;

#[server(endpoint = "list_face_sets")]
pub async fn list_face_sets(project: i64) -> Result<Vec<FaceSetDto>, AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let sets = ctx.store.list_face_sets(p.id, false).await?;
    Ok(sets.into_iter().map(face_set_dto).collect())
}

#[server(endpoint = "get_face_set")]
pub async fn get_face_set(project: i64, set: i64) -> Result<FaceSetDetail, AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let set = ctx.store.face_set(p.id, set).await?;
    let job = match set.job_id {
        Some(id) => ctx.store.job(id).await.ok().map(|j| {
            let title = ctx.jobs.title(&j);
            job_dto(j, title)
        }),
        None => None,
    };
    Ok(FaceSetDetail { set: face_set_dto(set), job, role: role_dto(p.role) })
}

#[server(endpoint = "list_faces")]
pub async fn list_faces(project: i64, set: i64) -> Result<FaceList, AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let set = ctx.store.face_set(p.id, set).await?;
    let dirs = ctx.store.dirs().clone();
    let mut files = tokio::task::spawn_blocking(move || dirs.face_files(set.project_id, set.id))
        .await
        .map_err(internal)??;
    let total = files.len();
    files.truncate(FACES_LISTED);
    Ok(FaceList { files, total })
}

/// Creates a face set from one of the project's videos or photos and queues the job that
/// extracts its faces. Editors and owners.
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "start_extraction")]
pub async fn start_extraction(
    project: i64,
    media: i64,
    #[server(default)] name: String,
    #[server(default)] every_n: String,
    #[server(default)] frame_from: String,
    #[server(default)] frame_to: String,
    #[server(default)] size: String,
    #[server(default)] min_size: String,
    #[server(default)] re_feed: String,
    #[server(default)] threshold: String,
    #[server(default)] filter: String,
    #[server(default)] nfilter: String,
    #[server(default)] device: String,
) -> Result<ExtractStarted, AppError> {
    use super::ssr::*;
    use super::{default_face_set_name, ExtractForm, MediaStateDto, EXTRACT_JOB};
    let (me, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    let source = media_dto(ctx.store.media(p.id, media).await?);
    let facts = match (&source.state, &source.facts) {
        (MediaStateDto::Ready, Some(facts)) => facts.clone(),
        (MediaStateDto::Rejected, _) => return Err(invalid(format!("{} was not added to the project", source.label))),
        _ => return Err(invalid(format!("{} is still being checked: wait until it is ready", source.label))),
    };
    let form = ExtractForm { every_n, frame_from, frame_to, size, min_size, re_feed, threshold, filter, nfilter };
    let frame_count = (facts.kind == "video").then_some(facts.frame_count);
    let mut params = form.parse(source.id, &source.label, frame_count).map_err(invalid)?;
    params.device = Some(job_device(&ctx, &device)?);
    for (id, side) in params.filter.iter().map(|id| (id, "keep")).chain(params.nfilter.iter().map(|id| (id, "drop"))) {
        let photo = match ctx.store.media(p.id, *id).await {
            Ok(m) => media_dto(m),
            Err(doppel_store::StoreError::NotFound) => {
                return Err(invalid(format!("photo #{id} (people to {side}) is not in this project")));
            }
            Err(e) => return Err(e.into()),
        };
        let is_image = photo.facts.as_ref().is_some_and(|f| f.kind == "image");
        if photo.state != MediaStateDto::Ready || !is_image {
            return Err(invalid(format!("{} (people to {side}) is not a photo ready in this project", photo.label)));
        }
    }
    let name = if name.trim().is_empty() { default_face_set_name(&source.label) } else { name };
    let params = serde_json::to_value(&params).map_err(internal)?;
    let (set, job) = ctx.store.create_face_set_with_job(p.id, &name, source.id, me.id, EXTRACT_JOB, params).await?;
    ctx.jobs.changed(&job);
    Ok(ExtractStarted { face_set_id: set.id, job_id: job.id })
}
