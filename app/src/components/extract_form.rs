//! The form that starts an extraction from one video or photo of the project.

use crate::api::{
    default_face_set_name, face_set_page_url, MediaDto, StartExtraction, DEFAULT_EVERY_N, DEFAULT_FACE_SIZE,
    DEFAULT_MIN_SIZE, DEFAULT_RE_FEED, DEFAULT_THRESHOLD, FACE_SIZE_RANGE, MAX_RE_FEED, MAX_THRESHOLD,
};
use crate::components::action_error;
use crate::components::device_select::DeviceSelect;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use std::collections::BTreeMap;

/// What a reference photo is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Keep,
    Drop,
}

/// Options with defaults, an optional identity filter from the project's photos, and a
/// submit that opens the new face set's page.
#[component]
pub fn ExtractForm(project: i64, media: MediaDto, photos: Vec<MediaDto>, on_close: Callback<()>) -> impl IntoView {
    let start = ServerAction::<StartExtraction>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(started)) = start.value().get() {
            navigate(&face_set_page_url(project, started.face_set_id), Default::default());
        }
    });
    let sides = RwSignal::new(BTreeMap::<i64, Side>::new());
    let ids = move |side: Side| {
        sides.with(|s| s.iter().filter(|(_, v)| **v == side).map(|(k, _)| k.to_string()).collect::<Vec<_>>().join(","))
    };
    let facts = media.facts.clone();
    let is_video = facts.as_ref().is_some_and(|f| f.kind == "video");
    let last_frame = facts.as_ref().map(|f| f.frame_count.saturating_sub(1)).unwrap_or(0);
    let (min_px, max_px) = FACE_SIZE_RANGE;
    view! {
        <section class="extract-form" data-testid="extract-form" data-media-id=media.id>
            <div class="row spread">
                <h3>"Extract faces from "{media.label.clone()}</h3>
                <button type="button" class="link" on:click=move |_| on_close.run(())>"Close"</button>
            </div>
            <ActionForm action=start attr:class="options">
                <input type="hidden" name="project" value=project/>
                <input type="hidden" name="media" value=media.id/>
                <label>"Face set name"
                    <input name="name" maxlength="120" placeholder=default_face_set_name(&media.label)/>
                </label>
                {is_video.then(|| view! {
                    <label>"Every n-th frame"
                        <input type="number" name="every_n" min="1" value=DEFAULT_EVERY_N/>
                        <span class="hint">"1 looks at every frame; 5 at one in five (quicker)."</span>
                    </label>
                    <label>"From frame"
                        <input type="number" name="frame_from" min="0" max=last_frame placeholder="0"/>
                    </label>
                    <label>"To frame"
                        <input type="number" name="frame_to" min="0" max=last_frame placeholder=last_frame.to_string()/>
                    </label>
                })}
                <label>"Face size (px)"
                    <input type="number" name="size" min=min_px max=max_px value=DEFAULT_FACE_SIZE/>
                </label>
                <label>"Ignore faces smaller than (px)"
                    <input type="number" name="min_size" min="0" value=DEFAULT_MIN_SIZE/>
                </label>
                <label>"Landmark runs per face"
                    <input type="number" name="re_feed" min="1" max=MAX_RE_FEED value=DEFAULT_RE_FEED/>
                    <span class="hint">"More runs: steadier landmarks, slower."</span>
                </label>
                {(!photos.is_empty()).then(|| view! {
                    <fieldset class="identity">
                        <legend>"Only some people (optional)"</legend>
                        <p class="hint">"Photos of this project as references: keep only the people in some, or drop the people in others."</p>
                        {photos.into_iter().map(|p| {
                            let id = p.id;
                            view! {
                                <label class="row">
                                    <select data-photo=id on:change=move |ev| {
                                        let side = match event_target_value(&ev).as_str() {
                                            "keep" => Some(Side::Keep),
                                            "drop" => Some(Side::Drop),
                                            _ => None,
                                        };
                                        sides.update(|s| match side {
                                            Some(side) => { s.insert(id, side); }
                                            None => { s.remove(&id); }
                                        });
                                    }>
                                        <option value="">"—"</option>
                                        <option value="keep">"keep this person"</option>
                                        <option value="drop">"drop this person"</option>
                                    </select>
                                    <span>{p.label}</span>
                                </label>
                            }
                        }).collect_view()}
                        <label>"Same person below this distance"
                            <input type="number" name="threshold" step="0.05" min="0.05" max=MAX_THRESHOLD value=DEFAULT_THRESHOLD/>
                        </label>
                    </fieldset>
                })}
                <DeviceSelect/>
                <input type="hidden" name="filter" prop:value=move || ids(Side::Keep)/>
                <input type="hidden" name="nfilter" prop:value=move || ids(Side::Drop)/>
                <button type="submit" disabled=move || start.pending().get()>"Start extraction"</button>
            </ActionForm>
            {action_error(start.value())}
        </section>
    }
}
