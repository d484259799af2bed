//! Plain HTTP routes for what streams: uploads, file downloads and thumbnails, face images,
//! model previews and timelapse frames, live events.
//! Pages and server functions are served by Leptos.

pub mod convert;
pub mod events;
pub mod faces;
pub mod files;
pub mod models;
pub mod upload;

use crate::error::ApiError;
use crate::server::AppState;
use app::api::ssr::session_user;
use doppel_store::{Project, Role, User};
use tower_sessions::Session;

/// The logged-in user, or 401: the same check as pages and server functions
/// ([`app::api::ssr::session_user`]: the user exists, is not disabled, and has not ended
/// this session by a password change since).
pub async fn user(state: &AppState, session: &Session) -> Result<User, ApiError> {
    match session_user(&state.ctx, session).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(ApiError::NotLoggedIn),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The user and the project, which they must hold `min` on (404 when they have no role).
pub async fn project_access(
    state: &AppState,
    session: &Session,
    project: i64,
    min: Role,
) -> Result<(User, Project), ApiError> {
    let user = user(state, session).await?;
    let p = state.ctx.store.live_project_for(user.id, project, min).await?;
    Ok((user, p))
}
