//! One model in detail: where its training is (iterations of the target, losses,
//! examples/s, ETA), its latest preview, the loss graph, and the timelapse strip.

use crate::api::{model_preview_url, timelapse_frame_url, AppError, LossHistory, LossPoint, ModelDto, ModelStateDto, TimelapseFrames};
use crate::components::loss_graph::LossGraph;
use crate::components::models::{iterations_label, LiveTraining};
use crate::components::progress::ProgressBar;
use crate::format;
use leptos::prelude::*;

/// Most timelapse frames the strip shows (spread over the run, the newest always).
pub const STRIP_FRAMES: usize = 24;

#[component]
pub fn ModelView(
    project: i64,
    model: ModelDto,
    live: LiveTraining,
    history: Resource<Result<LossHistory, AppError>>,
    frames: Resource<Result<TimelapseFrames, AppError>>,
    smoothing: RwSignal<f64>,
) -> impl IntoView {
    let id = model.id;
    let target = model.settings.as_ref().and_then(|s| s.iterations);
    let batch = model.settings.as_ref().map(|s| s.batch);
    let m = StoredValue::new(model.clone());
    let state = move || m.with_value(|m| live.state(m));
    let training = move || state() == ModelStateDto::Training;
    let iteration = move || m.with_value(|m| live.iteration(m));
    let saved = move || m.with_value(|m| live.saved_iteration(m));
    let tick = move || live.ticks.with(|t| t.get(&id).cloned());
    let loss = move || tick().map(|t| (t.loss_a, t.loss_b)).or(m.with_value(|m| m.loss));
    let error = move || m.with_value(|m| live.job(m)).filter(|j| j.state == crate::api::JobStateDto::Failed).and_then(|j| j.error);
    let message = move || m.with_value(|m| live.job(m)).and_then(|j| j.message);
    view! {
        <div class="row spread">
            <h2 data-testid="model-name">{model.name.clone()}</h2>
            <span class=move || format!("badge state {}", state().label()) data-testid="model-state">{move || state().label()}</span>
        </div>
        <p class="hint">
            {format!("{}, batch {}", model.kind, batch.map(|b| b.to_string()).unwrap_or_else(|| "?".into()))}
            {model.created_by.clone().map(|u| format!(", started by {u}"))}
        </p>
        {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {move || message().map(|m| view! { <p data-testid="model-message">{m}</p> })}
        <dl class="facts train-facts">
            <dt>"Iteration"</dt><dd data-testid="model-iteration">{move || iterations_label(iteration(), target)}</dd>
            <dt>"Loss A"</dt><dd data-testid="loss-a">{move || loss().map(|l| format!("{:.5}", l.0)).unwrap_or_else(|| "–".into())}</dd>
            <dt>"Loss B"</dt><dd data-testid="loss-b">{move || loss().map(|l| format!("{:.5}", l.1)).unwrap_or_else(|| "–".into())}</dd>
            <dt>"Speed"</dt><dd data-testid="examples-per-second">{move || tick().filter(|_| training()).map(|t| format!("{:.1} examples/s", t.examples_per_second)).unwrap_or_else(|| "–".into())}</dd>
            <dt>"ETA"</dt><dd data-testid="eta">{move || tick().filter(|_| training()).and_then(|t| t.eta_seconds).map(format::duration).unwrap_or_else(|| "–".into())}</dd>
        </dl>
        {move || (training() && target.is_some()).then(|| {
            let (total, rate) = (target.unwrap_or(0) as f64, Option::<String>::None);
            let done = Signal::derive(move || iteration() as f64);
            let eta = Signal::derive(move || tick().and_then(|t| t.eta_seconds));
            let label = Signal::derive(move || iterations_label(iteration(), target));
            view! { <ProgressBar done=done total=total rate=rate eta_secs=eta label=label/> }
        })}
        <div class="train-panels">
            <div class="preview-panel">
                <h3>"Latest preview"</h3>
                {move || match saved() {
                    0 => view! { <p class="hint">"The first save makes a preview."</p> }.into_any(),
                    it => view! {
                        <a href=model_preview_url(project, id, it) target="_blank" rel="noopener">
                            <img class="model-preview" data-testid="model-preview" data-iteration=it src=model_preview_url(project, id, it) alt=format!("preview at iteration {it}")/>
                        </a>
                        <p class="hint">"A, A→A, A→B | B, B→B, B→A at iteration "{it}</p>
                    }.into_any(),
                }}
            </div>
            <div class="graph-panel">
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match history.await {
                            Ok(h) => {
                                let (base, after) = if h.model_id == Some(id) { (h.points, h.iterations) } else { (Vec::new(), 0) };
                                let points = Signal::derive(move || merged(&base, after, &live.points.with(|p| p.get(&id).cloned().unwrap_or_default())));
                                view! { <LossGraph points=points smoothing=smoothing/> }.into_any()
                            }
                            Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </div>
        </div>
        <h3>"Timelapse"</h3>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match frames.await {
                    Ok(f) if f.model_id == Some(id) && !f.iterations.is_empty() => view! { <TimelapseStrip project=project model=id frames=f.iterations/> }.into_any(),
                    Ok(_) => view! { <p class="hint">"Each save adds a frame of the same faces."</p> }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn TimelapseStrip(project: i64, model: i64, frames: Vec<u64>) -> impl IntoView {
    let total = frames.len();
    let shown = spread(&frames, STRIP_FRAMES);
    view! {
        <div class="timelapse" data-testid="timelapse" data-frames=total>
            {shown.into_iter().map(|it| {
                let href = timelapse_frame_url(project, model, it);
                let src = href.clone();
                view! {
                    <a href=href target="_blank" rel="noopener" title=format!("iteration {it}")>
                        <img src=src alt=format!("iteration {it}") loading="lazy" data-iteration=it/>
                    </a>
                }
            }).collect_view()}
        </div>
        {(total > STRIP_FRAMES).then(|| view! { <p class="hint">{format!("{STRIP_FRAMES} of {total} frames, spread over the run.")}</p> })}
    }
}

/// The saved history, then the live points after it.
fn merged(base: &[LossPoint], after: u64, live: &[LossPoint]) -> Vec<LossPoint> {
    let mut all = base.to_vec();
    all.extend(live.iter().filter(|p| p.iteration > after));
    all
}

/// At most `n` of `items`, evenly spread, the first and the last always among them.
fn spread(items: &[u64], n: usize) -> Vec<u64> {
    if items.len() <= n {
        return items.to_vec();
    }
    if n < 2 {
        return items.last().copied().into_iter().take(n).collect();
    }
    let last = items.len() - 1;
    let mut out: Vec<u64> = (0..n).map(|i| items[i * last / (n - 1)]).collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strip_spreads_its_frames_over_the_run() {
        let frames: Vec<u64> = (1..=100).map(|i| i * 250).collect();
        let s = spread(&frames, 24);
        assert_eq!(s.len(), 24);
        assert_eq!((s[0], s[23]), (250, 25_000), "the first and the newest");
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(spread(&[2, 4, 6], 24), vec![2, 4, 6]);
    }

    #[test]
    fn live_points_continue_the_saved_history() {
        let p = |i: u64| LossPoint { iteration: i, a: 1.0, b: 1.0 };
        let all = merged(&[p(1), p(2)], 2, &[p(2), p(3), p(4)]);
        assert_eq!(all.iter().map(|p| p.iteration).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    }
}
