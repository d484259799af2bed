//! The project's models with their state and the buttons that stop, resume or train them
//! further, kept current by live events.

use crate::api::{
    train_page_url, CancelJob, ContinueTraining, JobDto, JobStateDto, LossPoint, ModelDto, ModelStateDto, ResumeJob, RoleDto, TrainTick,
};
use crate::components::action_error;
use crate::components::device_select::DeviceSelect;
use leptos::prelude::*;
use leptos_router::components::A;
use std::collections::HashMap;

/// Live losses kept per model since the page opened (older ones are in the saved history).
const LIVE_POINTS_KEPT: usize = 5000;

/// What the event stream told the page since it loaded.
#[derive(Clone, Copy)]
pub struct LiveTraining {
    /// The newest `train` event of each model.
    pub ticks: RwSignal<HashMap<i64, TrainTick>>,
    /// Training jobs by id, as their events left them.
    pub jobs: RwSignal<HashMap<i64, JobDto>>,
    /// The iteration of each model's newest save.
    pub saved: RwSignal<HashMap<i64, u64>>,
    /// The losses of each model's `train` events.
    pub points: RwSignal<HashMap<i64, Vec<LossPoint>>>,
}

impl LiveTraining {
    pub fn new() -> LiveTraining {
        LiveTraining { ticks: RwSignal::new(HashMap::new()), jobs: RwSignal::new(HashMap::new()), saved: RwSignal::new(HashMap::new()), points: RwSignal::new(HashMap::new()) }
    }

    /// Takes in a `train` event.
    pub fn tick(&self, t: TrainTick) {
        self.points.update(|all| {
            let points = all.entry(t.model_id).or_default();
            if points.last().is_none_or(|p| p.iteration < t.iteration) {
                points.push(LossPoint { iteration: t.iteration, a: t.loss_a, b: t.loss_b });
            }
            if points.len() > LIVE_POINTS_KEPT {
                points.drain(..points.len() - LIVE_POINTS_KEPT);
            }
        });
        self.ticks.update(|m| {
            m.insert(t.model_id, t);
        });
    }

    /// The model's current job as its latest event left it.
    pub fn job(&self, m: &ModelDto) -> Option<JobDto> {
        let loaded = m.job.clone()?;
        Some(self.jobs.with(|jobs| jobs.get(&loaded.id).cloned()).unwrap_or(loaded))
    }

    pub fn state(&self, m: &ModelDto) -> ModelStateDto {
        self.job(m).map(|j| ModelStateDto::from_job(j.state)).unwrap_or(m.state)
    }

    /// Iterations done: the newest event's, else the last save's.
    pub fn iteration(&self, m: &ModelDto) -> u64 {
        let tick = self.ticks.with(|t| t.get(&m.id).map(|t| t.iteration)).unwrap_or(0);
        tick.max(m.iteration).max(self.saved_iteration(m))
    }

    /// The iteration of the model's newest save (0 before the first).
    pub fn saved_iteration(&self, m: &ModelDto) -> u64 {
        self.saved.with(|s| s.get(&m.id).copied()).unwrap_or(0).max(m.iteration)
    }
}

impl Default for LiveTraining {
    fn default() -> Self {
        LiveTraining::new()
    }
}

/// "120 of 500 iterations", "120 iterations"
pub fn iterations_label(done: u64, target: Option<u64>) -> String {
    match target {
        Some(t) => format!("{done} of {t} iterations"),
        None => format!("{done} iterations"),
    }
}

/// The models, each a link that shows it below, with its state, iterations and buttons.
#[component]
pub fn ModelList(project: i64, role: RoleDto, models: Vec<ModelDto>, shown: Option<i64>, live: LiveTraining, on_change: Callback<()>) -> impl IntoView {
    if models.is_empty() {
        return view! { <p class="hint">"No models yet."</p> }.into_any();
    }
    view! {
        <ul class="models" data-testid="models">
            {models.into_iter().map(|m| {
                let (id, target) = (m.id, m.settings.as_ref().and_then(|s| s.iterations));
                let name = m.name.clone();
                let about = format!("{} · A: {} · B: {}", m.kind, m.face_set_a_name.as_deref().unwrap_or("(gone)"), m.face_set_b_name.as_deref().unwrap_or("(gone)"));
                let actions = role.can_edit().then(|| view! { <ModelActions project=project model=m.clone() live=live on_change=on_change/> });
                let m = StoredValue::new(m);
                let state = move || m.with_value(|m| live.state(m));
                let done = move || iterations_label(m.with_value(|m| live.iteration(m)), target);
                view! {
                    <li data-model-id=id data-state=move || state().label() class:selected=shown == Some(id)>
                        <A href=train_page_url(project, Some(id))>{name}</A>
                        <span class=move || format!("badge state {}", state().label())>{move || state().label()}</span>
                        <span class="hint">{about}</span>
                        <span class="hint" data-testid="model-iterations">{done}</span>
                        {actions}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// Stop (queued or training), Resume (stopped or failed), or Train more (done, to a new
/// target).
#[component]
pub fn ModelActions(project: i64, model: ModelDto, live: LiveTraining, on_change: Callback<()>) -> impl IntoView {
    let cancel = ServerAction::<CancelJob>::new();
    let resume = ServerAction::<ResumeJob>::new();
    let more = ServerAction::<ContinueTraining>::new();
    Effect::new(move |_| {
        // `|`, not `||`: the effect follows all three.
        let finished = cancel.value().with(|v| matches!(v, Some(Ok(_)))) | resume.value().with(|v| matches!(v, Some(Ok(_)))) | more.value().with(|v| matches!(v, Some(Ok(_))));
        if finished {
            on_change.run(());
        }
    });
    let id = model.id;
    let model = StoredValue::new(model);
    let state = move || model.with_value(|m| live.state(m));
    let job = move || model.with_value(|m| live.job(m));
    let job_id = move || job().map(|j| j.id).unwrap_or(0);
    let resumable = move || job().is_some_and(|j| matches!(j.state, JobStateDto::Cancelled | JobStateDto::Interrupted | JobStateDto::Failed));
    let next_target = move || model.with_value(|m| live.iteration(m) + m.settings.as_ref().map(|s| s.save_every).unwrap_or(250).max(1));
    view! {
        <span class="model-actions">
            {move || matches!(state(), ModelStateDto::Queued | ModelStateDto::Training).then(|| view! {
                <ActionForm action=cancel attr:class="inline">
                    <input type="hidden" name="project" value=project/>
                    <input type="hidden" name="job" value=job_id()/>
                    <button type="submit" data-testid="stop">"Stop"</button>
                </ActionForm>
            })}
            {move || (matches!(state(), ModelStateDto::Stopped | ModelStateDto::Failed) && resumable()).then(|| view! {
                <ActionForm action=resume attr:class="inline">
                    <input type="hidden" name="project" value=project/>
                    <input type="hidden" name="job" value=job_id()/>
                    <button type="submit" data-testid="resume">"Resume"</button>
                </ActionForm>
            })}
            {move || (state() == ModelStateDto::Done).then(|| view! {
                <ActionForm action=more attr:class="inline row">
                    <input type="hidden" name="project" value=project/>
                    <input type="hidden" name="model" value=id/>
                    <input type="number" name="iterations" min="1" value=next_target() aria-label="train to iteration" class="short"/>
                    <DeviceSelect/>
                    <button type="submit" data-testid="train-more">"Train more"</button>
                </ActionForm>
            })}
            {action_error(cancel.value())}
            {action_error(resume.value())}
            {action_error(more.value())}
        </span>
    }
}
