//! Training from the web app: who may start, stop and see it, bad options refused, and real
//! tiny runs through the job runner (Lightweight, batch 2, on faces extracted from two talking
//! women) that save previews, the loss history and timelapse frames; a second training waits
//! in the queue while one runs; a stop saves, and resuming trains on from the model folder.

mod common;

use app::api::{LossHistory, ModelDto, ModelStateDto, TimelapseFrames, TrainStarted, WarpChoice};
use axum::http::{header, StatusCode};
use common::*;
use doppel::events::EventBody;
use doppel_store::{Job, JobState};
use std::time::{Duration, Instant};

/// Waits until `ok` holds for the job, at most `secs`.
async fn wait_for(s: &TestServer, job: i64, secs: u64, what: &str, ok: impl Fn(&Job) -> bool) -> Job {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let j = s.state.ctx.store.job(job).await.unwrap();
        if ok(&j) {
            return j;
        }
        assert!(Instant::now() < until, "job {job}: no {what} within {secs} s: {j:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start(s: &TestServer, cookie: Option<&str>, pid: i64, a: i64, b: i64, extra: &[(&str, &str)]) -> Reply {
    let mut args = vec![("project", pid.to_string()), ("face_set_a", a.to_string()), ("face_set_b", b.to_string()), ("kind", "lightweight".into()), ("batch", "2".into())];
    // What `extra` names replaces the defaults.
    args.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    args.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    s.call(cookie, "start_training", &form(&args)).await
}

async fn models(s: &TestServer, cookie: &str, pid: i64) -> Vec<ModelDto> {
    let r = s.call(Some(cookie), "list_models", &[("project", &pid.to_string())]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn history(s: &TestServer, cookie: &str, pid: i64, model: Option<i64>) -> LossHistory {
    let mut args = vec![("project", pid.to_string())];
    args.extend(model.map(|m| ("model", m.to_string())));
    let r = s.call(Some(cookie), "get_loss_history", &form(&args)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

async fn job_call(s: &TestServer, cookie: &str, endpoint: &str, pid: i64, job: i64) -> Reply {
    s.call(Some(cookie), endpoint, &form(&[("project", pid.to_string()), ("job", job.to_string())])).await
}

/// A server with an admin, an editor, a viewer and a stranger, and a project with face sets
/// of two people.
struct Fixture {
    s: TestServer,
    admin: String,
    editor: String,
    viewer: String,
    stranger: String,
    pid: i64,
    a: i64,
    b: i64,
}

async fn fixture() -> Fixture {
    let Team { s, admin, editor, viewer, stranger, pid } = team().await;
    let (_, a) = extracted(&s, &admin, pid, "talk_woman_a.mp4").await;
    let (_, b) = extracted(&s, &admin, pid, "talk_woman_b.mp4").await;
    Fixture { s, admin, editor, viewer, stranger, pid, a, b }
}

/// Viewers see models but start nothing, strangers get 404 and the logged-out 401; options
/// are checked with messages. A real run saves at 2 and 4: the preview and timelapse frames
/// are served, the history has every iteration, the page got `train` and `saved` events;
/// training further resumes from the model folder.
#[tokio::test]
async fn a_model_trains_as_a_job_and_its_progress_is_served() {
    let Fixture { s, admin, editor, viewer, stranger, pid, a, b } = fixture().await;
    let run = [("iterations", "4"), ("save_every", "2")];
    assert_eq!(start(&s, Some(&viewer), pid, a, b, &run).await.status, StatusCode::FORBIDDEN);
    assert_eq!(start(&s, Some(&stranger), pid, a, b, &run).await.status, StatusCode::NOT_FOUND);
    assert_eq!(start(&s, None, pid, a, b, &run).await.status, StatusCode::UNAUTHORIZED);
    for (extra, message) in [
        (vec![("batch", "0")], "the batch size must be a whole number from 1 to 512, not '0'"),
        (vec![("kind", "villain")], "'villain' is not a model"),
        (vec![("iterations", "0")], "the target iteration count must be a whole number from 1"),
        (vec![("save_every", "x")], "save every must be a whole number"),
        (vec![("warp", "sideways")], "'sideways' is not a warp"),
        (vec![("learning_rate", "2")], "the learning rate must be a number above 0 and at most 0.01"),
        (vec![("name", "a\nb")], "model names are 1 to 120 characters"),
    ] {
        let r = start(&s, Some(&editor), pid, a, b, &extra).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{extra:?}: {}", r.text());
        assert!(r.text().contains(message), "{extra:?}: {}", r.text());
    }
    let same = start(&s, Some(&editor), pid, a, a, &run).await;
    assert!(same.status == StatusCode::BAD_REQUEST && same.text().contains("two different face sets"), "{}", same.text());
    let nowhere = start(&s, Some(&editor), pid, a, b + 100, &run).await;
    assert!(nowhere.status == StatusCode::BAD_REQUEST && nowhere.text().contains("is not in this project"), "{}", nowhere.text());
    assert!(models(&s, &viewer, pid).await.is_empty(), "nothing was made by refused requests");

    let mut events = s.state.hub.subscribe();
    let r = start(&s, Some(&editor), pid, a, b, &[("iterations", "4"), ("save_every", "2"), ("warp", "none")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let started: TrainStarted = r.json();
    let job = wait(&s, started.job_id, 300).await;
    assert_eq!(job.state, JobState::Done, "{:?} {}", job.error, job.log_tail);
    let message = job.message.clone().unwrap_or_default();
    assert!(message.starts_with("done at iteration 4, loss A "), "{message}");
    assert_eq!((job.progress.done, job.progress.total), (4, 4));
    assert!(job.log_tail.contains("training talk_woman_a faces to talk_woman_b faces (lightweight): batch 2, to iteration 4, saving every 2, none warp"), "{}", job.log_tail);
    assert!(job.log_tail.contains("lightweight (") && job.log_tail.contains("a new model; 6 faces of A, 6 of B; batch 2"), "{}", job.log_tail);

    let list = models(&s, &viewer, pid).await;
    assert_eq!(list.len(), 1);
    let m = &list[0];
    assert_eq!((m.id, m.name.as_str(), m.kind.as_str(), m.state, m.iteration), (started.model_id, "talk_woman_a faces to talk_woman_b faces", "lightweight", ModelStateDto::Done, 4));
    let (la, lb) = m.loss.expect("the last save's losses");
    assert!(la.is_finite() && la > 0.0 && lb.is_finite() && lb > 0.0, "{la} {lb}");
    let settings = m.settings.clone().unwrap();
    assert_eq!((settings.batch, settings.iterations, settings.save_every, settings.warp), (2, Some(4), 2, WarpChoice::None));
    assert_eq!(m.job.as_ref().map(|j| j.title.as_str()), Some("train talk_woman_a faces to talk_woman_b faces"));

    // The history of every iteration, for the newest model when none is named.
    let h = history(&s, &viewer, pid, Some(m.id)).await;
    assert_eq!((h.model_id, h.iterations, h.points.len()), (Some(m.id), 4, 4));
    assert!(h.points.iter().enumerate().all(|(i, p)| p.iteration == i as u64 + 1 && p.a > 0.0 && p.b > 0.0), "{:?}", h.points);
    assert_eq!(history(&s, &viewer, pid, None).await, h);
    let r = s.call(Some(&stranger), "get_loss_history", &[("project", &pid.to_string())]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = s.call(Some(&viewer), "get_loss_history", &[("project", &pid.to_string()), ("model", &(m.id + 50).to_string())]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The preview and the timelapse frames (the fixed faces of both face sets at each save).
    let dir = s.state.ctx.store.dirs().model_dir(pid, m.id);
    assert!(dir.join("preview.png").is_file() && dir.join("config.json").is_file());
    let preview_url = app::api::model_preview_url(pid, m.id, 4);
    let preview = s.get(Some(&viewer), &preview_url).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(preview.headers.get(header::CONTENT_TYPE).unwrap(), "image/png");
    assert_eq!(preview.headers.get(header::CACHE_CONTROL).unwrap(), "private, no-cache");
    let grid = image::load_from_memory(&preview.body).unwrap();
    assert!(grid.width() >= 6 * 64 && grid.height() >= 64, "{}x{}", grid.width(), grid.height());
    assert_eq!(s.get(Some(&stranger), &preview_url).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get(None, &preview_url).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.get(Some(&admin), &app::api::model_preview_url(pid, m.id + 50, 4)).await.status, StatusCode::NOT_FOUND);

    let r = s.call(Some(&viewer), "list_timelapse_frames", &[("project", &pid.to_string())]).await;
    let frames: TimelapseFrames = r.json();
    assert_eq!(frames, TimelapseFrames { model_id: Some(m.id), iterations: vec![2, 4] });
    let frame_url = app::api::timelapse_frame_url(pid, m.id, 2);
    assert!(frame_url.ends_with("/timelapse/00000002.png"), "{frame_url}");
    let frame = s.get(Some(&viewer), &frame_url).await;
    assert_eq!(frame.status, StatusCode::OK);
    assert_eq!(image::load_from_memory(&frame.body).unwrap().width(), grid.width());
    assert_eq!(s.get(Some(&stranger), &frame_url).await.status, StatusCode::NOT_FOUND);
    assert_eq!(s.get(None, &frame_url).await.status, StatusCode::UNAUTHORIZED);
    let base = format!("/api/projects/{pid}/models/{}/timelapse", m.id);
    for bad in ["00000003.png", "2.png", "000000002.png", "00000002.png.png", "0000000x.png", "..%2F..%2F..%2F..%2Fdoppel.sqlite", "..%2Fpreview.png", "%2E%2E%2Fconfig.json"] {
        assert_eq!(s.get(Some(&admin), &format!("{base}/{bad}")).await.status, StatusCode::NOT_FOUND, "{bad}");
    }

    // Open pages heard the iterations and the saves.
    let (mut ticks, mut saves) = (Vec::new(), Vec::new());
    while let Ok(ev) = events.try_recv() {
        match ev.body {
            EventBody::Train(t) if t.model_id == m.id => ticks.push(t),
            EventBody::Saved(sv) if sv.model_id == m.id => saves.push((sv.iteration, sv.timelapse)),
            _ => {}
        }
    }
    assert_eq!(saves, vec![(2, true), (4, true)]);
    let last = ticks.last().expect("train events");
    assert_eq!((last.iteration, last.target, last.job_id), (4, Some(4), started.job_id), "the last iteration is always sent");
    assert!(ticks.windows(2).all(|w| w[0].iteration < w[1].iteration));
    assert!(last.loss_a > 0.0 && last.examples_per_second > 0.0);

    // The training page renders for members only.
    let page = s.get(Some(&viewer), &app::api::train_page_url(pid, Some(m.id))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("talk_woman_a faces to talk_woman_b faces") && page.text().contains("Training: "), "{}", page.text());
    assert!(!page.text().contains("Start training"), "no form for viewers");
    assert!(s.get(Some(&editor), &app::api::train_page_url(pid, None)).await.text().contains("Start training"));
    assert_eq!(s.get(Some(&stranger), &app::api::train_page_url(pid, None)).await.status, StatusCode::NOT_FOUND);

    // Training further: a new job that resumes from the model's folder.
    let more = |cookie: &str, target: &str| {
        let args = [("project", pid.to_string()), ("model", m.id.to_string()), ("iterations", target.to_string())];
        let cookie = cookie.to_string();
        let s = &s;
        async move { s.call(Some(&cookie), "continue_training", &form(&args)).await }
    };
    assert_eq!(more(&viewer, "6").await.status, StatusCode::FORBIDDEN);
    let r = more(&editor, "4").await;
    assert!(r.status == StatusCode::BAD_REQUEST && r.text().contains("the model has 4 iterations: the target must be above that"), "{}", r.text());
    let r = more(&editor, "6").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let again: TrainStarted = r.json();
    assert_eq!(again.model_id, m.id);
    assert_ne!(again.job_id, started.job_id);
    let r = more(&editor, "8").await;
    assert!(r.status == StatusCode::BAD_REQUEST && r.text().contains("already training"), "one job per model: {}", r.text());
    let job = wait(&s, again.job_id, 300).await;
    assert_eq!(job.state, JobState::Done, "{:?} {}", job.error, job.log_tail);
    assert!(job.log_tail.contains("resuming at iteration 4"), "{}", job.log_tail);
    let h = history(&s, &viewer, pid, Some(m.id)).await;
    assert_eq!(h.iterations, 6, "the history goes on from the first run");
    assert_eq!(models(&s, &viewer, pid).await[0].iteration, 6);
}

/// One training per device: a second model waits in the queue while the first trains. A stop
/// saves first (the history has every iteration done), the queued model then runs, and
/// resuming the stopped job trains on from its save.
#[tokio::test]
async fn a_second_training_queues_and_a_stop_saves_first() {
    let Fixture { s, editor, viewer, pid, a, b, .. } = fixture().await;
    let first: TrainStarted = start(&s, Some(&editor), pid, a, b, &[("iterations", "1000"), ("save_every", "1000")]).await.json();
    let second: TrainStarted = start(&s, Some(&editor), pid, b, a, &[("iterations", "2"), ("save_every", "2")]).await.json();

    let running = wait_for(&s, first.job_id, 300, "iterations", |j| j.state == JobState::Running && j.progress.done >= 2).await;
    let queued = s.state.ctx.store.job(second.job_id).await.unwrap();
    assert_eq!(queued.state, JobState::Queued, "the second training waits while the first runs (at iteration {})", running.progress.done);
    let list = models(&s, &viewer, pid).await;
    let state = |id: i64| list.iter().find(|m| m.id == id).unwrap().state;
    assert_eq!((state(first.model_id), state(second.model_id)), (ModelStateDto::Training, ModelStateDto::Queued));

    assert_eq!(job_call(&s, &viewer, "cancel_job", pid, first.job_id).await.status, StatusCode::FORBIDDEN);
    let r = job_call(&s, &editor, "cancel_job", pid, first.job_id).await;
    assert!(r.status.is_success(), "{}", r.text());
    let stopped = wait(&s, first.job_id, 120).await;
    assert_eq!(stopped.state, JobState::Cancelled, "{:?}", stopped.error);
    let message = stopped.message.clone().unwrap_or_default();
    assert!(message.starts_with("stopped at iteration ") && message.contains("resume to train on"), "{message}");
    let at: u64 = message["stopped at iteration ".len()..].split(',').next().unwrap().parse().unwrap();
    assert!(at >= 2 && at < 1000, "{message}");
    let h = history(&s, &viewer, pid, Some(first.model_id)).await;
    assert_eq!(h.iterations, at, "the stop saved every iteration done");
    let m = models(&s, &viewer, pid).await.into_iter().find(|m| m.id == first.model_id).unwrap();
    assert_eq!((m.state, m.iteration), (ModelStateDto::Stopped, at));

    let done = wait(&s, second.job_id, 300).await;
    assert_eq!(done.state, JobState::Done, "{:?} {}", done.error, done.log_tail);
    assert!(done.started_at.unwrap() >= stopped.finished_at.unwrap(), "the second ran after the first ended");

    // Resume: the same job goes on from the save.
    let r = job_call(&s, &editor, "resume_job", pid, first.job_id).await;
    assert!(r.status.is_success(), "{}", r.text());
    wait_for(&s, first.job_id, 300, "iterations after the resume", |j| j.state == JobState::Running && j.progress.done >= at + 2).await;
    let r = job_call(&s, &editor, "cancel_job", pid, first.job_id).await;
    assert!(r.status.is_success(), "{}", r.text());
    let again = wait(&s, first.job_id, 120).await;
    assert_eq!(again.state, JobState::Cancelled);
    assert!(again.log_tail.contains(&format!("resuming at iteration {at}")), "{}", again.log_tail);
    let h = history(&s, &viewer, pid, Some(first.model_id)).await;
    assert!(h.iterations >= at + 2, "{} after {at}", h.iterations);
}
