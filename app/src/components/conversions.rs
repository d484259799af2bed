//! The project's conversions: each with its state and live progress, the video to play and
//! download when done, and Stop / Convert again.

use crate::api::{conversion_file_url, CancelJob, ConversionDto, ConversionStateDto, JobDto, JobStateDto, ResumeJob, RoleDto, TrashConversion};
use crate::components::{action_error, progress::ProgressBar};
use crate::format;
use leptos::prelude::*;
use std::collections::HashMap;

#[component]
pub fn ConversionList(project: i64, role: RoleDto, conversions: Vec<ConversionDto>, live: RwSignal<HashMap<i64, JobDto>>, on_change: Callback<()>) -> impl IntoView {
    if conversions.is_empty() {
        return view! { <p class="hint">"No conversions yet."</p> }.into_any();
    }
    let cancel = ServerAction::<CancelJob>::new();
    let resume = ServerAction::<ResumeJob>::new();
    let trash = ServerAction::<TrashConversion>::new();
    Effect::new(move |_| {
        let ok = |v: Option<bool>| v.unwrap_or(false);
        // `|`, not `||`: the effect follows all three.
        if ok(cancel.value().with(|v| v.as_ref().map(Result::is_ok))) | ok(resume.value().with(|v| v.as_ref().map(Result::is_ok))) | ok(trash.value().with(|v| v.as_ref().map(Result::is_ok))) {
            on_change.run(());
        }
    });
    view! {
        <ul class="conversions" data-testid="conversions">
            {conversions.into_iter().map(|c| {
                let id = c.id;
                let job_id = c.job.as_ref().map(|j| j.id).unwrap_or(0);
                let job = StoredValue::new(c.job.clone());
                let current = move || job.with_value(|j| j.as_ref().map(|j| live.with(|l| l.get(&j.id).cloned()).unwrap_or_else(|| j.clone())));
                let state = move || match current().map(|j| j.state) {
                    Some(JobStateDto::Queued) => ConversionStateDto::Queued,
                    Some(JobStateDto::Running) => ConversionStateDto::Converting,
                    Some(JobStateDto::Done) => ConversionStateDto::Done,
                    Some(JobStateDto::Failed) => ConversionStateDto::Failed,
                    Some(JobStateDto::Cancelled | JobStateDto::Interrupted) | None => ConversionStateDto::Stopped,
                };
                let done_now = c.state == ConversionStateDto::Done;
                let about = format!("{} · {}", c.media_label.clone().unwrap_or_else(|| "(video gone)".into()), c.model_name.clone().unwrap_or_else(|| "(model gone)".into()));
                let size = c.size_bytes.map(|b| format::bytes(b as f64));
                view! {
                    <li data-conversion-id=id data-state=move || state().label()>
                        <div class="row spread">
                            <strong>{c.label.clone()}</strong>
                            <span class=move || format!("badge state {}", state().label())>{move || state().label()}</span>
                        </div>
                        <p class="hint">{about}{c.created_by.clone().map(|u| format!(" · started by {u}"))}</p>
                        {move || current().filter(|j| j.state == JobStateDto::Running).map(|j| {
                            let rate = j.rate.map(|r| format!("{r:.1} frames/s"));
                            view! { <ProgressBar done=j.done as f64 total=j.total as f64 rate=rate eta_secs=j.eta_secs label=format!("{} / {} frames", j.done, j.total)/> }
                        })}
                        {move || current().and_then(|j| j.error).map(|e| view! { <p class="error">{e}</p> })}
                        {c.summary.clone().map(|s| view! { <p data-testid="conversion-summary">{s}</p> })}
                        {done_now.then(|| view! {
                            <video controls preload="metadata" src=conversion_file_url(project, id, false) data-testid="conversion-video"></video>
                            <p class="row">
                                <a href=conversion_file_url(project, id, true) download=c.label.clone() data-testid="conversion-download">"Download"</a>
                                {size.map(|s| view! { <span class="hint">{s}</span> })}
                                <span class="hint">"Marked as synthetic media (metadata)."</span>
                            </p>
                        })}
                        {role.can_edit().then(|| view! {
                            <span class="row">
                                {move || matches!(state(), ConversionStateDto::Queued | ConversionStateDto::Converting).then(|| view! {
                                    <ActionForm action=cancel attr:class="inline">
                                        <input type="hidden" name="project" value=project/>
                                        <input type="hidden" name="job" value=job_id/>
                                        <button type="submit" data-testid="stop-conversion">"Stop"</button>
                                    </ActionForm>
                                })}
                                {move || matches!(state(), ConversionStateDto::Stopped | ConversionStateDto::Failed).then(|| view! {
                                    <ActionForm action=resume attr:class="inline">
                                        <input type="hidden" name="project" value=project/>
                                        <input type="hidden" name="job" value=job_id/>
                                        <button type="submit" data-testid="retry-conversion">"Convert again"</button>
                                    </ActionForm>
                                })}
                                {move || matches!(state(), ConversionStateDto::Done | ConversionStateDto::Stopped | ConversionStateDto::Failed).then(|| view! {
                                    <ActionForm action=trash attr:class="inline">
                                        <input type="hidden" name="project" value=project/>
                                        <input type="hidden" name="conversion" value=id/>
                                        <button type="submit" class="danger">"Move to trash"</button>
                                    </ActionForm>
                                })}
                            </span>
                        })}
                    </li>
                }
            }).collect_view()}
        </ul>
        {action_error(cancel.value())}
        {action_error(resume.value())}
        {action_error(trash.value())}
    }
    .into_any()
}
