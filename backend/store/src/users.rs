//! Accounts: creation (first admin and admin-created users), login, password change,
//! disabling and deleting, and the session epoch that ends sessions when access should end.

use crate::{now, Store, StoreError};
use serde::Serialize;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
    pub created_at: i64,
    /// Disabled users cannot log in, and their sessions end.
    pub disabled: bool,
    /// Sessions hold the epoch of their login and count only while it is the user's: a
    /// password change, disabling or deleting moves it on.
    pub session_epoch: i64,
}

fn validate_username(name: &str) -> Result<(), StoreError> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() || name.len() > 64 || !ok_chars {
        return Err(StoreError::invalid(
            "usernames are 1 to 64 characters: letters, digits, '.', '_' or '-'",
        ));
    }
    Ok(())
}

fn validate_password(password: &str) -> Result<(), StoreError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::invalid(format!(
            "passwords need at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > 1024 {
        return Err(StoreError::invalid("passwords are at most 1024 bytes"));
    }
    Ok(())
}

const USER_COLUMNS: &str = "id, username, is_admin, created_at, disabled, session_epoch";

impl Store {
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(self.pool()).await?)
    }

    /// Creates an account. Usernames are unique, case-insensitively.
    pub async fn create_user(&self, username: &str, password: &str, is_admin: bool) -> Result<User, StoreError> {
        let username = username.trim();
        validate_username(username)?;
        validate_password(password)?;
        let hash = self.hasher.hash(password).await?;
        let result = sqlx::query_as::<_, User>(&format!(
            "INSERT INTO users (username, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?) RETURNING {USER_COLUMNS}"
        ))
        .bind(username)
        .bind(hash)
        .bind(is_admin)
        .bind(now())
        .fetch_one(self.pool())
        .await;
        match result {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Conflict(format!("a user named '{username}'")))
            }
            other => Ok(other?),
        }
    }

    /// Creates the first admin, only while there are no users at all (the setup link).
    pub async fn create_first_admin(&self, username: &str, password: &str) -> Result<User, StoreError> {
        if self.user_count().await? > 0 {
            return Err(StoreError::invalid("setup is already done: log in instead"));
        }
        validate_username(username.trim())?;
        validate_password(password)?;
        // Hashed before the write lock is taken, so the lock is held for no CPU work.
        let hash = self.hasher.hash(password).await?;
        let mut tx = self.write_tx().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
        if count > 0 {
            return Err(StoreError::invalid("setup is already done: log in instead"));
        }
        let user = sqlx::query_as::<_, User>(&format!(
            "INSERT INTO users (username, password_hash, is_admin, created_at) VALUES (?, ?, 1, ?) RETURNING {USER_COLUMNS}"
        ))
        .bind(username.trim())
        .bind(hash)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user(&self, id: i64) -> Result<User, StoreError> {
        sqlx::query_as::<_, User>(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The user of a session that logged in at `epoch`: not found when the user is gone,
    /// disabled, or has moved on to another epoch (changed password) since.
    pub async fn session_user(&self, id: i64, epoch: i64) -> Result<User, StoreError> {
        let user = self.user(id).await?;
        if user.disabled || user.session_epoch != epoch {
            return Err(StoreError::NotFound);
        }
        Ok(user)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<User, StoreError> {
        sqlx::query_as::<_, User>(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?"))
            .bind(username.trim())
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        Ok(sqlx::query_as::<_, User>(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"))
            .fetch_all(self.pool())
            .await?)
    }

    /// Checks a username and password. Unknown users cost the same hashing time as known ones;
    /// a disabled user learns so only with the right password.
    pub async fn verify_login(&self, username: &str, password: &str) -> Result<User, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as("SELECT id, password_hash FROM users WHERE username = ?")
            .bind(username.trim())
            .fetch_optional(self.pool())
            .await?;
        let (id, hash) = match row {
            Some((id, hash)) => (Some(id), Some(hash)),
            None => (None, None),
        };
        // Verified whether the user exists or not (`None` takes as long).
        let right = self.hasher.verify(password, hash).await?;
        match id {
            Some(id) if right => {
                let user = self.user(id).await?;
                if user.disabled {
                    return Err(StoreError::invalid("this account is disabled: ask an administrator"));
                }
                Ok(user)
            }
            _ => Err(StoreError::BadCredentials),
        }
    }

    /// Changes a password after checking the current one, and ends the user's sessions (all
    /// of them: the caller stores the returned epoch into the session that changed it).
    pub async fn change_password(&self, user_id: i64, current: &str, new: &str) -> Result<i64, StoreError> {
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        if !self.hasher.verify(current, Some(hash)).await? {
            return Err(StoreError::BadCredentials);
        }
        validate_password(new)?;
        let new_hash = self.hasher.hash(new).await?;
        sqlx::query_scalar("UPDATE users SET password_hash = ?, session_epoch = session_epoch + 1 WHERE id = ? RETURNING session_epoch")
            .bind(new_hash)
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Disables (ending every session at once) or enables an account. Admins do this; nobody
    /// disables themselves (so an admin always remains).
    pub async fn set_user_disabled(&self, by: i64, user_id: i64, disabled: bool) -> Result<User, StoreError> {
        if by == user_id {
            return Err(StoreError::invalid("you cannot disable your own account"));
        }
        let sql = if disabled {
            format!("UPDATE users SET disabled = 1, session_epoch = session_epoch + 1 WHERE id = ? RETURNING {USER_COLUMNS}")
        } else {
            format!("UPDATE users SET disabled = 0 WHERE id = ? RETURNING {USER_COLUMNS}")
        };
        sqlx::query_as::<_, User>(&sql).bind(user_id).fetch_optional(self.pool()).await?.ok_or(StoreError::NotFound)
    }

    /// Deletes an account: its sessions end, its memberships go, and what it made stays with
    /// no name on it ("started by" is left empty). Refused for your own account, and while the
    /// user is the last owner of a project (trashed ones too): those need another owner first.
    /// A project's `created_by` (never shown) passes to its longest-standing other owner.
    pub async fn delete_user(&self, by: i64, user_id: i64) -> Result<(), StoreError> {
        if by == user_id {
            return Err(StoreError::invalid("you cannot delete your own account"));
        }
        let mut tx = self.write_tx().await?;
        let name: String = sqlx::query_scalar("SELECT username FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let sole: Vec<(String, Option<i64>)> = sqlx::query_as(
            "SELECT p.name, p.trashed_at FROM projects p JOIN members m ON m.project_id = p.id \
             WHERE m.user_id = ? AND m.role = 'owner' \
             AND (SELECT COUNT(*) FROM members o WHERE o.project_id = p.id AND o.role = 'owner') = 1 \
             ORDER BY p.name",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        if !sole.is_empty() {
            let list = sole
                .iter()
                .map(|(p, trashed)| if trashed.is_some() { format!("'{p}' (in the trash)") } else { format!("'{p}'") })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(StoreError::invalid(format!(
                "{name} is the last owner of {list}: make someone else an owner there first"
            )));
        }
        sqlx::query(
            "UPDATE projects SET created_by = COALESCE((SELECT o.user_id FROM members o \
             WHERE o.project_id = projects.id AND o.role = 'owner' AND o.user_id != ?1 \
             ORDER BY o.added_at, o.user_id LIMIT 1), ?2) WHERE created_by = ?1",
        )
        .bind(user_id)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        for (table, column) in [
            ("media", "uploaded_by"),
            ("jobs", "created_by"),
            ("face_sets", "created_by"),
            ("models", "created_by"),
            ("conversions", "created_by"),
        ] {
            sqlx::query(&format!("UPDATE {table} SET {column} = NULL WHERE {column} = ?"))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM users WHERE id = ?").bind(user_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::temp_store;
    use crate::StoreError;

    #[tokio::test]
    async fn first_admin_only_once() {
        let t = temp_store().await;
        let admin = t.store.create_first_admin("ada", "long enough").await.unwrap();
        assert!(admin.is_admin);
        let again = t.store.create_first_admin("eve", "long enough").await;
        assert!(matches!(again, Err(StoreError::Invalid(_))));
        assert_eq!(t.store.user_count().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn login_checks_password_and_username_case_insensitively() {
        let t = temp_store().await;
        t.store.create_user("Bob", "hunter2hunter2", false).await.unwrap();
        assert_eq!(t.store.verify_login("bob", "hunter2hunter2").await.unwrap().username, "Bob");
        assert!(matches!(t.store.verify_login("bob", "wrong-password").await, Err(StoreError::BadCredentials)));
        assert!(matches!(t.store.verify_login("nobody", "hunter2hunter2").await, Err(StoreError::BadCredentials)));
    }

    #[tokio::test]
    async fn duplicate_and_invalid_users_are_refused() {
        let t = temp_store().await;
        t.store.create_user("bob", "hunter2hunter2", false).await.unwrap();
        assert!(matches!(t.store.create_user("BOB", "hunter2hunter2", false).await, Err(StoreError::Conflict(_))));
        assert!(matches!(t.store.create_user("bo b", "hunter2hunter2", false).await, Err(StoreError::Invalid(_))));
        assert!(matches!(t.store.create_user("carol", "short", false).await, Err(StoreError::Invalid(_))));
    }

    #[tokio::test]
    async fn password_change_needs_the_current_password() {
        let t = temp_store().await;
        let u = t.store.create_user("bob", "first password", false).await.unwrap();
        assert!(matches!(
            t.store.change_password(u.id, "not it", "second password").await,
            Err(StoreError::BadCredentials)
        ));
        t.store.change_password(u.id, "first password", "second password").await.unwrap();
        assert!(t.store.verify_login("bob", "first password").await.is_err());
        t.store.verify_login("bob", "second password").await.unwrap();
    }

    #[tokio::test]
    async fn password_change_ends_sessions_of_the_old_epoch() {
        let t = temp_store().await;
        let u = t.store.create_user("bob", "first password", false).await.unwrap();
        let before = t.store.session_user(u.id, u.session_epoch).await.unwrap();
        let epoch = t.store.change_password(u.id, "first password", "second password").await.unwrap();
        assert_ne!(epoch, before.session_epoch);
        assert!(matches!(t.store.session_user(u.id, before.session_epoch).await, Err(StoreError::NotFound)));
        assert_eq!(t.store.session_user(u.id, epoch).await.unwrap().id, u.id);
    }

    #[tokio::test]
    async fn disabled_users_cannot_log_in_and_their_sessions_end() {
        let t = temp_store().await;
        let admin = t.store.create_first_admin("ada", "long enough").await.unwrap();
        let u = t.store.create_user("bob", "bob password", false).await.unwrap();
        assert!(matches!(t.store.set_user_disabled(admin.id, admin.id, true).await, Err(StoreError::Invalid(_))));
        let off = t.store.set_user_disabled(admin.id, u.id, true).await.unwrap();
        assert!(off.disabled);
        assert!(matches!(t.store.session_user(u.id, u.session_epoch).await, Err(StoreError::NotFound)));
        match t.store.verify_login("bob", "bob password").await {
            Err(StoreError::Invalid(msg)) => assert!(msg.contains("disabled"), "{msg}"),
            other => panic!("a disabled user logged in: {other:?}"),
        }
        assert!(matches!(t.store.verify_login("bob", "wrong password").await, Err(StoreError::BadCredentials)));
        let on = t.store.set_user_disabled(admin.id, u.id, false).await.unwrap();
        assert!(!on.disabled);
        let back = t.store.verify_login("bob", "bob password").await.unwrap();
        assert!(matches!(t.store.session_user(u.id, u.session_epoch).await, Err(StoreError::NotFound)), "old sessions stay ended");
        t.store.session_user(u.id, back.session_epoch).await.unwrap();
    }

    #[tokio::test]
    async fn deleting_a_user_keeps_their_work_but_not_the_last_owner() {
        let t = temp_store().await;
        let s = &t.store;
        let admin = s.create_first_admin("ada", "long enough").await.unwrap();
        let bob = s.create_user("bob", "bob password", false).await.unwrap();
        let carol = s.create_user("carol", "carol password", false).await.unwrap();
        let solo = s.create_project(bob.id, "Solo").await.unwrap();
        let shared = s.create_project(bob.id, "Shared").await.unwrap();
        s.set_member(bob.id, shared.id, "carol", crate::Role::Owner).await.unwrap();
        s.create_media_with_job(shared.id, "clip.mp4", &crate::new_server_name(), 3, bob.id, "probe", |m| serde_json::json!({ "media": m }))
            .await
            .unwrap();
        s.trash_project(bob.id, solo.id).await.unwrap();

        assert!(matches!(s.delete_user(admin.id, admin.id).await, Err(StoreError::Invalid(_))));
        match s.delete_user(admin.id, bob.id).await {
            Err(StoreError::Invalid(msg)) => {
                assert!(msg.contains("last owner") && msg.contains("'Solo' (in the trash)") && !msg.contains("Shared"), "{msg}")
            }
            other => panic!("the last owner was deleted: {other:?}"),
        }
        s.set_member(bob.id, solo.id, "carol", crate::Role::Owner).await.unwrap_err(); // trashed: restore first
        s.restore_project(bob.id, solo.id).await.unwrap();
        s.set_member(bob.id, solo.id, "carol", crate::Role::Owner).await.unwrap();
        s.delete_user(admin.id, bob.id).await.unwrap();

        assert!(matches!(s.user(bob.id).await, Err(StoreError::NotFound)));
        assert!(matches!(s.verify_login("bob", "bob password").await, Err(StoreError::BadCredentials)));
        let members = s.list_members(carol.id, shared.id).await.unwrap();
        assert_eq!(members.iter().map(|m| m.username.as_str()).collect::<Vec<_>>(), ["carol"]);
        let jobs = s.list_jobs(shared.id, 10).await.unwrap();
        assert_eq!(jobs.len(), 1, "the upload's job stays");
        assert_eq!(jobs[0].created_by_name, None);
        let creator: i64 = sqlx::query_scalar("SELECT created_by FROM projects WHERE id = ?").bind(shared.id).fetch_one(s.pool()).await.unwrap();
        assert_eq!(creator, carol.id);
        // The name is free again.
        s.create_user("bob", "another password", false).await.unwrap();
    }
}
