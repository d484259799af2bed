//! Request guards: the Host check (DNS rebinding), the same-origin check for state-changing
//! requests, and response headers (CSP on every page and file).

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

/// The host names this server answers to: loopback names, the address it listens on (unless
/// it is a wildcard), and `--public-url`'s host. Ports are not compared: a tunnel may forward
/// any local port.
#[derive(Debug, Clone)]
pub struct AllowedHosts(std::sync::Arc<Vec<String>>);

impl AllowedHosts {
    pub fn new(config: &crate::cli::ServeConfig) -> Self {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(String::from).into();
        let ip = config.addr.ip();
        if !ip.is_unspecified() {
            names.push(match ip {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            });
        }
        if let Some(url) = &config.public_url {
            names.push(host_name(&url.host).to_string());
        }
        names.sort();
        names.dedup();
        AllowedHosts(std::sync::Arc::new(names))
    }

    /// Whether a `Host` header value names this server.
    pub fn allows(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        self.0.iter().any(|n| *n == name)
    }
}

/// `host:port` -> `host`; `[v6]:port` -> `[v6]`.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.split(':').next().unwrap_or(host)
}

/// Refuses requests whose `Host` is not a name of this server (421). A page on an attacker's
/// domain that resolves to 127.0.0.1 (DNS rebinding) is then same-origin with nothing here.
/// Requests without a Host (HTTP/1.0 tools) pass: browsers always send one.
pub async fn allowed_host(
    axum::extract::State(hosts): axum::extract::State<AllowedHosts>,
    req: Request,
    next: Next,
) -> Response {
    let host = req.headers().get(header::HOST).map(|h| h.to_str().unwrap_or("\u{fffd}").to_string());
    if let Some(host) = host.filter(|h| !hosts.allows(h)) {
        tracing::warn!("refused a request for host {host:?}: {}", req.uri().path());
        return ApiError::UnknownHost(host.chars().take(100).collect()).into_response();
    }
    next.run(req).await
}

/// Headers every response carries. Pages carry their own CSP (with the nonce of their inline
/// scripts, set while rendering); everything else gets the file CSP: a user's upload opened
/// directly runs nothing, whatever it contains.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"));
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        let csp = if is_html { app::api::ssr::page_csp(None) } else { app::api::ssr::FILE_CSP.to_string() };
        if let Ok(v) = HeaderValue::from_str(&csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
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

    #[test]
    fn only_the_servers_own_host_names_are_answered() {
        let mut config = crate::cli::ServeConfig::new("127.0.0.1:3000".parse().unwrap(), "d".into(), "s".into());
        let hosts = AllowedHosts::new(&config);
        for ok in ["127.0.0.1:3000", "localhost:8080", "LOCALHOST", "[::1]:3000", "127.0.0.1"] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for bad in ["evil.example", "evil.example:3000", "127.0.0.1.evil.example", "localhost.evil.example:3000", "", "[::2]:3000"] {
            assert!(!hosts.allows(bad), "{bad}");
        }
        config.public_url = Some(crate::cli::PublicUrl::parse("https://doppel.example.com").unwrap());
        config.addr = "10.0.0.5:3000".parse().unwrap();
        let hosts = AllowedHosts::new(&config);
        assert!(hosts.allows("doppel.example.com"));
        assert!(hosts.allows("10.0.0.5:3000"));
        assert!(!hosts.allows("other.example.com"));
    }
}
