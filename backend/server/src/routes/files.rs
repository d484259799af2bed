//! Downloads of originals (with Range requests, for the video preview) and thumbnails.

use super::project_access;
use crate::error::ApiError;
use crate::server::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use doppel_store::{MediaState, Role};
use tower::ServiceExt;
use tower_http::services::ServeFile;
use tower_sessions::Session;

/// `GET /api/projects/{id}/media/{media}/file`
pub async fn original(
    State(state): State<AppState>,
    session: Session,
    Path((project, media)): Path<(i64, i64)>,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    project_access(&state, &session, project, Role::Viewer).await?;
    let m = state.ctx.store.media(project, media).await?;
    if m.state != MediaState::Ready {
        return Err(ApiError::NotFound);
    }
    let path = state.ctx.store.dirs().media_file(project, &m.stored_name)?;
    let mime = mime_guess::from_path(&m.label).first_or_octet_stream();
    let mut res = ServeFile::new_with_mime(path, &mime).oneshot(req).await.map_err(ApiError::internal)?.into_response();
    let disposition = format!("inline; filename*=UTF-8''{}", percent_encoding::utf8_percent_encode(&m.label, percent_encoding::NON_ALPHANUMERIC));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(res)
}

/// `GET /api/projects/{id}/media/{media}/thumb`
pub async fn thumb(
    State(state): State<AppState>,
    session: Session,
    Path((project, media)): Path<(i64, i64)>,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    project_access(&state, &session, project, Role::Viewer).await?;
    let m = state.ctx.store.media(project, media).await?;
    let path = state.ctx.store.dirs().thumb_file(project, m.id);
    if m.state != MediaState::Ready || !path.is_file() {
        return Err(ApiError::NotFound);
    }
    let mut res = ServeFile::new_with_mime(path, &mime_guess::mime::IMAGE_JPEG).oneshot(req).await.map_err(ApiError::internal)?.into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(res)
}
