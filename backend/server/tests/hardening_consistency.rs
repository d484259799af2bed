//! Hardening: the gallery's changes and an extraction of the same set never overwrite each
//! other. An edit saved, and a trash whose "is the extraction running?" check passed just
//! before, while the set's extraction resumes, are still there when it ends: in the face
//! files and in the alignments store it saved meanwhile.

mod common;

use app::api::EditableFace;
use axum::http::StatusCode;
use common::*;
use doppel_engine::faces::{read_face_meta, Alignments};
use doppel_store::JobState;

fn store_of(dir: &std::path::Path) -> Alignments {
    let path = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).find(|p| p.to_string_lossy().ends_with(".alignments.json")).unwrap();
    Alignments::load(&path).unwrap()
}

#[tokio::test]
async fn an_edit_and_a_trash_made_while_an_extraction_resumes_survive_it() {
    let t = team().await;
    let s = &t.s;
    let (_, set) = extracted(s, &t.editor, t.pid, "talk_woman_a.mp4").await;
    let dir = s.state.ctx.store.dirs().face_set_dir(t.pid, set);
    let faces = doppel_store::face_files_in(&dir).unwrap();
    assert_eq!(faces.len(), 6, "frames 0, 8, .. 40");
    let (edited, trashed) = (faces[1].clone(), faces[2].clone());

    // The extraction resumes, as after a restart, with more frames to look at (one in 4 of
    // the first 200 instead of one in 8 of the first 40), so it runs a while.
    let jobs = s.state.ctx.store.list_jobs(t.pid, 10).await.unwrap();
    let job = jobs.iter().find(|j| j.kind == "extract").unwrap();
    let mut params = job.params.clone();
    params["every_n"] = 4.into();
    params["frames"] = serde_json::json!([0, 200]);
    sqlx::query("UPDATE jobs SET params = ?, state = 'interrupted' WHERE id = ?").bind(params.to_string()).bind(job.id).execute(s.state.ctx.store.pool()).await.unwrap();
    let r = s.call(Some(&t.editor), "resume_job", &[("project", &t.pid.to_string()), ("job", &job.id.to_string())]).await;
    assert!(r.status.is_success(), "{}", r.text());
    // Until it has written two faces of this run: it loaded the store, and will save it again.
    // (The job's progress still shows the first run's count until this run reports.)
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let j = s.state.ctx.store.job(job.id).await.unwrap();
        assert!(!j.state.is_finished(), "the extraction ended before the test could edit: {j:?}");
        if j.state == JobState::Running && doppel_store::face_files_in(&dir).unwrap().len() >= faces.len() + 2 {
            break;
        }
        assert!(std::time::Instant::now() < until, "the extraction did not start: {j:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // An edit while it runs: the box moved by 4 pixels.
    let r = call(s, &t.editor, "face_for_edit", &set_args(t.pid, set, &[("file", &edited)])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let face: EditableFace = r.json();
    let rect = [face.rect[0] + 4.0, face.rect[1], face.rect[2], face.rect[3]];
    let rect_arg = rect.map(|v| v.to_string()).join(",");
    let r = call(s, &t.editor, "save_face_edit", &set_args(t.pid, set, &[("file", &edited), ("revision", "0"), ("rect", &rect_arg)])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json::<u32>(), 1);
    // A trash asked for now is refused while the set is extracting...
    let r = call(s, &t.editor, "trash_faces", &set_args(t.pid, set, &[("files[0]", &trashed)])).await;
    assert!(r.text().contains("still running"), "{} {}", r.status, r.text());
    // ...but one whose check passed just before the resume goes on now, and lands.
    let curation = s.state.ctx.curation.clone();
    let (d, f) = (dir.clone(), trashed.clone());
    let moved = tokio::task::spawn_blocking(move || curation.trash(&d, &[f])).await.unwrap().unwrap();
    assert_eq!(moved.moved, vec![trashed.clone()]);
    let j = s.state.ctx.store.job(job.id).await.unwrap();
    assert_eq!(j.state, JobState::Running, "the changes were made while the extraction ran");

    let j = wait(s, job.id, 300).await;
    assert_eq!(j.state, JobState::Done, "{:?} {}", j.error, j.log_tail);
    let store = store_of(&dir);
    assert!(store.frames.len() > 6, "the resumed run added its frames ({})", store.frames.len());
    let entry = store.frames.values().flat_map(|f| &f.faces).find(|f| f.file.as_deref() == Some(edited.as_str())).expect("the edited face is in the store");
    assert_eq!((entry.revision, entry.detection.rect.x), (1, rect[0]), "the store keeps the edit");
    assert_eq!(read_face_meta(&dir.join(&edited)).unwrap().face.revision, 1, "the face file keeps the edit");
    assert!(store.frames.values().flat_map(|f| &f.faces).all(|f| f.file.as_deref() != Some(trashed.as_str())), "the trashed face stays out of the store");
    assert!(dir.join("trash").join(&trashed).is_file() && !dir.join(&trashed).exists(), "the trashed face stays in the trash");
}
