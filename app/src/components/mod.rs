//! Widgets shared by pages.
pub mod conversions;
pub mod device_select;
pub mod convert_setup;
pub mod editor_state;
pub mod events;
pub mod extract_form;
pub mod face_gallery;
pub mod face_grid;
pub mod face_sets;
pub mod frame_canvas;
pub mod grid_layout;
pub mod jobs;
pub mod loss_graph;
pub mod media;
pub mod members;
pub mod model_view;
pub mod models;
pub mod nav;
pub mod progress;
pub mod train_form;
pub mod uploader;

use crate::api::AppError;
use leptos::prelude::*;

/// An error line, or nothing.
pub fn error_line(err: Option<AppError>) -> impl IntoView {
    err.map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })
}

/// The last result of a server action, as an error line when it failed.
pub fn action_error<T, S>(value: S) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    move || error_line(value.get().and_then(Result::err))
}
