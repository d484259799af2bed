//! `GET /api/projects/{id}/events`: server-sent events of one project (`job`, `media`, `face`,
//! `train`, `saved`).

use super::project_access;
use crate::error::ApiError;
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use doppel_store::Role;
use futures_util::Stream;
use std::convert::Infallible;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use tower_sessions::Session;

pub async fn project_events(
    State(state): State<AppState>,
    session: Session,
    Path(project): Path<i64>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (_, project) = project_access(&state, &session, project, Role::Viewer).await?;
    let id = project.id;
    let stream = BroadcastStream::new(state.hub.subscribe()).filter_map(move |ev| match ev {
        Ok(ev) if ev.project_id == id => {
            let (name, data) = ev.sse_parts();
            Some(Ok(Event::default().event(name).data(data)))
        }
        _ => None,
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
