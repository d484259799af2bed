//! Cleaning a face set from the web app: the gallery's orders and groups, deleting faces into
//! the set's trash and restoring them (the alignments store follows, other pages are told),
//! who may do what, and names that are not faces.

mod common;

use app::api::{FaceSetDetail, FacesMoved, Gallery};
use axum::http::StatusCode;
use common::*;
use doppel::events::EventBody;
use doppel_engine::faces::Alignments;

fn set_args(pid: i64, set: i64, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = vec![("project".to_string(), pid.to_string()), ("set".to_string(), set.to_string())];
    out.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    out
}

async fn call(s: &TestServer, cookie: &str, endpoint: &str, args: &[(String, String)]) -> Reply {
    let pairs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.call(Some(cookie), endpoint, &pairs).await
}

async fn gallery(s: &TestServer, cookie: &str, pid: i64, set: i64, extra: &[(&str, &str)]) -> Gallery {
    let r = call(s, cookie, "face_gallery", &set_args(pid, set, extra)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

/// `files[0]=..&files[1]=..`, as the browser's server function client sends a list.
fn files_args(pid: i64, set: i64, files: &[&str]) -> Vec<(String, String)> {
    let mut args = set_args(pid, set, &[]);
    args.extend(files.iter().enumerate().map(|(k, f)| (format!("files[{k}]"), f.to_string())));
    args
}

fn store_faces(dir: &std::path::Path) -> usize {
    let store = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).find(|p| p.to_string_lossy().ends_with(".alignments.json")).unwrap();
    Alignments::load(&store).unwrap().face_count()
}

#[tokio::test]
async fn editors_trash_and_restore_faces_and_everyone_is_told() {
    let t = team().await;
    let (_, set) = extracted(&t.s, &t.admin, t.pid, "talk_woman_a.mp4").await;
    let dir = t.s.state.ctx.store.dirs().face_set_dir(t.pid, set);

    // Frame order, for a viewer too; sorted by sharpness, the same faces, sharpest first.
    let plain = gallery(&t.s, &t.viewer, t.pid, set, &[]).await;
    let names: Vec<String> = plain.faces.iter().map(|f| f.file.clone()).collect();
    assert_eq!(names.len(), 6, "frames 0, 8, .. 40");
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    assert_eq!((plain.trashed, plain.measured), (0, 0));
    let sharp = gallery(&t.s, &t.viewer, t.pid, set, &[("sort", "blur")]).await;
    assert_eq!(sharp.measured, 6, "the first sort measures every face");
    let values: Vec<f32> = sharp.faces.iter().map(|f| f.value.unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "{values:?}");
    let mut same: Vec<String> = sharp.faces.iter().map(|f| f.file.clone()).collect();
    same.sort();
    assert_eq!(same, names);
    // One person: one identity cluster; yaw in bins gives labelled groups, faces grouped together.
    let people = gallery(&t.s, &t.viewer, t.pid, set, &[("sort", "face"), ("group", "face")]).await;
    assert_eq!(people.measured, 0, "measures are kept");
    assert_eq!(people.groups, vec!["person 1 (6 faces)".to_string()]);
    let yaw = gallery(&t.s, &t.viewer, t.pid, set, &[("sort", "yaw"), ("group", "yaw"), ("bins", "3")]).await;
    assert!(!yaw.groups.is_empty() && yaw.groups.len() <= 3 && yaw.groups[0].starts_with("yaw "), "{:?}", yaw.groups);
    assert!(yaw.faces.windows(2).all(|w| w[0].group <= w[1].group));
    let bad = call(&t.s, &t.viewer, "face_gallery", &set_args(t.pid, set, &[("sort", "../../etc")])).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Who may delete.
    let two = [names[1].as_str(), names[4].as_str()];
    assert_eq!(call(&t.s, &t.viewer, "trash_faces", &files_args(t.pid, set, &two)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(call(&t.s, &t.stranger, "trash_faces", &files_args(t.pid, set, &two)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&t.s, &t.stranger, "face_gallery", &set_args(t.pid, set, &[])).await.status, StatusCode::NOT_FOUND);
    for bad in ["../x_000001_0.png", "talk.alignments.json", "a/b_000001_0.png"] {
        let r = call(&t.s, &t.editor, "trash_faces", &files_args(t.pid, set, &[bad])).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
    }
    assert_eq!(store_faces(&dir), 6);

    // The editor deletes two: moved to the trash, out of the store, announced.
    let mut events = t.s.state.hub.subscribe();
    let r = call(&t.s, &t.editor, "trash_faces", &files_args(t.pid, set, &two)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let moved: FacesMoved = r.json();
    assert_eq!(moved, FacesMoved { moved: two.map(String::from).to_vec(), absent: vec![] });
    let change = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let EventBody::Faces(c) = events.recv().await.unwrap().body {
                return c;
            }
        }
    })
    .await
    .expect("a faces event");
    assert_eq!((change.face_set_id, change.by.as_str(), change.trashed.len(), change.restored.len()), (set, "ed", 2, 0));
    assert_eq!(store_faces(&dir), 4);
    let after = gallery(&t.s, &t.viewer, t.pid, set, &[]).await;
    assert_eq!((after.faces.len(), after.trashed), (4, 2));
    let trash = gallery(&t.s, &t.viewer, t.pid, set, &[("trash", "true")]).await;
    assert_eq!(trash.faces.iter().map(|f| f.file.as_str()).collect::<Vec<_>>(), two.to_vec());
    let detail: FaceSetDetail = call(&t.s, &t.viewer, "get_face_set", &set_args(t.pid, set, &[])).await.json();
    assert_eq!(detail.set.face_count, 4);
    // A trashed face is served from the trash only.
    let face = |file: &str, trash: bool| format!("/api/projects/{}/facesets/{set}/faces/{file}?size=128{}", t.pid, if trash { "&trash=true" } else { "" });
    assert_eq!(t.s.get(Some(&t.viewer), &face(two[0], true)).await.status, StatusCode::OK);
    assert_eq!(t.s.get(Some(&t.viewer), &face(two[0], false)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.s.get(Some(&t.viewer), &face(&names[0], false)).await.status, StatusCode::OK);
    // Sorting forgets the deleted faces.
    assert_eq!(gallery(&t.s, &t.viewer, t.pid, set, &[("sort", "size")]).await.faces.len(), 4);

    // Deleting what someone else deleted already is no error; restoring brings one back.
    let again: FacesMoved = call(&t.s, &t.admin, "trash_faces", &files_args(t.pid, set, &two[..1])).await.json();
    assert_eq!(again, FacesMoved { moved: vec![], absent: vec![two[0].to_string()] });
    assert_eq!(call(&t.s, &t.viewer, "restore_faces", &files_args(t.pid, set, &two[..1])).await.status, StatusCode::FORBIDDEN);
    let back: FacesMoved = call(&t.s, &t.editor, "restore_faces", &files_args(t.pid, set, &two[..1])).await.json();
    assert_eq!(back.moved, vec![two[0].to_string()]);
    assert_eq!(store_faces(&dir), 5);
    let restored = gallery(&t.s, &t.viewer, t.pid, set, &[]).await;
    assert_eq!((restored.faces.len(), restored.trashed), (5, 1));
    assert!(restored.faces.iter().any(|f| f.file == two[0]));
}
