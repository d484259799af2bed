use thiserror::Error;

/// Errors of the persistent layer, grouped by what the caller should tell the user.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The thing does not exist, or the user may not know that it exists.
    #[error("not found")]
    NotFound,
    /// The user is known to the project but lacks the role for this action.
    #[error("your role on this project does not allow this")]
    Forbidden,
    /// Wrong username or password (deliberately not saying which).
    #[error("wrong username or password")]
    BadCredentials,
    /// Input rejected by validation; the message is meant for the user.
    #[error("{0}")]
    Invalid(String),
    /// A unique name is taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// A job cannot move from one state to another.
    #[error("a {from} job cannot become {to}")]
    BadTransition { from: &'static str, to: &'static str },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("file system error: {0}")]
    Io(#[from] std::io::Error),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl StoreError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        StoreError::Invalid(msg.into())
    }
}
