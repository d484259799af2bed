//! Projects, membership and roles, and the trash.
//!
//! Access rule used everywhere: a user with no role on a project (or a project in the trash,
//! for anyone but its owners) gets [`StoreError::NotFound`], never a hint that it exists; a user
//! whose role is too low gets [`StoreError::Forbidden`].

use crate::{now, Store, StoreError};
use serde::{Deserialize, Serialize};

/// A member's role on one project, ordered by power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Looks; changes nothing.
    Viewer,
    /// Uploads, runs jobs, edits face sets.
    Editor,
    /// Everything an editor does, plus renaming, trashing, restoring and inviting.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Result<Role, StoreError> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "owner" => Ok(Role::Owner),
            other => Err(StoreError::invalid(format!("unknown role '{other}': owner, editor or viewer"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub trashed_at: Option<i64>,
    /// The asking user's role.
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
}

#[derive(sqlx::FromRow)]
struct ProjectRow {
    id: i64,
    name: String,
    created_at: i64,
    trashed_at: Option<i64>,
    role: String,
}

impl ProjectRow {
    fn into_project(self) -> Result<Project, StoreError> {
        Ok(Project {
            id: self.id,
            name: self.name,
            created_at: self.created_at,
            trashed_at: self.trashed_at,
            role: Role::parse(&self.role)?,
        })
    }
}

fn validate_project_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(StoreError::invalid("project names are 1 to 120 characters, without control characters"));
    }
    Ok(name.to_string())
}

const PROJECT_SELECT: &str = "SELECT p.id, p.name, p.created_at, p.trashed_at, m.role \
     FROM projects p JOIN members m ON m.project_id = p.id AND m.user_id = ?";

impl Store {
    /// Creates a project owned by `owner`.
    pub async fn create_project(&self, owner: i64, name: &str) -> Result<Project, StoreError> {
        let name = validate_project_name(name)?;
        let mut tx = self.write_tx().await?;
        let t = now();
        let id: i64 = sqlx::query_scalar("INSERT INTO projects (name, created_by, created_at) VALUES (?, ?, ?) RETURNING id")
            .bind(&name)
            .bind(owner)
            .bind(t)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO members (project_id, user_id, role, added_at) VALUES (?, ?, 'owner', ?)")
            .bind(id)
            .bind(owner)
            .bind(t)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Project { id, name, created_at: t, trashed_at: None, role: Role::Owner })
    }

    /// Projects the user has a role on, not in the trash, newest first.
    pub async fn list_projects(&self, user: i64) -> Result<Vec<Project>, StoreError> {
        let rows = sqlx::query_as::<_, ProjectRow>(&format!("{PROJECT_SELECT} WHERE p.trashed_at IS NULL ORDER BY p.id DESC"))
            .bind(user)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(ProjectRow::into_project).collect()
    }

    /// Trashed projects the user owns (only owners see and restore them).
    pub async fn list_trash(&self, user: i64) -> Result<Vec<Project>, StoreError> {
        let rows = sqlx::query_as::<_, ProjectRow>(&format!(
            "{PROJECT_SELECT} WHERE p.trashed_at IS NOT NULL AND m.role = 'owner' ORDER BY p.trashed_at DESC"
        ))
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(ProjectRow::into_project).collect()
    }

    /// The project as seen by `user`, who must hold at least `min`.
    pub async fn project_for(&self, user: i64, project: i64, min: Role) -> Result<Project, StoreError> {
        let row = sqlx::query_as::<_, ProjectRow>(&format!("{PROJECT_SELECT} WHERE p.id = ?"))
            .bind(user)
            .bind(project)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        let project = row.into_project()?;
        if project.trashed_at.is_some() && project.role != Role::Owner {
            return Err(StoreError::NotFound);
        }
        if project.role < min {
            return Err(StoreError::Forbidden);
        }
        Ok(project)
    }

    /// Like [`Store::project_for`], but a trashed project is not found even for its owner.
    pub async fn live_project_for(&self, user: i64, project: i64, min: Role) -> Result<Project, StoreError> {
        let p = self.project_for(user, project, min).await?;
        if p.trashed_at.is_some() {
            return Err(StoreError::NotFound);
        }
        Ok(p)
    }

    pub async fn rename_project(&self, user: i64, project: i64, name: &str) -> Result<Project, StoreError> {
        let mut p = self.live_project_for(user, project, Role::Owner).await?;
        let name = validate_project_name(name)?;
        sqlx::query("UPDATE projects SET name = ? WHERE id = ?").bind(&name).bind(project).execute(self.pool()).await?;
        p.name = name;
        Ok(p)
    }

    /// Moves a project to the trash. Its files stay until it is purged.
    pub async fn trash_project(&self, user: i64, project: i64) -> Result<(), StoreError> {
        self.live_project_for(user, project, Role::Owner).await?;
        sqlx::query("UPDATE projects SET trashed_at = ? WHERE id = ?").bind(now()).bind(project).execute(self.pool()).await?;
        Ok(())
    }

    pub async fn restore_project(&self, user: i64, project: i64) -> Result<(), StoreError> {
        let p = self.project_for(user, project, Role::Owner).await?;
        if p.trashed_at.is_none() {
            return Ok(());
        }
        sqlx::query("UPDATE projects SET trashed_at = NULL WHERE id = ?").bind(project).execute(self.pool()).await?;
        Ok(())
    }

    pub async fn list_members(&self, user: i64, project: i64) -> Result<Vec<Member>, StoreError> {
        self.live_project_for(user, project, Role::Viewer).await?;
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT u.id, u.username, m.role FROM members m JOIN users u ON u.id = m.user_id \
             WHERE m.project_id = ? ORDER BY u.username",
        )
        .bind(project)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(user_id, username, role)| Ok(Member { user_id, username, role: Role::parse(&role)? }))
            .collect()
    }

    /// Gives an existing user a role on the project (or changes it). Owners only. No change
    /// leaves the project without an owner: the check and the change are one write
    /// transaction, so two owners demoting each other at once cannot both succeed.
    pub async fn set_member(&self, by: i64, project: i64, username: &str, role: Role) -> Result<Member, StoreError> {
        let mut tx = self.write_tx().await?;
        require_owner(&mut tx, by, project).await?;
        let (target, name) = user_named(&mut tx, username).await?;
        if member_role(&mut tx, target, project).await? == Some(Role::Owner) && role != Role::Owner {
            keep_an_owner(&mut tx, project).await?;
        }
        sqlx::query(
            "INSERT INTO members (project_id, user_id, role, added_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(project)
        .bind(target)
        .bind(role.as_str())
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Member { user_id: target, username: name, role })
    }

    /// Takes a member off the project (they get 404 for it from then on). Owners only; the
    /// last owner stays, checked in the same write transaction as the removal.
    pub async fn remove_member(&self, by: i64, project: i64, username: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        require_owner(&mut tx, by, project).await?;
        let (target, name) = user_named(&mut tx, username).await?;
        match member_role(&mut tx, target, project).await? {
            None => return Err(StoreError::invalid(format!("{name} is not a member of this project"))),
            Some(Role::Owner) => keep_an_owner(&mut tx, project).await?,
            Some(_) => {}
        }
        sqlx::query("DELETE FROM members WHERE project_id = ? AND user_id = ?")
            .bind(project)
            .bind(target)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// `user`'s role on the project, if it is live (not in the trash) and they have one.
async fn member_role(tx: &mut Tx, user: i64, project: i64) -> Result<Option<Role>, StoreError> {
    let role: Option<String> = sqlx::query_scalar(
        "SELECT m.role FROM members m JOIN projects p ON p.id = m.project_id \
         WHERE m.project_id = ? AND m.user_id = ? AND p.trashed_at IS NULL",
    )
    .bind(project)
    .bind(user)
    .fetch_optional(&mut **tx)
    .await?;
    role.as_deref().map(Role::parse).transpose()
}

/// [`Store::live_project_for`] with [`Role::Owner`], inside the transaction.
async fn require_owner(tx: &mut Tx, user: i64, project: i64) -> Result<(), StoreError> {
    match member_role(tx, user, project).await? {
        None => Err(StoreError::NotFound),
        Some(Role::Owner) => Ok(()),
        Some(_) => Err(StoreError::Forbidden),
    }
}

async fn user_named(tx: &mut Tx, username: &str) -> Result<(i64, String), StoreError> {
    sqlx::query_as("SELECT id, username FROM users WHERE username = ?")
        .bind(username.trim())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::invalid(format!("there is no user named '{}'", username.trim())))
}

/// Refuses when taking one owner away would leave none.
async fn keep_an_owner(tx: &mut Tx, project: i64) -> Result<(), StoreError> {
    let owners: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE project_id = ? AND role = 'owner'")
        .bind(project)
        .fetch_one(&mut **tx)
        .await?;
    if owners <= 1 {
        return Err(StoreError::invalid("a project needs at least one owner: make someone else an owner first"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Role;
    use crate::test_support::temp_store;
    use crate::StoreError;

    #[tokio::test]
    async fn roles_gate_every_action() {
        let t = temp_store().await;
        let s = &t.store;
        let owner = s.create_user("owner", "password1", false).await.unwrap();
        let editor = s.create_user("editor", "password1", false).await.unwrap();
        let viewer = s.create_user("viewer", "password1", false).await.unwrap();
        let stranger = s.create_user("stranger", "password1", false).await.unwrap();
        let p = s.create_project(owner.id, "Swap 1").await.unwrap();
        s.set_member(owner.id, p.id, "editor", Role::Editor).await.unwrap();
        s.set_member(owner.id, p.id, "VIEWER", Role::Viewer).await.unwrap();

        assert_eq!(s.project_for(viewer.id, p.id, Role::Viewer).await.unwrap().role, Role::Viewer);
        assert!(matches!(s.project_for(viewer.id, p.id, Role::Editor).await, Err(StoreError::Forbidden)));
        assert!(matches!(s.project_for(stranger.id, p.id, Role::Viewer).await, Err(StoreError::NotFound)));
        assert!(matches!(s.rename_project(editor.id, p.id, "x").await, Err(StoreError::Forbidden)));
        assert!(matches!(s.trash_project(viewer.id, p.id).await, Err(StoreError::Forbidden)));
        assert!(matches!(s.set_member(editor.id, p.id, "stranger", Role::Viewer).await, Err(StoreError::Forbidden)));
        assert!(s.list_projects(stranger.id).await.unwrap().is_empty());
        assert_eq!(s.list_projects(viewer.id).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn trash_hides_from_members_and_owner_restores() {
        let t = temp_store().await;
        let s = &t.store;
        let owner = s.create_user("owner", "password1", false).await.unwrap();
        let editor = s.create_user("editor", "password1", false).await.unwrap();
        let p = s.create_project(owner.id, "Swap").await.unwrap();
        s.set_member(owner.id, p.id, "editor", Role::Editor).await.unwrap();
        s.trash_project(owner.id, p.id).await.unwrap();
        assert!(s.list_projects(owner.id).await.unwrap().is_empty());
        assert!(matches!(s.project_for(editor.id, p.id, Role::Viewer).await, Err(StoreError::NotFound)));
        assert!(s.list_trash(editor.id).await.unwrap().is_empty());
        assert_eq!(s.list_trash(owner.id).await.unwrap().len(), 1);
        assert!(matches!(s.restore_project(editor.id, p.id).await, Err(StoreError::NotFound)));
        s.restore_project(owner.id, p.id).await.unwrap();
        assert_eq!(s.list_projects(editor.id).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn rename_validates_and_last_owner_stays() {
        let t = temp_store().await;
        let s = &t.store;
        let owner = s.create_user("owner", "password1", false).await.unwrap();
        let p = s.create_project(owner.id, "  Swap  ").await.unwrap();
        assert_eq!(p.name, "Swap");
        assert!(matches!(s.rename_project(owner.id, p.id, "  ").await, Err(StoreError::Invalid(_))));
        assert_eq!(s.rename_project(owner.id, p.id, "Renamed").await.unwrap().name, "Renamed");
        assert!(matches!(s.set_member(owner.id, p.id, "owner", Role::Viewer).await, Err(StoreError::Invalid(_))));
        assert!(matches!(s.set_member(owner.id, p.id, "ghost", Role::Viewer).await, Err(StoreError::Invalid(_))));
    }

    #[tokio::test]
    async fn owners_remove_members_but_not_the_last_owner() {
        let t = temp_store().await;
        let s = &t.store;
        let owner = s.create_user("owner", "password1", false).await.unwrap();
        let editor = s.create_user("editor", "password1", false).await.unwrap();
        s.create_user("stranger", "password1", false).await.unwrap();
        let p = s.create_project(owner.id, "Swap").await.unwrap();
        s.set_member(owner.id, p.id, "editor", Role::Editor).await.unwrap();
        assert!(matches!(s.remove_member(editor.id, p.id, "owner").await, Err(StoreError::Forbidden)));
        assert!(matches!(s.remove_member(owner.id, p.id, "owner").await, Err(StoreError::Invalid(_))));
        assert!(matches!(s.remove_member(owner.id, p.id, "stranger").await, Err(StoreError::Invalid(_))));
        s.remove_member(owner.id, p.id, "EDITOR").await.unwrap();
        assert!(matches!(s.project_for(editor.id, p.id, Role::Viewer).await, Err(StoreError::NotFound)));
        // Another owner may demote or remove the first, as long as one remains.
        s.set_member(owner.id, p.id, "editor", Role::Owner).await.unwrap();
        s.set_member(editor.id, p.id, "owner", Role::Viewer).await.unwrap();
        assert!(matches!(s.set_member(editor.id, p.id, "editor", Role::Viewer).await, Err(StoreError::Invalid(_))));
        assert!(matches!(s.set_member(owner.id, p.id, "editor", Role::Viewer).await, Err(StoreError::Forbidden)));
    }

    async fn owner_count(s: &crate::Store, project: i64) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE project_id = ? AND role = 'owner'")
            .bind(project)
            .fetch_one(s.pool())
            .await
            .unwrap()
    }

    /// Two owners demoting each other, or themselves, or removing each other, at the same
    /// moment: one of them wins and one owner always remains.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_demotions_leave_an_owner() {
        let t = temp_store().await;
        let s = &t.store;
        let a = s.create_user("a", "password1", false).await.unwrap();
        let b = s.create_user("b", "password1", false).await.unwrap();
        for round in 0..20 {
            let p = s.create_project(a.id, &format!("P{round}")).await.unwrap();
            s.set_member(a.id, p.id, "b", Role::Owner).await.unwrap();
            let (x, y) = match round % 3 {
                0 => {
                    let (x, y) = tokio::join!(s.set_member(a.id, p.id, "b", Role::Editor), s.set_member(b.id, p.id, "a", Role::Editor));
                    (x.map(drop), y.map(drop))
                }
                1 => {
                    let (x, y) = tokio::join!(s.set_member(a.id, p.id, "a", Role::Viewer), s.set_member(b.id, p.id, "b", Role::Viewer));
                    (x.map(drop), y.map(drop))
                }
                _ => tokio::join!(s.remove_member(a.id, p.id, "b"), s.remove_member(b.id, p.id, "a")),
            };
            assert_eq!(owner_count(s, p.id).await, 1, "round {round}: {x:?} {y:?}");
            assert!(x.is_ok() != y.is_ok(), "round {round}: exactly one wins: {x:?} {y:?}");
        }
    }
}
