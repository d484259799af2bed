//! Conversions of a project: list them, start one (a `convert` job), move one to the trash.
//! Stop and retry are the job functions (`cancel_job`, `resume_job`: a conversion writes its
//! file only when complete, so a stopped one starts over). The video and the live preview are
//! file routes of the server.

use super::{AppError, JobDto};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversionStateDto {
    Queued,
    Converting,
    Done,
    Stopped,
    Failed,
}

impl ConversionStateDto {
    pub fn label(self) -> &'static str {
        match self {
            ConversionStateDto::Queued => "queued",
            ConversionStateDto::Converting => "converting",
            ConversionStateDto::Done => "done",
            ConversionStateDto::Stopped => "stopped",
            ConversionStateDto::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionDto {
    pub id: i64,
    pub label: String,
    pub media_label: Option<String>,
    pub model_name: Option<String>,
    pub state: ConversionStateDto,
    pub job: Option<JobDto>,
    /// Set when the video is complete.
    pub size_bytes: Option<u64>,
    pub summary: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvertStarted {
    pub conversion_id: i64,
    pub job_id: i64,
}

#[server(endpoint = "list_conversions")]
pub async fn list_conversions(project: i64) -> Result<Vec<ConversionDto>, AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let mut out = Vec::new();
    for c in ctx.store.list_conversions(p.id).await? {
        let job = match c.job_id {
            Some(id) => ctx.store.job(id).await.ok().map(|j| {
                let title = ctx.jobs.title(&j);
                job_dto(j, title)
            }),
            None => None,
        };
        out.push(conversion_dto(c, job));
    }
    Ok(out)
}

/// Queues the conversion of a video of the project by one of its models. Editors and owners.
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "start_conversion")]
pub async fn start_conversion(
    project: i64,
    #[server(default)] media: String,
    #[server(default)] model: String,
    #[server(default)] faces: String,
    #[server(default)] direction: String,
    #[server(default)] mask: String,
    #[server(default)] erode: String,
    #[server(default)] blur: String,
    #[server(default)] threshold: String,
    #[server(default)] color: String,
    #[server(default)] sharpen: String,
    #[server(default)] sharpen_amount: String,
    #[server(default)] smooth: String,
    #[server(default)] codec: String,
    #[server(default)] crf: String,
    #[server(default)] frames: String,
    #[server(default)] scale: String,
    #[server(default)] device: String,
) -> Result<ConvertStarted, AppError> {
    use super::ssr::*;
    use super::{conversion_label, ConvertForm, ConvertParams, CONVERT_JOB};
    let (me, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    let form = ConvertForm { media, model, faces, direction, mask, erode, blur, threshold, color, sharpen, sharpen_amount, smooth, codec, crf, frames, scale, device };
    let choice = form.parse().map_err(invalid)?;
    let checked = checks::conversion(&ctx, p.id, &choice).await?;
    let params = ConvertParams { conversion_id: 0, media_id: choice.media, model_id: choice.model, label: checked.source.clone(), faces: choice.faces, settings: choice.settings, device: Some(checked.device) };
    let json = serde_json::to_value(&params).map_err(internal)?;
    let label = conversion_label(&checked.source, &checked.model);
    let (c, job) = ctx.store.create_conversion_with_job(p.id, choice.media, choice.model, &label, me.id, CONVERT_JOB, json).await?;
    ctx.jobs.changed(&job);
    Ok(ConvertStarted { conversion_id: c.id, job_id: job.id })
}

/// Moves a finished conversion to the trash. Editors and owners.
#[server(endpoint = "trash_conversion")]
pub async fn trash_conversion(project: i64, conversion: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    ctx.store.trash_conversion(p.id, conversion).await?;
    Ok(())
}

#[cfg(feature = "ssr")]
pub mod checks {
    use super::super::ssr::{invalid, ServerContext};
    use super::AppError;
    use crate::api::{ConvertChoice, FaceSetStateDto, MediaStateDto};
    use doppel_store::StoreError;

    /// The names of what a conversion uses, once checked.
    pub struct Checked {
        pub source: String,
        pub model: String,
        /// The device it runs on, as jobs name it (the server's default when the form named none).
        pub device: String,
    }

    /// A ready video of the project, a model of the project with a save, (when named) a
    /// finished face set of that same video, and a device of the server: what a conversion
    /// and its preview need.
    pub async fn conversion(ctx: &ServerContext, project: i64, c: &ConvertChoice) -> Result<Checked, AppError> {
        let device = super::super::ssr::job_device(ctx, &c.device)?;
        let media = match ctx.store.media(project, c.media).await {
            Ok(m) => crate::api::ssr::media_dto(m),
            Err(StoreError::NotFound) => return Err(invalid(format!("video #{} is not in this project", c.media))),
            Err(e) => return Err(e.into()),
        };
        if media.state != MediaStateDto::Ready || media.facts.as_ref().is_none_or(|f| f.kind != "video") {
            return Err(invalid(format!("{} is not a video ready in this project", media.label)));
        }
        let model = match ctx.store.model(project, c.model).await {
            Ok(m) => m,
            Err(StoreError::NotFound) => return Err(invalid(format!("model #{} is not in this project", c.model))),
            Err(e) => return Err(e.into()),
        };
        if model.iteration == 0 {
            return Err(invalid(format!("'{}' has no save yet: train it until its first save", model.name)));
        }
        if let Some(set) = c.faces {
            let set = match ctx.store.face_set(project, set).await {
                Ok(s) => crate::api::ssr::face_set_dto(s),
                Err(StoreError::NotFound) => return Err(invalid(format!("face set #{set} is not in this project"))),
                Err(e) => return Err(e.into()),
            };
            if set.source_media != Some(media.id) {
                return Err(invalid(format!("'{}' was not extracted from {}: its faces cannot be used for it", set.name, media.label)));
            }
            if matches!(set.state, FaceSetStateDto::Queued | FaceSetStateDto::Extracting) {
                return Err(invalid(format!("'{}' is still being extracted: wait until it is ready", set.name)));
            }
        }
        Ok(Checked { source: media.label, model: model.name, device })
    }
}
