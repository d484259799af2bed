//! Downloads of originals (with Range requests, for the video preview) and thumbnails.

use super::project_access;
use crate::error::ApiError;
use crate::server::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use doppel_engine::media::{MediaFacts, MediaKind};
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
    let facts = m.facts.as_deref().and_then(|f| serde_json::from_str::<MediaFacts>(f).ok());
    let served = ServedType::of(facts.as_ref());
    let mut res = ServeFile::new_with_mime(path, &served.mime).oneshot(req).await.map_err(ApiError::internal)?.into_response();
    let how = if served.inline { "inline" } else { "attachment" };
    let disposition = format!("{how}; filename*=UTF-8''{}", percent_encoding::utf8_percent_encode(&m.label, percent_encoding::NON_ALPHANUMERIC));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(res)
}

/// How an original is served: its type as the probe found it (never from the uploader's file
/// name), shown inline only when it is a video or image the app shows; anything else is an
/// `application/octet-stream` attachment. With the file CSP and `nosniff`, an upload never
/// runs as a page on this origin, whatever its name or contents.
#[derive(Debug, PartialEq)]
struct ServedType {
    mime: mime_guess::Mime,
    inline: bool,
}

impl ServedType {
    fn of(facts: Option<&MediaFacts>) -> Self {
        let attachment = ServedType { mime: mime_guess::mime::APPLICATION_OCTET_STREAM, inline: false };
        let Some(f) = facts else { return attachment };
        let mime = match f.kind {
            MediaKind::Video => match f.container.as_str() {
                c if c.starts_with("mov,mp4") => "video/mp4",
                "matroska,webm" if matches!(f.video_codec.as_str(), "vp8" | "vp9" | "av1") => "video/webm",
                "matroska,webm" => "video/x-matroska",
                "avi" => "video/x-msvideo",
                "mpegts" => "video/mp2t",
                "ogg" => "video/ogg",
                "flv" => "video/x-flv",
                _ => return attachment,
            },
            MediaKind::Image => match f.video_codec.as_str() {
                "png" => "image/png",
                "mjpeg" => "image/jpeg",
                "webp" => "image/webp",
                "gif" => "image/gif",
                "bmp" => "image/bmp",
                _ => return attachment,
            },
        };
        match mime.parse() {
            Ok(mime) => ServedType { mime, inline: true },
            Err(_) => attachment,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(kind: MediaKind, container: &str, codec: &str) -> MediaFacts {
        MediaFacts {
            kind,
            container: container.into(),
            container_long: String::new(),
            video_codec: codec.into(),
            audio_codec: None,
            has_audio: false,
            width: 64,
            height: 64,
            coded_width: 64,
            coded_height: 64,
            rotation: 0,
            fps: 0.0,
            frame_count: 1,
            duration_secs: 0.0,
        }
    }

    #[test]
    fn the_type_comes_from_the_probe_and_unknown_types_download() {
        let png = ServedType::of(Some(&facts(MediaKind::Image, "png_pipe", "png")));
        assert_eq!((png.mime.essence_str(), png.inline), ("image/png", true));
        let mp4 = ServedType::of(Some(&facts(MediaKind::Video, "mov,mp4,m4a,3gp,3g2,mj2", "h264")));
        assert_eq!((mp4.mime.essence_str(), mp4.inline), ("video/mp4", true));
        for odd in [facts(MediaKind::Image, "image2", "svg"), facts(MediaKind::Video, "something", "h264")] {
            let t = ServedType::of(Some(&odd));
            assert_eq!((t.mime.essence_str(), t.inline), ("application/octet-stream", false), "{odd:?}");
        }
        let unprobed = ServedType::of(None);
        assert_eq!((unprobed.mime.essence_str(), unprobed.inline), ("application/octet-stream", false));
    }
}
