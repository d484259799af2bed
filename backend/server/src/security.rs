//! Request guards: same-origin check for state-changing requests, and response headers.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses POST/PUT/PATCH/DELETE whose `Origin` is not this server, or that the browser marks
/// as cross-site. Requests without either header (curl, scripts) pass: cookies are
/// SameSite=Strict, so a browser never sends the session cross-site anyway.
pub async fn same_origin(req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) && !is_same_origin(req.headers()) {
        tracing::warn!("refused cross-site {} {}", req.method(), req.uri().path());
        return ApiError::CrossSite.into_response();
    }
    next.run(req).await
}

pub fn is_same_origin(headers: &HeaderMap) -> bool {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    match origin.to_str() {
        Ok(o) => o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")) == Some(host),
        Err(_) => false,
    }
}

/// Headers every response carries.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origin_must_match_host() {
        assert!(is_same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")])));
        assert!(is_same_origin(&headers(&[("host", "localhost:8080"), ("origin", "http://localhost:8080")])));
        assert!(!is_same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "http://evil.example")])));
        assert!(!is_same_origin(&headers(&[("host", "127.0.0.1:3000"), ("origin", "null")])));
        assert!(!is_same_origin(&headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "cross-site")])));
        assert!(is_same_origin(&headers(&[("host", "127.0.0.1:3000")])), "non-browser clients pass");
    }
}
