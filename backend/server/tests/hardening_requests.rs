//! Reads cannot burn the CPU without bound: a frame that is not in the video is refused
//! before any decoding, however many ask at once, and the server keeps answering.

mod common;

use app::api::ConvertForm;
use axum::http::StatusCode;
use common::*;
use doppel::routes::upload::Uploaded;
use doppel_store::JobState;
use std::time::{Duration, Instant};

#[tokio::test]
async fn fifty_previews_of_a_frame_past_the_end_are_refused_and_the_server_keeps_answering() {
    let t = team().await;
    let bytes = std::fs::read(shared_data("video/talk_woman_a.mp4")).unwrap();
    let up: Uploaded = t.s.upload(&t.editor, t.pid, "talk.mp4", bytes).await.json();
    assert_eq!(t.s.wait_job(up.job_id).await.state, JobState::Done);
    let form = ConvertForm { media: up.media_id.to_string(), model: "1".into(), ..Default::default() };
    let far = app::api::convert_preview_url(t.pid, &form, 1_000_000_000_000, false);

    let started = Instant::now();
    let previews = futures_util::future::join_all((0..50).map(|_| t.s.get(Some(&t.viewer), &far)));
    let others = async {
        // Meanwhile another user's page and a thumbnail still come back quickly.
        let page = t.s.get(Some(&t.admin), &format!("/projects/{}", t.pid)).await;
        let thumb = t.s.get(Some(&t.admin), &app::api::media_thumb_url(t.pid, up.media_id)).await;
        (page.status, thumb.status, started.elapsed())
    };
    let (replies, (page, thumb, other_time)) = tokio::join!(previews, others);
    for r in &replies {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert!(r.text().contains("the source has no frame 1000000000000"), "{}", r.text());
    }
    assert_eq!((page, thumb), (StatusCode::OK, StatusCode::OK));
    // Generous for a loaded 2-core machine; decoding the video 50 times would take far longer.
    assert!(other_time < Duration::from_secs(10), "{other_time:?}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}
