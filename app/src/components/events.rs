//! The project's live event stream (server-sent events), in the browser only.

use crate::api::{FaceAdded, FacesChanged, JobDto, MediaChanged, ModelSaved, TrainTick};
use leptos::prelude::*;
use std::rc::Rc;

/// A handler of one event's JSON text.
type Handler = Rc<dyn Fn(String)>;

/// Handlers of a project's events, by event name; events without one are not listened to.
/// `listen` opens one stream for all of them while the calling component lives.
#[derive(Default)]
pub struct ProjectEvents {
    handlers: Vec<(&'static str, Handler)>,
}

impl ProjectEvents {
    pub fn new() -> ProjectEvents {
        ProjectEvents::default()
    }

    /// Calls `f` with each `name` event's data, parsed (events that do not parse are dropped).
    fn on<T: serde::de::DeserializeOwned + 'static>(mut self, name: &'static str, f: impl Fn(T) + 'static) -> ProjectEvents {
        self.handlers.push((name, Rc::new(move |text: String| {
            if let Ok(value) = serde_json::from_str::<T>(&text) {
                f(value);
            }
        })));
        self
    }

    pub fn job(self, f: impl Fn(JobDto) + 'static) -> ProjectEvents {
        self.on("job", f)
    }

    pub fn media(self, f: impl Fn(MediaChanged) + 'static) -> ProjectEvents {
        self.on("media", f)
    }

    pub fn face(self, f: impl Fn(FaceAdded) + 'static) -> ProjectEvents {
        self.on("face", f)
    }

    /// Faces someone trashed or restored.
    pub fn faces(self, f: impl Fn(FacesChanged) + 'static) -> ProjectEvents {
        self.on("faces", f)
    }

    pub fn train(self, f: impl Fn(TrainTick) + 'static) -> ProjectEvents {
        self.on("train", f)
    }

    pub fn saved(self, f: impl Fn(ModelSaved) + 'static) -> ProjectEvents {
        self.on("saved", f)
    }

    /// Listens to the project's events while the calling component lives. The browser's
    /// `EventSource` reconnects by itself after a dropped connection.
    pub fn listen(self, project: i64) {
        let handlers = self.handlers;
        Effect::new(move |_| {
            #[cfg(feature = "hydrate")]
            browser::listen(project, &handlers);
            #[cfg(not(feature = "hydrate"))]
            let _ = (project, &handlers);
        });
    }
}

/// Listens to a project's `job`, `media` and `face` events (see [`ProjectEvents`]).
pub fn use_project_events(
    project: i64,
    on_job: impl Fn(JobDto) + 'static,
    on_media: impl Fn(MediaChanged) + 'static,
    on_face: impl Fn(FaceAdded) + 'static,
) {
    ProjectEvents::new().job(on_job).media(on_media).face(on_face).listen(project);
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::Handler;
    use crate::api::project_events_url;
    use leptos::prelude::on_cleanup;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{EventSource, MessageEvent};

    pub(super) fn listen(project: i64, handlers: &[(&'static str, Handler)]) {
        let Ok(source) = EventSource::new(&project_events_url(project)) else { return };
        let callbacks: Vec<Closure<dyn FnMut(MessageEvent)>> = handlers
            .iter()
            .map(|(name, handler)| {
                let handler = handler.clone();
                let cb = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                    if let Some(text) = ev.data().as_string() {
                        handler(text);
                    }
                });
                let _ = source.add_event_listener_with_callback(name, cb.as_ref().unchecked_ref());
                cb
            })
            .collect();
        let held = send_wrapper::SendWrapper::new((source, callbacks));
        on_cleanup(move || {
            let (source, _callbacks) = held.take();
            source.close();
        });
    }
}
