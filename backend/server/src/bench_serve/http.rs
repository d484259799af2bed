//! The server under test as a child process (`doppel serve`, killed with SIGKILL when asked),
//! and a small blocking client for it that keeps the session cookie and times each request.

use anyhow::{bail, Context as _};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `doppel serve` process on a free loopback port.
pub struct ServerProcess {
    child: Child,
    pub base: String,
}

/// Where a server keeps its files and finds its weights.
#[derive(Debug, Clone)]
pub struct ServerDirs {
    pub data: PathBuf,
    pub site: PathBuf,
    pub models: PathBuf,
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts the server and waits until it answers.
    pub fn start(dirs: &ServerDirs) -> anyhow::Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&dirs.log)?;
        let child = Command::new(std::env::current_exe()?)
            .args(["serve", "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(&dirs.data)
            .arg("--site-dir")
            .arg(&dirs.site)
            .arg("--models-dir")
            .arg(&dirs.models)
            .env("DOPPEL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start doppel serve")?;
        let mut server = ServerProcess { child, base: format!("http://127.0.0.1:{port}") };
        let until = Instant::now() + Duration::from_secs(60);
        let probe = Client::new(&server.base);
        loop {
            if let Ok(r) = probe.get("/login") {
                if r.status == 200 {
                    return Ok(server);
                }
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("doppel serve exited ({status}) before answering; see {}", dirs.log.display());
            }
            if Instant::now() > until {
                server.kill9();
                bail!("doppel serve did not answer within 60 s; see {}", dirs.log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL, as a crash or the OOM killer would: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One answer: status, body and how long it took.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub took: Duration,
    pub cookie: Option<String>,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body).with_context(|| format!("status {}: {}", self.status, String::from_utf8_lossy(&self.body)))
    }
}

/// A browser-like client of one user: same-origin headers, the session cookie.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    pub cookie: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Client { agent, base: base.to_string(), cookie: None }
    }

    fn finish(&self, started: Instant, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> anyhow::Result<Answer> {
        let mut r = r?;
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("doppel_session="))
            .map(|v| v.split(';').next().unwrap_or(v).to_string());
        let mut body = Vec::new();
        r.body_mut().as_reader().read_to_end(&mut body)?;
        Ok(Answer { status: r.status().as_u16(), body, took: started.elapsed(), cookie })
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        self.finish(started, req.call())
    }

    /// A server function, as the browser calls it.
    pub fn call(&self, endpoint: &str, form: &[(&str, String)]) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let mut req = self.agent.post(format!("{}/api/{endpoint}", self.base)).header("origin", &self.base).header("accept", "application/json");
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        self.finish(started, req.send_form(form.iter().map(|(k, v)| (*k, v.as_str()))))
    }

    pub fn upload(&self, project: i64, name: &str, bytes: &[u8]) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let mut req = self.agent.post(format!("{}{}", self.base, app::api::upload_url(project, name))).header("origin", &self.base);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        self.finish(started, req.send(bytes))
    }

    /// Opens the project's event stream and reads it for `secs`: the status, and the time to
    /// the first byte of the answer.
    pub fn events(&self, project: i64, secs: u64) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let mut req = self.agent.get(format!("{}/api/projects/{project}/events", self.base)).config().timeout_global(Some(Duration::from_secs(secs))).build();
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let mut r = req.call()?;
        let took = started.elapsed();
        let mut buf = [0u8; 4096];
        let mut reader = r.body_mut().as_reader();
        // Ends by the timeout (the stream never closes by itself) or a closed connection.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        Ok(Answer { status: r.status().as_u16(), body: Vec::new(), took, cookie: None })
    }

    /// Logs in; the client then carries the session.
    pub fn login(base: &str, user: &str, password: &str) -> anyhow::Result<Client> {
        let mut c = Client::new(base);
        let a = c.call("login", &[("username", user.to_string()), ("password", password.to_string())])?;
        c.cookie = Some(a.cookie.with_context(|| format!("login of {user} gave no session (status {})", a.status))?);
        Ok(c)
    }

    /// A client of `base` with a session cookie from an earlier login (sessions outlive
    /// restarts: they are in the database).
    pub fn with_cookie(base: &str, cookie: &str) -> Client {
        let mut c = Client::new(base);
        c.cookie = Some(cookie.to_string());
        c
    }
}

/// A stand-in site folder: the pages render on the server; the bundle is not needed here.
pub fn stub_site(dir: &Path) -> anyhow::Result<PathBuf> {
    let site = dir.join("site");
    std::fs::create_dir_all(site.join("pkg"))?;
    std::fs::write(site.join("pkg/doppel.js"), "export function hydrate() {}\n")?;
    Ok(site)
}
