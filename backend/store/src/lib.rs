//! Doppel's persistent state: accounts, projects and roles, uploaded media records, face sets,
//! swap models and the job table, all in one SQLite database under the data directory, plus the on-disk layout of files.
//!
//! Architecture invariant: this crate knows nothing about HTTP, Leptos or the engine. It is used
//! by the server (`doppel`) and by the `app` crate's server functions (feature `ssr`).

mod conversions;
mod error;
mod face_sets;
mod files;
mod jobs;
mod media;
mod models;
mod password;
mod projects;
mod users;

pub use conversions::{Conversion, ConversionState};
pub use error::StoreError;
pub use doppel_fsio::{replace_atomic, write_atomic};
pub use face_sets::{FaceSet, FaceSetState, MAX_FACE_SET_NAME_CHARS};
pub use files::{face_files_in, is_face_file_name, new_output_name, new_server_name, sanitize_label, timelapse_iteration, DataDir, MAX_LABEL_BYTES};
pub use jobs::{DeviceClaim, Job, JobProgress, JobState, ProbeRepair, LOG_TAIL_LINES};
pub use media::{Media, MediaState};
pub use models::{Model, ModelState, NewModel, MAX_MODEL_NAME_CHARS};
pub use projects::{Member, Project, Role};
pub use users::{User, MIN_PASSWORD_CHARS};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::SqlitePool;
use std::path::Path;
use std::time::Duration;

/// Handle to the database and the data directory. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    dirs: DataDir,
    /// Argon2, off the async runtime and bounded (see `password`).
    hasher: password::Hasher,
}

impl Store {
    /// Opens (creating if needed) the data directory and its database, and runs migrations.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let dirs = DataDir::create(data_dir)?;
        let options = SqliteConnectOptions::new()
            .filename(dirs.database())
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store { pool, dirs, hasher: password::Hasher::new() })
    }

    /// The connection pool, shared with the session store.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Where files live.
    pub fn dirs(&self) -> &DataDir {
        &self.dirs
    }

    /// A transaction that reads, then writes. `BEGIN IMMEDIATE` takes the write lock first
    /// (waiting for it up to the busy timeout); a plain `BEGIN` would fail at its first write
    /// whenever another connection wrote since it read (SQLite's busy snapshot, which no busy
    /// timeout waits out), e.g. a running job's progress while a user starts another job.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Store;

    /// A store in a fresh temporary directory, removed when the guard drops.
    pub struct TempStore {
        pub store: Store,
        pub dir: std::path::PathBuf,
    }

    impl Drop for TempStore {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    pub async fn temp_store() -> TempStore {
        let dir = std::env::temp_dir().join(format!("doppel-store-test-{}", uuid::Uuid::new_v4()));
        let store = Store::open(&dir).await.expect("open store");
        TempStore { store, dir }
    }
}
