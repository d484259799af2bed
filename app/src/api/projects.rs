//! Projects: list, create, rename, trash and restore, members.

use super::{AppError, MemberDto, ProjectDto, RoleDto};
use leptos::prelude::*;

#[server(endpoint = "list_projects")]
pub async fn list_projects() -> Result<Vec<ProjectDto>, AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    let projects = context()?.store.list_projects(me.id).await?;
    Ok(projects.into_iter().map(project_dto).collect())
}

/// The user's trashed projects (owners only see them).
#[server(endpoint = "list_trash")]
pub async fn list_trash() -> Result<Vec<ProjectDto>, AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    let projects = context()?.store.list_trash(me.id).await?;
    Ok(projects.into_iter().map(project_dto).collect())
}

#[server(endpoint = "get_project")]
pub async fn get_project(id: i64) -> Result<ProjectDto, AppError> {
    use super::ssr::*;
    let (_, p, _) = project_access(id, doppel_store::Role::Viewer).await?;
    Ok(project_dto(p))
}

#[server(endpoint = "create_project")]
pub async fn create_project(name: String) -> Result<ProjectDto, AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    let p = context()?.store.create_project(me.id, &name).await?;
    Ok(project_dto(p))
}

#[server(endpoint = "rename_project")]
pub async fn rename_project(id: i64, name: String) -> Result<ProjectDto, AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    let p = context()?.store.rename_project(me.id, id, &name).await?;
    Ok(project_dto(p))
}

#[server(endpoint = "trash_project")]
pub async fn trash_project(id: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    context()?.store.trash_project(me.id, id).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(endpoint = "restore_project")]
pub async fn restore_project(id: i64) -> Result<(), AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    context()?.store.restore_project(me.id, id).await?;
    Ok(())
}

#[server(endpoint = "list_members")]
pub async fn list_members(id: i64) -> Result<Vec<MemberDto>, AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    let members = context()?.store.list_members(me.id, id).await?;
    Ok(members.into_iter().map(|m| MemberDto { username: m.username, role: role_dto(m.role) }).collect())
}

/// Invites an existing user with a role, or changes their role. Owners only; the last owner
/// cannot be demoted.
#[server(endpoint = "set_member")]
pub async fn set_member(id: i64, username: String, role: RoleDto) -> Result<MemberDto, AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    let m = context()?.store.set_member(me.id, id, &username, role_from_dto(role)).await?;
    Ok(MemberDto { username: m.username, role: role_dto(m.role) })
}

/// Takes a member off the project; they get 404 for it from then on. Owners only; the last
/// owner stays.
#[server(endpoint = "remove_member")]
pub async fn remove_member(id: i64, member: String) -> Result<(), AppError> {
    use super::ssr::*;
    let me = require_user().await?;
    context()?.store.remove_member(me.id, id, &member).await?;
    Ok(())
}
