//! Cleaning a face set from the web app: the gallery's orders and groups, deleting faces into
//! the set's trash and restoring them (the alignments store follows, other pages are told),
//! who may do what, and names that are not faces.

mod common;

use app::api::{FaceSetDetail, FacesMoved, Gallery};
use axum::http::StatusCode;
use common::*;
use doppel::events::EventBody;
use doppel_engine::faces::Alignments;

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

/// The next `faces` event on the hub (other events are skipped), within 5 s.
async fn faces_event(events: &mut tokio::sync::broadcast::Receiver<doppel::events::ProjectEvent>) -> app::api::FacesChanged {
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let EventBody::Faces(c) = events.recv().await.unwrap().body {
                return c;
            }
        }
    })
    .await
    .expect("a faces event")
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
    // Likeness to a chosen face: that face first, at distance 0.
    let like = gallery(&t.s, &t.viewer, t.pid, set, &[("sort", "face"), ("like", &names[3])]).await;
    assert_eq!((like.faces[0].file.as_str(), like.faces[0].value), (names[3].as_str(), Some(0.0)));
    assert!(like.faces.windows(2).all(|w| w[0].value <= w[1].value));
    let gone = call(&t.s, &t.viewer, "face_gallery", &set_args(t.pid, set, &[("sort", "face"), ("like", "nobody_000001_0.png")])).await;
    assert!(gone.status == StatusCode::BAD_REQUEST && gone.text().contains("is not in this face set"), "{}", gone.text());
    let path = call(&t.s, &t.viewer, "face_gallery", &set_args(t.pid, set, &[("sort", "face"), ("like", "../x.png")])).await;
    assert!(path.status == StatusCode::BAD_REQUEST && path.text().contains("not a face"), "{}", path.text());
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
    let change = faces_event(&mut events).await;
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

/// The frame editor's routes: the face and its source frame for anyone on the project, saves
/// for editors; a save of an older revision is refused naming who saved; bad input is 400.
#[tokio::test]
async fn editors_save_hand_fixes_and_stale_saves_are_refused() {
    use app::api::EditableFace;
    use base64::Engine;
    let t = team().await;
    let (_, set) = extracted(&t.s, &t.admin, t.pid, "talk_woman_a.mp4").await;
    let names: Vec<String> = gallery(&t.s, &t.viewer, t.pid, set, &[]).await.faces.into_iter().map(|f| f.file).collect();
    let file = names[2].clone();
    let frame = t.s.get(Some(&t.viewer), &format!("/api/projects/{}/facesets/{set}/faces/{file}/frame", t.pid)).await;
    assert_eq!(frame.status, StatusCode::OK);
    assert_eq!(image::load_from_memory(&frame.body).unwrap().width(), 512, "the whole upright frame");
    assert_eq!(t.s.get(Some(&t.viewer), &format!("/api/projects/{}/facesets/{set}/faces/..%2Fx.png/frame", t.pid)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(t.s.get(Some(&t.stranger), &format!("/api/projects/{}/facesets/{set}/faces/{file}/frame", t.pid)).await.status, StatusCode::NOT_FOUND);

    let face: EditableFace = call(&t.s, &t.viewer, "face_for_edit", &set_args(t.pid, set, &[("file", &file)])).await.json();
    assert_eq!((face.revision, face.landmarks.len(), face.mask_painted, face.frame), (0, 68, false, 16));
    assert_eq!((face.previous.as_deref(), face.next.as_deref()), (Some(names[1].as_str()), Some(names[3].as_str())));
    let moved: Vec<String> = face.landmarks.iter().flat_map(|p| [(p[0] + 3.0).to_string(), p[1].to_string()]).collect();
    let save = |who: &str, revision: &str, landmarks: String, painted: String| {
        let args = set_args(t.pid, set, &[("file", &file), ("revision", revision), ("landmarks", &landmarks), ("painted", &painted)]);
        let who = who.to_string();
        let s = &t.s;
        async move { call(s, &who, "save_face_edit", &args).await }
    };
    assert_eq!(save(&t.viewer, "0", moved.join(","), String::new()).await.status, StatusCode::FORBIDDEN);
    // Re-align: the aligner's points for a box, not saved; for the face's own box they are
    // where extraction put them, within a few pixels (the editor averages 5 runs).
    let own = face.rect.map(|v| v.to_string()).join(",");
    assert_eq!(call(&t.s, &t.viewer, "realign_face", &set_args(t.pid, set, &[("file", &file), ("rect", &own)])).await.status, StatusCode::FORBIDDEN);
    let r = call(&t.s, &t.editor, "realign_face", &set_args(t.pid, set, &[("file", &file), ("rect", &own)])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let points: Vec<[f32; 2]> = r.json();
    let mean = points.iter().zip(&face.landmarks).map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1])).sum::<f32>() / 68.0;
    assert!(mean < 3.0, "{mean} px from the extracted landmarks");
    // A box turned by 0.25 rad: the aligner sees the face turned the other way, and its points
    // come back onto the face in the frame (a wrong way back would put them tens of pixels off).
    let turned: Vec<[f32; 2]> = call(&t.s, &t.editor, "realign_face", &set_args(t.pid, set, &[("file", &file), ("rect", &own), ("angle", "0.25")])).await.json();
    let off = turned.iter().zip(&face.landmarks).map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1])).sum::<f32>() / 68.0;
    eprintln!("re-align: {mean:.2} px from extraction upright, {off:.2} px turned 0.25 rad");
    assert!(off < 8.0, "{off} px off with a turned box");
    let bad = call(&t.s, &t.editor, "realign_face", &set_args(t.pid, set, &[("file", &file), ("rect", "1,2,0,3")])).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = save(&t.editor, "0", "1,2,3".into(), String::new()).await;
    assert!(bad.status == StatusCode::BAD_REQUEST && bad.text().contains("68 landmarks (136 numbers) expected, not 3"), "{}", bad.text());
    let bad = save(&t.editor, "0", String::new(), "data:image/png;base64,AAAA".into()).await;
    assert!(bad.status == StatusCode::BAD_REQUEST && bad.text().contains("not a PNG"), "{}", bad.text());

    let mut events = t.s.state.hub.subscribe();
    let ok = save(&t.editor, "0", moved.join(","), String::new()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.json::<u32>(), 1);
    let change = faces_event(&mut events).await;
    assert_eq!((change.edited, change.by), (vec![file.clone()], "ed".to_string()));
    let after: EditableFace = call(&t.s, &t.viewer, "face_for_edit", &set_args(t.pid, set, &[("file", &file)])).await.json();
    assert_eq!(after.revision, 1);
    assert!((after.landmarks[30][0] - face.landmarks[30][0] - 3.0).abs() < 1e-3);
    assert_eq!(after.edits.iter().map(|e| (e.by.as_str(), e.what.as_str())).collect::<Vec<_>>(), vec![("ed", "landmarks")]);

    // The admin started from revision 0 too: told, and nothing changes.
    let stale = save(&t.admin, "0", face.landmarks.iter().flat_map(|p| [p[0].to_string(), p[1].to_string()]).collect::<Vec<_>>().join(","), String::new()).await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    assert!(stale.text().contains("someone else saved this face") && stale.text().contains("by ed"), "{}", stale.text());

    // A painted mask (a PNG from the canvas) is kept as the face's painted mask.
    let mut png = Vec::new();
    image::GrayImage::from_fn(64, 64, |x, _| image::Luma([if x < 32 { 255 } else { 0 }])).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let painted = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&png));
    let ok = save(&t.editor, "1", String::new(), painted).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let last: EditableFace = call(&t.s, &t.viewer, "face_for_edit", &set_args(t.pid, set, &[("file", &file)])).await.json();
    assert!(last.mask_painted && last.revision == 2);
    assert_eq!(last.landmarks, after.landmarks);
}
