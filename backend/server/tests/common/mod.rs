//! A Doppel server in a temporary data directory, driven through its router without a socket.

#![allow(dead_code)]

use axum::body::Body;
use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use doppel::cli::ServeConfig;
use http_body_util::BodyExt;
use std::path::PathBuf;
use tower::ServiceExt;

pub const HOST: &str = "127.0.0.1:3000";

pub fn shared_data(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(rel)
}

/// The repository's network weights (or `DOPPEL_MODELS_DIR`).
pub fn models_dir() -> PathBuf {
    std::env::var_os("DOPPEL_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models")))
}

pub struct TestServer {
    pub router: Router,
    pub state: doppel::server::AppState,
    pub dir: tempfile::TempDir,
}

pub async fn server(max_upload: u64) -> TestServer {
    server_with_models(max_upload, models_dir()).await
}

/// A server whose jobs look for the network weights in `models`.
pub async fn server_with_models(max_upload: u64, models: PathBuf) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    // A stand-in bundle: compressible, so the compression of static files can be checked.
    std::fs::write(site.join("pkg/doppel.js"), "export function hydrate() {}\n".repeat(200)).unwrap();
    let config = ServeConfig { max_upload, ..ServeConfig::new(HOST.parse().unwrap(), dir.path().join("data"), site) };
    let engine = doppel::jobs::EngineConfig::cpu_only(doppel_engine::nets::ModelsDir::new(models));
    let (router, state) = doppel::server::build_with(config, engine).await.unwrap();
    TestServer { router, state, dir }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// The session cookie the server set, as `name=value`.
    pub fn cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("doppel_session="))
            .map(|v| v.split(';').next().unwrap().to_string())
    }
}

async fn reply(res: Response<Body>) -> Reply {
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply { status, headers, body }
}

impl TestServer {
    /// Sends one request and reads the whole reply. A reply that does not end within
    /// two minutes fails the test with the request's path, rather than hanging the run.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let what = format!("{} {}", req.method(), req.uri());
        let answer = async { reply(self.router.clone().oneshot(req).await.unwrap()).await };
        match tokio::time::timeout(std::time::Duration::from_secs(120), answer).await {
            Ok(r) => r,
            Err(_) => panic!("{what}: no complete reply within 120 s"),
        }
    }

    /// Calls a server function the way the browser does (form-encoded POST, same origin).
    pub async fn call(&self, cookie: Option<&str>, endpoint: &str, form: &[(&str, &str)]) -> Reply {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = Request::post(format!("/api/{endpoint}"))
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    pub async fn get(&self, cookie: Option<&str>, path: &str) -> Reply {
        let mut req = Request::get(path).header(header::HOST, HOST).header(header::ACCEPT, "text/html,application/xhtml+xml,*/*");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    pub async fn upload(&self, cookie: &str, project: i64, name: &str, bytes: Vec<u8>) -> Reply {
        let req = Request::post(app::api::upload_url(project, name))
            .header(header::HOST, HOST)
            .header(header::ORIGIN, format!("http://{HOST}"))
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_LENGTH, bytes.len())
            .body(Body::from(bytes))
            .unwrap();
        self.send(req).await
    }

    /// Creates the admin through the setup link and returns its session cookie.
    pub async fn admin(&self) -> String {
        let token = self.state.ctx.setup_token.to_string();
        let r = self.call(None, "setup_admin", &[("token", &token), ("username", "admin"), ("password", "admin password")]).await;
        assert!(r.status.is_success() || r.status.is_redirection(), "{} {}", r.status, r.text());
        r.cookie().expect("setup logs the admin in")
    }

    pub async fn user(&self, admin: &str, name: &str) -> String {
        let r = self.call(Some(admin), "create_user", &[("username", name), ("password", "user password")]).await;
        assert!(r.status.is_success(), "{} {}", r.status, r.text());
        self.login(name, "user password").await
    }

    pub async fn login(&self, name: &str, password: &str) -> String {
        let r = self.call(None, "login", &[("username", name), ("password", password)]).await;
        assert!(r.status.is_success() || r.status.is_redirection(), "{} {}", r.status, r.text());
        r.cookie().expect("login sets a session cookie")
    }

    pub async fn project(&self, cookie: &str, name: &str) -> i64 {
        let r = self.call(Some(cookie), "create_project", &[("name", name)]).await;
        assert!(r.status.is_success(), "{} {}", r.status, r.text());
        r.json::<app::api::ProjectDto>().id
    }

    /// Waits until the job is finished (bounded).
    pub async fn wait_job(&self, job: i64) -> doppel_store::Job {
        for _ in 0..600 {
            let j = self.state.ctx.store.job(job).await.unwrap();
            if j.state.is_finished() {
                return j;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let j = self.state.ctx.store.job(job).await.unwrap();
        panic!("job {job} did not finish within 30 s: {j:?}");
    }
}

/// `project` and `set` of a face set, then `extra`: a server function's arguments.
pub fn set_args(pid: i64, set: i64, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = vec![("project".to_string(), pid.to_string()), ("set".to_string(), set.to_string())];
    out.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    out
}

/// [`TestServer::call`] with owned arguments (as [`set_args`] makes them).
pub async fn call(s: &TestServer, cookie: &str, endpoint: &str, args: &[(String, String)]) -> Reply {
    let pairs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.call(Some(cookie), endpoint, &pairs).await
}

pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub fn form<'a>(pairs: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Uploads `video` of the shared test data and extracts a face set from it by a web job
/// (frames 0-40, every 8th, 128 px faces): (media id, face set id).
pub async fn extracted(s: &TestServer, cookie: &str, pid: i64, video: &str) -> (i64, i64) {
    let bytes = std::fs::read(shared_data(&format!("video/{video}"))).unwrap();
    let r = s.upload(cookie, pid, video, bytes).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let up: doppel::routes::upload::Uploaded = r.json();
    assert_eq!(s.wait_job(up.job_id).await.state, doppel_store::JobState::Done);
    let args = [("project", pid.to_string()), ("media", up.media_id.to_string()), ("every_n", "8".into()), ("frame_from", "0".into()), ("frame_to", "40".into()), ("size", "128".into())];
    let r = s.call(Some(cookie), "start_extraction", &form(&args)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let started: app::api::ExtractStarted = r.json();
    let job = wait(s, started.job_id, 120).await;
    assert_eq!(job.state, doppel_store::JobState::Done, "{:?} {}", job.error, job.log_tail);
    (up.media_id, started.face_set_id)
}

/// Waits until the job is finished, at most `secs`.
pub async fn wait(s: &TestServer, job: i64, secs: u64) -> doppel_store::Job {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let j = s.state.ctx.store.job(job).await.unwrap();
        if j.state.is_finished() {
            return j;
        }
        assert!(std::time::Instant::now() < until, "job {job} did not finish within {secs} s: {j:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A server with an admin, an editor and a viewer of one project, and a stranger to it.
pub struct Team {
    pub s: TestServer,
    pub admin: String,
    pub editor: String,
    pub viewer: String,
    pub stranger: String,
    pub pid: i64,
}

pub async fn team() -> Team {
    let s = server(1 << 30).await;
    let admin = s.admin().await;
    let editor = s.user(&admin, "ed").await;
    let viewer = s.user(&admin, "vic").await;
    let stranger = s.user(&admin, "stan").await;
    let pid = s.project(&admin, "Swap").await;
    for (name, role) in [("ed", "editor"), ("vic", "viewer")] {
        let r = s.call(Some(&admin), "set_member", &[("id", &pid.to_string()), ("username", name), ("role", role)]).await;
        assert!(r.status.is_success(), "{}", r.text());
    }
    Team { s, admin, editor, viewer, stranger, pid }
}
