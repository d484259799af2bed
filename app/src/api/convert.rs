//! Conversion options: what the convert page sends (text, possibly empty), checked into the
//! settings of a `convert` job and of the live preview. The same check serves the server
//! function, the preview route and the page; the job reads the parameters back with serde.
//! Choice names are the engine's (the server tests that each one is accepted there).

use serde::{Deserialize, Serialize};

/// The job kind that converts a video (the server's `JobKind::Convert`).
pub const CONVERT_JOB: &str = "convert";

/// The engine's choices, in the order the form offers them; the first is the default.
pub const MASKS: [&str; 5] = ["extended", "components", "learned", "painted", "none"];
pub const COLORS: [&str; 5] = ["avg-color", "color-transfer", "match-hist", "seamless-clone", "none"];
pub const SHARPENS: [&str; 4] = ["none", "box", "gaussian", "unsharp"];
pub const DIRECTIONS: [&str; 2] = ["a-to-b", "b-to-a"];
pub const CODECS: [&str; 2] = ["h264", "h265"];

/// Defaults for empty fields.
pub const DEFAULT_BLUR: f32 = 2.0;
pub const DEFAULT_SHARPEN_AMOUNT: f32 = 1.5;
/// Landmark smoothing (one-euro cut-off, Hz) on by default: faces that swim between frames
/// are the first thing people see in a swapped video.
pub const DEFAULT_SMOOTH: f64 = 1.5;
pub const DEFAULT_CRF: u8 = 18;

/// The form's fields as sent: empty means "the default". `faces` is the id of a face set of
/// the source whose alignments give the faces, or empty to find faces while converting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConvertForm {
    pub media: String,
    pub model: String,
    pub faces: String,
    pub direction: String,
    pub mask: String,
    pub erode: String,
    pub blur: String,
    pub threshold: String,
    pub color: String,
    pub sharpen: String,
    pub sharpen_amount: String,
    pub smooth: String,
    pub codec: String,
    pub crf: String,
    pub frames: String,
    pub scale: String,
    /// The compute device (`cpu`, `cuda:N`, `wgpu:N`); empty: the server's default.
    pub device: String,
}

/// Mask settings in the engine's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskParams {
    pub kind: String,
    pub erode: f32,
    pub blur: f32,
    pub threshold: f32,
}

/// Everything that shapes the output, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvertSettings {
    pub direction: String,
    pub mask: MaskParams,
    pub color: String,
    pub sharpen: String,
    pub sharpen_amount: f32,
    /// One-euro cut-off in Hz; 0: off.
    pub smooth: f64,
    pub codec: String,
    pub crf: u8,
    /// Inclusive frame ranges to swap (empty: all); other frames are kept as they are.
    pub frames: Vec<(u64, u64)>,
    /// Output size, percent of the source's.
    #[serde(default = "full_size")]
    pub scale: u32,
}

fn full_size() -> u32 {
    100
}

/// A convert job's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConvertParams {
    /// Set by the store when the conversion is made.
    #[serde(default)]
    pub conversion_id: i64,
    pub media_id: i64,
    pub model_id: i64,
    /// The source's name, for the log.
    pub label: String,
    /// The face set whose alignments store gives the faces; `None`: find them while converting.
    pub faces: Option<i64>,
    pub settings: ConvertSettings,
    /// The compute device it runs on (`cpu`, `cuda:0`, `wgpu:1`), checked against the
    /// server's when the job is made; the server's default is written when the form names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// What the form names: source, model, where faces come from, and the settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertChoice {
    pub media: i64,
    pub model: i64,
    pub faces: Option<i64>,
    pub settings: ConvertSettings,
    /// The device as the form names it, checked against the server's devices by
    /// `checks::conversion` (this crate does not know them); empty: the default.
    pub device: String,
}

impl ConvertForm {
    pub fn parse(&self) -> Result<ConvertChoice, String> {
        let media = id(&self.media, "pick the video to convert", "a video of this project")?;
        let model = id(&self.model, "pick the model that swaps the faces", "a model of this project")?;
        let faces = match self.faces.trim() {
            "" | "detect" => None,
            t => Some(t.parse::<i64>().map_err(|_| format!("'{t}' is not a face set of this project"))?),
        };
        let settings = ConvertSettings {
            direction: choice(&self.direction, &DIRECTIONS, "direction")?,
            mask: MaskParams {
                kind: choice(&self.mask, &MASKS, "mask")?,
                erode: decimal(&self.erode, "erode", 0.0, -50.0, 50.0)?,
                blur: decimal(&self.blur, "blur", DEFAULT_BLUR, 0.0, 50.0)?,
                threshold: decimal(&self.threshold, "threshold", 0.0, 0.0, 0.99)?,
            },
            color: choice(&self.color, &COLORS, "colour matching")?,
            sharpen: choice(&self.sharpen, &SHARPENS, "sharpening")?,
            sharpen_amount: decimal(&self.sharpen_amount, "the sharpening amount", DEFAULT_SHARPEN_AMOUNT, 0.0, 5.0)?,
            smooth: f64::from(decimal(&self.smooth, "smoothing", DEFAULT_SMOOTH as f32, 0.0, 30.0)?),
            codec: choice(&self.codec, &CODECS, "codec")?,
            crf: super::whole_number(&self.crf, "the CRF", DEFAULT_CRF, 0, 51)?,
            frames: parse_ranges(&self.frames)?,
            scale: super::whole_number(&self.scale, "the output size (percent)", 100, 1, 400)?,
        };
        Ok(ConvertChoice { media, model, faces, settings, device: self.device.trim().to_string() })
    }
}

/// "0-100, 250-300" into inclusive ranges; empty: none (all frames).
pub fn parse_ranges(raw: &str) -> Result<Vec<(u64, u64)>, String> {
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("'{part}' is not a frame range such as 0-100");
        let (a, b) = part.split_once('-').ok_or_else(bad)?;
        let (a, b) = (a.trim().parse::<u64>().map_err(|_| bad())?, b.trim().parse::<u64>().map_err(|_| bad())?);
        if a > b {
            return Err(format!("'{part}': the range ends before it starts"));
        }
        out.push((a, b));
    }
    Ok(out)
}

/// What a converted video is called: the source's name and the model's.
pub fn conversion_label(source: &str, model: &str) -> String {
    let stem = source.rsplit_once('.').map(|(s, _)| s).filter(|s| !s.is_empty()).unwrap_or(source);
    let model: String = model.chars().filter(|c| !matches!(c, '/' | '\\')).take(80).collect();
    format!("{stem} ({model}).mp4")
}

fn id(raw: &str, missing: &str, what: &str) -> Result<i64, String> {
    match raw.trim() {
        "" => Err(missing.to_string()),
        t => t.parse::<i64>().map_err(|_| format!("'{t}' is not {what}")),
    }
}

fn choice(raw: &str, allowed: &[&str], what: &str) -> Result<String, String> {
    match raw.trim() {
        "" => Ok(allowed[0].to_string()),
        t if allowed.contains(&t) => Ok(t.to_string()),
        t => Err(format!("'{t}' is not a {what} choice; pick one of {}", allowed.join(", "))),
    }
}

fn decimal(raw: &str, what: &str, default: f32, min: f32, max: f32) -> Result<f32, String> {
    match raw.trim() {
        "" => Ok(default),
        t => t.parse::<f32>().ok().filter(|v| v.is_finite() && *v >= min && *v <= max).ok_or_else(|| format!("{what} must be a number from {min} to {max}, not '{t}'")),
    }
}

/// The live preview of frame `frame` with the form's settings: `before` is the frame as it is.
pub fn convert_preview_url(project: i64, form: &ConvertForm, frame: u64, before: bool) -> String {
    let mut q = serde_urlencoded_pairs(form);
    q.push(("frame".into(), frame.to_string()));
    if before {
        q.push(("side".into(), "before".into()));
    }
    let query: Vec<String> = q.into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(&v))).collect();
    format!("/api/projects/{project}/convert/preview?{}", query.join("&"))
}

/// A conversion's video (`download`: as an attachment under its label).
pub fn conversion_file_url(project: i64, conversion: i64, download: bool) -> String {
    let tail = if download { "?download=1" } else { "" };
    format!("/api/projects/{project}/conversions/{conversion}/file{tail}")
}

/// The convert page of a project.
pub fn convert_page_url(project: i64) -> String {
    format!("/projects/{project}/convert")
}

fn serde_urlencoded_pairs(f: &ConvertForm) -> Vec<(String, String)> {
    [
        ("media", &f.media),
        ("model", &f.model),
        ("faces", &f.faces),
        ("direction", &f.direction),
        ("mask", &f.mask),
        ("erode", &f.erode),
        ("blur", &f.blur),
        ("threshold", &f.threshold),
        ("color", &f.color),
        ("sharpen", &f.sharpen),
        ("sharpen_amount", &f.sharpen_amount),
        ("device", &f.device),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.trim().to_string()))
    .collect()
}

/// Percent-encodes what is not unreserved in a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ConvertForm {
        ConvertForm { media: "3".into(), model: "4".into(), ..Default::default() }
    }

    #[test]
    fn empty_fields_are_the_defaults() {
        let c = form().parse().unwrap();
        assert_eq!((c.media, c.model, c.faces), (3, 4, None));
        let s = c.settings;
        assert_eq!((s.direction.as_str(), s.mask.kind.as_str(), s.color.as_str(), s.sharpen.as_str(), s.codec.as_str()), ("a-to-b", "extended", "avg-color", "none", "h264"));
        assert_eq!((s.mask.erode, s.mask.blur, s.smooth, s.crf, s.frames, s.scale), (0.0, DEFAULT_BLUR, DEFAULT_SMOOTH, 18, vec![], 100));
    }

    #[test]
    fn every_field_is_checked_with_a_message_that_says_what_is_wrong() {
        let err = |f: ConvertForm| f.parse().unwrap_err();
        assert_eq!(err(ConvertForm { media: "".into(), ..form() }), "pick the video to convert");
        assert!(err(ConvertForm { mask: "painted-by-hand".into(), ..form() }).contains("pick one of extended, components, learned, painted, none"));
        assert!(err(ConvertForm { erode: "80".into(), ..form() }).contains("erode must be a number from -50 to 50"));
        assert!(err(ConvertForm { blur: "NaN".into(), ..form() }).contains("blur must be a number"));
        assert!(err(ConvertForm { crf: "52".into(), ..form() }).contains("from 0 to 51"));
        assert!(err(ConvertForm { scale: "0".into(), ..form() }).contains("the output size (percent) must be a whole number from 1 to 400"));
        assert!(err(ConvertForm { frames: "10-5".into(), ..form() }).contains("ends before it starts"));
        assert!(err(ConvertForm { frames: "x".into(), ..form() }).contains("not a frame range"));
        assert!(err(ConvertForm { faces: "../1".into(), ..form() }).contains("not a face set"));
        let c = ConvertForm { faces: " 7 ".into(), erode: "-5".into(), color: "match-hist".into(), frames: "0-10, 20-30".into(), direction: "b-to-a".into(), ..form() }.parse().unwrap();
        assert_eq!((c.faces, c.settings.mask.erode, c.settings.color.as_str(), c.settings.frames, c.settings.direction.as_str()), (Some(7), -5.0, "match-hist", vec![(0, 10), (20, 30)], "b-to-a"));
    }

    #[test]
    fn labels_and_urls() {
        assert_eq!(conversion_label("talk_woman_a.mp4", "A to B"), "talk_woman_a (A to B).mp4");
        assert_eq!(conversion_label("clip", "x/y"), "clip (xy).mp4");
        let url = convert_preview_url(1, &ConvertForm { color: "avg-color".into(), frames: "1-2".into(), ..form() }, 12, true);
        assert_eq!(url, "/api/projects/1/convert/preview?media=3&model=4&color=avg-color&frame=12&side=before");
        assert_eq!(conversion_file_url(1, 2, true), "/api/projects/1/conversions/2/file?download=1");
    }
}
