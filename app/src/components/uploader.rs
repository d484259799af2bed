//! Uploads files from the browser with live progress (bytes, speed, ETA) per file.
//!
//! Each file is sent as the raw body of its own request (XMLHttpRequest reports upload
//! progress); the server streams it to disk and answers with JSON.

use crate::components::progress::ProgressBar;
use crate::format;
use leptos::prelude::*;

// Constructed in the browser only.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum UploadStatus {
    Sending,
    Done,
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
struct UploadRow {
    key: u32,
    name: String,
    loaded: f64,
    total: f64,
    started_ms: f64,
    now_ms: f64,
    status: UploadStatus,
}

impl UploadRow {
    fn rate(&self) -> Option<f64> {
        let secs = (self.now_ms - self.started_ms) / 1000.0;
        (secs > 0.2 && self.loaded > 0.0).then(|| self.loaded / secs)
    }

    fn eta_secs(&self) -> Option<f64> {
        self.rate().map(|r| (self.total - self.loaded).max(0.0) / r)
    }
}

/// Picks files (several at once) and uploads them to the project.
#[component]
pub fn Uploader(project: i64, on_uploaded: Callback<()>) -> impl IntoView {
    let rows = RwSignal::new(Vec::<UploadRow>::new());
    let input = NodeRef::<leptos::html::Input>::new();
    let next_key = StoredValue::new(0u32);
    let on_change = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(el) = input.get() {
            if let Some(files) = el.files() {
                for i in 0..files.length() {
                    if let Some(file) = files.get(i) {
                        let key = next_key.get_value();
                        next_key.set_value(key + 1);
                        browser::send(project, file, key, rows, on_uploaded);
                    }
                }
            }
            el.set_value("");
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (project, &input, next_key, on_uploaded);
    };
    view! {
        <section class="card uploader">
            <h2>"Upload videos or photos"</h2>
            <label class="drop">
                <input type="file" multiple accept="video/*,image/*" node_ref=input on:change=on_change data-testid="upload-input"/>
                <span>"Choose files…"</span>
            </label>
            <ul class="uploads" data-testid="uploads">
                <For each=move || rows.get() key=|r| (r.key, r.loaded as u64, r.status.clone()) let:row>
                    <UploadRowView row=row/>
                </For>
            </ul>
        </section>
    }
}

#[component]
fn UploadRowView(row: UploadRow) -> impl IntoView {
    let rate = row.rate().map(|r| format!("{}/s", format::bytes(r)));
    let eta = row.eta_secs();
    let label = format!("{} / {}", format::bytes(row.loaded), format::bytes(row.total));
    let (class, status) = match &row.status {
        UploadStatus::Sending => ("sending", String::new()),
        UploadStatus::Done => ("done", "uploaded".to_string()),
        UploadStatus::Failed(e) => ("failed", e.clone()),
    };
    view! {
        <li class=format!("upload {class}") data-upload=row.name.clone()>
            <strong>{row.name.clone()}</strong>
            <ProgressBar done=row.loaded total=row.total rate=rate eta_secs=eta label=label/>
            <span class="status" role=if class == "failed" { "alert" } else { "status" }>{status}</span>
        </li>
    }
}

/// Reads the server's `{"error": ...}` answer, or says what the status means.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn error_message(status: u16, body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(b) => b.error,
        Err(_) if status == 413 => "the file is larger than this server accepts".into(),
        Err(_) if status == 0 => "the upload did not reach the server".into(),
        Err(_) => format!("the server answered {status}"),
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::*;
    use crate::api::upload_url;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use web_sys::{File, ProgressEvent, XmlHttpRequest};

    fn now_ms() -> f64 {
        web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or(0.0)
    }

    fn update(rows: RwSignal<Vec<UploadRow>>, key: u32, f: impl FnOnce(&mut UploadRow)) {
        rows.update(|rs| {
            if let Some(r) = rs.iter_mut().find(|r| r.key == key) {
                f(r)
            }
        });
    }

    pub(super) fn send(project: i64, file: File, key: u32, rows: RwSignal<Vec<UploadRow>>, on_uploaded: Callback<()>) {
        let start = now_ms();
        rows.update(|rs| {
            rs.push(UploadRow {
                key,
                name: file.name(),
                loaded: 0.0,
                total: file.size(),
                started_ms: start,
                now_ms: start,
                status: UploadStatus::Sending,
            })
        });
        let fail = move |msg: String| update(rows, key, |r| r.status = UploadStatus::Failed(msg));
        let Ok(xhr) = XmlHttpRequest::new() else { return fail("this browser cannot upload".into()) };
        if xhr.open("POST", &upload_url(project, &file.name())).is_err() {
            return fail("could not start the upload".into());
        }
        let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |ev: ProgressEvent| {
            update(rows, key, |r| {
                r.loaded = ev.loaded();
                r.now_ms = now_ms();
            })
        });
        if let Ok(upload) = xhr.upload() {
            upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        }
        let answered = xhr.clone();
        let on_load = Closure::<dyn FnMut()>::new(move || {
            let status = answered.status().unwrap_or(0);
            if (200..300).contains(&status) {
                update(rows, key, |r| {
                    r.loaded = r.total;
                    r.now_ms = now_ms();
                    r.status = UploadStatus::Done;
                });
                on_uploaded.run(());
            } else {
                let body = answered.response_text().ok().flatten().unwrap_or_default();
                fail(error_message(status, &body));
            }
        });
        xhr.set_onload(Some(on_load.as_ref().unchecked_ref()));
        let on_error = Closure::<dyn FnMut()>::new(move || fail(error_message(0, "")));
        xhr.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        if xhr.send_with_opt_blob(Some(&file)).is_err() {
            fail("could not send the file".into());
        }
        // The request owns its handlers until it ends; they are small and live as long as it.
        on_progress.forget();
        on_load.forget();
        on_error.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_shown_as_sent() {
        assert_eq!(error_message(413, r#"{"error":"clip.mp4 is 5.0 GB, over the 4.3 GB limit"}"#), "clip.mp4 is 5.0 GB, over the 4.3 GB limit");
        assert_eq!(error_message(413, "<html>"), "the file is larger than this server accepts");
        assert_eq!(error_message(500, ""), "the server answered 500");
    }

    #[test]
    fn rate_and_eta_follow_bytes_over_time() {
        let row = UploadRow { key: 0, name: "a".into(), loaded: 2e6, total: 10e6, started_ms: 0.0, now_ms: 2000.0, status: UploadStatus::Sending };
        assert_eq!(row.rate(), Some(1e6));
        assert_eq!(row.eta_secs(), Some(8.0));
    }
}
