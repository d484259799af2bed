//! Face extraction from the web app: who may start it, a real run through the job runner into
//! a face set, the face route and its thumbnails, resume, and a missing-weights failure.

mod common;

use app::api::{ExtractStarted, FaceList, FaceSetDetail, FaceSetDto, FaceSetStateDto, JobDto};
use axum::http::{header, StatusCode};
use common::*;
use doppel::routes::upload::Uploaded;
use doppel_store::JobState;

async fn upload_ready(s: &TestServer, cookie: &str, pid: i64, rel: &str) -> i64 {
    let bytes = std::fs::read(shared_data(rel)).unwrap();
    let r = s.upload(cookie, pid, rel.rsplit('/').next().unwrap(), bytes).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let up: Uploaded = r.json();
    assert_eq!(s.wait_job(up.job_id).await.state, JobState::Done);
    up.media_id
}

async fn start(s: &TestServer, cookie: &str, pid: i64, media: i64, extra: &[(&str, &str)]) -> Reply {
    let (p, m) = (pid.to_string(), media.to_string());
    let mut form = vec![("project", p.as_str()), ("media", m.as_str())];
    form.extend_from_slice(extra);
    s.call(Some(cookie), "start_extraction", &form).await
}

fn ids(pid: i64, set: i64) -> [(&'static str, String); 2] {
    [("project", pid.to_string()), ("set", set.to_string())]
}

async fn call_set<T: serde::de::DeserializeOwned>(s: &TestServer, cookie: &str, endpoint: &str, pid: i64, set: i64) -> T {
    let form = ids(pid, set);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = s.call(Some(cookie), endpoint, &form).await;
    assert!(r.status.is_success(), "{endpoint}: {} {}", r.status, r.text());
    r.json()
}

/// Editors start extractions, viewers get 403, strangers 404; bad options are 400 with a
/// message; without network weights the job fails saying so, and the set shows it failed.
#[tokio::test]
async fn only_editors_start_extractions_and_missing_weights_fail_clearly() {
    let empty_models = tempfile::tempdir().unwrap();
    let s = server_with_models(1 << 30, empty_models.path().to_path_buf()).await;
    let admin = s.admin().await;
    let editor = s.user(&admin, "ed").await;
    let viewer = s.user(&admin, "vic").await;
    let stranger = s.user(&admin, "bob").await;
    let pid = s.project(&admin, "Swap").await;
    for (name, role) in [("ed", "editor"), ("vic", "viewer")] {
        let r = s.call(Some(&admin), "set_member", &[("id", &pid.to_string()), ("username", name), ("role", role)]).await;
        assert!(r.status.is_success(), "{}", r.text());
    }
    let media = upload_ready(&s, &admin, pid, "video/tiny_5frames.mp4").await;

    assert_eq!(start(&s, &viewer, pid, media, &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(start(&s, &stranger, pid, media, &[]).await.status, StatusCode::NOT_FOUND);
    let bad = start(&s, &editor, pid, media, &[("size", "32")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("face size must be a whole number from 64 to 2048"), "{}", bad.text());
    let bad = start(&s, &editor, pid, media, &[("frame_from", "9")]).await;
    assert!(bad.text().contains("has 5 frames"), "{}", bad.text());
    let bad = start(&s, &editor, pid, media, &[("filter", &media.to_string())]).await;
    assert!(bad.text().contains("not a photo ready in this project"), "{}", bad.text());
    let nowhere = start(&s, &editor, pid, media + 1000, &[]).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);

    let r = start(&s, &editor, pid, media, &[("size", "128"), ("name", "Raj")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let started: ExtractStarted = r.json();
    let job = s.wait_job(started.job_id).await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.unwrap_or_default();
    assert!(error.contains("cannot load the face networks") && error.contains("network weights missing"), "{error}");

    let sets: Vec<FaceSetDto> = s.call(Some(&viewer), "list_face_sets", &[("project", &pid.to_string())]).await.json();
    assert_eq!(sets.len(), 1);
    assert_eq!((sets[0].name.as_str(), sets[0].state), ("Raj", FaceSetStateDto::Failed));
    assert_eq!(sets[0].source_label.as_deref(), Some("tiny_5frames.mp4"));
    let r = s.call(Some(&stranger), "list_face_sets", &[("project", &pid.to_string())]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Through the job runner: tiny_5frames.mp4 (its faces are too small to align) ends
/// with a clear "no faces" summary; three frames of talk_woman_a.mp4 give a face set whose
/// faces are served by the face route (PNG and cached JPEG), names checked; resuming the same
/// job continues the same set.
#[tokio::test]
async fn a_real_extraction_fills_a_face_set_whose_faces_are_served() {
    let s = server(1 << 30).await;
    let admin = s.admin().await;
    let viewer = s.user(&admin, "vic").await;
    let stranger = s.user(&admin, "bob").await;
    let pid = s.project(&admin, "Swap").await;
    s.call(Some(&admin), "set_member", &[("id", &pid.to_string()), ("username", "vic"), ("role", "viewer")]).await;

    let tiny = upload_ready(&s, &admin, pid, "video/tiny_5frames.mp4").await;
    let r = start(&s, &admin, pid, tiny, &[("size", "128"), ("every_n", "2")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let nothing: ExtractStarted = r.json();
    let job = s.wait_job(nothing.job_id).await;
    assert_eq!(job.state, JobState::Done, "{:?} {}", job.error, job.log_tail);
    // The shop's tiny faces and figures fail the face check: set aside, not used.
    let message = job.message.clone().unwrap_or_default();
    assert!(message.starts_with("no faces found in 3 frames looked at, ") && message.contains("doubtful faces set aside"), "frames 0, 2 and 4: {message}");
    assert!(job.log_tail.contains("one frame in 2, 128 px faces"), "{}", job.log_tail);
    assert_eq!((job.progress.done, job.progress.total), (3, 3));
    let detail: FaceSetDetail = call_set(&s, &viewer, "get_face_set", pid, nothing.face_set_id).await;
    assert_eq!((detail.set.state, detail.set.face_count, detail.set.frame_count), (FaceSetStateDto::Ready, 0, 3));
    let list: FaceList = call_set(&s, &viewer, "list_faces", pid, nothing.face_set_id).await;
    assert_eq!(list, FaceList { files: vec![], total: 0 });

    let media = upload_ready(&s, &admin, pid, "video/talk_woman_a.mp4").await;
    let mut events = s.state.hub.subscribe();
    let r = start(&s, &admin, pid, media, &[("size", "128"), ("frame_from", "0"), ("frame_to", "2")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let started: ExtractStarted = r.json();
    let job = s.wait_job(started.job_id).await;
    assert_eq!(job.state, JobState::Done, "{:?} {}", job.error, job.log_tail);
    let message = job.message.clone().expect("the summary is the job's message");
    assert_eq!(message, "3 faces in 3 frames (3 written now)");
    let detail: FaceSetDetail = call_set(&s, &viewer, "get_face_set", pid, started.face_set_id).await;
    assert_eq!((detail.set.state, detail.set.face_count, detail.set.frame_count), (FaceSetStateDto::Ready, 3, 3));
    assert_eq!(detail.set.summary.as_deref(), Some(message.as_str()));
    assert_eq!(detail.set.name, "talk_woman_a faces", "named after the source");
    let list: FaceList = call_set(&s, &viewer, "list_faces", pid, started.face_set_id).await;
    assert_eq!(list.total, 3);
    assert!(list.files[0].ends_with("_000000_0.png") && list.files[2].ends_with("_000002_0.png"), "{:?}", list.files);

    // Every face written was announced on the project's event stream.
    let mut announced = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if let doppel::events::EventBody::Face(f) = ev.body {
            assert_eq!(f.face_set_id, started.face_set_id);
            announced.push(f.file);
        }
    }
    announced.sort();
    assert_eq!(announced, list.files);

    let first = &list.files[0];
    let url = app::api::face_url(pid, started.face_set_id, first);
    let png = s.get(Some(&viewer), &url).await;
    assert_eq!(png.status, StatusCode::OK);
    assert_eq!(png.headers.get(header::CONTENT_TYPE).unwrap(), "image/png");
    assert_eq!(image::load_from_memory(&png.body).unwrap().width(), 128);
    let thumb = s.get(Some(&viewer), &format!("{url}?size=64")).await;
    assert_eq!(thumb.status, StatusCode::OK);
    assert_eq!(thumb.headers.get(header::CONTENT_TYPE).unwrap(), "image/jpeg");
    let small = image::load_from_memory(&thumb.body).unwrap();
    assert_eq!((small.width(), small.height()), (64, 64));
    let cached = s.dir.path().join(format!("data/projects/{pid}/cache/faces/{}/64", started.face_set_id));
    assert_eq!(std::fs::read_dir(cached).unwrap().count(), 1, "the thumbnail is kept");
    assert_eq!(s.get(Some(&viewer), &format!("{url}?size=100")).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(s.get(Some(&stranger), &url).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get(None, &url).await.status, StatusCode::UNAUTHORIZED);
    let base = format!("/api/projects/{pid}/facesets/{}/faces", started.face_set_id);
    let alignments = format!("{}.alignments.json", first.split('_').next().unwrap());
    for bad in [
        alignments.as_str(),
        "nothing_000000_0.png",
        "x.png",
        "..%2F..%2F..%2Fdoppel.sqlite",
        "%2E%2E%2Fmedia",
        "a%2Fb_000000_0.png",
    ] {
        assert_eq!(s.get(Some(&admin), &format!("{base}/{bad}")).await.status, StatusCode::NOT_FOUND, "{bad}");
    }
    let other_set = app::api::face_url(pid, started.face_set_id + 1, first);
    assert_eq!(s.get(Some(&admin), &other_set).await.status, StatusCode::NOT_FOUND);

    // As after a restart in the middle: resuming the job continues the same set.
    sqlx::query("UPDATE jobs SET state = 'interrupted' WHERE id = ?").bind(started.job_id).execute(s.state.ctx.store.pool()).await.unwrap();
    let form = [("project", pid.to_string()), ("job", started.job_id.to_string())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = s.call(Some(&admin), "resume_job", &form).await;
    assert!(r.status.is_success(), "{}", r.text());
    let again = s.wait_job(started.job_id).await;
    assert_eq!(again.state, JobState::Done, "{:?}", again.error);
    assert_eq!(again.message.as_deref(), Some("3 faces in 3 frames (0 written now), 3 frames already done"));
    let relisted: FaceList = call_set(&s, &admin, "list_faces", pid, started.face_set_id).await;
    assert_eq!(relisted, list, "nothing was extracted twice");
    let jobs: Vec<JobDto> = s.call(Some(&viewer), "list_jobs", &[("project", &pid.to_string())]).await.json();
    let dto = jobs.iter().find(|j| j.id == started.job_id).unwrap();
    assert_eq!(dto.title, "extract faces from talk_woman_a.mp4");
    assert_eq!(dto.message, again.message);
}

/// A cancel stops the extraction between frames: the job ends cancelled with what it did as
/// its message, and the face set keeps the faces so far, stopped.
#[tokio::test]
async fn cancelling_stops_between_frames_and_keeps_the_faces_so_far() {
    let s = server(1 << 30).await;
    let admin = s.admin().await;
    let pid = s.project(&admin, "Swap").await;
    let media = upload_ready(&s, &admin, pid, "video/talk_woman_a.mp4").await;
    let r = start(&s, &admin, pid, media, &[("size", "64")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let started: ExtractStarted = r.json();
    for _ in 0..600 {
        let j = s.state.ctx.store.job(started.job_id).await.unwrap();
        if j.progress.done > 0 || j.state.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let form = [("project", pid.to_string()), ("job", started.job_id.to_string())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = s.call(Some(&admin), "cancel_job", &form).await;
    assert!(r.status.is_success(), "{}", r.text());
    let job = s.wait_job(started.job_id).await;
    assert_eq!(job.state, JobState::Cancelled, "{:?}", job.message);
    let message = job.message.unwrap_or_default();
    assert!(message.starts_with("stopped: ") && message.contains("faces in"), "{message}");
    let detail: FaceSetDetail = call_set(&s, &admin, "get_face_set", pid, started.face_set_id).await;
    assert_eq!(detail.set.state, FaceSetStateDto::Stopped);
    assert!(detail.set.face_count > 0 && detail.set.face_count < 354, "{}", detail.set.face_count);
    let list: FaceList = call_set(&s, &admin, "list_faces", pid, started.face_set_id).await;
    assert_eq!(list.total as u64, detail.set.face_count);
}
