//! The convert page's files: `GET /api/projects/{id}/convert/preview?…` (one frame before or
//! after conversion with the page's settings, a JPEG) and
//! `GET /api/projects/{id}/conversions/{conversion}/file[?download=1]` (the converted video,
//! with Range requests so the page can play it).

use super::project_access;
use crate::error::ApiError;
use crate::jobs::convert::{alignments_of, engine_options};
use crate::previews::ModelKey;
use crate::server::AppState;
use app::api::ConvertForm;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use doppel_store::{ConversionState, Role};
use serde::Deserialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;
use tower_sessions::Session;

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    #[serde(flatten)]
    form: ConvertForm,
    #[serde(default)]
    frame: u64,
    /// `before`: the frame as it is.
    #[serde(default)]
    side: String,
}

pub async fn preview(
    State(state): State<AppState>,
    session: Session,
    Path(project): Path<i64>,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, ApiError> {
    let (user, _) = project_access(&state, &session, project, Role::Viewer).await?;
    let store = &state.ctx.store;
    let choice = q.form.parse().map_err(ApiError::BadRequest)?;
    let media = store.media(project, choice.media).await?;
    // A frame past the end would be looked for by decoding the whole video: refused first.
    check_frame(&media, q.frame)?;
    let checked = app::api::checks::conversion(&state.ctx, project, &choice).await.map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let engine = state.runner.engine().clone();
    let device = engine.job_device(&serde_json::json!({ "device": checked.device })).map_err(ApiError::BadRequest)?;
    let model = store.model(project, choice.model).await?;
    let input = store.dirs().media_file(project, &media.stored_name)?;
    let alignments = choice.faces.map(|set| alignments_of(store.dirs(), project, set, &media.stored_name));
    // Not written: the preview only reads.
    let options = engine_options(&choice.settings, input, std::path::PathBuf::from("preview"), alignments).map_err(ApiError::BadRequest)?;
    let key = ModelKey { dir: store.dirs().model_dir(project, model.id), iteration: model.iteration, device };
    let cache = state.previews.clone();
    let before = q.side == "before";
    let frame = q.frame;
    let permit = state.ctx.work.try_start(user.id)?;
    let jpeg = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let _permit = permit;
        let image = cache.render(&key, &options, frame, before, &engine.models)?;
        let mut out = std::io::Cursor::new(Vec::new());
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).encode_image(&image).map_err(|e| e.to_string())?;
        Ok(out.into_inner())
    })
    .await
    .map_err(ApiError::internal)?
    // What failed is about the request (a frame past the end, a model that will not load):
    // the page shows the message.
    .map_err(|e| ApiError::BadRequest(e.replace(&state.ctx.store.dirs().root().display().to_string(), "")))?;
    let mut res = jpeg.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    Ok(res)
}

/// 400 unless `frame` is a frame of the media, by the count its probe made.
pub fn check_frame(media: &doppel_store::Media, frame: u64) -> Result<(), ApiError> {
    let count = media
        .facts
        .as_deref()
        .and_then(|f| serde_json::from_str::<doppel_engine::media::MediaFacts>(f).ok())
        .map(|f| f.frame_count)
        .ok_or_else(|| ApiError::BadRequest(format!("{} has not been probed yet", media.label)))?;
    if frame >= count {
        return Err(ApiError::BadRequest(format!("the source has no frame {frame}: {} has frames 0 to {}", media.label, count.saturating_sub(1))));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct FileQuery {
    #[serde(default)]
    download: Option<String>,
}

pub async fn file(
    State(state): State<AppState>,
    session: Session,
    Path((project, conversion)): Path<(i64, i64)>,
    Query(q): Query<FileQuery>,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    project_access(&state, &session, project, Role::Viewer).await?;
    let c = state.ctx.store.conversion(project, conversion).await?;
    if c.state != ConversionState::Done {
        return Err(ApiError::NotFound);
    }
    let path = state.ctx.store.dirs().output_file(project, &c.stored_name)?;
    if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
        return Err(ApiError::NotFound);
    }
    let mut res = ServeFile::new_with_mime(path, &"video/mp4".parse().map_err(ApiError::internal)?).oneshot(req).await.map_err(ApiError::internal)?.into_response();
    let how = if q.download.is_some() { "attachment" } else { "inline" };
    let disposition = format!("{how}; filename*=UTF-8''{}", percent_encoding::utf8_percent_encode(&c.label, percent_encoding::NON_ALPHANUMERIC));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(res)
}
