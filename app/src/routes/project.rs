use crate::api::{
    convert_page_url, get_project, list_face_sets, train_page_url, list_jobs, list_media, list_members, FaceSetDto, JobDto, JobStateDto, MediaDto, MemberDto, ProjectDto, RenameProject,
    SetMember, TrashProject, EXTRACT_JOB,
};
use crate::api::AppError;
use crate::components::action_error;
use crate::components::events::use_project_events;
use crate::components::face_sets::FaceSetList;
use crate::components::jobs::JobList;
use crate::components::media::MediaList;
use crate::components::members::Members;
use crate::components::uploader::Uploader;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

/// One project: its media, uploads, face sets, jobs and members.
#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let project = Resource::new(id, get_project);
    // Every resource of the page is made here, outside the suspended part: resources made
    // inside it were numbered differently on the server and in the browser now and then, and
    // hydration then read one resource's data as another's (and panicked).
    let media_version = RwSignal::new(0u32);
    let face_sets_version = RwSignal::new(0u32);
    let invite = ServerAction::<SetMember>::new();
    let data = PageData {
        media_version,
        face_sets_version,
        invite,
        media: Resource::new(move || (id(), media_version.get()), |(pid, _)| list_media(pid)),
        face_sets: Resource::new(move || (id(), face_sets_version.get()), |(pid, _)| list_face_sets(pid)),
        jobs: Resource::new(id, list_jobs),
        members: Resource::new(move || (id(), invite.version().get()), |(pid, _)| list_members(pid)),
    };
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match project.await {
                    Ok(p) => view! { <ProjectBody project=p data=data/> }.into_any(),
                    Err(_) => view! { <crate::routes::not_found::NotFound/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The page's resources and the signals that reload them.
#[derive(Clone, Copy)]
struct PageData {
    media_version: RwSignal<u32>,
    face_sets_version: RwSignal<u32>,
    invite: ServerAction<SetMember>,
    media: Resource<Result<Vec<MediaDto>, AppError>>,
    face_sets: Resource<Result<Vec<FaceSetDto>, AppError>>,
    jobs: Resource<Result<Vec<JobDto>, AppError>>,
    members: Resource<Result<Vec<MemberDto>, AppError>>,
}

#[component]
fn ProjectBody(project: ProjectDto, data: PageData) -> impl IntoView {
    let pid = project.id;
    let role = project.role;
    let name = RwSignal::new(project.name.clone());
    let PageData { media_version, face_sets_version, invite, media, face_sets, jobs, members } = data;
    let live_jobs = RwSignal::new(Vec::<JobDto>::new());
    // Face sets follow their extraction jobs: reload them when one changes state.
    let extract_states = StoredValue::new(std::collections::HashMap::<i64, JobStateDto>::new());
    use_project_events(
        pid,
        move |job| {
            if job.kind == EXTRACT_JOB {
                let changed = extract_states.try_update_value(|m| m.insert(job.id, job.state) != Some(job.state));
                if changed.unwrap_or(false) {
                    face_sets_version.update(|v| *v += 1);
                }
            }
            live_jobs.update(|jobs| upsert(jobs, job))
        },
        move |_| media_version.update(|v| *v += 1),
        |_| {},
    );
    let rename = ServerAction::<RenameProject>::new();
    let trash = ServerAction::<TrashProject>::new();
    Effect::new(move |_| {
        if let Some(Ok(p)) = rename.value().get() {
            name.set(p.name);
        }
    });
    view! {
        <section class="card">
            <div class="row spread">
                <h1 data-testid="project-name">{move || name.get()}</h1>
                <span class="badge" data-testid="my-role">{role.label()}</span>
            </div>
            {role.is_owner().then(|| view! {
                <details class="owner-tools">
                    <summary>"Project settings"</summary>
                    <ActionForm action=rename attr:class="row">
                        <input type="hidden" name="id" value=pid/>
                        <input name="name" value=project.name.clone() required maxlength="120"/>
                        <button type="submit">"Rename"</button>
                    </ActionForm>
                    {action_error(rename.value())}
                    <ActionForm action=trash attr:class="row">
                        <input type="hidden" name="id" value=pid/>
                        <button type="submit" class="danger">"Move project to trash"</button>
                    </ActionForm>
                    {action_error(trash.value())}
                    <Members project=pid invite=invite members=members/>
                </details>
            }.into_any())}
        </section>
        {role.can_edit().then(|| view! { <Uploader project=pid on_uploaded=Callback::new(move |_| media_version.update(|v| *v += 1))/> }.into_any())}
        <section class="card">
            <h2>"Media"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match media.await {
                        Ok(list) => view! { <MediaList project=pid media=list role=role on_change=Callback::new(move |_| media_version.update(|v| *v += 1))/> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="card">
            <div class="row spread">
                <h2>"Face sets"</h2>
                <span class="row">
                    <A href=train_page_url(pid, None) attr:data-testid="train-link">"Train a model →"</A>
                    <A href=convert_page_url(pid) attr:data-testid="convert-link">"Convert a video →"</A>
                </span>
            </div>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match face_sets.await {
                        Ok(sets) => view! { <FaceSetList project=pid sets=sets/> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="card">
            <h2>"Jobs"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let loaded = jobs.await;
                    view! { <JobList project=pid role=role loaded=loaded live=live_jobs/> }
                })}
            </Transition>
        </section>
    }
}

/// Replaces the job with the same id, or puts a new one first.
fn upsert(jobs: &mut Vec<JobDto>, job: JobDto) {
    match jobs.iter_mut().find(|j| j.id == job.id) {
        Some(j) => *j = job,
        None => jobs.insert(0, job),
    }
}
