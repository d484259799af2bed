//! The project's live event stream (server-sent events), in the browser only.

use crate::api::{FaceAdded, JobDto, MediaChanged};
use leptos::prelude::*;

/// Listens to the project's events while the calling component lives. The browser's
/// `EventSource` reconnects by itself after a dropped connection.
pub fn use_project_events(
    project: i64,
    on_job: impl Fn(JobDto) + Clone + 'static,
    on_media: impl Fn(MediaChanged) + Clone + 'static,
    on_face: impl Fn(FaceAdded) + Clone + 'static,
) {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        browser::listen(project, on_job.clone(), on_media.clone(), on_face.clone());
        #[cfg(not(feature = "hydrate"))]
        let _ = (project, &on_job, &on_media, &on_face);
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

    /// A listener that hands the event's JSON, parsed, to `f`.
    fn handler<T: serde::de::DeserializeOwned + 'static>(f: impl Fn(T) + 'static) -> Closure<dyn FnMut(MessageEvent)> {
        Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            if let Some(value) = parse::<T>(&ev) {
                f(value);
            }
        })
    }

    pub(super) fn listen(
        project: i64,
        on_job: impl Fn(JobDto) + 'static,
        on_media: impl Fn(MediaChanged) + 'static,
        on_face: impl Fn(FaceAdded) + 'static,
    ) {
        let Ok(source) = EventSource::new(&project_events_url(project)) else { return };
        let callbacks = [("job", handler(on_job)), ("media", handler(on_media)), ("face", handler(on_face))];
        for (name, cb) in &callbacks {
            let _ = source.add_event_listener_with_callback(name, cb.as_ref().unchecked_ref());
        }
        let held = send_wrapper::SendWrapper::new((source, callbacks));
        on_cleanup(move || {
            let (source, _callbacks) = held.take();
            source.close();
        });
    }
}
