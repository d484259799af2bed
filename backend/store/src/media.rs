//! Records of uploaded originals. A file enters as `probing`, becomes `ready` with its probed
//! facts, or `rejected` with a reason (its bytes are then deleted and it never shows as part of
//! the project's media).

use crate::{now, Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaState {
    Probing,
    Ready,
    Rejected,
}

impl MediaState {
    fn parse(s: &str) -> Result<MediaState, StoreError> {
        match s {
            "probing" => Ok(MediaState::Probing),
            "ready" => Ok(MediaState::Ready),
            "rejected" => Ok(MediaState::Rejected),
            other => Err(StoreError::invalid(format!("unknown media state '{other}'"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Media {
    pub id: i64,
    pub project_id: i64,
    /// The uploader's file name, sanitised: a label only, never a path.
    pub label: String,
    /// Server-chosen storage name.
    pub stored_name: String,
    pub size_bytes: i64,
    pub state: MediaState,
    pub error: Option<String>,
    /// Probed facts as JSON (the engine's `MediaFacts`), once ready.
    pub facts: Option<String>,
    pub uploaded_by: Option<i64>,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct MediaRow {
    id: i64,
    project_id: i64,
    label: String,
    stored_name: String,
    size_bytes: i64,
    state: String,
    error: Option<String>,
    facts: Option<String>,
    uploaded_by: Option<i64>,
    created_at: i64,
}

impl TryFrom<MediaRow> for Media {
    type Error = StoreError;
    fn try_from(r: MediaRow) -> Result<Media, StoreError> {
        Ok(Media {
            id: r.id,
            project_id: r.project_id,
            label: r.label,
            stored_name: r.stored_name,
            size_bytes: r.size_bytes,
            state: MediaState::parse(&r.state)?,
            error: r.error,
            facts: r.facts,
            uploaded_by: r.uploaded_by,
            created_at: r.created_at,
        })
    }
}

const MEDIA_COLUMNS: &str =
    "id, project_id, label, stored_name, size_bytes, state, error, facts, uploaded_by, created_at";

/// Inserts a media record in state `probing` (inside a caller's transaction when it needs one).
pub(crate) async fn insert_media(
    conn: &mut sqlx::SqliteConnection,
    project: i64,
    label: &str,
    stored_name: &str,
    size_bytes: i64,
    uploaded_by: i64,
) -> Result<Media, StoreError> {
    sqlx::query_as::<_, MediaRow>(&format!(
        "INSERT INTO media (project_id, label, stored_name, size_bytes, state, uploaded_by, created_at) \
         VALUES (?, ?, ?, ?, 'probing', ?, ?) RETURNING {MEDIA_COLUMNS}"
    ))
    .bind(project)
    .bind(label)
    .bind(stored_name)
    .bind(size_bytes)
    .bind(uploaded_by)
    .bind(now())
    .fetch_one(&mut *conn)
    .await?
    .try_into()
}

impl Store {
    /// Records a stored upload, in state `probing`.
    pub async fn create_media(
        &self,
        project: i64,
        label: &str,
        stored_name: &str,
        size_bytes: i64,
        uploaded_by: i64,
    ) -> Result<Media, StoreError> {
        let mut conn = self.pool().acquire().await?;
        insert_media(&mut *conn, project, label, stored_name, size_bytes, uploaded_by).await
    }

    /// One media record of a project (no access check: callers check the project first).
    pub async fn media(&self, project: i64, media: i64) -> Result<Media, StoreError> {
        sqlx::query_as::<_, MediaRow>(&format!("SELECT {MEDIA_COLUMNS} FROM media WHERE project_id = ? AND id = ?"))
            .bind(project)
            .bind(media)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    /// All media records of a project, newest first, rejected ones included.
    pub async fn list_media(&self, project: i64) -> Result<Vec<Media>, StoreError> {
        sqlx::query_as::<_, MediaRow>(&format!("SELECT {MEDIA_COLUMNS} FROM media WHERE project_id = ? ORDER BY id DESC"))
            .bind(project)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .map(Media::try_from)
            .collect()
    }

    pub async fn set_media_ready(&self, media: i64, facts_json: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE media SET state = 'ready', facts = ?, error = NULL WHERE id = ?")
            .bind(facts_json)
            .bind(media)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_media_rejected(&self, media: i64, reason: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE media SET state = 'rejected', error = ?, facts = NULL WHERE id = ?")
            .bind(reason)
            .bind(media)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forgets a rejected upload's record (the user dismissed the error).
    pub async fn dismiss_rejected_media(&self, project: i64, media: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM media WHERE project_id = ? AND id = ? AND state = 'rejected'")
            .bind(project)
            .bind(media)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::MediaState;
    use crate::test_support::temp_store;

    #[tokio::test]
    async fn media_moves_from_probing_to_ready_or_rejected() {
        let t = temp_store().await;
        let s = &t.store;
        let u = s.create_user("u", "password1", false).await.unwrap();
        let p = s.create_project(u.id, "p").await.unwrap();
        let a = s.create_media(p.id, "a.mp4", &crate::new_server_name(), 10, u.id).await.unwrap();
        let b = s.create_media(p.id, "b.mp4", &crate::new_server_name(), 10, u.id).await.unwrap();
        assert_eq!(a.state, MediaState::Probing);
        s.set_media_ready(a.id, "{\"fps\":30}").await.unwrap();
        s.set_media_rejected(b.id, "not a video").await.unwrap();
        let all = s.list_media(p.id).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(s.media(p.id, a.id).await.unwrap().state, MediaState::Ready);
        assert_eq!(s.media(p.id, b.id).await.unwrap().error.as_deref(), Some("not a video"));
        assert!(s.media(p.id + 1, a.id).await.is_err(), "media is scoped to its project");
        assert!(s.dismiss_rejected_media(p.id, a.id).await.is_err(), "ready media is not dismissed");
        s.dismiss_rejected_media(p.id, b.id).await.unwrap();
        assert_eq!(s.list_media(p.id).await.unwrap().len(), 1);
    }
}
