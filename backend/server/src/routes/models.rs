//! A model's images: `GET /api/projects/{id}/models/{model}/preview.png`, the preview grid of
//! its newest save, and `GET /api/projects/{id}/models/{model}/timelapse/{iteration}.png`, one
//! timelapse frame. The frame's name must be the iteration as training names it (8 or more
//! digits and `.png`); anything else, including every path trick, is 404 before the file
//! system is asked.

use super::project_access;
use crate::error::ApiError;
use crate::server::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use doppel_store::{timelapse_iteration, Role};
use tower::ServiceExt;
use tower_http::services::ServeFile;
use tower_sessions::Session;

pub async fn preview(
    State(state): State<AppState>,
    session: Session,
    Path((project, model)): Path<(i64, i64)>,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    project_access(&state, &session, project, Role::Viewer).await?;
    let m = state.ctx.store.model(project, model).await?;
    let path = state.ctx.store.dirs().model_dir(project, m.id).join(doppel_engine::train::run::PREVIEW);
    // Replaced at every save under the same name: the page asks with `?v=<iteration>`.
    png(path, req, "private, no-cache").await
}

pub async fn timelapse(
    State(state): State<AppState>,
    session: Session,
    Path((project, model, file)): Path<(i64, i64, String)>,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    project_access(&state, &session, project, Role::Viewer).await?;
    let m = state.ctx.store.model(project, model).await?;
    let iteration = timelapse_iteration(&file).ok_or(ApiError::NotFound)?;
    let path = state.ctx.store.dirs().timelapse_frame(project, m.id, iteration);
    if path.file_name().and_then(|n| n.to_str()) != Some(file.as_str()) {
        // Only the name training writes (no second name for the same frame).
        return Err(ApiError::NotFound);
    }
    png(path, req, "private, max-age=3600").await
}

async fn png(path: std::path::PathBuf, req: Request<Body>, cache: &'static str) -> Result<Response, ApiError> {
    if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
        return Err(ApiError::NotFound);
    }
    let mut res = ServeFile::new_with_mime(path, &mime_guess::mime::IMAGE_PNG).oneshot(req).await.map_err(ApiError::internal)?.into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Ok(res)
}
