use crate::api::{
    get_loss_history, get_project, list_face_sets, list_models, list_timelapse_frames, project_page_url, AppError, FaceSetDto, JobStateDto,
    LossHistory, ModelDto, ProjectDto, TimelapseFrames, TRAIN_JOB,
};
use crate::components::events::ProjectEvents;
use crate::components::loss_graph::DEFAULT_SMOOTHING;
use crate::components::model_view::ModelView;
use crate::components::models::{LiveTraining, ModelList};
use crate::components::train_form::TrainForm;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

/// A project's training: a form for a new model, the models with their state and buttons,
/// and one model in detail (`?model=<id>`, else the newest): live losses, preview, graph,
/// timelapse.
#[component]
pub fn TrainPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let selected = move || query.read().get("model").and_then(|s| s.parse::<i64>().ok());
    let project = Resource::new(id, get_project);
    // Every resource of the page is made here, outside the suspended part (see ProjectPage).
    let models_version = RwSignal::new(0u32);
    let saves_version = RwSignal::new(0u32);
    let data = PageData {
        models_version,
        saves_version,
        face_sets: Resource::new(id, list_face_sets),
        models: Resource::new(move || (id(), models_version.get()), |(pid, _)| list_models(pid)),
        history: Resource::new(move || (id(), selected(), saves_version.get()), |(pid, model, _)| get_loss_history(pid, model)),
        frames: Resource::new(move || (id(), selected(), saves_version.get()), |(pid, model, _)| list_timelapse_frames(pid, model)),
    };
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match project.await {
                    Ok(p) => view! { <TrainBody project=p data=data selected=Signal::derive(selected)/> }.into_any(),
                    Err(_) => view! { <crate::routes::not_found::NotFound/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The page's resources and the signals that reload them.
#[derive(Clone, Copy)]
struct PageData {
    models_version: RwSignal<u32>,
    saves_version: RwSignal<u32>,
    face_sets: Resource<Result<Vec<FaceSetDto>, AppError>>,
    models: Resource<Result<Vec<ModelDto>, AppError>>,
    history: Resource<Result<LossHistory, AppError>>,
    frames: Resource<Result<TimelapseFrames, AppError>>,
}

#[component]
fn TrainBody(project: ProjectDto, data: PageData, selected: Signal<Option<i64>>) -> impl IntoView {
    let (pid, role) = (project.id, project.role);
    let PageData { models_version, saves_version, face_sets, models, history, frames } = data;
    let live = LiveTraining::new();
    let smoothing = RwSignal::new(DEFAULT_SMOOTHING);
    // Models follow their training jobs: reload them when one changes state.
    let job_states = StoredValue::new(std::collections::HashMap::<i64, JobStateDto>::new());
    ProjectEvents::new()
        .job(move |job| {
            if job.kind != TRAIN_JOB {
                return;
            }
            let changed = job_states.try_update_value(|m| m.insert(job.id, job.state) != Some(job.state)).unwrap_or(false);
            live.jobs.update(|jobs| {
                jobs.insert(job.id, job);
            });
            if changed {
                models_version.update(|v| *v += 1);
            }
        })
        .train(move |tick| live.tick(tick))
        .saved(move |s| {
            live.saved.update(|m| {
                m.insert(s.model_id, s.iteration);
            });
            saves_version.update(|v| *v += 1);
        })
        .listen(pid);
    let reload = Callback::new(move |_: ()| models_version.update(|v| *v += 1));
    view! {
        <section class="card">
            <p class="hint"><A href=project_page_url(pid)>"← back to the project"</A></p>
            <h1 data-testid="train-title">"Training: "{project.name.clone()}</h1>
            <p class="hint">"A model learns both faces with one shared encoder and a decoder per person; one model trains at a time on this server, others wait in the queue."</p>
        </section>
        {role.can_edit().then(|| view! {
            <section class="card">
                <h2>"New model"</h2>
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match face_sets.await {
                            Ok(sets) => view! { <TrainForm project=pid face_sets=sets on_started=Callback::new(move |_| models_version.update(|v| *v += 1))/> }.into_any(),
                            Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        })}
        <section class="card">
            <h2>"Models"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match models.await {
                        Ok(list) => {
                            let shown = selected.get().or(list.first().map(|m| m.id));
                            view! { <ModelList project=pid role=role models=list shown=shown live=live on_change=reload/> }.into_any()
                        }
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="card" data-testid="model-view">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let list = models.await;
                    let wanted = selected.get();
                    match list {
                        Ok(list) => match list.into_iter().find(|m| wanted.is_none_or(|w| w == m.id)) {
                            Some(m) => view! { <ModelView project=pid model=m live=live history=history frames=frames smoothing=smoothing/> }.into_any(),
                            None if wanted.is_some() => view! { <p class="hint">"This model is not in the project (any more)."</p> }.into_any(),
                            None => view! { <p class="hint">"Start a model above; its losses, preview and timelapse show here."</p> }.into_any(),
                        },
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
