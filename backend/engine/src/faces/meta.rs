//! What Doppel records about one extracted face, shared by the face PNGs and the alignments
//! store. Every type here is part of a versioned on-disk schema: add fields with
//! `#[serde(default)]`, and bump the schema version (with a migration) for anything else.

use base64::Engine as _;
use image::GrayImage;

use crate::align::AlignedFace;
use crate::geometry::{Detection, Landmarks68};
use crate::mask::{Mask, MaskKind};
use crate::nets::recognition::FaceDescriptor;

/// The file a face came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceRef {
    /// The source's file name (a label, never used as a path).
    pub file: String,
    /// SHA-256 of the source file's bytes, lowercase hex.
    pub sha256: String,
    /// Displayed (upright) frame size.
    pub width: u32,
    pub height: u32,
}

/// How the faces were extracted: enough to redo it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExtractorSettings {
    /// `doppel <version>`.
    pub software: String,
    pub detector: String,
    pub aligner: String,
    pub recognition: String,
    pub min_confidence: f32,
    pub min_size: u32,
    pub re_feed: u32,
    pub every_n: u64,
}

/// A mask as stored: its kind and a greyscale PNG of it in crop space, base64-encoded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredMask {
    pub kind: MaskKind,
    pub size: u32,
    pub png: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MaskDataError {
    #[error("the {kind} mask is not valid base64: {source}")]
    Base64 { kind: &'static str, source: base64::DecodeError },
    #[error("{source}")]
    Png { kind: &'static str, source: crate::image_io::ImageIoError },
}

impl StoredMask {
    pub fn encode(mask: &Mask) -> StoredMask {
        let mut png = Vec::new();
        mask.image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("PNG encoding into memory does not fail");
        StoredMask { kind: mask.kind, size: mask.image.width(), png: base64::engine::general_purpose::STANDARD.encode(png) }
    }

    pub fn decode(&self) -> Result<Mask, MaskDataError> {
        let kind = self.kind.name();
        let bytes = base64::engine::general_purpose::STANDARD.decode(&self.png).map_err(|source| MaskDataError::Base64 { kind, source })?;
        let image: GrayImage = crate::image_io::decode_bytes(&bytes, Some(image::ImageFormat::Png), &format!("the {kind} mask"))
            .map_err(|source| MaskDataError::Png { kind, source })?
            .to_luma8();
        Ok(Mask { kind: self.kind, image })
    }
}

/// One face in one frame: where it is, its shape, its crop, its masks and who it is.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaceEntry {
    /// Position among the faces kept in its frame (0 = first).
    pub face_index: u32,
    /// The detector's box and score, in source pixels (`[x, y, w, h]` under `rect`).
    pub detection: Detection,
    /// 68 points in source pixels.
    pub landmarks: Landmarks68,
    /// The aligned crop: size, framing and the source -> crop transform.
    pub aligned: AlignedFace,
    #[serde(default)]
    pub masks: Vec<StoredMask>,
    /// The 128-d identity descriptor, if computed.
    #[serde(default)]
    pub identity: Option<FaceDescriptor>,
    /// The face image's file name in the faces folder (alignments store only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Hand edits so far (0: as extracted). An edit names the revision it started from, so a
    /// second editor's save of an older revision is refused instead of losing the first's.
    #[serde(default)]
    pub revision: u32,
    /// Who changed the face by hand, when and what, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<EditRecord>,
}

/// One hand edit of a face.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EditRecord {
    pub by: String,
    /// Seconds since 1970.
    pub at: i64,
    /// What changed: "landmarks", "painted mask", ...
    pub what: String,
}

impl FaceEntry {
    pub fn mask(&self, kind: MaskKind) -> Option<&StoredMask> {
        self.masks.iter().find(|m| m.kind == kind)
    }
}

/// The time and position of a frame in its source.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrameRef {
    pub index: u64,
    /// Seconds from the start of the stream.
    pub time: f64,
}

/// Schema name written in every face PNG.
pub const FACE_SCHEMA: &str = "doppel.face";
/// Current version of the face PNG schema.
pub const FACE_VERSION: u32 = 1;

/// Everything a face PNG says about itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaceMeta {
    pub schema: String,
    pub version: u32,
    pub source: SourceRef,
    pub frame: FrameRef,
    pub face: FaceEntry,
    pub extractor: ExtractorSettings,
}

impl FaceMeta {
    pub fn new(source: SourceRef, frame: FrameRef, face: FaceEntry, extractor: ExtractorSettings) -> FaceMeta {
        FaceMeta { schema: FACE_SCHEMA.into(), version: FACE_VERSION, source, frame, face, extractor }
    }
}

/// The file name of face `face` of frame `frame` of the source `stem`:
/// `<stem>_<frame, 6 digits>_<face>.png`, the stem reduced to letters, digits, `-` and `_`.
pub fn face_file_name(stem: &str, frame: u64, face: u32) -> String {
    let mut safe: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).take(64).collect();
    if safe.is_empty() {
        safe.push_str("face");
    }
    format!("{safe}_{frame:06}_{face}.png")
}

/// SHA-256 of a file, lowercase hex (streamed: works on files of any size).
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    let mut file = std::fs::File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::align::{mean_face, CropFrame, Similarity};
    use crate::geometry::Rect;
    use crate::mask::landmark_mask;

    /// A complete face entry for tests.
    pub(crate) fn sample_entry(face_index: u32) -> FaceEntry {
        let landmarks = Landmarks68(mean_face().points().map(|p| Similarity { scale: 100.0, angle: 0.1, tx: 50.0, ty: 60.0 }.apply(p)));
        let aligned = AlignedFace::new(&landmarks, 256, CropFrame::EXTRACT).unwrap();
        let in_crop = aligned.landmarks_in_crop(&landmarks);
        let masks = MaskKind::FROM_LANDMARKS.iter().map(|&k| StoredMask::encode(&landmark_mask(k, &in_crop, 256, 64).unwrap())).collect();
        FaceEntry {
            face_index,
            detection: Detection { rect: Rect::new(40.0, 50.0, 120.0, 140.0), score: 0.93 },
            landmarks,
            aligned,
            masks,
            identity: Some(FaceDescriptor(std::array::from_fn(|i| i as f32 / 128.0))),
            file: None,
            revision: 0,
            edits: Vec::new(),
        }
    }

    #[test]
    fn masks_survive_encoding() {
        let entry = sample_entry(0);
        let stored = entry.mask(MaskKind::Extended).unwrap();
        let mask = stored.decode().unwrap();
        assert_eq!((mask.kind, mask.image.width()), (MaskKind::Extended, 64));
        assert!(crate::mask::coverage(&mask.image) > 0.1);
        let broken = StoredMask { png: "***".into(), ..stored.clone() };
        assert!(broken.decode().unwrap_err().to_string().contains("extended mask is not valid base64"));
    }

    #[test]
    fn face_file_names_are_safe_and_sortable() {
        assert_eq!(face_file_name("talk_woman_a", 12, 0), "talk_woman_a_000012_0.png");
        assert_eq!(face_file_name("../../etc/pass wd", 3, 1), "______etc_pass_wd_000003_1.png");
        assert_eq!(face_file_name("", 0, 0), "face_000000_0.png");
    }

    #[test]
    fn sha256_of_a_known_file() {
        let dir = std::env::temp_dir().join(format!("doppel-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("abc"), b"abc").unwrap();
        assert_eq!(sha256_file(&dir.join("abc")).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
