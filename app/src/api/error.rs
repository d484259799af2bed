use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// Errors a server function reports to the browser. Messages are for the user; details of
/// internal failures stay in the server log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("please log in")]
    NotLoggedIn,
    #[error("not found")]
    NotFound,
    #[error("your role does not allow this")]
    Forbidden,
    #[error("{0}")]
    Invalid(String),
    /// Too much at once (failed logins, busy work queues): 429, and the message says how
    /// long to wait.
    #[error("{0}")]
    TooManyRequests(String),
    #[error("something went wrong on the server (details are in its log)")]
    Internal,
    #[error("could not reach the server: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}
