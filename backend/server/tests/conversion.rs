//! Converting from the web app: who may preview, start and download, bad options refused,
//! the live preview (before, after, and the settings changing it), and a real conversion of
//! talk_woman_a.mp4 by a briefly trained model through the job runner: the video has every
//! frame of the source and its audio, is marked as synthetic, and is served for playing
//! (Range requests) and downloading.

mod common;

use app::api::{ConversionDto, ConversionStateDto, ConvertForm, ConvertStarted, TrainStarted};
use axum::http::{header, Request, StatusCode};
use common::*;
use doppel_store::JobState;

struct Fixture {
    s: TestServer,
    admin: String,
    editor: String,
    viewer: String,
    stranger: String,
    pid: i64,
    video: i64,
    faces: i64,
    other_faces: i64,
    model: i64,
}

/// A project with face sets of two people and a Lightweight model trained to its first save.
async fn fixture() -> Fixture {
    let Team { s, admin, editor, viewer, stranger, pid } = team().await;
    let (video, faces) = extracted(&s, &admin, pid, "talk_woman_a.mp4").await;
    let (_, other_faces) = extracted(&s, &admin, pid, "talk_woman_b.mp4").await;
    let args = [("project", pid.to_string()), ("face_set_a", faces.to_string()), ("face_set_b", other_faces.to_string()), ("kind", "lightweight".into()), ("batch", "2".into()), ("iterations", "2".into()), ("save_every", "2".into())];
    let r = s.call(Some(&admin), "start_training", &form(&args)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let started: TrainStarted = r.json();
    assert_eq!(wait(&s, started.job_id, 300).await.state, JobState::Done);
    Fixture { s, admin, editor, viewer, stranger, pid, video, faces, other_faces, model: started.model_id }
}

fn convert_form(f: &Fixture) -> ConvertForm {
    ConvertForm { media: f.video.to_string(), model: f.model.to_string(), faces: f.faces.to_string(), ..Default::default() }
}

async fn start(f: &Fixture, cookie: Option<&str>, changes: &[(&str, &str)]) -> Reply {
    let base = convert_form(f);
    let mut args: Vec<(&str, String)> = vec![("project", f.pid.to_string()), ("media", base.media), ("model", base.model), ("faces", base.faces), ("crf", "28".into())];
    args.retain(|(k, _)| !changes.iter().any(|(c, _)| c == k));
    args.extend(changes.iter().map(|(k, v)| (*k, v.to_string())));
    f.s.call(cookie, "start_conversion", &form(&args)).await
}

async fn list(f: &Fixture, cookie: &str) -> Vec<ConversionDto> {
    let r = f.s.call(Some(cookie), "list_conversions", &[("project", &f.pid.to_string())]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn jpeg(r: &Reply) -> image::RgbImage {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers.get(header::CONTENT_TYPE).unwrap(), "image/jpeg");
    image::load_from_memory(&r.body).unwrap().to_rgb8()
}

/// Mean absolute difference of two images of the same size (0..255).
fn difference(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.as_raw().len() as f64
}

#[tokio::test]
async fn a_video_is_previewed_converted_and_served() {
    let f = fixture().await;
    let s = &f.s;
    let url = |form: &ConvertForm, frame: u64, before: bool| app::api::convert_preview_url(f.pid, form, frame, before);

    // The preview: the frame as it is, and converted (only where the face is).
    let base = convert_form(&f);
    let before = jpeg(&s.get(Some(&f.viewer), &url(&base, 8, true)).await);
    let after = jpeg(&s.get(Some(&f.viewer), &url(&base, 8, false)).await);
    let changed = difference(&before, &after);
    assert!(changed > 1.0, "the face was swapped: {changed}");
    // Frame 3 has no face in the face set's alignments: left as it is (up to JPEG).
    let untouched = difference(&jpeg(&s.get(Some(&f.viewer), &url(&base, 3, true)).await), &jpeg(&s.get(Some(&f.viewer), &url(&base, 3, false)).await));
    assert!(untouched < 0.5, "{untouched}");
    // A settings change changes the preview: no mask at all pastes the whole square.
    let unmasked = jpeg(&s.get(Some(&f.viewer), &url(&ConvertForm { mask: "none".into(), ..base.clone() }, 8, false)).await);
    assert!(difference(&before, &unmasked) > changed, "{} vs {changed}", difference(&before, &unmasked));
    // Bad requests say why; strangers and the logged-out get nothing.
    for (form, frame, message) in [
        (ConvertForm { erode: "99".into(), ..base.clone() }, 8, "erode must be a number from -50 to 50"),
        (base.clone(), 100_000, "the source has no frame 100000"),
        (ConvertForm { faces: f.other_faces.to_string(), ..base.clone() }, 8, "was not extracted from talk_woman_a.mp4"),
        (ConvertForm { model: (f.model + 9).to_string(), ..base.clone() }, 8, "is not in this project"),
    ] {
        let r = s.get(Some(&f.viewer), &url(&form, frame, false)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert!(r.text().contains(message), "{message}: {}", r.text());
    }
    assert_eq!(s.get(Some(&f.stranger), &url(&base, 8, false)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get(None, &url(&base, 8, false)).await.status, StatusCode::UNAUTHORIZED);

    // Starting: editors only, options checked, nothing made by refused requests.
    assert_eq!(start(&f, Some(&f.viewer), &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(start(&f, Some(&f.stranger), &[]).await.status, StatusCode::NOT_FOUND);
    for (changes, message) in [
        (vec![("color", "purple")], "'purple' is not a colour matching choice"),
        (vec![("crf", "99")], "the CRF must be a whole number from 0 to 51"),
        (vec![("media", "")], "pick the video to convert"),
        (vec![("frames", "9-2")], "ends before it starts"),
    ] {
        let r = start(&f, Some(&f.editor), &changes).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{changes:?}: {}", r.text());
        assert!(r.text().contains(message), "{changes:?}: {}", r.text());
    }
    assert!(list(&f, &f.viewer).await.is_empty());

    // A real conversion of the whole video; the faces of frames 0-16 swapped.
    let r = start(&f, Some(&f.editor), &[("frames", "0-16"), ("color", "color-transfer")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let started: ConvertStarted = r.json();
    let job = wait(s, started.job_id, 600).await;
    assert_eq!(job.state, JobState::Done, "{:?} {}", job.error, job.log_tail);
    let message = job.message.clone().unwrap_or_default();
    assert!(message.contains("3 faces swapped") && message.contains("audio copied (aac)"), "{message}");
    assert!(!message.contains(&s.state.ctx.store.dirs().root().display().to_string()), "no server paths: {message}");
    let conversions = list(&f, &f.viewer).await;
    assert_eq!(conversions.len(), 1);
    let c = &conversions[0];
    assert_eq!(c.id, started.conversion_id);
    assert_eq!(c.label, "talk_woman_a (talk_woman_a faces to talk_woman_b faces).mp4");
    assert_eq!(c.state, ConversionStateDto::Done);
    assert_eq!(c.summary.as_deref(), Some(message.as_str()));

    // The file: every frame and the sound of the source, marked as synthetic.
    let stored = s.state.ctx.store.conversion(f.pid, c.id).await.unwrap();
    let path = s.state.ctx.store.dirs().output_file(f.pid, &stored.stored_name).unwrap();
    assert_eq!(c.size_bytes, Some(std::fs::metadata(&path).unwrap().len()));
    let source = doppel_engine::media::probe(&shared_data("video/talk_woman_a.mp4")).unwrap();
    let out = doppel_engine::media::probe(&path).unwrap();
    assert_eq!((out.frame_count, out.width, out.height), (source.frame_count, source.width, source.height));
    assert!((out.duration_secs - source.duration_secs).abs() < 0.1, "{} vs {}", out.duration_secs, source.duration_secs);
    assert_eq!(out.audio_codec.as_deref(), Some("aac"));
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.windows(23).any(|w| w == b"trainedAlgorithmicMedia"), "the XMP provenance packet is in the file");

    // Served for playing (ranges) and downloading, to members only.
    let file_url = app::api::conversion_file_url(f.pid, c.id, false);
    let full = s.get(Some(&f.viewer), &file_url).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.headers.get(header::CONTENT_TYPE).unwrap(), "video/mp4");
    assert_eq!(full.body.len(), bytes.len());
    let ranged = s
        .send(Request::get(&file_url).header(header::COOKIE, &f.viewer).header(header::RANGE, "bytes=0-99").body(axum::body::Body::empty()).unwrap())
        .await;
    assert_eq!((ranged.status, ranged.body.len()), (StatusCode::PARTIAL_CONTENT, 100));
    let download = s.get(Some(&f.viewer), &app::api::conversion_file_url(f.pid, c.id, true)).await;
    let disposition = download.headers.get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename*=UTF-8''talk%5Fwoman%5Fa%20%28"), "{disposition}");
    assert_eq!(s.get(Some(&f.stranger), &file_url).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get(None, &file_url).await.status, StatusCode::UNAUTHORIZED);

    // A viewer cannot trash it; an editor can, and it is gone from the list and the route.
    let trash = [("project", f.pid.to_string()), ("conversion", c.id.to_string())];
    assert_eq!(s.call(Some(&f.viewer), "trash_conversion", &form(&trash)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(s.call(Some(&f.admin), "trash_conversion", &form(&trash)).await.status, StatusCode::OK);
    assert!(list(&f, &f.editor).await.is_empty());
    assert_eq!(s.get(Some(&f.viewer), &file_url).await.status, StatusCode::NOT_FOUND);
}

/// A stopped conversion leaves no file that looks complete, and converting again finishes it.
#[tokio::test]
async fn a_stopped_conversion_leaves_no_video_and_can_run_again() {
    let f = fixture().await;
    let s = &f.s;
    // Faces found while converting (no face set), in the first 60 frames: slow enough to stop
    // midway.
    let r = start(&f, Some(&f.editor), &[("faces", ""), ("frames", "0-60")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let started: ConvertStarted = r.json();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while s.state.ctx.store.job(started.job_id).await.unwrap().progress.done < 5 {
        assert!(std::time::Instant::now() < until, "no progress");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cancel = [("project", f.pid.to_string()), ("job", started.job_id.to_string())];
    assert_eq!(s.call(Some(&f.editor), "cancel_job", &form(&cancel)).await.status, StatusCode::OK);
    let job = wait(s, started.job_id, 120).await;
    assert_eq!(job.state, JobState::Cancelled);
    assert_eq!(job.message.as_deref(), Some("stopped: no video was written; start it again to convert"));
    let stored = s.state.ctx.store.conversion(f.pid, started.conversion_id).await.unwrap();
    assert!(!s.state.ctx.store.dirs().output_file(f.pid, &stored.stored_name).unwrap().exists());
    let listed = list(&f, &f.viewer).await;
    assert_eq!((listed[0].state, listed[0].size_bytes), (ConversionStateDto::Stopped, None));
    assert_eq!(s.get(Some(&f.viewer), &app::api::conversion_file_url(f.pid, started.conversion_id, false)).await.status, StatusCode::NOT_FOUND);

    assert_eq!(s.call(Some(&f.editor), "resume_job", &form(&cancel)).await.status, StatusCode::OK);
    let job = wait(s, started.job_id, 900).await;
    assert_eq!(job.state, JobState::Done, "{:?} {}", job.error, job.log_tail);
    let message = job.message.unwrap_or_default();
    assert!(message.contains("faces swapped"), "{message}");
    assert_eq!(s.state.ctx.store.conversion(f.pid, started.conversion_id).await.unwrap().state, doppel_store::ConversionState::Done);
}
