//! `GET /api/projects/{id}/events`: server-sent events of one project (`job`, `media`, `face`,
//! `train`, `saved`).
//!
//! A stream stays open only while its reader may read it: every [`RECHECK`] it looks again
//! at its session (logged out, expired, or ended by a password change, disabling or deleting)
//! and at the project (trashed, or the reader no longer a member), and ends when either fails.

use super::project_access;
use crate::error::ApiError;
use crate::server::AppState;
use app::api::ssr::{SESSION_EPOCH, SESSION_USER};
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use doppel_store::Role;
use futures_util::Stream;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tower_sessions::session::Id;
use tower_sessions::{Session, SessionStore};

/// How often an open stream checks that its reader may still read it.
pub const RECHECK: Duration = Duration::from_secs(2);

pub async fn project_events(
    State(state): State<AppState>,
    session: Session,
    Path(project): Path<i64>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (_, project) = project_access(&state, &session, project, Role::Viewer).await?;
    let id = project.id;
    let session_id = session.id().ok_or(ApiError::NotLoggedIn)?;
    let rx = state.hub.subscribe();
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream = futures_util::stream::unfold((rx, recheck, state), move |(mut rx, mut recheck, state)| async move {
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(ev) if ev.project_id == id => {
                        let (name, data) = ev.sse_parts();
                        return Some((Ok(Event::default().event(name).data(data)), (rx, recheck, state)));
                    }
                    // Slow readers skip missed events (the page reloads its lists on the next).
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
                _ = recheck.tick() => {
                    if !still_allowed(&state, &session_id, id).await {
                        return None;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Whether the session still exists and counts, and its user may still see the project. A
/// failure to read either says no: the page reconnects and is told why.
async fn still_allowed(state: &AppState, session_id: &Id, project: i64) -> bool {
    let Ok(Some(record)) = state.sessions.load(session_id).await else { return false };
    let Some(uid) = record.data.get(SESSION_USER).and_then(|v| v.as_i64()) else { return false };
    let epoch = record.data.get(SESSION_EPOCH).and_then(|v| v.as_i64()).unwrap_or(0);
    if state.ctx.store.session_user(uid, epoch).await.is_err() {
        return false;
    }
    state.ctx.store.live_project_for(uid, project, Role::Viewer).await.is_ok()
}
