//! What the browser and the server exchange: data transfer types, the error type, and the
//! server functions (thin: check the session and the role, call the store, map the error).
//!
//! Files, uploads and live events are plain axum routes in the server crate (they stream);
//! their URLs are built by the helpers at the bottom so both sides agree.

mod auth;
mod conversions;
mod convert;
mod curate;
mod devices;
mod dto;
mod error;
mod extract;
mod face_sets;
mod jobs;
mod media;
mod models;
mod projects;
#[cfg(feature = "ssr")]
pub mod ssr;
#[cfg(feature = "ssr")]
pub mod work;
mod train;

pub use auth::*;
pub use conversions::*;
pub use convert::*;
pub use curate::*;
pub use devices::*;
pub use dto::*;
pub use error::AppError;
pub use extract::*;
pub use face_sets::*;
pub use jobs::*;
pub use media::*;
pub use models::*;
pub use projects::*;
pub use train::*;

/// A form field that holds a whole number from `min` to `max`; empty means `default`.
pub(crate) fn whole_number<T>(raw: &str, what: &str, default: T, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display,
{
    match raw.trim() {
        "" => Ok(default),
        t => t.parse::<T>().ok().filter(|v| *v >= min && *v <= max).ok_or_else(|| format!("{what} must be a whole number from {min} to {max}, not '{t}'")),
    }
}

/// Shown next to password fields (the store enforces it).
pub const MIN_PASSWORD_CHARS_HINT: &str = "At least 8 characters.";

/// Upload endpoint: `POST` the raw file bytes, `?name=` carries the file name (a label only).
pub fn upload_url(project: i64, name: &str) -> String {
    format!("/api/projects/{project}/media?name={}", percent_encoding::utf8_percent_encode(name, QUERY_VALUE))
}

pub fn media_file_url(project: i64, media: i64) -> String {
    format!("/api/projects/{project}/media/{media}/file")
}

pub fn media_thumb_url(project: i64, media: i64) -> String {
    format!("/api/projects/{project}/media/{media}/thumb")
}

/// The project's page.
pub fn project_page_url(project: i64) -> String {
    format!("/projects/{project}")
}

/// The face set's page.
pub fn face_set_page_url(project: i64, set: i64) -> String {
    format!("/projects/{project}/facesets/{set}")
}

/// One face PNG of a face set, full size; `file` is a face file name (no encoding needed:
/// letters, digits, `-`, `_` and `.png`).
pub fn face_url(project: i64, set: i64, file: &str) -> String {
    format!("/api/projects/{project}/facesets/{set}/faces/{file}")
}

/// Side of the small JPEGs of faces in grids.
pub const FACE_THUMB_SIZE: u32 = 128;

/// A small square JPEG of a face (made once, then cached by the server).
pub fn face_thumb_url(project: i64, set: i64, file: &str) -> String {
    format!("{}?size={FACE_THUMB_SIZE}", face_url(project, set, file))
}

/// The source frame of a face (JPEG), for the frame editor.
pub fn face_frame_url(project: i64, set: i64, file: &str) -> String {
    format!("{}/frame", face_url(project, set, file))
}

/// The frame editor of a face.
pub fn face_editor_url(project: i64, set: i64, file: &str) -> String {
    format!("/projects/{project}/facesets/{set}/faces/{file}")
}

/// A face of a set's trash (`thumb`: its small JPEG).
pub fn trashed_face_url(project: i64, set: i64, file: &str, thumb: bool) -> String {
    match thumb {
        true => format!("{}?size={FACE_THUMB_SIZE}&trash=true", face_url(project, set, file)),
        false => format!("{}?trash=true", face_url(project, set, file)),
    }
}

/// The training page of a project, showing `model` (the newest when `None`).
pub fn train_page_url(project: i64, model: Option<i64>) -> String {
    match model {
        Some(m) => format!("/projects/{project}/train?model={m}"),
        None => format!("/projects/{project}/train"),
    }
}

/// A model's latest preview grid; `iteration` (its save's) only makes the URL new after each
/// save, so the browser does not show a cached one.
pub fn model_preview_url(project: i64, model: i64, iteration: u64) -> String {
    format!("/api/projects/{project}/models/{model}/preview.png?v={iteration}")
}

/// One timelapse frame of a model, the preview grid of the fixed faces at `iteration`.
pub fn timelapse_frame_url(project: i64, model: i64, iteration: u64) -> String {
    format!("/api/projects/{project}/models/{model}/timelapse/{iteration:08}.png")
}

/// Server-sent events of a project: `job` (a [`JobDto`]), `media` (a [`MediaChanged`]),
/// `face` (a [`FaceAdded`]), `faces` (a [`FacesChanged`]), `train` (a [`TrainTick`]) and `saved` (a [`ModelSaved`]).
pub fn project_events_url(project: i64) -> String {
    format!("/api/projects/{project}/events")
}

/// Everything but RFC 3986's unreserved characters is percent-encoded in a query value.
const QUERY_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_are_percent_encoded() {
        assert_eq!(upload_url(3, "a b/../é.mp4"), "/api/projects/3/media?name=a%20b%2F..%2F%C3%A9.mp4");
    }
}
