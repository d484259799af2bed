//! Hardening: a crash loses nothing and leaves nothing half-made. The real `doppel` binary is
//! killed (`abort`, as `kill -9` would) at each named step of an upload
//! (`DOPPEL_CRASH_AT`, a test hook), then started again without it: its start-up sweep must
//! leave the data directory and the database in agreement. Every media record has its file
//! and a probe job that is queued or finished (and the record then settled); no file in
//! `media/` lacks a record; no `*.part` or temp file is left.

mod common;

use common::shared_data;
use doppel_store::{JobState, MediaState, Store};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "admin password";

struct Running {
    child: Child,
    port: u16,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn log(root: &Path) -> String {
    std::fs::read_to_string(root.join("server.log")).unwrap_or_default()
}

/// `doppel serve` on `root/data`, with `crash` as `DOPPEL_CRASH_AT`; returns once it answers.
fn serve(root: &Path, crash: Option<&str>) -> Running {
    let port = free_port();
    let out = std::fs::OpenOptions::new().create(true).append(true).open(root.join("server.log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_doppel"));
    cmd.args(["serve", "--port", &port.to_string()])
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("--site-dir")
        .arg(root.join("site"))
        .env_remove("DOPPEL_CRASH_AT")
        .env_remove("DOPPEL_PUBLIC_URL")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    if let Some(point) = crash {
        cmd.env("DOPPEL_CRASH_AT", point);
    }
    let mut running = Running { child: cmd.spawn().unwrap(), port };
    let until = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = running.child.try_wait().unwrap() {
            panic!("doppel serve ended at start ({status}):\n{}", log(root));
        }
        assert!(Instant::now() < until, "doppel serve did not listen within 120 s:\n{}", log(root));
        std::thread::sleep(Duration::from_millis(100));
    }
    running
}

/// One HTTP/1.1 request from the same origin; the reply's status, head and body, or `None`
/// when the connection ends without a reply.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    s.write_all(req.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let at = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&out[..at]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, head, out[at + 4..].to_vec()))
}

fn login(port: u16) -> String {
    let (status, head, body) = http(port, "POST", "/api/login", &[("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")], format!("username=admin&password={}", PASSWORD.replace(' ', "+")).as_bytes()).expect("a reply to the login");
    assert!(status < 400, "login: {status} {}", String::from_utf8_lossy(&body));
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.trim())
        .find(|v| v.starts_with("doppel_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("the login sets a session cookie")
}

/// Every file under `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_step_of_an_upload_leaves_records_and_files_in_agreement() {
    let photo = std::fs::read(shared_data("images/obama_small.jpg")).unwrap();
    for point in ["upload-streamed", "upload-renamed", "upload-committed"] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("site/pkg")).unwrap();
        std::fs::write(root.join("site/pkg/doppel.js"), "export function hydrate() {}\n").unwrap();
        let data = root.join("data");
        let (pid, user) = {
            let store = Store::open(&data).await.unwrap();
            let admin = store.create_user("admin", PASSWORD, true).await.unwrap();
            let pid = store.create_project(admin.id, "Crash").await.unwrap().id;
            store.pool().close().await;
            (pid, admin.id)
        };

        // The upload, killed at `point`.
        let mut server = serve(root, Some(point));
        let cookie = login(server.port);
        let path = format!("/api/projects/{pid}/media?name=face.jpg");
        let reply = http(server.port, "POST", &path, &[("Cookie", &cookie), ("Content-Type", "application/octet-stream")], &photo);
        assert!(reply.is_none(), "{point}: the server answered instead of dying: {reply:?}");
        let status = server.child.wait().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(6), "{point}: killed by abort, not {status}:\n{}", log(root));
        }
        assert!(log(root).contains(&format!("aborting at {point}")), "{}", log(root));
        drop(server);

        // What older crashes may have left too: a record still probing with no job, one whose
        // file never arrived, and an atomic write's temp file in a face set folder.
        let store = Store::open(&data).await.unwrap();
        let unchecked_name = doppel_store::new_server_name();
        let unchecked = store.create_media(pid, "unchecked.jpg", &unchecked_name, photo.len() as i64, user).await.unwrap();
        std::fs::create_dir_all(store.dirs().media_dir(pid)).unwrap();
        std::fs::write(store.dirs().media_file(pid, &unchecked_name).unwrap(), &photo).unwrap();
        let lost = store.create_media(pid, "lost.jpg", &doppel_store::new_server_name(), 10, user).await.unwrap();
        let temp = store.dirs().face_set_dir(pid, 1).join(".clip.alignments.json.999-0.tmp");
        std::fs::create_dir_all(temp.parent().unwrap()).unwrap();
        std::fs::write(&temp, b"half").unwrap();
        let before: Vec<PathBuf> = files_under(&data.join("tmp")).into_iter().chain(files_under(&store.dirs().media_dir(pid))).collect();
        store.pool().close().await;

        // Started again without the hook: the sweep runs, the queued probes run.
        let server = serve(root, None);
        let store = Store::open(&data).await.unwrap();
        let until = Instant::now() + Duration::from_secs(120);
        let media = loop {
            let media = store.list_media(pid).await.unwrap();
            // A probe marks its media ready just before its job is done: wait for both.
            let busy = store.list_jobs(pid, 100).await.unwrap().iter().any(|j| matches!(j.state, JobState::Queued | JobState::Running));
            if !busy && media.iter().all(|m| m.state != MediaState::Probing) {
                break media;
            }
            assert!(Instant::now() < until, "{point}: media still probing after the restart: {media:?}\n{}", log(root));
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        drop(server);

        let jobs = store.list_jobs(pid, 100).await.unwrap();
        let probe_of = |id: i64| jobs.iter().filter(|j| j.kind == "probe" && j.params["media_id"].as_i64() == Some(id)).collect::<Vec<_>>();
        for m in &media {
            if m.state == MediaState::Rejected {
                continue;
            }
            assert_eq!(m.state, MediaState::Ready, "{point}: {m:?}");
            assert!(store.dirs().media_file(pid, &m.stored_name).unwrap().is_file(), "{point}: {} has no file", m.label);
            assert!(probe_of(m.id).iter().any(|j| j.state == JobState::Done), "{point}: {} has no finished probe: {jobs:?}", m.label);
        }
        let uploaded = media.iter().find(|m| m.label == "face.jpg");
        if point == "upload-committed" {
            assert_eq!(uploaded.map(|m| m.state), Some(MediaState::Ready), "{point}: the committed upload is kept and checked");
        } else {
            assert!(uploaded.is_none(), "{point}: an upload never committed has no record: {uploaded:?}");
        }
        let by_id = |id: i64| media.iter().find(|m| m.id == id).unwrap();
        assert_eq!(by_id(unchecked.id).state, MediaState::Ready, "{point}: a record left probing is checked again");
        assert_eq!(by_id(lost.id).state, MediaState::Rejected);
        assert!(by_id(lost.id).error.as_deref().unwrap_or_default().contains("upload it again"), "{:?}", by_id(lost.id).error);

        let names: std::collections::HashSet<String> = media.iter().filter(|m| m.state != MediaState::Rejected).map(|m| m.stored_name.clone()).collect();
        for f in files_under(&store.dirs().media_dir(pid)) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(names.contains(&name), "{point}: {} has no record (before the restart: {before:?})", f.display());
        }
        let left: Vec<PathBuf> = files_under(&data).into_iter().filter(|p| p.extension().is_some_and(|e| e == "part" || e == "tmp")).collect();
        assert!(left.is_empty(), "{point}: left behind: {left:?}");
        if point == "upload-streamed" {
            assert!(before.iter().any(|p| p.extension().is_some_and(|e| e == "part")), "the crash left the partial upload for the sweep: {before:?}");
        }
        if point == "upload-renamed" {
            assert_eq!(before.iter().filter(|p| p.parent() == Some(&store.dirs().media_dir(pid))).count(), 2, "the crash left the renamed file without a record: {before:?}");
        }
        store.pool().close().await;
    }
}
