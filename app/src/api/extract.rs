//! Extraction options: what the form sends (text, possibly empty), checked into the
//! parameters of an `extract` job. The same checks run in the server function; the job reads
//! the parameters back with serde.

use serde::{Deserialize, Serialize};

/// The job kind that extracts faces (the server's `JobKind::Extract`).
pub const EXTRACT_JOB: &str = "extract";

/// Defaults shown in the form and used for empty fields.
pub const DEFAULT_EVERY_N: u64 = 1;
pub const DEFAULT_FACE_SIZE: u32 = 512;
pub const DEFAULT_MIN_SIZE: u32 = 0;
pub const DEFAULT_RE_FEED: u32 = 1;
/// Identity descriptors nearer than this are the same person (the engine's default).
pub const DEFAULT_THRESHOLD: f32 = 0.6;

/// Bounds, inclusive.
pub const FACE_SIZE_RANGE: (u32, u32) = (64, 2048);
pub const MAX_EVERY_N: u64 = 100_000;
pub const MAX_MIN_SIZE: u32 = 4096;
pub const MAX_RE_FEED: u32 = 10;
pub const MAX_THRESHOLD: f32 = 2.0;
/// Reference photos per side of the identity filter.
pub const MAX_REFERENCES: usize = 16;

/// The parameters of an `extract` job, as stored in the job table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractParams {
    pub media_id: i64,
    /// Set by the store when it creates the face set with the job.
    #[serde(default)]
    pub face_set_id: i64,
    /// The source's label, for the job's title.
    pub label: String,
    pub every_n: u64,
    /// Inclusive range of frame indices.
    pub frames: Option<(u64, u64)>,
    pub size: u32,
    pub min_size: u32,
    pub re_feed: u32,
    pub threshold: f32,
    /// Media ids of reference photos: keep only these people ...
    pub filter: Vec<i64>,
    /// ... and drop these.
    pub nfilter: Vec<i64>,
    /// The compute device it runs on (`cpu`, `cuda:0`, `wgpu:1`), checked against the
    /// server's when the job is made; the server's default is written when the form names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// The form's fields as sent: empty means "the default".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractForm {
    pub every_n: String,
    pub frame_from: String,
    pub frame_to: String,
    pub size: String,
    pub min_size: String,
    pub re_feed: String,
    pub threshold: String,
    /// Media ids, separated by commas or spaces.
    pub filter: String,
    pub nfilter: String,
}

impl ExtractForm {
    /// Checks every field; `frame_count` is the source's, when it is a video.
    pub fn parse(&self, media_id: i64, label: &str, frame_count: Option<u64>) -> Result<ExtractParams, String> {
        let every_n = super::whole_number(&self.every_n, "every n-th frame", DEFAULT_EVERY_N, 1, MAX_EVERY_N)?;
        let from: Option<u64> = optional(&self.frame_from, "the first frame")?;
        let to: Option<u64> = optional(&self.frame_to, "the last frame")?;
        let frames = match (from, to) {
            (None, None) => None,
            (a, b) => Some((a.unwrap_or(0), b.unwrap_or(u64::MAX))),
        };
        if let Some((a, b)) = frames {
            if a > b {
                return Err(format!("the first frame ({a}) comes after the last frame ({b})"));
            }
            if let Some(n) = frame_count.filter(|&n| n > 0 && a >= n) {
                return Err(format!("{label} has {n} frames, numbered 0 to {}: the first frame must be below {n}", n - 1));
            }
        }
        let (lo, hi) = FACE_SIZE_RANGE;
        let size = super::whole_number(&self.size, "the face size", DEFAULT_FACE_SIZE, lo, hi)?;
        let min_size = super::whole_number(&self.min_size, "the smallest face", DEFAULT_MIN_SIZE, 0, MAX_MIN_SIZE)?;
        let re_feed = super::whole_number(&self.re_feed, "the landmark runs per face", DEFAULT_RE_FEED, 1, MAX_RE_FEED)?;
        let threshold = match self.threshold.trim() {
            "" => DEFAULT_THRESHOLD,
            t => t
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0 && *v <= MAX_THRESHOLD)
                .ok_or_else(|| format!("the identity threshold must be a number above 0 and at most {MAX_THRESHOLD}, not '{t}'"))?,
        };
        let filter = ids(&self.filter, "keep")?;
        let nfilter = ids(&self.nfilter, "drop")?;
        if let Some(both) = filter.iter().find(|id| nfilter.contains(id)) {
            return Err(format!("photo #{both} cannot be both a person to keep and a person to drop"));
        }
        Ok(ExtractParams {
            media_id,
            face_set_id: 0,
            label: label.to_string(),
            every_n,
            frames,
            size,
            min_size,
            re_feed,
            threshold,
            filter,
            nfilter,
            device: None,
        })
    }
}

/// A face set's name when the user gives none: the source's name without its extension.
pub fn default_face_set_name(label: &str) -> String {
    let stem = match label.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => label,
    };
    let name: String = stem.chars().filter(|c| !c.is_control()).take(100).collect();
    format!("{} faces", name.trim())
}


fn optional(raw: &str, what: &str) -> Result<Option<u64>, String> {
    match raw.trim() {
        "" => Ok(None),
        t => t.parse::<u64>().map(Some).map_err(|_| format!("{what} must be a frame number (0 or more), not '{t}'")),
    }
}

fn ids(raw: &str, side: &str) -> Result<Vec<i64>, String> {
    let mut out: Vec<i64> = Vec::new();
    for part in raw.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
        let id = part.parse::<i64>().map_err(|_| format!("'{part}' is not a photo of this project (people to {side})"))?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.len() > MAX_REFERENCES {
        return Err(format!("at most {MAX_REFERENCES} photos of people to {side}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_take_the_defaults() {
        let p = ExtractForm::default().parse(3, "clip.mp4", Some(354)).unwrap();
        assert_eq!((p.media_id, p.every_n, p.frames, p.size, p.min_size, p.re_feed), (3, 1, None, 512, 0, 1));
        assert_eq!(p.threshold, DEFAULT_THRESHOLD);
        assert!(p.filter.is_empty() && p.nfilter.is_empty());
        assert_eq!(p.label, "clip.mp4");
    }

    #[test]
    fn fields_are_read_and_checked() {
        let form = ExtractForm {
            every_n: " 5 ".into(),
            frame_from: "10".into(),
            frame_to: "".into(),
            size: "256".into(),
            min_size: "40".into(),
            re_feed: "3".into(),
            threshold: "0.5".into(),
            filter: "7, 8 7".into(),
            nfilter: "9".into(),
        };
        let p = form.parse(1, "clip.mp4", Some(354)).unwrap();
        assert_eq!((p.every_n, p.frames, p.size, p.min_size, p.re_feed), (5, Some((10, u64::MAX)), 256, 40, 3));
        assert_eq!((p.filter, p.nfilter), (vec![7, 8], vec![9]));
        let to_only = ExtractForm { frame_to: "4".into(), ..Default::default() }.parse(1, "c", None).unwrap();
        assert_eq!(to_only.frames, Some((0, 4)));
    }

    #[test]
    fn bad_values_get_messages_that_say_what_to_fix() {
        let err = |form: ExtractForm| form.parse(1, "clip.mp4", Some(354)).unwrap_err();
        assert!(err(ExtractForm { every_n: "0".into(), ..Default::default() }).contains("every n-th frame must be a whole number from 1"));
        assert!(err(ExtractForm { size: "32".into(), ..Default::default() }).contains("face size must be a whole number from 64 to 2048, not '32'"));
        assert!(err(ExtractForm { size: "big".into(), ..Default::default() }).contains("'big'"));
        assert!(err(ExtractForm { frame_from: "9".into(), frame_to: "3".into(), ..Default::default() }).contains("comes after"));
        assert!(err(ExtractForm { frame_from: "400".into(), ..Default::default() }).contains("clip.mp4 has 354 frames, numbered 0 to 353"));
        assert!(err(ExtractForm { frame_from: "-1".into(), ..Default::default() }).contains("frame number"));
        assert!(err(ExtractForm { threshold: "0".into(), ..Default::default() }).contains("above 0"));
        assert!(err(ExtractForm { threshold: "NaN".into(), ..Default::default() }).contains("threshold"));
        assert!(err(ExtractForm { re_feed: "11".into(), ..Default::default() }).contains("from 1 to 10"));
        assert!(err(ExtractForm { filter: "x".into(), ..Default::default() }).contains("'x' is not a photo"));
        assert!(err(ExtractForm { filter: "4".into(), nfilter: "4".into(), ..Default::default() }).contains("both"));
        let many = (1..=17).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        assert!(err(ExtractForm { nfilter: many, ..Default::default() }).contains("at most 16"));
    }

    #[test]
    fn default_names_come_from_the_label() {
        assert_eq!(default_face_set_name("talk_woman_a.mp4"), "talk_woman_a faces");
        assert_eq!(default_face_set_name(".hidden"), ".hidden faces");
        assert_eq!(default_face_set_name("noext"), "noext faces");
    }
}
