use crate::api::{
    get_project, list_conversions, list_face_sets, list_media, list_models, project_page_url, AppError, ConversionDto, FaceSetDto, JobDto, MediaDto,
    ModelDto, ProjectDto, CONVERT_JOB,
};
use crate::components::conversions::ConversionList;
use crate::components::convert_setup::{videos, ConvertSetup};
use crate::components::events::ProjectEvents;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use std::collections::HashMap;

/// A project's conversions: a form with a live preview for a new one, and the conversions
/// with their progress, videos and downloads.
#[component]
pub fn ConvertPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let project = Resource::new(id, get_project);
    // Every resource of the page is made here, outside the suspended part (see ProjectPage).
    let version = RwSignal::new(0u32);
    let data = PageData {
        version,
        media: Resource::new(id, list_media),
        models: Resource::new(id, list_models),
        face_sets: Resource::new(id, list_face_sets),
        conversions: Resource::new(move || (id(), version.get()), |(pid, _)| list_conversions(pid)),
    };
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match project.await {
                    Ok(p) => view! { <ConvertBody project=p data=data/> }.into_any(),
                    Err(_) => view! { <crate::routes::not_found::NotFound/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[derive(Clone, Copy)]
struct PageData {
    version: RwSignal<u32>,
    media: Resource<Result<Vec<MediaDto>, AppError>>,
    models: Resource<Result<Vec<ModelDto>, AppError>>,
    face_sets: Resource<Result<Vec<FaceSetDto>, AppError>>,
    conversions: Resource<Result<Vec<ConversionDto>, AppError>>,
}

#[component]
fn ConvertBody(project: ProjectDto, data: PageData) -> impl IntoView {
    let (pid, role) = (project.id, project.role);
    let PageData { version, media, models, face_sets, conversions } = data;
    let live = RwSignal::new(HashMap::<i64, JobDto>::new());
    let states = StoredValue::new(HashMap::new());
    ProjectEvents::new()
        .job(move |job| {
            if job.kind != CONVERT_JOB {
                return;
            }
            let changed = states.try_update_value(|m| m.insert(job.id, job.state) != Some(job.state)).unwrap_or(false);
            live.update(|l| {
                l.insert(job.id, job);
            });
            if changed {
                version.update(|v| *v += 1);
            }
        })
        .listen(pid);
    let reload = Callback::new(move |_: ()| version.update(|v| *v += 1));
    view! {
        <section class="card">
            <p class="hint"><A href=project_page_url(pid)>"← back to the project"</A></p>
            <h1 data-testid="convert-title">"Convert: "{project.name.clone()}</h1>
            <p class="hint">"Every frame's face of person A becomes person B's, masked, colour-matched and blended; the video keeps its frames, timing and sound, and is marked as synthetic."</p>
        </section>
        {role.can_edit().then(|| view! {
            <section class="card">
                <h2>"New conversion"</h2>
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match (media.await, models.await, face_sets.await) {
                            (Ok(m), Ok(x), Ok(f)) => view! { <ConvertSetup project=pid videos=videos(m) models=x face_sets=f on_started=reload/> }.into_any(),
                            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        })}
        <section class="card">
            <h2>"Conversions"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match conversions.await {
                        Ok(list) => view! { <ConversionList project=pid role=role conversions=list live=live on_change=reload/> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
