//! `POST /api/projects/{id}/media?name=<file name>` with the raw file as the body.
//!
//! The body is streamed to a temporary file (never held in memory), counted against the size
//! limit, synced, and renamed under a server-chosen name; then the media record and its probe
//! job are committed together (the file is removed if that fails). A crash at any step leaves
//! either a complete upload with its queued probe, or leftovers the start-up sweep removes
//! (`crate::recovery`); the steps are the crash points `upload-streamed`, `upload-renamed`
//! and `upload-committed` of [`crate::recovery::CrashPoint`].

use super::project_access;
use crate::error::ApiError;
use crate::server::AppState;
use app::api::ssr::JobControl;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use doppel_store::{new_server_name, sanitize_label, Role};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tower_sessions::Session;

#[derive(serde::Deserialize)]
pub struct UploadQuery {
    name: String,
}

#[derive(serde::Serialize, serde::Deserialize, Debug)]
pub struct Uploaded {
    pub media_id: i64,
    pub job_id: i64,
    pub label: String,
    pub size_bytes: u64,
}

pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    Path(project): Path<i64>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Uploaded>, ApiError> {
    let (user, project) = project_access(&state, &session, project, Role::Editor).await?;
    let label = sanitize_label(&query.name).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let limit = state.config.max_upload;
    let too_large = |size: u64| {
        ApiError::TooLarge(format!(
            "{label} is {}, over this server's upload limit of {} (doppel serve --max-upload)",
            human(size),
            human(limit)
        ))
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > limit) {
        return Err(too_large(n));
    }

    let dirs = state.ctx.store.dirs().clone();
    let stored_name = new_server_name();
    let part = dirs.tmp().join(format!("{stored_name}.part"));
    let written = match stream_to_file(body, &part, limit).await {
        Ok(n) => n,
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(match e {
                StreamError::TooLarge(n) => too_large(n),
                StreamError::Aborted(msg) => ApiError::BadRequest(format!("the upload of {label} broke off: {msg}")),
                StreamError::Io(e) => ApiError::internal(e),
            });
        }
    };
    if written == 0 {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(ApiError::BadRequest(format!("{label} is empty")));
    }
    state.crash.at("upload-streamed");
    let media_dir = dirs.media_dir(project.id);
    let dest = dirs.media_file(project.id, &stored_name)?;
    let placed = async {
        tokio::fs::create_dir_all(&media_dir).await?;
        tokio::fs::rename(&part, &dest).await?;
        // The rename is durable before the record says the file is there.
        tokio::fs::File::open(&media_dir).await?.sync_all().await?;
        Ok::<(), std::io::Error>(())
    };
    if let Err(e) = placed.await {
        let _ = tokio::fs::remove_file(&part).await;
        let _ = tokio::fs::remove_file(&dest).await;
        return Err(ApiError::internal(e));
    }
    state.crash.at("upload-renamed");

    // The record and its probe job in one transaction; without them the file goes.
    let probe = crate::jobs::JobKind::Probe.as_str();
    let created = state
        .ctx
        .store
        .create_media_with_job(project.id, &label, &stored_name, written as i64, user.id, probe, |id| serde_json::json!({ "media_id": id, "label": label }))
        .await;
    let (media, job) = match created {
        Ok(made) => made,
        Err(e) => {
            let _ = tokio::fs::remove_file(&dest).await;
            return Err(e.into());
        }
    };
    state.crash.at("upload-committed");
    state.runner.changed(&job);
    tracing::info!("{} uploaded {label} ({} bytes) to project {}", user.username, written, project.id);
    Ok(Json(Uploaded { media_id: media.id, job_id: job.id, label, size_bytes: written }))
}

enum StreamError {
    TooLarge(u64),
    Aborted(String),
    Io(std::io::Error),
}

async fn stream_to_file(body: Body, path: &std::path::Path, limit: u64) -> Result<u64, StreamError> {
    let mut file = tokio::fs::File::create(path).await.map_err(StreamError::Io)?;
    let mut stream = body.into_data_stream();
    let mut written: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StreamError::Aborted(e.to_string()))?;
        written += chunk.len() as u64;
        if written > limit {
            return Err(StreamError::TooLarge(written));
        }
        file.write_all(&chunk).await.map_err(StreamError::Io)?;
    }
    file.sync_all().await.map_err(StreamError::Io)?;
    Ok(written)
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_well() {
        assert_eq!(super::human(512), "512 B");
        assert_eq!(super::human(4 << 30), "4.0 GiB");
        assert_eq!(super::human(1536), "1.5 KiB");
    }
}
