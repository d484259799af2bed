//! The project's live event stream (server-sent events), in the browser only.

use crate::api::{JobDto, MediaChanged};
use leptos::prelude::*;

/// Listens to the project's events while the calling component lives. The browser's
/// `EventSource` reconnects by itself after a dropped connection.
pub fn use_project_events(
    project: i64,
    on_job: impl Fn(JobDto) + Clone + 'static,
    on_media: impl Fn(MediaChanged) + Clone + 'static,
) {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        browser::listen(project, on_job.clone(), on_media.clone());
        #[cfg(not(feature = "hydrate"))]
        let _ = (project, &on_job, &on_media);
    });
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::*;
    use crate::api::project_events_url;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{EventSource, MessageEvent};

    fn parse<T: serde::de::DeserializeOwned>(ev: &MessageEvent) -> Option<T> {
        ev.data().as_string().and_then(|text| serde_json::from_str(&text).ok())
    }

    pub(super) fn listen(
        project: i64,
        on_job: impl Fn(JobDto) + 'static,
        on_media: impl Fn(MediaChanged) + 'static,
    ) {
        let Ok(source) = EventSource::new(&project_events_url(project)) else { return };
        let job_cb = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if let Some(job) = parse::<JobDto>(&ev) {
                on_job(job);
            }
        });
        let media_cb = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if let Some(m) = parse::<MediaChanged>(&ev) {
                on_media(m);
            }
        });
        let _ = source.add_event_listener_with_callback("job", job_cb.as_ref().unchecked_ref());
        let _ = source.add_event_listener_with_callback("media", media_cb.as_ref().unchecked_ref());
        let held = send_wrapper::SendWrapper::new((source, job_cb, media_cb));
        on_cleanup(move || {
            let (source, _job_cb, _media_cb) = held.take();
            source.close();
        });
    }
}
