use crate::api::{media_file_url, media_thumb_url, DismissRejected, MediaDto, MediaFactsDto, MediaStateDto, RoleDto};
use crate::components::action_error;
use crate::components::extract_form::ExtractForm;
use crate::format;
use leptos::prelude::*;

/// The project's media: ready files with their facts, files being probed, and uploads that
/// were refused (with the reason) until someone dismisses them. Editors open the extraction
/// form from a ready card.
#[component]
pub fn MediaList(project: i64, media: Vec<MediaDto>, role: RoleDto, on_change: Callback<()>) -> impl IntoView {
    let dismiss = ServerAction::<DismissRejected>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = dismiss.value().get() {
            on_change.run(());
        }
    });
    let (rejected, kept): (Vec<_>, Vec<_>) = media.into_iter().partition(|m| m.state == MediaStateDto::Rejected);
    let empty = kept.is_empty();
    let extract_for = RwSignal::new(None::<i64>);
    let photos: Vec<MediaDto> = kept.iter().filter(|m| kind(m) == Some("image")).cloned().collect();
    let sources = StoredValue::new(kept.clone());
    let extract_form = move || {
        let id = extract_for.get()?;
        let media = sources.with_value(|all| all.iter().find(|m| m.id == id).cloned())?;
        let on_close = Callback::new(move |_| extract_for.set(None));
        Some(view! { <ExtractForm project=project media=media photos=photos.clone() on_close=on_close/> })
    };
    let on_extract = Callback::new(move |id: i64| extract_for.set(Some(id)));
    view! {
        {(!rejected.is_empty()).then(|| view! {
            <ul class="rejected" data-testid="rejected">
                {rejected.into_iter().map(|m| view! {
                    <li class="error" role="alert">
                        <strong>{m.label.clone()}</strong>" was not added: "{m.error.clone().unwrap_or_default()}
                        {role.can_edit().then(|| view! {
                            <ActionForm action=dismiss attr:class="inline">
                                <input type="hidden" name="project" value=project/>
                                <input type="hidden" name="media" value=m.id/>
                                <button type="submit" class="link">"Dismiss"</button>
                            </ActionForm>
                        })}
                    </li>
                }).collect_view()}
            </ul>
            {action_error(dismiss.value())}
        })}
        {empty.then(|| view! { <p class="hint">"No media yet."</p> })}
        <div class="media-grid" data-testid="media">
            {kept.into_iter().map(|m| view! { <MediaCard project=project media=m role=role on_extract=on_extract/> }).collect_view()}
        </div>
        {extract_form}
    }
}

/// "video" or "image", once probed.
fn kind(m: &MediaDto) -> Option<&str> {
    (m.state == MediaStateDto::Ready).then_some(())?;
    m.facts.as_ref().map(|f| f.kind.as_str())
}

#[component]
fn MediaCard(project: i64, media: MediaDto, role: RoleDto, on_extract: Callback<i64>) -> impl IntoView {
    let preview = RwSignal::new(false);
    let file_url = media_file_url(project, media.id);
    let is_video = media.facts.as_ref().is_some_and(|f| f.kind == "video");
    let can_extract = role.can_edit() && matches!(kind(&media), Some("video" | "image"));
    let id = media.id;
    view! {
        <article class="media-card" data-media-id=media.id data-state=format!("{:?}", media.state).to_lowercase()>
            {match media.state {
                MediaStateDto::Ready => view! {
                    <img class="thumb" src=media_thumb_url(project, media.id) alt=format!("first frame of {}", media.label)/>
                }.into_any(),
                _ => view! { <div class="thumb pending">"probing…"</div> }.into_any(),
            }}
            <h3 title=media.label.clone()>{media.label.clone()}</h3>
            {media.facts.clone().map(|f| facts_table(f, &media.label))}
            <p class="row">
                <a href=file_url.clone() download=media.label.clone()>"Download"</a>
                {is_video.then(|| view! {
                    <button class="link" on:click=move |_| preview.update(|p| *p = !*p)>
                        {move || if preview.get() { "Hide preview" } else { "Preview" }}
                    </button>
                })}
                <span class="hint">{format::bytes(media.size_bytes as f64)}</span>
            </p>
            {can_extract.then(|| view! {
                <button type="button" class="extract" on:click=move |_| on_extract.run(id)>"Extract faces"</button>
            })}
            <Show when=move || preview.get()>
                <video class="preview" controls preload="metadata" src=file_url.clone()></video>
            </Show>
        </article>
    }
}

fn facts_table(f: MediaFactsDto, label: &str) -> impl IntoView {
    let codecs = match &f.audio_codec {
        Some(a) => format!("{} + {}", f.video_codec, a),
        None => f.video_codec.clone(),
    };
    let rotation = if f.rotation == 0 { "none".to_string() } else { format!("{}°", f.rotation) };
    let video = f.kind == "video";
    view! {
        <dl class="facts">
            <dt>"Size"</dt><dd data-fact="size">{format!("{} × {}", f.width, f.height)}</dd>
            <dt>"Codecs"</dt><dd data-fact="codecs">{codecs}</dd>
            <dt>"Container"</dt><dd data-fact="container" title=f.container_long.clone()>{format::container(&f.container, label)}</dd>
            <dt>"Rotation"</dt><dd data-fact="rotation">{rotation}</dd>
            {video.then(|| view! {
                <dt>"Frame rate"</dt><dd data-fact="fps">{format!("{} fps", format::fps(f.fps))}</dd>
                <dt>"Frames"</dt><dd data-fact="frames">{f.frame_count}</dd>
                <dt>"Duration"</dt><dd data-fact="duration">{format!("{:.1} s", f.duration_secs)}</dd>
                <dt>"Audio"</dt><dd data-fact="audio">{if f.has_audio { "yes" } else { "no" }}</dd>
            })}
        </dl>
    }
}
