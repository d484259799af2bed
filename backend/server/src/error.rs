//! Errors of the plain HTTP routes: a status and a message for the user as `{"error": ...}`;
//! internal details go to the log once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use doppel_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("please log in")]
    NotLoggedIn,
    #[error("not found")]
    NotFound,
    #[error("your role does not allow this")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("cross-site request refused")]
    CrossSite,
    /// The request names a host this server does not serve (DNS rebinding).
    #[error("this server does not answer to the host name '{0}' (doppel serve --public-url adds one)")]
    UnknownHost(String),
    /// Too much of this work is queued already: try again after the given seconds.
    #[error("{message}")]
    Busy { message: String, retry_after_secs: u64 },
    #[error("something went wrong on the server (details are in its log)")]
    Internal(String),
}

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotLoggedIn => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Forbidden | ApiError::CrossSite => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnknownHost(_) => StatusCode::MISDIRECTED_REQUEST,
            ApiError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!("internal error: {detail}");
        }
        let mut res = (self.status(), axum::Json(serde_json::json!({ "error": self.to_string() }))).into_response();
        if let ApiError::Busy { retry_after_secs, .. } = &self {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, (*retry_after_secs).into());
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Forbidden => ApiError::Forbidden,
            StoreError::Invalid(_) | StoreError::Conflict(_) | StoreError::BadCredentials | StoreError::BadTransition { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<app::api::work::Busy> for ApiError {
    fn from(e: app::api::work::Busy) -> Self {
        ApiError::Busy { message: e.to_string(), retry_after_secs: app::api::work::Busy::RETRY_AFTER_SECS }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(e)
    }
}
