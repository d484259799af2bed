//! Uploads, probing, rejection of broken files, size limits, name tricks, downloads, and jobs
//! across a restart, through the real router and job runner.

mod common;

use app::api::{JobDto, JobStateDto, MediaDto, MediaStateDto};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::*;
use doppel::routes::upload::Uploaded;
use doppel_store::JobState;

async fn media_list(s: &TestServer, cookie: &str, pid: i64) -> Vec<MediaDto> {
    s.call(Some(cookie), "list_media", &[("project", &pid.to_string())]).await.json()
}

async fn upload_file(s: &TestServer, cookie: &str, pid: i64, rel: &str) -> (Uploaded, doppel_store::Job) {
    let bytes = std::fs::read(shared_data(rel)).unwrap();
    let name = rel.rsplit('/').next().unwrap();
    let r = s.upload(cookie, pid, name, bytes).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let up: Uploaded = r.json();
    let job = s.wait_job(up.job_id).await;
    (up, job)
}

#[tokio::test]
async fn uploaded_video_is_probed_with_an_upright_thumbnail_and_downloads_with_ranges() {
    let s = server(1 << 30).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Swap").await;
    let (up, job) = upload_file(&s, &admin, pid, "video/talk_woman_a.mp4").await;
    assert_eq!(job.state, JobState::Done, "{:?}", job.error);
    let media = media_list(&s, &admin, pid).await;
    let m = media.iter().find(|m| m.id == up.media_id).unwrap();
    assert_eq!(m.state, MediaStateDto::Ready);
    let f = m.facts.as_ref().unwrap();
    assert_eq!((f.frame_count, f.width, f.height, f.has_audio), (354, 512, 512, true));
    assert!((f.fps - 30.0).abs() < 0.01, "{}", f.fps);

    let thumb = s.get(Some(&admin), &app::api::media_thumb_url(pid, m.id)).await;
    assert_eq!(thumb.status, StatusCode::OK);
    assert_eq!(thumb.headers.get(header::CONTENT_TYPE).unwrap(), "image/jpeg");
    let img = image::load_from_memory(&thumb.body).unwrap();
    assert!(img.width().max(img.height()) <= 320);

    let req = Request::get(app::api::media_file_url(pid, m.id))
        .header(header::HOST, HOST)
        .header(header::COOKIE, &admin)
        .header(header::RANGE, "bytes=100-199")
        .body(Body::empty())
        .unwrap();
    let part = s.send(req).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    let original = std::fs::read(shared_data("video/talk_woman_a.mp4")).unwrap();
    assert_eq!(part.body, original[100..200]);
    assert_eq!(part.headers.get(header::CONTENT_TYPE).unwrap(), "video/mp4");
    let whole = s.get(Some(&admin), &app::api::media_file_url(pid, m.id)).await;
    assert_eq!(whole.body, original, "the download is the original, byte for byte");
}

#[tokio::test]
async fn rotated_phone_video_reports_its_rotation() {
    let s = server(1 << 30).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Swap").await;
    let (up, job) = upload_file(&s, &admin, pid, "video/phone_rotated90.mov").await;
    assert_eq!(job.state, JobState::Done, "{:?}", job.error);
    let m = media_list(&s, &admin, pid).await.into_iter().find(|m| m.id == up.media_id).unwrap();
    let f = m.facts.unwrap();
    assert!(f.rotation == 90 || f.rotation == 270, "rotation {}", f.rotation);
    assert_eq!(f.frame_count, 183);
}

#[tokio::test]
async fn broken_and_foreign_files_are_kept_out_with_a_reason() {
    let s = server(1 << 30).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Swap").await;
    let (good, _) = upload_file(&s, &admin, pid, "video/tiny_5frames.mp4").await;
    let (bad, job) = upload_file(&s, &admin, pid, "video/truncated.mp4").await;
    assert_eq!(job.state, JobState::Failed);
    assert!(job.error.as_deref().unwrap().contains("truncated.mp4"), "{:?}", job.error);
    let (text, _) = upload_file(&s, &admin, pid, "README.md").await;

    let media = media_list(&s, &admin, pid).await;
    let by_id = |id| media.iter().find(|m: &&MediaDto| m.id == id).unwrap();
    assert_eq!(by_id(good.media_id).state, MediaStateDto::Ready, "the good file is not affected");
    assert_eq!(by_id(good.media_id).facts.as_ref().unwrap().frame_count, 5);
    assert!(!by_id(good.media_id).facts.as_ref().unwrap().has_audio);
    for id in [bad.media_id, text.media_id] {
        let m = by_id(id);
        assert_eq!(m.state, MediaStateDto::Rejected);
        assert!(!m.error.as_deref().unwrap_or("").is_empty());
        assert_eq!(s.get(Some(&admin), &app::api::media_file_url(pid, id)).await.status, StatusCode::NOT_FOUND);
    }
    let stored: Vec<_> = std::fs::read_dir(s.dir.path().join(format!("data/projects/{pid}/media"))).unwrap().collect();
    assert_eq!(stored.len(), 1, "rejected bytes are deleted, the good file stays");
}

#[tokio::test]
async fn uploads_over_the_limit_get_413_and_leave_nothing() {
    let s = server(1000).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Swap").await;
    let r = s.upload(&admin, pid, "big.mp4", vec![0u8; 2000]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let msg: serde_json::Value = r.json();
    assert!(msg["error"].as_str().unwrap().contains("big.mp4"), "{msg}");
    // A body without a length is counted as it streams.
    let chunks = (0..4).map(|_| Ok::<_, std::io::Error>(vec![0u8; 400]));
    let req = Request::post(app::api::upload_url(pid, "stream.mp4"))
        .header(header::HOST, HOST)
        .header(header::COOKIE, &admin)
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    assert_eq!(s.send(req).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    let tmp: Vec<_> = std::fs::read_dir(s.dir.path().join("data/tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "partial uploads are removed");
    assert!(media_list(&s, &admin, pid).await.is_empty());
}

#[tokio::test]
async fn file_names_are_labels_never_paths() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Swap").await;
    let r = s.upload(&admin, pid, "../../etc/passwd", b"not media".to_vec()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let up: Uploaded = r.json();
    assert_eq!(up.label, "passwd");
    s.wait_job(up.job_id).await;
    assert!(!s.dir.path().join("etc/passwd").exists());
    assert!(!s.dir.path().join("data/etc").exists());

    let r = s.upload(&admin, pid, "a\0b.mp4", b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("control characters"), "{}", r.text());

    let long = format!("{}.mp4", "x".repeat(5000));
    let r = s.upload(&admin, pid, &long, b"x".to_vec()).await;
    assert_eq!(r.status, StatusCode::OK);
    let up: Uploaded = r.json();
    assert!(up.label.len() <= 255 && up.label.ends_with(".mp4"), "{}", up.label);
    s.wait_job(up.job_id).await;
}

#[tokio::test]
async fn interrupted_jobs_survive_a_restart_and_resume_on_request() {
    let s = server(1 << 30).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Swap").await;
    let (up, _) = upload_file(&s, &admin, pid, "video/tiny_5frames.mp4").await;
    // Simulate a crash mid-job: the probe job is put back to running, as a dead process leaves it.
    let store = &s.state.ctx.store;
    sqlx::query("UPDATE jobs SET state = 'running', finished_at = NULL WHERE id = ?")
        .bind(up.job_id)
        .execute(store.pool())
        .await
        .unwrap();
    let data_dir = s.dir.path().join("data");
    let site = s.dir.path().join("site");
    let config = doppel::cli::ServeConfig { max_upload: 1 << 30, ..doppel::cli::ServeConfig::new(HOST.parse().unwrap(), data_dir, site) };
    let (router, state) = doppel::server::build(config).await.unwrap();
    let s2 = TestServer { router, state, dir: tempfile::tempdir().unwrap() };
    let jobs: Vec<JobDto> = s2.call(Some(&admin), "list_jobs", &[("project", &pid.to_string())]).await.json();
    assert_eq!(jobs[0].state, JobStateDto::Interrupted, "the session survives the restart too");
    let r = s2.call(Some(&admin), "resume_job", &[("project", &pid.to_string()), ("job", &up.job_id.to_string())]).await;
    assert!(r.status.is_success(), "{}", r.text());
    assert_eq!(s2.wait_job(up.job_id).await.state, JobState::Done);
}

#[tokio::test]
async fn queued_jobs_cancel_and_viewers_cannot() {
    let s = server(1 << 20).await;
    let admin = s.admin().await;
    let viewer = s.user(&admin, "vic").await;
    let pid = s.project(&admin, "Swap").await;
    s.call(Some(&admin), "set_member", &[("id", &pid.to_string()), ("username", "vic"), ("role", "viewer")]).await;
    // A kind no worker takes stays queued.
    let job = s.state.ctx.store.create_job("later", pid, &serde_json::json!({}), None).await.unwrap();
    let form = [("project", pid.to_string()), ("job", job.id.to_string())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(s.call(Some(&viewer), "cancel_job", &form).await.status, StatusCode::FORBIDDEN);
    let r = s.call(Some(&admin), "cancel_job", &form).await;
    assert!(r.status.is_success(), "{}", r.text());
    assert_eq!(s.state.ctx.store.job(job.id).await.unwrap().state, JobState::Cancelled);
}
