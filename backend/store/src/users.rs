//! Accounts: creation (first admin and admin-created users), login, password change.

use crate::{now, password, Store, StoreError};
use serde::Serialize;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
    pub created_at: i64,
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

const USER_COLUMNS: &str = "id, username, is_admin, created_at";

impl Store {
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(self.pool()).await?)
    }

    /// Creates an account. Usernames are unique, case-insensitively.
    pub async fn create_user(&self, username: &str, password: &str, is_admin: bool) -> Result<User, StoreError> {
        let username = username.trim();
        validate_username(username)?;
        validate_password(password)?;
        let hash = password::hash(password)?;
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
        let mut tx = self.write_tx().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
        if count > 0 {
            return Err(StoreError::invalid("setup is already done: log in instead"));
        }
        validate_username(username.trim())?;
        validate_password(password)?;
        let hash = password::hash(password)?;
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

    /// Checks a username and password. Unknown users cost the same hashing time as known ones.
    pub async fn verify_login(&self, username: &str, password: &str) -> Result<User, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as("SELECT id, password_hash FROM users WHERE username = ?")
            .bind(username.trim())
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some((id, hash)) if password::verify(password, &hash) => self.user(id).await,
            Some(_) => Err(StoreError::BadCredentials),
            None => {
                password::verify(password, password::dummy_hash());
                Err(StoreError::BadCredentials)
            }
        }
    }

    /// Changes a password after checking the current one.
    pub async fn change_password(&self, user_id: i64, current: &str, new: &str) -> Result<(), StoreError> {
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        if !password::verify(current, &hash) {
            return Err(StoreError::BadCredentials);
        }
        validate_password(new)?;
        sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
            .bind(password::hash(new)?)
            .bind(user_id)
            .execute(self.pool())
            .await?;
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
}
