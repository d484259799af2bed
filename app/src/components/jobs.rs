use crate::api::{AppError, CancelJob, JobDto, ResumeJob, RoleDto};
use crate::components::{action_error, progress::ProgressBar};
use crate::format;
use leptos::prelude::*;

/// Jobs of a project: loaded once, then kept current by live events.
#[component]
pub fn JobList(
    project: i64,
    role: RoleDto,
    loaded: Result<Vec<JobDto>, AppError>,
    live: RwSignal<Vec<JobDto>>,
) -> impl IntoView {
    let cancel = ServerAction::<CancelJob>::new();
    let resume = ServerAction::<ResumeJob>::new();
    let (base, error) = match loaded {
        Ok(list) => (list, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let jobs = move || {
        let live = live.get();
        let mut all: Vec<JobDto> = live.iter().filter(|j| !base.iter().any(|b| b.id == j.id)).cloned().collect();
        all.extend(base.iter().map(|b| live.iter().find(|j| j.id == b.id).unwrap_or(b).clone()));
        all.sort_by(|a, b| b.id.cmp(&a.id));
        all
    };
    view! {
        {error.map(|e| view! { <p class="error">{e.to_string()}</p> })}
        <ul class="jobs" data-testid="jobs">
            <For each=jobs key=|j| (j.id, j.state, j.done) let:job>
                <JobRow job=job project=project role=role cancel=cancel resume=resume/>
            </For>
        </ul>
        {action_error(cancel.value())}
        {action_error(resume.value())}
    }
}

#[component]
fn JobRow(
    job: JobDto,
    project: i64,
    role: RoleDto,
    cancel: ServerAction<CancelJob>,
    resume: ServerAction<ResumeJob>,
) -> impl IntoView {
    let unit = match job.kind.as_str() {
        "probe" => "steps",
        crate::api::EXTRACT_JOB => "frames",
        crate::api::TRAIN_JOB => "iterations",
        crate::api::CONVERT_JOB => "frames",
        _ => "items",
    };
    let rate = job.rate.map(|r| format!("{r:.1} {unit}/s"));
    let label = format!("{} / {}", job.done, job.total);
    let show_bar = matches!(job.state, crate::api::JobStateDto::Running);
    view! {
        <li class=format!("job {}", job.state.label()) data-job-id=job.id>
            <div class="row spread">
                <span class="title">{job.title.clone()}</span>
                <span class="badge state">{job.state.label()}</span>
            </div>
            {show_bar.then(|| view! {
                <ProgressBar done=job.done as f64 total=job.total as f64 rate=rate eta_secs=job.eta_secs label=label/>
            })}
            {job.message.clone().map(|m| view! { <p class="message" data-testid="job-message">{m}</p> })}
            {job.error.clone().map(|e| view! { <p class="error">{e}</p> })}
            <p class="hint">
                {job.started_by.clone().map(|u| format!("started by {u}"))}
                {job.device.clone().map(|d| view! { " · on " <code data-testid="job-device">{d}</code> })}
                {job.finished_at.zip(job.started_at).map(|(f, s)| format!(" · took {}", format::duration((f - s) as f64)))}
            </p>
            {(!job.log_tail.is_empty()).then(|| view! {
                <details><summary>"log"</summary><pre class="log">{job.log_tail.clone()}</pre></details>
            })}
            {(role.can_edit() && job.state.can_cancel()).then(|| view! {
                <ActionForm action=cancel attr:class="inline">
                    <input type="hidden" name="project" value=project/>
                    <input type="hidden" name="job" value=job.id/>
                    <button type="submit">"Cancel"</button>
                </ActionForm>
            })}
            {(role.can_edit() && job.state.can_resume()).then(|| view! {
                <ActionForm action=resume attr:class="inline">
                    <input type="hidden" name="project" value=project/>
                    <input type="hidden" name="job" value=job.id/>
                    <button type="submit">"Resume"</button>
                </ActionForm>
            })}
        </li>
    }
}
