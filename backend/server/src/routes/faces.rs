//! `GET /api/projects/{id}/facesets/{set}/faces/{file}`: one face PNG of a face set, and with
//! `?size=N` a small square JPEG of it, made on the first request and cached under the
//! project's `cache/` (a 512 px face PNG is ~200 KB; its 128 px JPEG ~5 KB). `?trash=true`
//! serves a face of the set's trash.
//!
//! The file name must be a face file name (`<stem>_<frame>_<face>.png`); anything else,
//! including every path trick, is 404 before the file system is asked.

use super::project_access;
use crate::error::ApiError;
use crate::server::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use doppel_store::{DataDir, Role};
use std::path::PathBuf;
use tower::ServiceExt;
use tower_http::services::ServeFile;
use tower_sessions::Session;

/// Sides of the JPEGs `?size=` makes.
pub const THUMB_SIZES: [u32; 3] = [64, 128, 256];

#[derive(serde::Deserialize)]
pub struct FaceQuery {
    size: Option<u32>,
    /// A face of the set's trash.
    #[serde(default)]
    trash: bool,
}

pub async fn face(
    State(state): State<AppState>,
    session: Session,
    Path((project, set, file)): Path<(i64, i64, String)>,
    Query(query): Query<FaceQuery>,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    project_access(&state, &session, project, Role::Viewer).await?;
    let set = state.ctx.store.face_set(project, set).await?;
    let dirs = state.ctx.store.dirs();
    let path = if query.trash { dirs.trashed_face_file(project, set.id, &file)? } else { dirs.face_file(project, set.id, &file)? };
    if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
        return Err(ApiError::NotFound);
    }
    let (path, mime) = match query.size {
        None => (path, mime_guess::mime::IMAGE_PNG),
        Some(size) if THUMB_SIZES.contains(&size) => {
            (thumbnail(dirs.clone(), project, set.id, file, path, size).await?, mime_guess::mime::IMAGE_JPEG)
        }
        Some(size) => {
            let sizes = THUMB_SIZES.map(|s| s.to_string()).join(", ");
            return Err(ApiError::BadRequest(format!("size must be one of {sizes}, not {size}")));
        }
    };
    let mut res = ServeFile::new_with_mime(path, &mime).oneshot(req).await.map_err(ApiError::internal)?.into_response();
    // Faces change under their name when someone edits them: the browser asks again each
    // time (a 304 when unchanged).
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    Ok(res)
}

/// The cached JPEG of a face, made again when the face PNG is newer.
async fn thumbnail(dirs: DataDir, project: i64, set: i64, file: String, png: PathBuf, size: u32) -> Result<PathBuf, ApiError> {
    let jpeg = dirs.face_thumb_file(project, set, &file, size)?;
    tokio::task::spawn_blocking(move || -> Result<PathBuf, ApiError> {
        let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if let (Some(t), Some(p)) = (modified(&jpeg), modified(&png)) {
            if t >= p {
                return Ok(jpeg);
            }
        }
        let img = match doppel_engine::image_io::decode_file(&png) {
            Ok(img) => img,
            // Moved to the trash by someone else since it was looked up: gone, not broken.
            Err(_) if !png.exists() => return Err(ApiError::NotFound),
            Err(e) => return Err(ApiError::internal(e)),
        };
        let small = img.resize_exact(size, size, image::imageops::FilterType::Triangle).to_rgb8();
        crate::jpeg::save_thumbnail(&jpeg, &small).map_err(ApiError::internal)?;
        Ok(jpeg)
    })
    .await
    .map_err(ApiError::internal)?
}

/// `GET /api/projects/{id}/facesets/{set}/faces/{file}/frame`: the source frame of a face, upright
/// as extraction saw it, as a JPEG (decoded once, then cached), for the frame editor.
pub async fn frame(
    State(state): State<AppState>,
    session: Session,
    Path((project, set, file)): Path<(i64, i64, String)>,
    req: Request<Body>,
) -> Result<Response, ApiError> {
    let (user, _) = project_access(&state, &session, project, Role::Viewer).await?;
    let set = state.ctx.store.face_set(project, set).await?;
    let dirs = state.ctx.store.dirs().clone();
    let png = dirs.face_file(project, set.id, &file)?;
    let media = state.ctx.store.media(project, set.source_media.ok_or(ApiError::NotFound)?).await?;
    let source = dirs.media_file(project, &media.stored_name)?;
    let set_id = set.id;
    let work = state.ctx.work.clone();
    let jpeg = tokio::task::spawn_blocking(move || -> Result<PathBuf, ApiError> {
        let meta = match doppel_engine::faces::read_face_meta(&png) {
            Ok(m) => m,
            Err(doppel_engine::faces::FacePngError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::NotFound),
            Err(e) => return Err(ApiError::internal(e)),
        };
        let jpeg = dirs.face_frame_file(project, set_id, meta.frame.index);
        if !jpeg.is_file() {
            // Decoding a frame is the costly part: bounded, and only for frames the video has.
            super::convert::check_frame(&media, meta.frame.index)?;
            let _permit = work.try_start(user.id)?;
            let image = doppel_engine::faces::edit::source_frame(&source, meta.frame.index).map_err(ApiError::internal)?;
            crate::jpeg::save_thumbnail(&jpeg, &image).map_err(ApiError::internal)?;
        }
        Ok(jpeg)
    })
    .await
    .map_err(ApiError::internal)??;
    let mut res = ServeFile::new_with_mime(jpeg, &mime_guess::mime::IMAGE_JPEG).oneshot(req).await.map_err(ApiError::internal)?.into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(res)
}
