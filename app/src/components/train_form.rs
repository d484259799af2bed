//! The form that starts training a new model from two face sets of the project.

use crate::api::{
    default_model_name, train_page_url, FaceSetDto, FaceSetStateDto, StartTraining, WarpChoice, BATCH_RANGE, DEFAULT_BATCH,
    DEFAULT_LEARNING_RATE, DEFAULT_MODEL_KIND, DEFAULT_SAVE_EVERY, MAX_LEARNING_RATE, MODELS_HELP, MODEL_KINDS,
};
use crate::components::action_error;
use crate::components::device_select::DeviceSelect;
use crate::components::face_sets::count;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// Face sets of A and B (those with faces, done being extracted), the model, and the run's
/// options with their defaults; a submit shows the new model.
#[component]
pub fn TrainForm(project: i64, face_sets: Vec<FaceSetDto>, on_started: Callback<i64>) -> impl IntoView {
    let start = ServerAction::<StartTraining>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(started)) = start.value().get() {
            on_started.run(started.model_id);
            navigate(&train_page_url(project, Some(started.model_id)), Default::default());
        }
    });
    let usable: Vec<FaceSetDto> =
        face_sets.into_iter().filter(|s| s.face_count > 0 && !matches!(s.state, FaceSetStateDto::Queued | FaceSetStateDto::Extracting)).collect();
    if usable.len() < 2 {
        return view! {
            <p class="hint" data-testid="train-needs-sets">"Training needs two face sets with faces, one of each person: extract them from the project's videos or photos first."</p>
        }
        .into_any();
    }
    let names = StoredValue::new(usable.iter().map(|s| (s.id, s.name.clone())).collect::<Vec<_>>());
    let a = RwSignal::new(usable[0].id.to_string());
    let b = RwSignal::new(usable[1].id.to_string());
    let placeholder = move || {
        let name = |id: String| names.with_value(|n| n.iter().find(|(i, _)| i.to_string() == id).map(|(_, n)| n.clone()).unwrap_or_default());
        default_model_name(&name(a.get()), &name(b.get()))
    };
    let options = move |selected: RwSignal<String>| {
        usable
            .iter()
            .map(|s| {
                let id = s.id.to_string();
                let is = id.clone();
                view! { <option value=id selected=move || selected.get() == is>{format!("{} ({})", s.name, count(s.face_count, "face"))}</option> }
            })
            .collect_view()
    };
    let (options_a, options_b) = (options(a), options(b));
    let (min_batch, max_batch) = BATCH_RANGE;
    view! {
        <ActionForm action=start attr:class="options train-form" attr:data-testid="train-form">
            <input type="hidden" name="project" value=project/>
            <label>"Person A"
                <select name="face_set_a" on:change=move |ev| a.set(event_target_value(&ev))>{options_a}</select>
            </label>
            <label>"Person B"
                <select name="face_set_b" on:change=move |ev| b.set(event_target_value(&ev))>{options_b}</select>
            </label>
            <label>"Model name"
                <input name="name" maxlength="120" placeholder=placeholder/>
            </label>
            <label>"Model"
                <select name="kind">
                    {MODEL_KINDS.into_iter().map(|k| view! { <option value=k selected=k == DEFAULT_MODEL_KIND>{k}</option> }).collect_view()}
                </select>
            </label>
            <label>"Batch size"
                <input type="number" name="batch" min=min_batch max=max_batch value=DEFAULT_BATCH/>
                <span class="hint">"Faces of each person per iteration."</span>
            </label>
            <label>"Iterations"
                <input type="number" name="iterations" min="1" placeholder="until stopped"/>
                <span class="hint">"Stop when the model has this many in all."</span>
            </label>
            <label>"Save every"
                <input type="number" name="save_every" min="1" value=DEFAULT_SAVE_EVERY/>
                <span class="hint">"Iterations; each save adds a preview and a timelapse frame."</span>
            </label>
            <label>"Warp"
                <select name="warp">
                    {WarpChoice::ALL.into_iter().map(|w| view! { <option value=w.as_str() selected=w == WarpChoice::default()>{w.label()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Learning rate"
                <input name="learning_rate" inputmode="decimal" placeholder=format!("{DEFAULT_LEARNING_RATE:e}") title=format!("above 0, at most {MAX_LEARNING_RATE}")/>
            </label>
            <DeviceSelect/>
            <details class="models-help">
                <summary>"Model sizes"</summary>
                <pre class="hint">{MODELS_HELP}</pre>
            </details>
            <button type="submit" disabled=move || start.pending().get()>"Start training"</button>
        </ActionForm>
        {action_error(start.value())}
    }
    .into_any()
}
