//! Accounts, sessions, roles and the same-origin guard, through the real router.

mod common;

use app::api::{MemberDto, ProjectDto};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::*;

#[tokio::test]
async fn setup_link_creates_the_only_admin_once() {
    let s = server(1 << 20).await;
    let wrong = s.call(None, "setup_admin", &[("token", "guess"), ("username", "eve"), ("password", "eve password")]).await;
    assert!(!wrong.status.is_success(), "a wrong token is refused");
    assert!(wrong.text().contains("not valid"), "{}", wrong.text());
    let admin = s.admin().await;
    let again = s
        .call(None, "setup_admin", &[("token", &s.state.ctx.setup_token), ("username", "eve"), ("password", "eve password")])
        .await;
    assert!(!again.status.is_success(), "the link is dead once an admin exists: {}", again.text());
    let me = s.call(Some(&admin), "whoami", &[]).await;
    assert!(me.text().contains("\"username\":\"admin\""), "{}", me.text());
    assert!(me.text().contains("\"is_admin\":true"));
}

#[tokio::test]
async fn session_cookie_is_httponly_and_strict() {
    let s = server(1 << 20).await;
    s.admin().await;
    let r = s.call(None, "login", &[("username", "admin"), ("password", "admin password")]).await;
    let set = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("doppel_session="))
        .expect("session cookie");
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(set.contains("Expires=") || set.contains("Max-Age="), "sessions expire: {set}");
    let bad = s.call(None, "login", &[("username", "admin"), ("password", "wrong password")]).await;
    assert!(!bad.status.is_success());
    assert!(bad.text().contains("wrong username or password"), "{}", bad.text());
    assert!(bad.cookie().is_none() || !bad.text().contains("admin\""));
}

#[tokio::test]
async fn only_admins_create_users_and_logout_ends_the_session() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    let bob = s.user(&admin, "bob").await;
    let r = s.call(Some(&bob), "create_user", &[("username", "mallory"), ("password", "password123")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    s.call(Some(&bob), "logout", &[]).await;
    let me = s.call(Some(&bob), "whoami", &[]).await;
    assert_eq!(me.text(), "null", "logged out");
}

#[tokio::test]
async fn password_change_takes_effect() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    let bob = s.user(&admin, "bob").await;
    let r = s.call(Some(&bob), "change_password", &[("current", "user password"), ("new", "a new password")]).await;
    assert!(r.status.is_success(), "{}", r.text());
    let old = s.call(None, "login", &[("username", "bob"), ("password", "user password")]).await;
    assert!(!old.status.is_success());
    s.login("bob", "a new password").await;
}

#[tokio::test]
async fn roles_decide_what_each_user_sees_and_changes() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    let owner = s.user(&admin, "olga").await;
    let viewer = s.user(&admin, "vic").await;
    let stranger = s.user(&admin, "stan").await;
    let pid = s.project(&owner, "Swap").await;
    let r = s.call(Some(&owner), "set_member", &[("id", &pid.to_string()), ("username", "vic"), ("role", "viewer")]).await;
    assert_eq!(r.json::<MemberDto>().username, "vic");

    // The stranger: 404 everywhere, for pages, server functions and files alike.
    let page = s.get(Some(&stranger), &format!("/projects/{pid}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.text().contains("Swap"), "the name does not leak");
    let api = s.call(Some(&stranger), "get_project", &[("id", &pid.to_string())]).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get(Some(&stranger), &format!("/api/projects/{pid}/events")).await.status, StatusCode::NOT_FOUND);
    let list = s.call(Some(&stranger), "list_projects", &[]).await;
    assert_eq!(list.json::<Vec<ProjectDto>>().len(), 0);

    // The viewer sees but cannot change.
    let page = s.get(Some(&viewer), &format!("/projects/{pid}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Swap"));
    for (endpoint, form) in [
        ("trash_project", vec![("id", pid.to_string())]),
        ("rename_project", vec![("id", pid.to_string()), ("name", "Mine".to_string())]),
        ("set_member", vec![("id", pid.to_string()), ("username", "stan".to_string()), ("role", "owner".to_string())]),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = s.call(Some(&viewer), endpoint, &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{endpoint}: {}", r.text());
    }
    let up = s.upload(&viewer, pid, "clip.mp4", vec![1, 2, 3]).await;
    assert_eq!(up.status, StatusCode::FORBIDDEN);

    // Not logged in: pages send to the login page, files answer 401.
    let anon = s.get(None, "/").await;
    assert!(anon.status.is_redirection(), "{}", anon.status);
    assert_eq!(anon.headers.get(header::LOCATION).unwrap(), "/login");
    assert_eq!(s.get(None, &format!("/api/projects/{pid}/events")).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn trash_and_restore_by_the_owner() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    let owner = s.user(&admin, "olga").await;
    let editor = s.user(&admin, "ed").await;
    let pid = s.project(&owner, "Swap").await;
    s.call(Some(&owner), "set_member", &[("id", &pid.to_string()), ("username", "ed"), ("role", "editor")]).await;
    let r = s.call(Some(&editor), "trash_project", &[("id", &pid.to_string())]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s.call(Some(&owner), "trash_project", &[("id", &pid.to_string())]).await;
    assert!(r.status.is_success() || r.status.is_redirection(), "{}", r.text());
    assert_eq!(s.call(Some(&editor), "get_project", &[("id", &pid.to_string())]).await.status, StatusCode::NOT_FOUND);
    let trash = s.call(Some(&owner), "list_trash", &[]).await.json::<Vec<ProjectDto>>();
    assert_eq!(trash.len(), 1);
    s.call(Some(&owner), "restore_project", &[("id", &pid.to_string())]).await;
    assert_eq!(s.call(Some(&editor), "get_project", &[("id", &pid.to_string())]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    let req = Request::post("/api/create_project")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, "http://evil.example")
        .header(header::COOKIE, &admin)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("name=Evil"))
        .unwrap();
    assert_eq!(s.send(req).await.status, StatusCode::FORBIDDEN);
    let list = s.call(Some(&admin), "list_projects", &[]).await.json::<Vec<ProjectDto>>();
    assert!(list.is_empty(), "nothing was created");
}

#[tokio::test]
async fn the_bundle_is_served_compressed_and_pages_carry_guard_headers() {
    let s = server(1 << 20).await;
    let req = Request::get("/pkg/doppel.js")
        .header(header::HOST, HOST)
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let r = s.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers.get(header::CONTENT_ENCODING).unwrap(), "gzip");
    assert!(r.body.len() < 6000, "{} bytes", r.body.len());
    let page = s.get(None, "/login").await;
    assert_eq!(page.headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    assert_eq!(page.headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
}

/// Servers built while others render pages must not stall those pages. Building one used to
/// set leptos' process-wide flag that keeps resources from loading, and a page of another
/// server rendered meanwhile never finished (its request hung until the test run timed out).
#[test]
fn pages_finish_while_other_servers_start() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    runtime.block_on(async {
        let clients: Vec<_> = (0..4)
            .map(|_| {
                tokio::spawn(async {
                    let s = server(1 << 20).await;
                    for _ in 0..100 {
                        let page = s.get(None, "/login").await;
                        assert_eq!(page.status, StatusCode::OK);
                        assert!(page.text().contains("Log in"));
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
}
