//! Numbers as people read them.

pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n.max(0.0);
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `12.4` -> `12 s`; `75.4` -> `1:15`; `3725` -> `1:02:05`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "–".into();
    }
    let s = secs.round() as u64;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h == 0 && m == 0 {
        format!("{s} s")
    } else if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Frame rates keep two decimals only when they need them (29.97, 23.98).
pub fn fps(fps: f64) -> String {
    if (fps - fps.round()).abs() < 0.005 {
        format!("{:.0}", fps.round())
    } else {
        format!("{fps:.2}")
    }
}

/// A short container name: the file's extension when FFmpeg's demuxer covers it
/// (`mov,mp4,m4a,…` for `clip.mp4` -> `mp4`), else the demuxer's first name (`jpeg_pipe` -> `jpeg`).
pub fn container(demuxer: &str, file_name: &str) -> String {
    let ext = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let names: Vec<&str> = demuxer.split(',').collect();
    match ext {
        Some(e) if names.contains(&e.as_str()) => e,
        _ => names.first().unwrap_or(&"").trim_end_matches("_pipe").to_string(),
    }
}

pub fn percent(done: f64, total: f64) -> f64 {
    if total <= 0.0 {
        0.0
    } else {
        (done / total * 100.0).clamp(0.0, 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1_430_968.0), "1.4 MB");
        assert_eq!(duration(11.8), "12 s");
        assert_eq!(duration(75.4), "1:15");
        assert_eq!(duration(3725.0), "1:02:05");
        assert_eq!(duration(f64::INFINITY), "–");
        assert_eq!(fps(30.0), "30");
        assert_eq!(fps(30000.0 / 1001.0), "29.97");
        assert_eq!(fps(24000.0 / 1001.0), "23.98");
        assert_eq!(container("mov,mp4,m4a,3gp,3g2,mj2", "talk.MP4"), "mp4");
        assert_eq!(container("mov,mp4,m4a,3gp,3g2,mj2", "phone.mov"), "mov");
        assert_eq!(container("jpeg_pipe", "obama.jpg"), "jpeg");
        assert_eq!(container("avi", "cartoon"), "avi");
        assert_eq!(percent(5.0, 0.0), 0.0);
        assert_eq!(percent(5.0, 10.0), 50.0);
    }
}
