//! The probe job: facts and an upright thumbnail for an uploaded file, or its rejection.
//!
//! A file FFmpeg cannot read as video or image is kept out of the project: its record says
//! why, its bytes (and any thumbnail) are deleted, and nothing else is touched. So is a file
//! over the media limits (8K frames, a million frames, 6 hours) or a playlist or concat list
//! naming other files: the engine's probe refuses them before they cost memory or time.

use super::{JobCtx, JobError};
use crate::events::EventBody;
use app::api::MediaChanged;
use doppel_engine::media;
use doppel_store::Media;

/// Longest side of thumbnails, in pixels.
pub const THUMB_SIDE: u32 = 320;

#[derive(serde::Deserialize)]
struct Params {
    media_id: i64,
}

pub async fn run(ctx: &JobCtx) -> Result<(), JobError> {
    let params: Params = serde_json::from_value(ctx.job.params.clone())
        .map_err(|e| JobError::Failed(format!("bad job parameters: {e}")))?;
    let store = &ctx.store;
    let m = store.media(ctx.job.project_id, params.media_id).await?;
    let path = store.dirs().media_file(m.project_id, &m.stored_name)?;
    if !path.is_file() {
        return Err(JobError::Failed(format!("{}: the uploaded file is gone; upload it again", m.label)));
    }
    ctx.progress(0, 2);
    let probe_path = path.clone();
    let facts = match tokio::task::spawn_blocking(move || media::probe(&probe_path)).await {
        Ok(Ok(facts)) => facts,
        Ok(Err(e)) => return reject(ctx, &m, &e.to_string()).await,
        Err(join) => return Err(JobError::Failed(format!("probing crashed: {join}"))),
    };
    ctx.log(&format!("{}: {} {}x{}, {} frames", m.label, facts.video_codec, facts.width, facts.height, facts.frame_count)).await;
    ctx.check_cancel()?;
    ctx.progress(1, 2);
    let thumb_path = store.dirs().thumb_file(m.project_id, m.id);
    let made = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let img = media::thumbnail(&path, THUMB_SIDE).map_err(|e| e.to_string())?;
        crate::jpeg::save_thumbnail(&thumb_path, &img)
    })
    .await;
    match made {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return reject(ctx, &m, &e).await,
        Err(join) => return Err(JobError::Failed(format!("thumbnail crashed: {join}"))),
    }
    let json = serde_json::to_string(&facts).map_err(|e| JobError::Failed(e.to_string()))?;
    store.set_media_ready(m.id, &json).await?;
    ctx.hub.send(m.project_id, EventBody::Media(MediaChanged { id: m.id }));
    ctx.progress(2, 2);
    Ok(())
}

/// Keeps the file out of the project: reason recorded, bytes and thumbnail deleted.
async fn reject(ctx: &JobCtx, m: &Media, reason: &str) -> Result<(), JobError> {
    ctx.store.set_media_rejected(m.id, reason).await?;
    if let Ok(path) = ctx.store.dirs().media_file(m.project_id, &m.stored_name) {
        if let Err(e) = tokio::fs::remove_file(&path).await {
            tracing::warn!("could not delete rejected upload {}: {e}", path.display());
        }
    }
    let thumb = ctx.store.dirs().thumb_file(m.project_id, m.id);
    match tokio::fs::remove_file(&thumb).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => tracing::warn!("could not delete the thumbnail {}: {e}", thumb.display()),
        _ => {}
    }
    ctx.hub.send(m.project_id, EventBody::Media(MediaChanged { id: m.id }));
    Err(JobError::Failed(format!("{} was not added: {reason}", m.label)))
}
