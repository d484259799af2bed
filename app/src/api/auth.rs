//! Setup link, login, logout, password change, and admin user management (create, disable,
//! delete).

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
    start_session(&user).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Logs in. Failed attempts are counted per name and per address; past the limits the
/// answer is 429 with `Retry-After` (see `ssr::login_limit`).
#[server(endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<(), AppError> {
    use super::ssr::*;
    let ctx = context()?;
    let attempt = ctx.login_limit.begin(&username, client_ip(&ctx)).map_err(|r| too_many_requests(&r))?;
    match ctx.store.verify_login(&username, &password).await {
        Ok(user) => {
            ctx.login_limit.succeeded(&attempt);
            start_session(&user).await?;
            leptos_axum::redirect("/");
            Ok(())
        }
        Err(e) => {
            tokio::time::sleep(attempt.delay_on_failure).await;
            Err(e.into())
        }
    }
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use super::ssr::*;
    session().await?.flush().await.map_err(internal)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Changes the password and ends the user's other sessions (this one stays logged in).
/// Wrong current passwords count as failed logins.
#[server(endpoint = "change_password")]
pub async fn change_password(current: String, new: String) -> Result<(), AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    let ctx = context()?;
    let attempt = ctx.login_limit.begin(&me.username, client_ip(&ctx)).map_err(|r| too_many_requests(&r))?;
    let epoch = match ctx.store.change_password(me.id, &current, &new).await {
        Ok(epoch) => epoch,
        Err(e) => {
            if matches!(e, doppel_store::StoreError::BadCredentials) {
                tokio::time::sleep(attempt.delay_on_failure).await;
            } else {
                ctx.login_limit.succeeded(&attempt);
            }
            return Err(e.into());
        }
    };
    ctx.login_limit.succeeded(&attempt);
    session().await?.insert(SESSION_EPOCH, epoch).await.map_err(internal)?;
    Ok(())
}

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<UserDto>, AppError> {
    use super::ssr::*;
    require_admin().await?;
    let users = context()?.store.list_users().await?;
    Ok(users.into_iter().map(user_dto).collect())
}

/// Admins create accounts; there is no self-registration.
#[server(endpoint = "create_user")]
pub async fn create_user(username: String, password: String, #[server(default)] is_admin: bool) -> Result<UserDto, AppError> {
    use super::ssr::*;
    require_admin().await?;
    let u = context()?.store.create_user(&username, &password, is_admin).await?;
    Ok(user_dto(u))
}

/// Disables an account (its sessions end at once; it cannot log in) or enables it again.
/// Admins only, and not their own.
#[server(endpoint = "set_user_disabled")]
pub async fn set_user_disabled(id: i64, disabled: bool) -> Result<UserDto, AppError> {
    use super::ssr::*;
    let me = require_admin().await?;
    let u = context()?.store.set_user_disabled(me.id, id, disabled).await?;
    Ok(user_dto(u))
}

/// Deletes an account: its sessions end, its memberships go, what it made stays. Refused
/// while the user is the last owner of a project. Admins only, and not their own.
#[server(endpoint = "delete_user")]
pub async fn delete_user(id: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let me = require_admin().await?;
    context()?.store.delete_user(me.id, id).await?;
    Ok(())
}

#[cfg(feature = "ssr")]
fn user_dto(u: doppel_store::User) -> UserDto {
    UserDto { id: u.id, username: u.username, is_admin: u.is_admin, disabled: u.disabled }
}

#[cfg(feature = "ssr")]
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
