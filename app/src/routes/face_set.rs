use crate::api::{
    face_thumb_url, face_url, get_face_set, list_faces, AppError, CancelJob, FaceAdded, FaceList, FaceSetDetail, FaceSetStateDto,
    JobDto, JobStateDto,
};
use crate::components::face_sets::count;
use crate::components::{action_error, events::use_project_events, progress::ProgressBar};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

/// One face set: its state, the extraction's progress, and its faces as a grid that grows
/// while the extraction writes them (live events).
#[component]
pub fn FaceSetPage() -> impl IntoView {
    let params = use_params_map();
    let ids = move || {
        let p = params.read();
        let num = |k: &str| p.get(k).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        (num("id"), num("set"))
    };
    let detail = Resource::new(ids, |(project, set)| get_face_set(project, set));
    // Made here, outside the suspended part, so the server and the browser number it alike
    // (see ProjectPage).
    let faces_version = RwSignal::new(0u32);
    let faces = Resource::new(move || (ids(), faces_version.get()), |((project, set), _)| list_faces(project, set));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <FaceSetBody detail=d faces=faces faces_version=faces_version/> }.into_any(),
                    Err(_) => view! { <crate::routes::not_found::NotFound/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn FaceSetBody(detail: FaceSetDetail, faces: Resource<Result<FaceList, AppError>>, faces_version: RwSignal<u32>) -> impl IntoView {
    let set = detail.set;
    let (pid, sid, job_id, role) = (set.project_id, set.id, set.job_id, detail.role);
    let job = RwSignal::new(detail.job);
    let state = RwSignal::new(set.state);
    let live = RwSignal::new(Vec::<String>::new());
    use_project_events(
        pid,
        move |j: JobDto| {
            if Some(j.id) != job_id {
                return;
            }
            let was = state.get_untracked();
            let now = FaceSetStateDto::from_job(j.state);
            state.set(now);
            job.set(Some(j));
            // The end of a run: list the faces again (a lagging event stream may have missed some).
            if was != now && !matches!(now, FaceSetStateDto::Queued | FaceSetStateDto::Extracting) {
                faces_version.update(|v| *v += 1);
            }
        },
        |_| {},
        move |f: FaceAdded| {
            if f.face_set_id == sid {
                live.update(|v| {
                    if !v.contains(&f.file) {
                        v.push(f.file)
                    }
                });
            }
        },
    );
    let cancel = ServerAction::<CancelJob>::new();
    let summary = move || {
        job.with(|j| j.as_ref().and_then(|j| j.message.clone())).or_else(|| set.summary.clone())
    };
    let running = move || job.with(|j| j.clone().filter(|j| j.state == JobStateDto::Running));
    view! {
        <section class="card">
            <p class="hint"><A href=format!("/projects/{pid}")>"← back to the project"</A></p>
            <div class="row spread">
                <h1 data-testid="face-set-name">{set.name.clone()}</h1>
                <span class=move || format!("badge state {}", state.get().label()) data-testid="face-set-state">{move || state.get().label()}</span>
            </div>
            <p class="hint">
                {set.source_label.clone().map(|l| format!("Faces from {l}"))}
                {set.created_by.clone().map(|u| format!(", started by {u}"))}
            </p>
            <p data-testid="face-set-summary">{summary}</p>
            {move || job.with(|j| j.as_ref().filter(|j| j.state == JobStateDto::Failed).and_then(|j| j.error.clone()))
                .map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || running().map(|j| {
                let rate = j.rate.map(|r| format!("{r:.1} frames/s"));
                let label = if j.total > 0 { format!("{} / {} frames", j.done, j.total) } else { format!("{} frames", j.done) };
                view! {
                    <div data-testid="extract-progress">
                        <ProgressBar done=j.done as f64 total=j.total as f64 rate=rate eta_secs=j.eta_secs label=label/>
                    </div>
                }
            })}
            {move || (role.can_edit() && job.with(|j| j.as_ref().is_some_and(|j| j.state.can_cancel()))).then(|| view! {
                <ActionForm action=cancel attr:class="inline">
                    <input type="hidden" name="project" value=pid/>
                    <input type="hidden" name="job" value=job_id.unwrap_or(0)/>
                    <button type="submit">"Stop extraction"</button>
                </ActionForm>
            })}
            {action_error(cancel.value())}
        </section>
        <section class="card">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match faces.await {
                        Ok(list) => view! { <FaceGrid project=pid set=sid loaded=list.files total=list.total live=live/> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The faces listed when the page loaded plus those written since, in frame order.
#[component]
fn FaceGrid(project: i64, set: i64, loaded: Vec<String>, total: usize, live: RwSignal<Vec<String>>) -> impl IntoView {
    let unlisted = total.saturating_sub(loaded.len());
    let loaded = StoredValue::new(loaded);
    let all = move || {
        let mut files = loaded.get_value();
        live.with(|l| files.extend(l.iter().filter(|f| !loaded.with_value(|b| b.contains(f))).cloned()));
        files.sort();
        files
    };
    let shown = move || all().len() + unlisted;
    view! {
        <div class="row spread">
            <h2>"Faces"</h2>
            <span class="badge" data-testid="face-count">{move || count(shown() as u64, "face")}</span>
        </div>
        {(unlisted > 0).then(|| view! { <p class="hint">{format!("The first {} are shown.", loaded.with_value(Vec::len))}</p> })}
        <div class="face-grid" data-testid="faces">
            <For each=all key=|f| f.clone() let:file>
                <a href=face_url(project, set, &file) target="_blank" rel="noopener">
                    <img src=face_thumb_url(project, set, &file) alt=file.clone() title=file.clone() loading="lazy" data-face=file.clone()/>
                </a>
            </For>
        </div>
        {move || (shown() == 0).then(|| view! { <p class="hint">"No faces yet."</p> })}
    }
}
