use crate::api::{face_set_page_url, FaceSetDto};
use leptos::prelude::*;
use leptos_router::components::A;

/// The project's face sets: name, source, state and counts, each a link to its page.
#[component]
pub fn FaceSetList(project: i64, sets: Vec<FaceSetDto>) -> impl IntoView {
    if sets.is_empty() {
        return view! { <p class="hint">"No face sets yet: extract faces from a video or photo above."</p> }.into_any();
    }
    view! {
        <ul class="face-sets" data-testid="face-sets">
            {sets.into_iter().map(|s| view! {
                <li data-face-set-id=s.id data-state=s.state.label()>
                    <A href=face_set_page_url(project, s.id)>{s.name.clone()}</A>
                    <span class="badge state">{s.state.label()}</span>
                    <span class="hint" data-testid="face-count">{count(s.face_count, "face")}</span>
                    <span class="hint">{s.source_label.clone().map(|l| format!("from {l}"))}</span>
                </li>
            }).collect_view()}
        </ul>
    }
    .into_any()
}

/// "1 face", "12 faces"
pub fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
