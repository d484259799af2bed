//! An attacker with an editor's account uploads a file that is also a page; an attacker's
//! domain resolves to the server (DNS rebinding). Neither gets to run anything on Doppel's
//! origin.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::*;
use doppel::routes::upload::Uploaded;
use doppel_store::JobState;

/// A valid 8x8 PNG with an HTML page in a text chunk: what a browser that sniffs, or a server
/// that trusts the name `a.html`, would run as a page.
fn png_with_script() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 8, 8);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.add_text_chunk("Comment".into(), "<html><script>fetch('/api/create_user',{method:'POST'})</script></html>".into()).unwrap();
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[200u8; 8 * 8 * 3]).unwrap();
    }
    out
}

fn header_str<'a>(r: &'a Reply, name: header::HeaderName) -> &'a str {
    r.headers.get(&name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

#[tokio::test]
async fn an_upload_named_html_is_never_served_as_a_page() {
    let t = team().await;
    let bytes = png_with_script();
    let r = t.s.upload(&t.editor, t.pid, "a.html", bytes.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let up: Uploaded = r.json();
    assert_eq!(t.s.wait_job(up.job_id).await.state, JobState::Done, "the PNG is a valid image");

    // The admin opens it (the victim an editor would aim at).
    let got = t.s.get(Some(&t.admin), &app::api::media_file_url(t.pid, up.media_id)).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, bytes, "the original, byte for byte");
    let ctype = header_str(&got, header::CONTENT_TYPE);
    assert_eq!(ctype, "image/png", "the type is the probe's, not the name's");
    assert_eq!(header_str(&got, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let csp = header_str(&got, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("sandbox") && csp.contains("default-src 'none'"), "{csp}");

    // A file the probe cannot read (an HTML page) is never served at all.
    let page = b"<!doctype html><script>alert(document.cookie)</script>".to_vec();
    let r = t.s.upload(&t.editor, t.pid, "b.html", page).await;
    let up: Uploaded = r.json();
    assert_eq!(t.s.wait_job(up.job_id).await.state, JobState::Failed);
    let got = t.s.get(Some(&t.admin), &app::api::media_file_url(t.pid, up.media_id)).await;
    assert_ne!(got.status, StatusCode::OK);
    assert!(!header_str(&got, header::CONTENT_TYPE).contains("html"));
}

#[tokio::test]
async fn pages_carry_a_csp_whose_nonce_is_on_their_inline_scripts() {
    let s = server(1 << 20).await;
    let page = s.get(None, "/login").await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = header_str(&page, header::CONTENT_SECURITY_POLICY).to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"), "{csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).unwrap();
    let html = page.text();
    let scripts = html.matches("<script").count();
    assert!(scripts > 0, "the page hydrates through an inline script");
    assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count() >= scripts, true, "every inline script carries this response's nonce: {html}");
    let again = s.get(None, "/login").await;
    assert_ne!(header_str(&again, header::CONTENT_SECURITY_POLICY), csp, "a fresh nonce per response");
}

#[tokio::test]
async fn only_the_servers_own_host_names_are_answered() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    for host in ["evil.example", "evil.example:3000", "127.0.0.1.evil.example"] {
        let req = Request::get("/").header(header::HOST, host).header(header::COOKIE, &admin).body(Body::empty()).unwrap();
        let r = s.send(req).await;
        assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
        assert!(!r.text().contains("Swap"), "nothing of the app");
        let req = Request::post("/api/create_project")
            .header(header::HOST, host)
            .header(header::ORIGIN, format!("http://{host}"))
            .header(header::COOKIE, &admin)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("name=Rebound"))
            .unwrap();
        assert_eq!(s.send(req).await.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
    }
    let list = s.call(Some(&admin), "list_projects", &[]).await.json::<Vec<app::api::ProjectDto>>();
    assert!(list.is_empty(), "nothing was created through a rebound name");
    let req = Request::get("/login").header(header::HOST, "localhost:8080").body(Body::empty()).unwrap();
    assert_eq!(s.send(req).await.status, StatusCode::OK, "a tunnel's local port is fine");
}
