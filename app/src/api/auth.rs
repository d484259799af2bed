//! Setup link, login, logout, password change, and admin user management.

use super::{AppError, Me, UserDto};
use leptos::prelude::*;

/// The logged-in user, or `None`.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Me>, AppError> {
    super::ssr::current_user().await
}

/// Whether the setup link is still open (no user exists yet).
#[server(endpoint = "setup_open")]
pub async fn setup_open() -> Result<bool, AppError> {
    let ctx = super::ssr::context()?;
    Ok(ctx.store.user_count().await? == 0)
}

/// Creates the first admin from the one-time setup link, then logs them in.
#[server(endpoint = "setup_admin")]
pub async fn setup_admin(token: String, username: String, password: String) -> Result<(), AppError> {
    use super::ssr::*;
    let ctx = context()?;
    if !constant_time_eq(token.as_bytes(), ctx.setup_token.as_bytes()) {
        return Err(AppError::Invalid("this setup link is not valid: use the link printed by `doppel serve`".into()));
    }
    let user = ctx.store.create_first_admin(&username, &password).await?;
    start_session(user.id).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<(), AppError> {
    use super::ssr::*;
    let ctx = context()?;
    let user = ctx.store.verify_login(&username, &password).await?;
    start_session(user.id).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use super::ssr::*;
    session().await?.flush().await.map_err(internal)?;
    leptos_axum::redirect("/login");
    Ok(())
}

#[server(endpoint = "change_password")]
pub async fn change_password(current: String, new: String) -> Result<(), AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    context()?.store.change_password(me.id, &current, &new).await?;
    Ok(())
}

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserDto>, AppError> {
    use super::ssr::*;
    require_admin().await?;
    let users = context()?.store.list_users().await?;
    Ok(users.into_iter().map(|u| UserDto { id: u.id, username: u.username, is_admin: u.is_admin }).collect())
}

/// Admins create accounts; there is no self-registration.
#[server(endpoint = "create_user")]
pub async fn create_user(username: String, password: String, #[server(default)] is_admin: bool) -> Result<UserDto, AppError> {
    use super::ssr::*;
    require_admin().await?;
    let u = context()?.store.create_user(&username, &password, is_admin).await?;
    Ok(UserDto { id: u.id, username: u.username, is_admin: u.is_admin })
}

#[cfg(feature = "ssr")]
async fn start_session(user_id: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let session = session().await?;
    // A new session id at login, so a session fixed before login is worthless.
    session.cycle_id().await.map_err(internal)?;
    session.insert(SESSION_USER, user_id).await.map_err(internal)?;
    Ok(())
}

#[cfg(feature = "ssr")]
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
