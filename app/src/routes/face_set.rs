use crate::api::{get_face_set, CancelJob, FaceAdded, FaceSetDetail, FaceSetStateDto, FacesChanged, JobDto, JobStateDto};
use crate::components::face_gallery::{FaceGallery, GalleryFeed};
use crate::components::{action_error, events::ProjectEvents, progress::ProgressBar};
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

/// One face set: its state, the extraction's progress, and its gallery (which grows while the
/// extraction writes faces, and follows what other people delete and restore: live events).
#[component]
pub fn FaceSetPage() -> impl IntoView {
    let params = use_params_map();
    let ids = move || {
        let p = params.read();
        let num = |k: &str| p.get(k).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        (num("id"), num("set"))
    };
    let detail = Resource::new(ids, |(project, set)| get_face_set(project, set));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <FaceSetBody detail=d/> }.into_any(),
                    Err(_) => view! { <crate::routes::not_found::NotFound/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn FaceSetBody(detail: FaceSetDetail) -> impl IntoView {
    let set = detail.set;
    let (pid, sid, job_id, role) = (set.project_id, set.id, set.job_id, detail.role);
    let job = RwSignal::new(detail.job);
    let state = RwSignal::new(set.state);
    let feed = GalleryFeed::new();
    ProjectEvents::new()
        .job(move |j: JobDto| {
            if Some(j.id) != job_id {
                return;
            }
            let was = state.get_untracked();
            let now = FaceSetStateDto::from_job(j.state);
            state.set(now);
            job.set(Some(j));
            // The end of a run: list the faces again (a lagging event stream may have missed some).
            if was != now && !matches!(now, FaceSetStateDto::Queued | FaceSetStateDto::Extracting) {
                feed.reload.update(|v| *v += 1);
            }
        })
        .face(move |f: FaceAdded| feed.added.update(|v| v.push(f)))
        .faces(move |c: FacesChanged| feed.changes.update(|v| v.push(c)))
        .listen(pid);
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
            <FaceGallery project=pid set=sid can_edit=role.can_edit() feed=feed/>
        </section>
    }
}
