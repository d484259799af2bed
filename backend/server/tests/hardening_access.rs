//! Accounts and access under attack and when access should end: login limits, hashing off the
//! runtime, sessions ended by password changes, disabling, deleting, logout and idleness,
//! members removed, event streams that close, and Secure cookies behind HTTPS.

mod common;

use app::api::{ProjectDto, UserDto};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use common::*;
use doppel::cli::ServeConfig;
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// A server like `common::server`, with its configuration adjusted first.
async fn server_with(adjust: impl FnOnce(&mut ServeConfig)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/doppel.js"), "export function hydrate() {}\n").unwrap();
    let mut config = ServeConfig::new(HOST.parse().unwrap(), dir.path().join("data"), site);
    adjust(&mut config);
    let engine = doppel::jobs::EngineConfig::cpu_only(doppel_engine::nets::ModelsDir::new(models_dir()));
    let (router, state) = doppel::server::build_with(config, engine).await.unwrap();
    TestServer { router, state, dir }
}

/// A login from the client address `peer` (as `serve` records it: `ConnectInfo`).
async fn login_from(s: &TestServer, peer: &str, name: &str, password: &str) -> Reply {
    let mut req = Request::post("/api/login")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, format!("http://{HOST}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Body::from(format!("username={}&password={}", enc(name), enc(password))))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    s.send(req).await
}

fn retry_after(r: &Reply) -> Option<u64> {
    r.headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

async fn whoami(s: &TestServer, cookie: &str) -> String {
    s.call(Some(cookie), "whoami", &[]).await.text()
}

/// The session still counts: pages render, files answer.
async fn assert_logged_in(s: &TestServer, cookie: &str, who: &str) {
    let me = whoami(s, cookie).await;
    assert!(me.contains(&format!("\"username\":\"{who}\"")), "{who} is logged in: {me}");
}

/// The session is over: whoami says nobody, pages send to the login page, files say 401.
async fn assert_logged_out(s: &TestServer, cookie: &str, pid: i64) {
    assert_eq!(whoami(s, cookie).await, "null");
    let page = s.get(Some(cookie), "/").await;
    assert!(page.status.is_redirection(), "{}", page.status);
    assert_eq!(page.headers.get(header::LOCATION).unwrap(), "/login");
    assert_eq!(s.get(Some(cookie), &format!("/api/projects/{pid}/events")).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_logins_lock_the_name_and_not_other_users() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    s.user(&admin, "bob").await;
    let peer = "198.51.100.7:40000";
    let mut refused_from = None;
    for attempt in 1..=30 {
        let r = login_from(&s, peer, "bob", "not the password").await;
        match r.status {
            StatusCode::BAD_REQUEST => {
                assert!(refused_from.is_none(), "attempt {attempt} was verified again after a 429");
                assert!(r.text().contains("wrong username or password"), "{}", r.text());
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let secs = retry_after(&r).expect("429 carries Retry-After");
                assert!((1..=60).contains(&secs), "Retry-After {secs}");
                assert!(r.text().contains("too many failed logins for this user name: try again in"), "{}", r.text());
                refused_from.get_or_insert(attempt);
            }
            other => panic!("attempt {attempt}: {other} {}", r.text()),
        }
    }
    assert_eq!(refused_from, Some(6), "five attempts are verified, the sixth is refused");
    // The right password is refused too while the name is locked, from anywhere.
    let r = login_from(&s, "203.0.113.9:1234", "BOB", "user password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.cookie().is_none());
    // Another user logs in from the same address.
    let r = login_from(&s, peer, "admin", "admin password").await;
    assert!(r.status.is_success() || r.status.is_redirection(), "{} {}", r.status, r.text());
    assert!(r.cookie().is_some());
}

#[tokio::test]
async fn failed_logins_lock_an_address_and_not_others() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    s.user(&admin, "bob").await;
    // Twenty names guessed once each from one address (IPv6: its /64 counts as one).
    for i in 0..20 {
        let peer = format!("[2001:db8:0:7::{:x}]:5000", i + 1);
        let r = login_from(&s, &peer, &format!("guess{i}"), "password?").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "attempt {i}: {}", r.text());
    }
    let r = login_from(&s, "[2001:db8:0:7::99]:5000", "bob", "user password").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(r.text().contains("from your address"), "{}", r.text());
    assert!(retry_after(&r).is_some());
    let r = login_from(&s, "[2001:db8:0:8::1]:5000", "bob", "user password").await;
    assert!(r.status.is_success() || r.status.is_redirection(), "{} {}", r.status, r.text());
}

/// Twenty clients guessing passwords at once leave the server answering others' pages. One
/// runtime thread serves everything here, so a hash computed on it would hold up every page.
#[tokio::test]
async fn concurrent_bad_logins_do_not_stall_pages() {
    let s = Arc::new(server(1 << 20).await);
    let admin = s.admin().await;
    let bob = s.user(&admin, "bob").await;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let attackers: Vec<_> = (0..20)
        .map(|i| {
            let (s, stop, done) = (s.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                // Fresh names, and a fresh address every 15 guesses: under every limit, so
                // each guess hashes. They go on until the pages are measured.
                for k in 0..1000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let peer = format!("10.{}.{}.1:9000", i + 1, k / 15);
                    let r = login_from(&s, &peer, &format!("ghost{i}x{k}"), "wrong password").await;
                    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = done.load(Ordering::SeqCst);
    // Pages, one after another, for 1.5 s of guessing.
    let measuring = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut pages = 0;
    while measuring.elapsed() < Duration::from_millis(1500) {
        // Served like any request: a task of its own on the runtime.
        let (s2, bob2) = (s.clone(), bob.clone());
        let started = Instant::now();
        let page = tokio::spawn(async move { s2.get(Some(&bob2), "/").await }).await.unwrap();
        let took = started.elapsed();
        assert_eq!(page.status, StatusCode::OK);
        assert!(took < Duration::from_secs(1), "page {pages} took {took:?} during the guessing");
        slowest = slowest.max(took);
        pages += 1;
    }
    let after = done.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    assert!(after > before, "guesses were answered meanwhile ({before} -> {after})");
    println!("{} guesses answered while {pages} pages were served, the slowest in {slowest:?}", after - before);
    for a in attackers {
        a.await.unwrap();
    }
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    let here = s.user(&admin, "bob").await;
    let elsewhere = s.login("bob", "user password").await;
    let pid = s.project(&admin, "Swap").await;
    let r = s.call(Some(&here), "change_password", &[("current", "user password"), ("new", "a new password")]).await;
    assert!(r.status.is_success(), "{}", r.text());
    assert_logged_out(&s, &elsewhere, pid).await;
    assert_logged_in(&s, &here, "bob").await;
    // And it keeps working across requests (the new epoch was stored in this session).
    assert_eq!(s.get(Some(&here), "/").await.status, StatusCode::OK);
    assert_logged_in(&s, &here, "bob").await;
    s.login("bob", "a new password").await;
}

#[tokio::test]
async fn the_admin_disables_enables_and_deletes_users() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    let bob = s.user(&admin, "bob").await;
    let carol = s.user(&admin, "carol").await;
    let pid = s.project(&carol, "Carol's").await;
    let users: Vec<UserDto> = s.call(Some(&admin), "list_users", &[]).await.json();
    let id = |name: &str| users.iter().find(|u| u.username == name).unwrap().id.to_string();

    // Only admins, and not on themselves.
    let r = s.call(Some(&bob), "set_user_disabled", &[("id", &id("carol")), ("disabled", "true")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s.call(Some(&bob), "delete_user", &[("id", &id("carol"))]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s.call(Some(&admin), "set_user_disabled", &[("id", &id("admin")), ("disabled", "true")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    // Disabled: the session ends at once and logging in is refused, clearly.
    let r = s.call(Some(&admin), "set_user_disabled", &[("id", &id("bob")), ("disabled", "true")]).await;
    assert!(r.json::<UserDto>().disabled);
    assert_logged_out(&s, &bob, pid).await;
    let r = s.call(None, "login", &[("username", "bob"), ("password", "user password")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("disabled"), "{}", r.text());
    let r = s.call(Some(&admin), "set_user_disabled", &[("id", &id("bob")), ("disabled", "false")]).await;
    assert!(!r.json::<UserDto>().disabled);
    let bob = s.login("bob", "user password").await;
    assert_logged_in(&s, &bob, "bob").await;

    // The last owner of a project stays until someone else owns it.
    let r = s.call(Some(&admin), "delete_user", &[("id", &id("carol"))]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("carol is the last owner of 'Carol's'"), "{}", r.text());
    assert_logged_in(&s, &carol, "carol").await;
    let r = s.call(Some(&carol), "set_member", &[("id", &pid.to_string()), ("username", "bob"), ("role", "owner")]).await;
    assert!(r.status.is_success(), "{}", r.text());
    let r = s.call(Some(&admin), "delete_user", &[("id", &id("carol"))]).await;
    assert!(r.status.is_success(), "{}", r.text());
    assert_logged_out(&s, &carol, pid).await;
    let r = s.call(None, "login", &[("username", "carol"), ("password", "user password")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let project: ProjectDto = s.call(Some(&bob), "get_project", &[("id", &pid.to_string())]).await.json();
    assert_eq!(project.name, "Carol's");
}

#[tokio::test]
async fn owners_remove_members_who_then_get_404() {
    let t = team().await;
    let (s, pid) = (&t.s, t.pid.to_string());
    let r = s.call(Some(&t.viewer), "remove_member", &[("id", &pid), ("member", "ed")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s.call(Some(&t.admin), "remove_member", &[("id", &pid), ("member", "admin")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "the last owner stays: {}", r.text());
    assert!(r.text().contains("at least one owner"), "{}", r.text());
    assert_eq!(s.get(Some(&t.viewer), &format!("/projects/{pid}")).await.status, StatusCode::OK);
    let r = s.call(Some(&t.admin), "remove_member", &[("id", &pid), ("member", "vic")]).await;
    assert!(r.status.is_success(), "{}", r.text());
    assert_eq!(s.get(Some(&t.viewer), &format!("/projects/{pid}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.call(Some(&t.viewer), "get_project", &[("id", &pid)]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get(Some(&t.viewer), &format!("/api/projects/{pid}/events")).await.status, StatusCode::NOT_FOUND);
    // Another owner may demote the first; the last one may not demote themselves.
    s.call(Some(&t.admin), "set_member", &[("id", &pid), ("username", "ed"), ("role", "owner")]).await;
    let r = s.call(Some(&t.editor), "set_member", &[("id", &pid), ("username", "admin"), ("role", "viewer")]).await;
    assert!(r.status.is_success(), "{}", r.text());
    let r = s.call(Some(&t.editor), "set_member", &[("id", &pid), ("username", "ed"), ("role", "editor")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
}

/// An open event stream of the project, as a page opens it.
async fn open_events(s: &TestServer, cookie: &str, pid: i64) -> Body {
    let req = Request::get(format!("/api/projects/{pid}/events"))
        .header(header::HOST, HOST)
        .header(header::ACCEPT, "text/event-stream")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    let res = s.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.into_body()
}

/// Whether the stream ends within `secs` (keep-alive comments and events are read past).
async fn ends_within(body: &mut Body, secs: u64) -> bool {
    let read_to_end = async {
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(secs), read_to_end).await.is_ok()
}

/// Well past the stream's 2 s check, on a loaded machine.
const ENDS: u64 = 10;

#[tokio::test]
async fn event_streams_close_when_their_session_ends() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Swap").await;
    for name in ["bob", "carol", "dave"] {
        s.user(&admin, name).await;
        s.call(Some(&admin), "set_member", &[("id", &pid.to_string()), ("username", name), ("role", "viewer")]).await;
    }
    let users: Vec<UserDto> = s.call(Some(&admin), "list_users", &[]).await.json();
    let id = |name: &str| users.iter().find(|u| u.username == name).unwrap().id.to_string();

    // Logout.
    let bob = s.login("bob", "user password").await;
    let mut stream = open_events(&s, &bob, pid).await;
    assert!(!ends_within(&mut stream, 3).await, "a stream stays open while its session lasts");
    s.call(Some(&bob), "logout", &[]).await;
    assert!(ends_within(&mut stream, ENDS).await, "logout ends the stream");

    // A password change elsewhere ends this session's stream, not the changer's.
    let carol_here = s.login("carol", "user password").await;
    let carol_there = s.login("carol", "user password").await;
    let mut here = open_events(&s, &carol_here, pid).await;
    let mut there = open_events(&s, &carol_there, pid).await;
    let r = s.call(Some(&carol_here), "change_password", &[("current", "user password"), ("new", "carol's new one")]).await;
    assert!(r.status.is_success(), "{}", r.text());
    assert!(ends_within(&mut there, ENDS).await, "the other session's stream ends");
    assert!(!ends_within(&mut here, 3).await, "the changer's own stream stays");

    // Disabling.
    let dave = s.login("dave", "user password").await;
    let mut stream = open_events(&s, &dave, pid).await;
    s.call(Some(&admin), "set_user_disabled", &[("id", &id("dave")), ("disabled", "true")]).await;
    assert!(ends_within(&mut stream, ENDS).await, "disabling ends the stream");

    // Deleting.
    let bob = s.login("bob", "user password").await;
    let mut stream = open_events(&s, &bob, pid).await;
    let r = s.call(Some(&admin), "delete_user", &[("id", &id("bob"))]).await;
    assert!(r.status.is_success(), "{}", r.text());
    assert!(ends_within(&mut stream, ENDS).await, "deleting ends the stream");
}

#[tokio::test]
async fn event_streams_close_when_access_to_the_project_ends() {
    let t = team().await;
    let s = &t.s;
    // Removal from the project ends the removed member's stream, not the others'.
    let mut viewer = open_events(s, &t.viewer, t.pid).await;
    let mut editor = open_events(s, &t.editor, t.pid).await;
    let r = s.call(Some(&t.admin), "remove_member", &[("id", &t.pid.to_string()), ("member", "vic")]).await;
    assert!(r.status.is_success(), "{}", r.text());
    assert!(ends_within(&mut viewer, ENDS).await, "the removed member's stream ends");
    assert!(!ends_within(&mut editor, 3).await, "the remaining member's stream stays");
    // Trashing ends everyone's, the owner's too.
    let mut owner = open_events(s, &t.admin, t.pid).await;
    let r = s.call(Some(&t.admin), "trash_project", &[("id", &t.pid.to_string())]).await;
    assert!(r.status.is_success() || r.status.is_redirection(), "{}", r.text());
    assert!(ends_within(&mut editor, ENDS).await, "trashing ends the members' streams");
    assert!(ends_within(&mut owner, ENDS).await, "and the owner's");
}

#[tokio::test]
async fn sessions_end_after_the_idle_time_and_use_keeps_them() {
    let s = server_with(|c| c.session_idle = Duration::from_secs(3)).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Swap").await;
    // Used every 1.2 s for 4.8 s: longer than the idle time in all, never idle that long.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_logged_in(&s, &admin, "admin").await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_logged_out(&s, &admin, pid).await;
}

async fn session_cookie_header(s: &TestServer) -> String {
    s.admin().await;
    let r = s.call(None, "login", &[("username", "admin"), ("password", "admin password")]).await;
    r.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("doppel_session="))
        .expect("session cookie")
}

#[tokio::test]
async fn cookies_are_secure_behind_https_only() {
    let https = server_with(|c| c.public_url = Some(doppel::cli::PublicUrl::parse("https://doppel.example.com").unwrap())).await;
    let set = session_cookie_header(&https).await;
    assert!(set.split(';').any(|p| p.trim() == "Secure"), "{set}");
    let http = server_with(|c| c.public_url = Some(doppel::cli::PublicUrl::parse("http://gpu-box:3000").unwrap())).await;
    let set = session_cookie_header(&http).await;
    assert!(!set.contains("Secure"), "{set}");
    let plain = server(1 << 20).await;
    let set = session_cookie_header(&plain).await;
    assert!(!set.contains("Secure"), "{set}");
}
