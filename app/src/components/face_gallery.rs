//! A face set's gallery: the sort and group menus, the selection's actions (delete into the
//! trash, restore from it), the trash view, an enlarged face, and the grid. Changes by other
//! people arrive as `faces` events and are applied in place.

use super::face_grid::FaceGrid;
use super::face_sets::count;
use crate::api::{
    face_editor_url, face_for_edit, face_frame_url, face_gallery, face_thumb_url, face_url, restore_faces, trash_faces, trashed_face_url, FaceAdded, FacesChanged, GalleryFace, GROUP_KEYS, SORT_KEYS,
};
use leptos::prelude::*;
use std::collections::HashSet;

/// What the page hands the gallery: changes seen on the event stream, in arrival order.
#[derive(Clone, Copy)]
pub struct GalleryFeed {
    pub changes: RwSignal<Vec<FacesChanged>>,
    pub added: RwSignal<Vec<FaceAdded>>,
    /// Bumped when the faces should be listed again (an extraction ended).
    pub reload: RwSignal<u32>,
}

impl GalleryFeed {
    pub fn new() -> GalleryFeed {
        GalleryFeed { changes: RwSignal::new(Vec::new()), added: RwSignal::new(Vec::new()), reload: RwSignal::new(0) }
    }
}

impl Default for GalleryFeed {
    fn default() -> Self {
        Self::new()
    }
}

#[component]
pub fn FaceGallery(project: i64, set: i64, can_edit: bool, feed: GalleryFeed) -> impl IntoView {
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    let (sort, group, bins) = (RwSignal::new("name".to_string()), RwSignal::new(String::new()), RwSignal::new("5".to_string()));
    // A face to sort by likeness to (with the identity sort).
    let like = RwSignal::new(String::new());
    let trash_view = RwSignal::new(false);
    let faces = RwSignal::new(Vec::<GalleryFace>::new());
    let groups = RwSignal::new(Vec::<String>::new());
    let trashed = RwSignal::new(0usize);
    let selected = RwSignal::new(HashSet::<String>::new());
    let status = RwSignal::new(None::<Result<String, String>>);
    let loading = RwSignal::new(false);
    let opened = RwSignal::new(None::<String>);
    let versions = RwSignal::new(std::collections::HashMap::<String, u32>::new());
    // The opened face's metadata (box, revision, edits), fetched when it opens.
    let opened_info = RwSignal::new(None::<crate::api::EditableFace>);
    Effect::new(move |_| {
        opened_info.set(None);
        let Some(file) = opened.get() else { return };
        if trash_view.get_untracked() {
            return;
        }
        leptos::task::spawn_local(async move {
            if let Ok(info) = face_for_edit(project, set, file.clone()).await {
                if opened.get_untracked().as_deref() == Some(file.as_str()) {
                    opened_info.set(Some(info));
                }
            }
        });
    });
    let asked = StoredValue::new(0u64);

    let load = move || {
        let (s, g, b, t) = (sort.get_untracked(), group.get_untracked(), bins.get_untracked(), trash_view.get_untracked());
        let l = if s == "face" { like.get_untracked() } else { String::new() };
        let n = asked.get_value() + 1;
        asked.set_value(n);
        loading.set(true);
        leptos::task::spawn_local(async move {
            let answer = face_gallery(project, set, s, g, b, t, l).await;
            // A newer question was asked meanwhile: its answer counts.
            if asked.get_value() != n {
                return;
            }
            loading.set(false);
            match answer {
                Ok(gallery) => {
                    let names: HashSet<&str> = gallery.faces.iter().map(|f| f.file.as_str()).collect();
                    selected.update(|sel| sel.retain(|f| names.contains(f.as_str())));
                    if gallery.measured > 0 {
                        status.set(Some(Ok(format!("Measured {} faces for sorting in {:.1} s.", gallery.measured, gallery.millis as f64 / 1000.0))));
                    }
                    trashed.set(gallery.trashed);
                    faces.set(gallery.faces);
                    groups.set(gallery.groups);
                }
                Err(e) => status.set(Some(Err(e.to_string()))),
            }
        });
    };
    Effect::new(move |_| {
        if mounted.get() {
            (sort.track(), group.track(), bins.track(), trash_view.track(), feed.reload.track(), like.track());
            load();
        }
    });

    let drop_files = move |gone: &HashSet<&str>| {
        faces.update(|f| f.retain(|x| !gone.contains(x.file.as_str())));
        selected.update(|s| s.retain(|x| !gone.contains(x.as_str())));
    };
    // Other people's changes (and the echo of our own, which changes nothing more).
    Effect::new(move |_| {
        // Tracked by the look, taken without a notification (which would run this again).
        if feed.changes.with(Vec::is_empty) {
            return;
        }
        let changes = feed.changes.try_update_untracked(std::mem::take).unwrap_or_default();
        for c in changes.into_iter().filter(|c| c.face_set_id == set) {
            let (leaving, arriving) = if trash_view.get_untracked() { (&c.restored, &c.trashed) } else { (&c.trashed, &c.restored) };
            let present: HashSet<String> = faces.with_untracked(|f| f.iter().map(|x| x.file.clone()).collect());
            let gone: HashSet<&str> = leaving.iter().map(String::as_str).filter(|f| present.contains(*f)).collect();
            if !gone.is_empty() {
                drop_files(&gone);
            }
            if !trash_view.get_untracked() {
                trashed.update(|t| *t = (*t + c.trashed.len()).saturating_sub(c.restored.len()));
            }
            if arriving.iter().any(|f| !present.contains(f)) {
                load();
            }
            if !c.edited.is_empty() {
                versions.update(|v| c.edited.iter().for_each(|f| *v.entry(f.clone()).or_default() += 1));
            }
            let what = match (c.trashed.len(), c.restored.len()) {
                (0, 0) => format!("{} edited {}.", c.by, c.edited.join(", ")),
                (n, 0) => format!("{} deleted {}.", c.by, count(n as u64, "face")),
                (0, n) => format!("{} restored {}.", c.by, count(n as u64, "face")),
                (a, b) => format!("{} deleted {a} and restored {b} faces.", c.by),
            };
            status.set(Some(Ok(what)));
        }
    });
    // Faces an extraction writes, in frame order, while the gallery shows frame order.
    Effect::new(move |_| {
        if feed.added.with(Vec::is_empty) {
            return;
        }
        let added = feed.added.try_update_untracked(std::mem::take).unwrap_or_default();
        if trash_view.get_untracked() || sort.get_untracked() != "name" || !group.get_untracked().is_empty() {
            return;
        }
        faces.update(|f| {
            for a in added.into_iter().filter(|a| a.face_set_id == set) {
                if let Err(at) = f.binary_search_by(|x| x.file.as_str().cmp(&a.file)) {
                    f.insert(at, GalleryFace { file: a.file, group: 0, value: None });
                }
            }
        });
    });

    let chosen = move || -> Vec<String> { faces.with_untracked(|f| selected.with_untracked(|s| f.iter().filter(|x| s.contains(&x.file)).map(|x| x.file.clone()).collect())) };
    let act = move |restore: bool| {
        let files = chosen();
        if files.is_empty() {
            return;
        }
        leptos::task::spawn_local(async move {
            let n = files.len();
            let answer = if restore { restore_faces(project, set, files).await } else { trash_faces(project, set, files).await };
            match answer {
                Ok(m) => {
                    let gone: HashSet<&str> = m.moved.iter().chain(&m.absent).map(String::as_str).collect();
                    drop_files(&gone);
                    let verb = if restore { "Restored" } else { "Deleted" };
                    let mut line = format!("{verb} {}.", count(m.moved.len() as u64, "face"));
                    if !restore {
                        trashed.update(|t| *t += m.moved.len());
                        line.push_str(" They are in the trash.");
                    }
                    if m.moved.len() < n {
                        line.push_str(&format!(" {} had been moved by someone else already.", n - m.moved.len()));
                    }
                    status.set(Some(Ok(line)));
                }
                Err(e) => status.set(Some(Err(e.to_string()))),
            }
        });
    };
    let on_delete = Callback::new(move |_| {
        if !can_edit {
            status.set(Some(Err("Viewers cannot delete faces.".into())));
        } else if trash_view.get_untracked() {
            status.set(Some(Err("These faces are in the trash already: Restore brings them back.".into())));
        } else {
            act(false);
        }
    });
    let on_open = Callback::new(move |file: String| opened.set(Some(file)));
    let thumb = Callback::new(move |(file, v): (String, u32)| {
        let url = if trash_view.get_untracked() { trashed_face_url(project, set, &file, true) } else { face_thumb_url(project, set, &file) };
        if v > 0 { format!("{url}&v={v}") } else { url }
    });
    let binned = move || group.with(|g| !g.is_empty() && g != "face");

    view! {
        <div class="row spread gallery-tools">
            <div class="row">
                <label>"Sort by "
                    <select data-testid="sort-by" prop:value=move || sort.get() on:change=move |ev| { like.set(String::new()); sort.set(event_target_value(&ev)) } disabled=move || trash_view.get()>
                        {SORT_KEYS.iter().map(|(k, label)| view! { <option value=*k>{*label}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Group by "
                    <select data-testid="group-by" prop:value=move || group.get() on:change=move |ev| group.set(event_target_value(&ev)) disabled=move || trash_view.get()>
                        {GROUP_KEYS.iter().map(|(k, label)| view! { <option value=*k>{*label}</option> }).collect_view()}
                    </select>
                </label>
                <Show when=binned>
                    <label>"in " <input class="tiny" type="number" min="2" max="20" prop:value=move || bins.get() on:change=move |ev| bins.set(event_target_value(&ev))/> " bins"</label>
                </Show>
                {move || (!like.get().is_empty() && sort.get() == "face").then(|| view! {
                    <span class="badge" data-testid="like-face">{format!("like {}", like.get())}
                        " " <button class="link" on:click=move |_| like.set(String::new())>"×"</button>
                    </span>
                })}
                {move || loading.get().then(|| view! { <span class="hint">"Sorting…"</span> })}
            </div>
            <div class="row">
                <span class="badge" data-testid="face-count">{move || {
                    let n = count(faces.with(Vec::len) as u64, "face");
                    if trash_view.get() { format!("{n} in the trash") } else { n }
                }}</span>
                <span class="hint" data-testid="selected-count">{move || format!("{} selected", selected.with(HashSet::len))}</span>
                {can_edit.then(|| view! {
                    <Show when=move || !trash_view.get() fallback=move || view! {
                        <button data-testid="restore-faces" on:click=move |_| act(true) disabled=move || selected.with(HashSet::is_empty)>"Restore selected"</button>
                    }>
                        <button class="danger" data-testid="delete-faces" on:click=move |_| act(false) disabled=move || selected.with(HashSet::is_empty)>"Delete selected"</button>
                    </Show>
                })}
                <button class="link" data-testid="trash-toggle" on:click=move |_| { selected.update(|s| s.clear()); trash_view.update(|t| *t = !*t) }>
                    {move || if trash_view.get() { "Back to the faces".to_string() } else { format!("Trash ({})", trashed.get()) }}
                </button>
            </div>
        </div>
        <p class="hint">"Click, Shift-click, Ctrl-click or drag across faces to select them, or click a group's title; Ctrl+A selects all, Ctrl+I inverts; arrow keys move, Del deletes (into the trash), Enter or a double click opens a face."</p>
        {move || status.get().map(|s| match s {
            Ok(line) => view! { <p class="ok" data-testid="gallery-status">{line}</p> }.into_any(),
            Err(line) => view! { <p class="error" role="alert" data-testid="gallery-status">{line}</p> }.into_any(),
        })}
        <Show when=move || mounted.get() fallback=|| view! { <p class="hint">"Loading faces…"</p> }>
            <FaceGrid faces=faces groups=groups selected=selected versions=versions thumb=thumb on_delete=on_delete on_open=on_open/>
        </Show>
        {move || (mounted.get() && !loading.get() && faces.with(Vec::is_empty)).then(|| view! {
            <p class="hint">{if trash_view.get() { "The trash is empty." } else { "No faces yet." }}</p>
        })}
        {move || opened.get().map(|file| {
            let group_label = faces.with(|f| f.iter().find(|x| x.file == file).map(|x| (x.group, x.value)));
            let src = if trash_view.get_untracked() { trashed_face_url(project, set, &file, false) } else { face_url(project, set, &file) };
            let frame = file.rsplitn(3, '_').nth(1).and_then(|f| f.parse::<u64>().ok());
            view! {
                <div class="face-viewer" data-testid="face-viewer" on:click=move |_| opened.set(None)>
                    <figure on:click=|ev| ev.stop_propagation()>
                        <div class="viewer-images">
                            <img src=src.clone() alt=file.clone()/>
                            {(!trash_view.get_untracked()).then(|| view! { <img class="viewer-frame" src=face_frame_url(project, set, &file) alt="its frame" data-testid="viewer-frame"/> })}
                        </div>
                        <figcaption>
                            <strong>{file.clone()}</strong>
                            {frame.map(|f| format!(" · frame {f}"))}
                            {group_label.and_then(|(g, _)| groups.with(|l| l.get(g as usize).cloned())).map(|l| format!(" · {l}"))}
                            {group_label.and_then(|(_, v)| v).map(|v| format!(" · {}: {v:.3}", sort.get_untracked()))}
                            {move || opened_info.get().map(|i| {
                                let r = i.rect;
                                let edited = i.edits.last().map(|e| format!(", last edited by {} ({})", e.by, e.what)).unwrap_or_default();
                                view! { <span class="hint" data-testid="viewer-meta">{format!(" · box {:.0},{:.0} {:.0}×{:.0} in a {}×{} frame · revision {}{edited}", r[0], r[1], r[2], r[3], i.frame_width, i.frame_height, i.revision)}</span> }
                            })}
                            " · " <a href=src target="_blank" rel="noopener">"full size"</a>
                            {(!trash_view.get_untracked()).then(|| {
                                let chosen = file.clone();
                                view! {
                                    " · " <a href=face_editor_url(project, set, &file) data-testid="edit-face">"edit landmarks and mask"</a>
                                    " · " <button class="link" data-testid="sort-like" on:click=move |_| {
                                        like.set(chosen.clone());
                                        sort.set("face".into());
                                        opened.set(None);
                                    }>"sort by likeness to this face"</button>
                                }
                            })}
                            " · " <button class="link" on:click=move |_| opened.set(None)>"close"</button>
                        </figcaption>
                    </figure>
                </div>
            }
        })}
    }
    .into_any()
}
