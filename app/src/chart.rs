//! The arithmetic of the loss graph: smoothing, a log-scale y axis with ticks people can read,
//! a linear x axis, and SVG path data. No Leptos here, so it is tested as plain functions.

/// An exponential moving average with `weight` in `[0, 1)` (0: the values as they are),
/// corrected for its start (as TensorBoard does, so the first points are not pulled towards
/// zero). Non-finite values are skipped: the average carries on over them.
pub fn ema(values: &[f32], weight: f64) -> Vec<f32> {
    let w = weight.clamp(0.0, 0.999);
    let (mut acc, mut n) = (0.0f64, 0i32);
    values
        .iter()
        .map(|&v| {
            if v.is_finite() {
                acc = acc * w + (1.0 - w) * v as f64;
                n += 1;
            }
            if n == 0 {
                v
            } else {
                (acc / (1.0 - w.powi(n))) as f32
            }
        })
        .collect()
}

/// The y range of a log-scale axis over the positive finite values, in powers of ten
/// (`log10` of the bottom and the top), with a little room above and below. `None` when no
/// value can be drawn on a log scale.
pub fn log_range(values: impl IntoIterator<Item = f32>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v as f64), hi.max(v as f64)));
    if !lo.is_finite() {
        return None;
    }
    let (lo, hi) = (lo.log10(), hi.log10());
    let pad = ((hi - lo) * 0.05).max(0.02);
    Some((lo - pad, hi + pad))
}

/// Tick values of a log axis from `10^lo` to `10^hi`: the 1-2-5 steps of each decade, only
/// the powers of ten when those are too many, every digit when the range is narrow, and the
/// two ends when even those miss it.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let within = |mantissas: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        for exp in (lo.floor() as i32)..=(hi.ceil() as i32) {
            for m in mantissas {
                let v = m * 10f64.powi(exp);
                let l = v.log10();
                if l >= lo - 1e-9 && l <= hi + 1e-9 {
                    out.push(v);
                }
            }
        }
        out
    };
    let steps = within(&[1.0, 2.0, 5.0]);
    if steps.len() > 8 {
        return within(&[1.0]);
    }
    if steps.len() >= 2 {
        return steps;
    }
    let digits = within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    if digits.len() >= 2 {
        return digits;
    }
    vec![10f64.powf(lo), 10f64.powf(hi)]
}

/// Up to about `count` round tick values from 0 to `max` (1, 2 or 5 times a power of ten
/// apart).
pub fn linear_ticks(max: u64, count: u64) -> Vec<u64> {
    if max == 0 || count == 0 {
        return vec![0];
    }
    let raw = (max as f64 / count as f64).max(1.0);
    let power = 10f64.powi(raw.log10().floor() as i32);
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|s| *s >= raw).unwrap_or(10.0 * power).max(1.0) as u64;
    (0..=max / step).map(|i| i * step).collect()
}

/// A tick's label with at most two significant digits: `0.05`, `0.2`, `1`, `3e-4`, `20`.
pub fn tick_label(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let exp = v.log10().floor() as i32;
    if !(-3..=4).contains(&exp) {
        let m = v / 10f64.powi(exp);
        let m = format!("{m:.1}");
        let m = m.trim_end_matches('0').trim_end_matches('.');
        return format!("{m}e{exp}");
    }
    let decimals = (1 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// An iteration count for an axis: `800`, `12k`, `1.5M`.
pub fn count_label(n: u64) -> String {
    let short = |v: f64, unit: &str| {
        let s = format!("{v:.1}");
        format!("{}{unit}", s.trim_end_matches('0').trim_end_matches('.'))
    };
    match n {
        0..10_000 => n.to_string(),
        10_000..1_000_000 => short(n as f64 / 1e3, "k"),
        _ => short(n as f64 / 1e6, "M"),
    }
}

/// SVG path data through `points` (a move, then lines); empty for no points.
pub fn path(points: &[(f64, f64)]) -> String {
    let mut d = String::with_capacity(points.len() * 14);
    for (i, (x, y)) in points.iter().enumerate() {
        d.push(if i == 0 { 'M' } else { 'L' });
        d.push_str(&format!("{x:.1} {y:.1}"));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_starts_at_the_first_value_and_follows_slowly() {
        assert_eq!(ema(&[4.0, 2.0], 0.0), vec![4.0, 2.0], "no smoothing");
        let s = ema(&[1.0, 1.0, 1.0], 0.9);
        assert!(s.iter().all(|v| (v - 1.0).abs() < 1e-6), "a constant stays itself: {s:?}");
        let s = ema(&[1.0, 0.0], 0.5);
        assert!((s[1] - 1.0 / 3.0).abs() < 1e-6, "(0.25 + 0) / 0.75: {s:?}");
        let s = ema(&[f32::NAN, 2.0, f32::INFINITY, 2.0], 0.5);
        assert!(s[0].is_nan() && s[1] == 2.0 && s[2] == 2.0 && s[3] == 2.0, "{s:?}");
    }

    #[test]
    fn the_log_range_covers_the_positive_values_with_room() {
        let (lo, hi) = log_range([0.1, 0.01, f32::NAN, 0.0, -1.0]).unwrap();
        assert!(lo < -2.0 && lo > -2.1 && hi > -1.0 && hi < -0.9, "{lo} {hi}");
        assert!(log_range([0.0, -1.0, f32::NAN]).is_none());
        let (lo, hi) = log_range([0.5]).unwrap();
        assert!(lo < hi, "one value still has a range");
    }

    #[test]
    fn log_ticks_are_round_and_inside() {
        assert_eq!(log_ticks(-2.0, 0.0), vec![0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]);
        let many = log_ticks(-6.0, 1.0);
        assert_eq!(many.len(), 8, "only the powers of ten over many decades: {many:?}");
        let narrow = log_ticks(0.12f64.log10(), 0.45f64.log10());
        assert_eq!(narrow.len(), 3, "every digit of a narrow range: {narrow:?}");
        assert!((narrow[0] - 0.2).abs() < 1e-9 && (narrow[2] - 0.4).abs() < 1e-9, "{narrow:?}");
        let tiny = log_ticks(0.121f64.log10(), 0.122f64.log10());
        assert_eq!(tiny.len(), 2, "the ends when nothing round is inside: {tiny:?}");
    }

    #[test]
    fn labels_read_well() {
        assert_eq!(tick_label(0.05), "0.05");
        assert_eq!(tick_label(0.2), "0.2");
        assert_eq!(tick_label(1.0), "1");
        assert_eq!(tick_label(20.0), "20");
        assert_eq!(tick_label(0.0003), "3e-4");
        assert_eq!(tick_label(0.1234), "0.12");
        assert_eq!(count_label(800), "800");
        assert_eq!(count_label(12_000), "12k");
        assert_eq!(count_label(1_500_000), "1.5M");
    }

    #[test]
    fn linear_ticks_step_by_round_numbers() {
        assert_eq!(linear_ticks(6, 5), vec![0, 2, 4, 6]);
        assert_eq!(linear_ticks(1000, 5), vec![0, 200, 400, 600, 800, 1000]);
        assert_eq!(linear_ticks(3, 5), vec![0, 1, 2, 3]);
        assert_eq!(linear_ticks(0, 5), vec![0]);
    }

    #[test]
    fn paths_move_then_draw() {
        assert_eq!(path(&[(0.0, 1.0), (2.5, 3.26)]), "M0.0 1.0L2.5 3.3");
        assert_eq!(path(&[]), "");
    }
}
