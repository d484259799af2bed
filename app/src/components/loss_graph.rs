//! The loss graph of a model: A and B by iteration on a log scale, as inline SVG; the raw
//! points faint, an exponential moving average (the slider sets its weight) drawn over them.

use crate::api::LossPoint;
use crate::chart::{count_label, ema, linear_ticks, log_range, log_ticks, path, tick_label};
use leptos::prelude::*;

/// The SVG's own units (it scales to its box).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;

/// Where the smoothing slider starts.
pub const DEFAULT_SMOOTHING: f64 = 0.6;

/// What the SVG draws: path data and the axes' ticks, in SVG units.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Drawing {
    pub raw_a: String,
    pub raw_b: String,
    pub smooth_a: String,
    pub smooth_b: String,
    /// (y, label)
    pub y_ticks: Vec<(f64, String)>,
    /// (x, label)
    pub x_ticks: Vec<(f64, String)>,
}

impl Drawing {
    /// The drawing of `points` (in iteration order) smoothed with `weight`; `None` when
    /// nothing can be drawn on a log scale.
    pub fn new(points: &[LossPoint], weight: f64) -> Option<Drawing> {
        let (a, b): (Vec<f32>, Vec<f32>) = points.iter().map(|p| (p.a, p.b)).unzip();
        let (sa, sb) = (ema(&a, weight), ema(&b, weight));
        let (lo, hi) = log_range(a.iter().chain(&b).chain(&sa).chain(&sb).copied())?;
        let last = points.iter().map(|p| p.iteration).max().unwrap_or(0).max(1);
        let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        let x = move |it: u64| LEFT + it as f64 / last as f64 * w;
        let y = move |v: f64| TOP + (hi - v.log10()) / (hi - lo) * h;
        let line = |values: &[f32]| {
            let xy: Vec<(f64, f64)> = points.iter().zip(values).filter(|(_, v)| v.is_finite() && **v > 0.0).map(|(p, v)| (x(p.iteration), y(*v as f64))).collect();
            path(&xy)
        };
        Some(Drawing {
            raw_a: line(&a),
            raw_b: line(&b),
            smooth_a: line(&sa),
            smooth_b: line(&sb),
            y_ticks: log_ticks(lo, hi).into_iter().map(|v| (y(v), tick_label(v))).collect(),
            x_ticks: linear_ticks(last, 5).into_iter().map(|it| (x(it), count_label(it))).collect(),
        })
    }
}

#[component]
pub fn LossGraph(#[prop(into)] points: Signal<Vec<LossPoint>>, smoothing: RwSignal<f64>) -> impl IntoView {
    let drawing = Memo::new(move |_| points.with(|p| Drawing::new(p, smoothing.get())));
    let (x0, x1, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM);
    view! {
        <div class="loss-graph" data-testid="loss-graph" data-points=move || points.with(Vec::len)>
            <div class="row spread">
                <span class="legend"><span class="key a"></span>"A "<span class="key b"></span>"B"<span class="hint">" (loss, log scale)"</span></span>
                <label class="row smoothing">"Smoothing"
                    <input type="range" min="0" max="0.99" step="0.01" data-testid="smoothing"
                        prop:value=move || smoothing.get().to_string()
                        on:input=move |ev| {
                            if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                                smoothing.set(v.clamp(0.0, 0.99));
                            }
                        }/>
                    <span class="value">{move || format!("{:.2}", smoothing.get())}</span>
                </label>
            </div>
            <svg class="chart" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label="loss of A and B by iteration, log scale">
                <line class="axis" x1=x0 y1=TOP x2=x0 y2=y1/>
                <line class="axis" x1=x0 y1=y1 x2=x1 y2=y1/>
                {move || match drawing.get() {
                    None => view! {
                        <text class="empty" x=WIDTH / 2.0 y=HEIGHT / 2.0 text-anchor="middle">"No iterations yet"</text>
                    }.into_any(),
                    Some(d) => view! {
                        {d.y_ticks.into_iter().map(|(y, label)| view! {
                            <line class="grid" x1=x0 y1=y x2=x1 y2=y/>
                            <text class="tick" x=x0 - 4.0 y=y + 3.0 text-anchor="end">{label}</text>
                        }).collect_view()}
                        {d.x_ticks.into_iter().map(|(x, label)| view! {
                            <text class="tick" x=x y=y1 + 14.0 text-anchor="middle">{label}</text>
                        }).collect_view()}
                        <path class="raw a" d=d.raw_a/>
                        <path class="raw b" d=d.raw_b/>
                        <path class="smooth a" d=d.smooth_a data-testid="line-a"/>
                        <path class="smooth b" d=d.smooth_b data-testid="line-b"/>
                    }.into_any(),
                }}
            </svg>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: u64) -> Vec<LossPoint> {
        (1..=n).map(|i| LossPoint { iteration: i, a: 1.0 / i as f32, b: 0.5 / i as f32 }).collect()
    }

    #[test]
    fn falling_losses_draw_down_the_log_axis() {
        let d = Drawing::new(&points(100), 0.0).unwrap();
        let first = |path: &str| path[1..].split('L').next().unwrap().split(' ').map(|v| v.parse::<f64>().unwrap()).collect::<Vec<_>>();
        let last = |path: &str| path.rsplit('L').next().unwrap().split(' ').map(|v| v.parse::<f64>().unwrap()).collect::<Vec<_>>();
        let (a0, a1) = (first(&d.raw_a), last(&d.raw_a));
        assert!(a0[0] < a1[0] && a0[1] < a1[1], "right and down: {a0:?} -> {a1:?}");
        assert!((a1[0] - (WIDTH - RIGHT)).abs() < 0.1, "the last iteration at the right edge");
        // On a log scale, B (half of A everywhere) is the same distance below A all along.
        let (b0, b1) = (first(&d.raw_b), last(&d.raw_b));
        assert!(((b0[1] - a0[1]) - (b1[1] - a1[1])).abs() < 0.2, "{a0:?} {b0:?} {a1:?} {b1:?}");
        assert_eq!(d.raw_a.matches('L').count(), 99);
        assert_eq!(d.raw_a, d.smooth_a, "no smoothing at weight 0");
        let labels: Vec<&str> = d.y_ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"]);
        assert!(d.y_ticks.windows(2).all(|w| w[0].0 > w[1].0), "bigger losses higher up");
        assert_eq!(d.x_ticks.last().unwrap().1, "100");
    }

    #[test]
    fn smoothing_changes_the_smooth_lines_only() {
        let mut p = points(50);
        p[10].a = 10.0;
        let d = Drawing::new(&p, 0.9).unwrap();
        let plain = Drawing::new(&p, 0.0).unwrap();
        assert_eq!(d.raw_a, plain.raw_a);
        assert_ne!(d.smooth_a, plain.smooth_a);
    }

    #[test]
    fn nothing_to_draw_without_positive_losses() {
        assert_eq!(Drawing::new(&[], 0.5), None);
        assert_eq!(Drawing::new(&[LossPoint { iteration: 1, a: 0.0, b: f32::NAN }], 0.5), None);
        let one = Drawing::new(&[LossPoint { iteration: 1, a: 0.2, b: 0.3 }], 0.5).unwrap();
        assert!(one.raw_a.starts_with('M') && !one.raw_a.contains('L'));
    }
}
