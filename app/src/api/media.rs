//! Uploaded media of a project (the upload itself is a streaming route of the server).

use super::{AppError, MediaDto};
use leptos::prelude::*;

#[server(endpoint = "list_media")]
pub async fn list_media(project: i64) -> Result<Vec<MediaDto>, AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Viewer).await?;
    let media = ctx.store.list_media(p.id).await?;
    Ok(media.into_iter().map(media_dto).collect())
}

/// Forgets a rejected upload after the user has read why.
#[server(endpoint = "dismiss_rejected")]
pub async fn dismiss_rejected(project: i64, media: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let (_, p, ctx) = project_access(project, doppel_store::Role::Editor).await?;
    ctx.store.dismiss_rejected_media(p.id, media).await?;
    Ok(())
}
