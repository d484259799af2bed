//! The convert form: a video, a model, where the faces come from, and the settings, with a
//! live before/after preview of a chosen frame that follows every change.

use crate::api::{
    convert_preview_url, ConvertForm, FaceSetDto, FaceSetStateDto, MediaDto, ModelDto, StartConversion, CODECS, COLORS, DEFAULT_BLUR, DEFAULT_CRF,
    DEFAULT_SHARPEN_AMOUNT, DEFAULT_SMOOTH, DIRECTIONS, MASKS, SHARPENS,
};
use crate::components::action_error;
use crate::components::device_select::DeviceSelect;
use leptos::prelude::*;

/// The videos ready in the project.
pub fn videos(media: Vec<MediaDto>) -> Vec<MediaDto> {
    media.into_iter().filter(|m| m.facts.as_ref().is_some_and(|f| f.kind == "video")).collect()
}

#[component]
pub fn ConvertSetup(project: i64, videos: Vec<MediaDto>, models: Vec<ModelDto>, face_sets: Vec<FaceSetDto>, on_started: Callback<()>) -> impl IntoView {
    let models: Vec<ModelDto> = models.into_iter().filter(|m| m.iteration > 0).collect();
    if videos.is_empty() || models.is_empty() {
        return view! {
            <p class="hint" data-testid="convert-needs">"Converting needs a video in the project and a model with at least one save: upload the video, extract faces and train a model first."</p>
        }
        .into_any();
    }
    let start = ServerAction::<StartConversion>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = start.value().get() {
            on_started.run(());
        }
    });
    let sets = StoredValue::new(face_sets.into_iter().filter(|s| s.face_count > 0 && !matches!(s.state, FaceSetStateDto::Queued | FaceSetStateDto::Extracting)).collect::<Vec<_>>());
    let faces_for = move |media: i64| sets.with_value(|s| s.iter().filter(|f| f.source_media == Some(media)).cloned().collect::<Vec<_>>());
    let first_faces = move |media: i64| faces_for(media).first().map(|s| s.id.to_string()).unwrap_or_default();
    let frames_of = StoredValue::new(videos.iter().map(|v| (v.id, v.facts.as_ref().map(|f| f.frame_count).unwrap_or(1))).collect::<Vec<_>>());
    // The video to start with: the one the newest model's A faces come from (a model turns A
    // into B), else the newest video.
    let a_source = sets.with_value(|s| s.iter().find(|f| Some(f.id) == models[0].face_set_a).and_then(|f| f.source_media));
    let video = videos.iter().find(|v| Some(v.id) == a_source).unwrap_or(&videos[0]).id;
    let form = RwSignal::new(ConvertForm { media: video.to_string(), model: models[0].id.to_string(), faces: first_faces(video), ..Default::default() });
    let frame = RwSignal::new(0u64);
    let media_id = move || form.with(|f| f.media.parse::<i64>().unwrap_or(0));
    let last_frame = move || frames_of.with_value(|v| v.iter().find(|(id, _)| *id == media_id()).map(|(_, n)| n.saturating_sub(1)).unwrap_or(0));
    // One field of the form, set from an input's value.
    let set = move |field: fn(&mut ConvertForm) -> &mut String| move |ev: leptos::ev::Event| form.update(|f| *field(f) = event_target_value(&ev));
    let choices = move |list: &'static [&'static str], field: fn(&ConvertForm) -> &String| {
        list.iter().map(move |c| view! { <option value=*c selected=move || form.with(|f| field(f) == c || (field(f).is_empty() && *c == list[0]))>{*c}</option> }).collect_view()
    };
    let video_options = videos
        .iter()
        .map(|v| {
            let id = v.id.to_string();
            let chosen = id.clone();
            view! { <option value=id selected=move || form.with(|f| f.media == chosen)>{v.label.clone()}</option> }
        })
        .collect_view();
    let model_options = models.iter().map(|m| view! { <option value=m.id.to_string()>{format!("{} ({}, iteration {})", m.name, m.kind, m.iteration)}</option> }).collect_view();
    view! {
        <ActionForm action=start attr:class="convert-form" attr:data-testid="convert-form">
            <input type="hidden" name="project" value=project/>
            <div class="options">
                <label>"Video"
                    <select name="media" on:change=move |ev| {
                        let v = event_target_value(&ev);
                        let faces = v.parse().map(first_faces).unwrap_or_default();
                        form.update(|f| { f.media = v; f.faces = faces; });
                        frame.set(0);
                    }>{video_options}</select>
                </label>
                <label>"Model"
                    <select name="model" on:change=set(|f| &mut f.model)>{model_options}</select>
                </label>
                <label>"Faces from"
                    <select name="faces" on:change=set(|f| &mut f.faces)>
                        {move || faces_for(media_id()).into_iter().map(|s| {
                            let id = s.id.to_string();
                            let chosen = id.clone();
                            view! { <option value=id selected=move || form.with(|f| f.faces == chosen)>{format!("face set '{}' (its alignments)", s.name)}</option> }
                        }).collect_view()}
                        <option value="" selected=move || form.with(|f| f.faces.is_empty())>"find faces while converting"</option>
                    </select>
                    <span class="hint">"A face set's alignments swap only the frames it was extracted from."</span>
                </label>
                <label>"Direction"
                    <select name="direction" on:change=set(|f| &mut f.direction)>{choices(&DIRECTIONS, |f| &f.direction)}</select>
                </label>
                <label>"Mask"
                    <select name="mask" on:change=set(|f| &mut f.mask)>{choices(&MASKS, |f| &f.mask)}</select>
                </label>
                <label>"Erode (%)"
                    <input type="number" name="erode" min="-50" max="50" step="0.5" value="0" on:change=set(|f| &mut f.erode)/>
                    <span class="hint">"Negative grows the mask."</span>
                </label>
                <label>"Blur (px)"
                    <input type="number" name="blur" min="0" max="50" step="0.5" value=DEFAULT_BLUR on:change=set(|f| &mut f.blur)/>
                </label>
                <label>"Threshold"
                    <input type="number" name="threshold" min="0" max="0.99" step="0.01" value="0" on:change=set(|f| &mut f.threshold)/>
                </label>
                <label>"Colour"
                    <select name="color" on:change=set(|f| &mut f.color)>{choices(&COLORS, |f| &f.color)}</select>
                </label>
                <label>"Sharpen"
                    <select name="sharpen" on:change=set(|f| &mut f.sharpen)>{choices(&SHARPENS, |f| &f.sharpen)}</select>
                </label>
                <label>"Sharpen amount"
                    <input type="number" name="sharpen_amount" min="0" max="5" step="0.1" value=DEFAULT_SHARPEN_AMOUNT on:change=set(|f| &mut f.sharpen_amount)/>
                </label>
                <label>"Smoothing (Hz)"
                    <input type="number" name="smooth" min="0" max="30" step="0.1" value=DEFAULT_SMOOTH on:change=set(|f| &mut f.smooth)/>
                    <span class="hint">"Steadies faces over time; lower is steadier, 0 is off."</span>
                </label>
                <label>"Frames"
                    <input name="frames" placeholder="all (e.g. 0-100, 250-300)" on:change=set(|f| &mut f.frames)/>
                    <span class="hint">"Other frames are kept as they are."</span>
                </label>
                <label>"Codec"
                    <select name="codec" on:change=set(|f| &mut f.codec)>{choices(&CODECS, |f| &f.codec)}</select>
                </label>
                <label>"Output size (%)"
                    <input type="number" name="scale" min="1" max="400" value="100" on:change=set(|f| &mut f.scale)/>
                </label>
                <label>"Quality (CRF)"
                    <input type="number" name="crf" min="0" max="51" value=DEFAULT_CRF on:change=set(|f| &mut f.crf)/>
                    <span class="hint">"Lower is better and bigger."</span>
                </label>
                <DeviceSelect on_change=Callback::new(move |d: String| form.update(|f| f.device = d))/>
            </div>
            <Preview project=project form=form frame=frame last_frame=Signal::derive(last_frame)/>
            <button type="submit" disabled=move || start.pending().get()>"Convert"</button>
            {action_error(start.value())}
        </ActionForm>
    }
    .into_any()
}

/// Frame picker and the before/after view: the "before" image over the "after" one, cut at
/// the slider.
#[component]
fn Preview(project: i64, form: RwSignal<ConvertForm>, frame: RwSignal<u64>, last_frame: Signal<u64>) -> impl IntoView {
    let split = RwSignal::new(50.0f64);
    let after_url = Memo::new(move |_| form.with(|f| convert_preview_url(project, f, frame.get(), false)));
    let before_url = Memo::new(move |_| form.with(|f| convert_preview_url(project, f, frame.get(), true)));
    // The URL the shown image was made for; differs from `after_url` while one loads.
    let loaded = RwSignal::new(String::new());
    let failed = RwSignal::new(None::<String>);
    // Tries after a "busy" answer (429): the image asks again a second later.
    let retry_after = RwSignal::new(0u32);
    let retry_before = RwSignal::new(0u32);
    let with_retry = |url: String, n: u32| if n == 0 { url } else { format!("{url}&retry={n}") };
    Effect::new(move |_| {
        after_url.track();
        failed.set(None);
    });
    view! {
        <div class="convert-preview" data-testid="convert-preview">
            <label class="row">"Frame"
                <input type="range" min="0" max=move || last_frame.get() value=move || frame.get() data-testid="preview-frame"
                    on:change=move |ev| frame.set(event_target_value(&ev).parse().unwrap_or(0))/>
                <span data-testid="preview-frame-number">{move || frame.get()}</span>
                <span class="hint" data-testid="preview-state">{move || {
                    if failed.get().is_some() { "failed" } else if loaded.get() == after_url.get() { "ready" } else { "updating…" }
                }}</span>
            </label>
            {move || failed.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <div class="before-after">
                <img class="after" data-testid="preview-after" alt="after" src=move || with_retry(after_url.get(), retry_after.get())
                    on:load=move |_| loaded.set(after_url.get_untracked())
                    on:error=move |_| explain(after_url.get_untracked(), failed, retry_after)/>
                <img class="before" data-testid="preview-before" alt="before" src=move || with_retry(before_url.get(), retry_before.get())
                    on:error=move |_| explain(before_url.get_untracked(), RwSignal::new(None), retry_before)
                    style:clip-path=move || format!("inset(0 {:.1}% 0 0)", 100.0 - split.get())/>
                <span class="split-line" style:left=move || format!("{:.1}%", split.get())></span>
            </div>
            <input type="range" class="split" min="0" max="100" step="0.5" aria-label="before / after" data-testid="preview-split"
                value=move || split.get() on:input=move |ev| split.set(event_target_value(&ev).parse().unwrap_or(50.0))/>
            <p class="hint">"Left of the line: the source; right: converted. Settings apply on change."</p>
        </div>
    }
}

/// Asks the server why the preview at `url` failed and shows its message; when the server was
/// only busy (429), asks again a second later instead (`retry` counts the tries).
fn explain(url: String, failed: RwSignal<Option<String>>, retry: RwSignal<u32>) {
    failed.set(Some("the preview could not be made".into()));
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        let Ok(xhr) = web_sys::XmlHttpRequest::new() else { return };
        if xhr.open("GET", &url).is_err() {
            return;
        }
        let request = xhr.clone();
        let onload = Closure::<dyn FnMut()>::new(move || {
            if request.status().ok() == Some(429) && retry.get_untracked() < 30 {
                failed.set(None);
                set_timeout(move || retry.update(|n| *n += 1), std::time::Duration::from_secs(1));
                return;
            }
            let text = request.response_text().ok().flatten().unwrap_or_default();
            if let Some(message) = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string)) {
                failed.set(Some(message));
            }
        });
        xhr.set_onload(Some(onload.as_ref().unchecked_ref()));
        onload.forget();
        let _ = xhr.send();
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (url, retry);
}
