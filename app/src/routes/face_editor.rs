//! The frame editor of one face: its source frame with the box and the 68 landmarks (drag a
//! point, or its group with G or Alt), its crop with the mask to paint or erase, undo/redo,
//! zoom and pan, the previous and next face, and a save that re-extracts the face on the server.
//! A save of a face someone else saved meanwhile is refused with their name, and offers a
//! reload.

use crate::api::{face_editor_url, face_for_edit, face_frame_url, face_url, get_face_set, realign_face, save_face_edit, EditableFace, FacesChanged};
use crate::components::editor_state::{FaceBox, History};
use crate::components::events::ProjectEvents;
use crate::components::frame_canvas::{decode_mask, mask_png_url, FrameCanvas, MaskCanvas};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};

#[derive(Debug, Clone, PartialEq)]
struct EditState {
    landmarks: Vec<[f32; 2]>,
    face_box: FaceBox,
    mask: Vec<u8>,
}

#[component]
pub fn FaceEditorPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        let num = |k: &str| p.get(k).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        (num("id"), num("set"), p.get("file").unwrap_or_default())
    };
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    let loaded = RwSignal::new(None::<Result<(EditableFace, bool), String>>);
    let reloads = RwSignal::new(0u32);
    // Kept across the reload after a save, so its line stays.
    let status = RwSignal::new(None::<Result<String, String>>);
    let conflict = RwSignal::new(false);
    Effect::new(move |_| {
        if !mounted.get() {
            return;
        }
        reloads.track();
        let (project, set, file) = key();
        loaded.set(None);
        leptos::task::spawn_local(async move {
            let answer = async {
                let detail = get_face_set(project, set).await?;
                let face = face_for_edit(project, set, file).await?;
                Ok::<_, crate::api::AppError>((face, detail.role.can_edit()))
            };
            loaded.set(Some(answer.await.map_err(|e| e.to_string())));
        });
    });
    view! {
        <section class="card">
            {move || {
                let (project, set, _) = key();
                view! { <p class="hint"><A href=format!("/projects/{project}/facesets/{set}")>"← back to the face set"</A></p> }
            }}
            {move || match loaded.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
                Some(Ok((face, can_edit))) => {
                    let (project, set, _) = key();
                    view! { <Editor project=project set=set face=face can_edit=can_edit reloads=reloads status=status conflict=conflict/> }.into_any()
                }
            }}
        </section>
    }
    .into_any()
}

#[component]
fn Editor(
    project: i64,
    set: i64,
    face: EditableFace,
    can_edit: bool,
    reloads: RwSignal<u32>,
    status: RwSignal<Option<Result<String, String>>>,
    conflict: RwSignal<bool>,
) -> impl IntoView {
    let file = face.file.clone();
    let landmarks = RwSignal::new(face.landmarks.clone());
    let first_box = FaceBox::from_rect(face.rect);
    let face_box = RwSignal::new(first_box);
    let box_mode = RwSignal::new(false);
    let show_mask = RwSignal::new(true);
    let (mask, side) = (RwSignal::new(Vec::<u8>::new()), RwSignal::new(0u32));
    let history = RwSignal::new(None::<History<EditState>>);
    let (group_mode, fit, radius) = (RwSignal::new(false), RwSignal::new(0u32), RwSignal::new(8.0f64));
    let saving = RwSignal::new(false);
    if !face.mask_png.is_empty() {
        decode_mask(&face.mask_png, mask, side);
    }
    // The history starts once the mask is decoded (or at once without one).
    let start = face.landmarks.clone();
    let has_mask = !face.mask_png.is_empty();
    Effect::new(move |_| {
        let m = mask.get();
        if history.with_untracked(Option::is_none) && (!m.is_empty() || !has_mask) {
            history.set(Some(History::new(EditState { landmarks: start.clone(), face_box: first_box, mask: m })));
        }
    });
    let commit = move || {
        let state = EditState { landmarks: landmarks.get_untracked(), face_box: face_box.get_untracked(), mask: mask.get_untracked() };
        history.update(|h| if let Some(h) = h { h.push(state) });
    };
    let show = move || {
        if let Some(now) = history.with_untracked(|h| h.as_ref().map(|h| h.now().clone())) {
            landmarks.set(now.landmarks);
            face_box.set(now.face_box);
            mask.set(now.mask);
        }
    };
    let undo = move || {
        history.update(|h| if let Some(h) = h { h.undo(); });
        show();
    };
    let redo = move || {
        history.update(|h| if let Some(h) = h { h.redo(); });
        show();
    };
    let first = StoredValue::new(face.landmarks.clone());
    let can_undo = move || history.with(|h| h.as_ref().is_some_and(History::can_undo));
    let revision = face.revision;
    let save_file = StoredValue::new(file.clone());
    let save = move || {
        if !can_edit || saving.get_untracked() {
            return;
        }
        let Some(now) = history.with_untracked(|h| h.as_ref().map(|h| h.now().clone())) else { return };
        let moved = first.with_value(|f| *f != now.landmarks);
        let mask_changed = !now.mask.is_empty() && mask_changed(&now.mask, &history);
        let points = if moved { now.landmarks.iter().flat_map(|p| [p[0].to_string(), p[1].to_string()]).collect::<Vec<_>>().join(",") } else { String::new() };
        let png = if mask_changed { mask_png_url(&now.mask, side.get_untracked()).unwrap_or_default() } else { String::new() };
        // The stored box is upright: a turned one is kept as the box that holds it.
        let boxed = if now.face_box != first_box { now.face_box.bounds().iter().map(f32::to_string).collect::<Vec<_>>().join(",") } else { String::new() };
        if points.is_empty() && png.is_empty() && boxed.is_empty() {
            status.set(Some(Err("Nothing to save: move a landmark or paint the mask first.".into())));
            return;
        }
        saving.set(true);
        let file = save_file.get_value();
        leptos::task::spawn_local(async move {
            let answer = save_face_edit(project, set, file, revision, points, png, boxed).await;
            saving.set(false);
            match answer {
                Ok(rev) => {
                    status.set(Some(Ok(format!("Saved: the face was cut again from its frame (revision {rev})."))));
                    reloads.update(|n| *n += 1);
                }
                Err(e) => {
                    let text = e.to_string();
                    conflict.set(text.contains("someone else saved this face"));
                    status.set(Some(Err(text)));
                }
            }
        });
    };
    let realigning = RwSignal::new(false);
    let realign_file = StoredValue::new(file.clone());
    let realign = move || {
        if !can_edit || realigning.get_untracked() {
            return;
        }
        realigning.set(true);
        let fb = face_box.get_untracked();
        let r = fb.unturned().iter().map(f32::to_string).collect::<Vec<_>>().join(",");
        leptos::task::spawn_local(async move {
            match realign_face(project, set, realign_file.get_value(), r, fb.angle.to_string()).await {
                Ok(points) => {
                    landmarks.set(points);
                    commit();
                    status.set(Some(Ok("Re-aligned: the aligner placed the landmarks for this box (not saved yet).".into())));
                }
                Err(e) => status.set(Some(Err(e.to_string()))),
            }
            realigning.set(false);
        });
    };
    let navigate = use_navigate();
    let (prev, next) = (face.previous.clone(), face.next.clone());
    let go = move |to: &Option<String>| {
        if let Some(f) = to {
            navigate(&face_editor_url(project, set, f), Default::default());
        }
    };
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        let ctrl = ev.ctrl_key() || ev.meta_key();
        match (ev.key().as_str(), ctrl, ev.shift_key()) {
            ("z" | "Z", true, false) => undo(),
            ("y" | "Y", true, _) | ("z" | "Z", true, true) => redo(),
            ("s" | "S", true, _) => save(),
            ("g" | "G", false, _) => group_mode.update(|g| *g = !*g),
            ("b" | "B", false, _) => box_mode.update(|b| *b = !*b),
            ("r" | "R", false, _) => realign(),
            ("0", false, _) => fit.update(|n| *n += 1),
            ("m" | "M", false, _) => show_mask.update(|m| *m = !*m),
            ("[", false, _) => go(&prev),
            ("]", false, _) => go(&next),
            _ => return,
        }
        ev.prevent_default();
    });
    on_cleanup(move || keys.remove());
    // Someone else saving this face while it is open.
    let watched = file.clone();
    ProjectEvents::new()
        .faces(move |c: FacesChanged| {
            if c.face_set_id == set && c.edited.contains(&watched) && !saving.get_untracked() && status.with_untracked(|s| !matches!(s, Some(Ok(_)))) {
                conflict.set(true);
                status.set(Some(Err(format!("{} saved this face meanwhile: reload to see their change.", c.by))));
            }
        })
        .listen(project);

    let on_points = Callback::new(move |_points: Vec<[f32; 2]>| commit());
    let on_box = Callback::new(move |_b: FaceBox| commit());
    let on_stroke = Callback::new(move |_| commit());
    let frame_src = face_frame_url(project, set, &file);
    let crop_src = format!("{}?v={}", face_url(project, set, &file), face.revision);
    let edits = face.edits.clone();
    view! {
        <div class="row spread">
            <h1 data-testid="editor-face">{file.clone()}</h1>
            <span class="badge" data-testid="editor-revision">{format!("revision {}", face.revision)}</span>
        </div>
        <p class="hint">{format!("Frame {}. ", face.frame)}
            "Drag a landmark; G (or Alt) drags its whole group. B edits the box (drag it, a corner, or its handle to turn it), R re-aligns the landmarks to it, M shows or hides the mask on the frame. Wheel zooms, dragging empty space pans, 0 fits. Ctrl+Z / Ctrl+Y undo and redo, Ctrl+S saves, [ and ] go to the previous and next face."</p>
        <div class="row editor-tools">
            {face.previous.clone().map(|f| view! { <A href=face_editor_url(project, set, &f) attr:data-testid="previous-face">"← previous face"</A> })}
            {face.next.clone().map(|f| view! { <A href=face_editor_url(project, set, &f) attr:data-testid="next-face">"next face →"</A> })}
            <label class="check"><input type="checkbox" prop:checked=move || group_mode.get() on:change=move |ev| group_mode.set(event_target_checked(&ev))/>" move groups"</label>
            <label class="check"><input type="checkbox" prop:checked=move || show_mask.get() on:change=move |ev| show_mask.set(event_target_checked(&ev))/>" mask on the frame"</label>
            <label class="check"><input type="checkbox" data-testid="box-mode" prop:checked=move || box_mode.get() on:change=move |ev| box_mode.set(event_target_checked(&ev))/>" edit the box"</label>
            {can_edit.then(|| view! {
                <button class="link" data-testid="realign" on:click=move |_| realign() disabled=move || realigning.get()>
                    {move || if realigning.get() { "re-aligning…" } else { "re-align to the box" }}
                </button>
            })}
            <button class="link" on:click=move |_| undo() disabled=move || !can_undo()>"undo"</button>
            <button class="link" on:click=move |_| redo() disabled=move || !history.with(|h| h.as_ref().is_some_and(History::can_redo))>"redo"</button>
            <button class="link" on:click=move |_| fit.update(|n| *n += 1)>"fit"</button>
            {can_edit.then(|| view! {
                <button data-testid="save-face" on:click=move |_| save() disabled=move || saving.get() || !can_undo()>
                    {move || if saving.get() { "Saving…" } else { "Save" }}
                </button>
            })}
        </div>
        {move || status.get().map(|s| match s {
            Ok(line) => view! { <p class="ok" data-testid="editor-status">{line}</p> }.into_any(),
            Err(line) => view! {
                <p class="error" role="alert" data-testid="editor-status">{line}" "
                    {conflict.get().then(|| view! { <button class="link" on:click=move |_| { status.set(None); conflict.set(false); reloads.update(|n| *n += 1) }>"Reload"</button> })}
                </p>
            }.into_any(),
        })}
        <div class="editor-panels">
            <FrameCanvas src=frame_src face_box=face_box box_mode=box_mode on_box=on_box landmarks=landmarks group_mode=group_mode fit=fit on_commit=on_points editable=can_edit
                mask=mask mask_side=side show_mask=show_mask crop_size=face.crop_size crop_to_frame=face.crop_to_frame/>
            <div class="stack">
                <MaskCanvas src=crop_src mask=mask side=side radius=radius on_commit=on_stroke editable=can_edit/>
                <label>{move || format!("Brush {:.0} px (left button paints, right button or Shift erases)", radius.get())}
                    <input type="range" min="1" max="40" prop:value=move || radius.get().to_string() on:input=move |ev| radius.set(event_target_value(&ev).parse().unwrap_or(8.0))/>
                </label>
                <p class="hint">{if face.mask_painted { "The painted mask." } else { "The extended mask, from the landmarks: paint to make it yours." }}</p>
                {(!edits.is_empty()).then(|| view! {
                    <details open><summary>"Edits"</summary>
                        <ul class="plain">{edits.iter().map(|e| view! { <li class="hint">{format!("{} changed the {} ({})", e.by, e.what, when(e.at))}</li> }).collect_view()}</ul>
                    </details>
                })}
            </div>
        </div>
    }
    .into_any()
}

/// Whether the mask differs from the first state of the history.
fn mask_changed(mask: &[u8], history: &RwSignal<Option<History<EditState>>>) -> bool {
    history.with_untracked(|h| {
        let Some(h) = h else { return false };
        let mut first = h.clone();
        while first.undo() {}
        first.now().mask != mask
    })
}

/// "2026-12-06 14:03 UTC"
fn when(at: i64) -> String {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    // Civil date from days since 1970 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn edit_times_read_as_dates() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::when(1_796_000_000), "2026-11-30 00:53 UTC");
    }
}
