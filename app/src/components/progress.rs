use crate::format;
use leptos::prelude::*;

/// A progress bar with "done / total", rate and ETA.
#[component]
pub fn ProgressBar(
    #[prop(into)] done: Signal<f64>,
    #[prop(into)] total: Signal<f64>,
    /// Already formatted, e.g. "2.1 MB/s" or "12 frames/s".
    #[prop(into)]
    rate: Signal<Option<String>>,
    #[prop(into)] eta_secs: Signal<Option<f64>>,
    #[prop(into)] label: Signal<String>,
) -> impl IntoView {
    let pct = move || format::percent(done.get(), total.get());
    view! {
        <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=move || format!("{:.0}", pct())>
            <div class="bar" style:width=move || format!("{:.1}%", pct())></div>
        </div>
        <div class="progress-facts">
            <span>{move || label.get()}</span>
            <span>{move || format!("{:.0}%", pct())}</span>
            {move || rate.get().map(|r| view! { <span class="rate">{r}</span> })}
            {move || eta_secs.get().map(|e| view! { <span class="eta">"ETA "{format::duration(e)}</span> })}
        </div>
    }
}
