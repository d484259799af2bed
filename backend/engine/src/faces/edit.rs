//! Fixing a face by hand: moved landmarks re-extract the face from its source frame exactly as
//! extraction would (alignment, crop, landmark masks), a painted mask is kept as the `painted`
//! mask (training and conversion can use it), and the alignments store follows. Each edit
//! names the revision it started from; an edit of an older revision is refused, so two people
//! fixing one face never lose a save silently.
//!
//! The identity descriptor is kept: it was computed on the detector's view of the face, which
//! a landmark fix does not change.

use std::path::Path;

use image::{GrayImage, RgbImage};

use super::alignments::Alignments;
use super::curate::FaceFolder;
use super::meta::{EditRecord, FaceMeta, StoredMask};
use super::png::{encode_face_png, read_face_png, FacePngError};
use crate::align::AlignedFace;
use crate::geometry::Landmarks68;
use crate::mask::{landmark_mask, Mask, MaskKind};

/// Largest painted mask kept (its side in pixels).
pub const MAX_PAINTED: u32 = 1024;

/// A hand edit of one face.
#[derive(Debug, Clone)]
pub struct FaceEdit {
    /// The revision the editor loaded.
    pub revision: u32,
    /// New landmarks in source pixels; `None` keeps them.
    pub landmarks: Option<Landmarks68>,
    /// A moved or resized box in source pixels (the aligner's input); `None` keeps it.
    pub rect: Option<crate::geometry::Rect>,
    /// A painted mask in the crop space of the face as loaded (any square size up to
    /// [`MAX_PAINTED`]); `None` keeps the painted mask the face has, if any.
    pub painted: Option<GrayImage>,
    pub by: String,
    /// Seconds since 1970.
    pub at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}: {1}")]
    Face(String, FacePngError),
    #[error("someone else saved this face since you opened it (now revision {current}{}): reload to see their change", by.as_ref().map(|b| format!(", by {b}")).unwrap_or_default())]
    Conflict { current: u32, by: Option<String> },
    #[error("the landmarks are all in one place: they cannot be aligned")]
    Degenerate,
    #[error("moving landmarks needs the face's source frame")]
    NoFrame,
    #[error("the source has no frame {0}")]
    NoSuchFrame(u64),
    #[error("the face's source: {0}")]
    Source(#[from] crate::media::MediaError),
    #[error("the painted mask must be square and at most {MAX_PAINTED} pixels, not {0}x{1}")]
    BadMask(u32, u32),
    #[error("nothing to change")]
    Nothing,
    #[error("the box must have a positive width and height")]
    BadBox,
    #[error("the landmarks must lie on the frame or near it (a frame's size beyond its edges at most)")]
    OffFrame,
    #[error("{0}")]
    Curate(#[from] super::curate::CurateError),
    #[error("cannot write {0}: {1}")]
    Write(String, std::io::Error),
    #[error("alignments store: {0}")]
    Store(#[from] super::alignments::AlignmentsError),
}

impl FaceFolder {
    /// Applies `edit` to the face `name`: a new face PNG under the same name (the previous one
    /// kept as `<name>.bak`) and the same entry in the alignments store. `frame_of` gives the
    /// face's source frame by index; it is asked only when the landmarks move. Returns the new
    /// metadata.
    pub fn edit(&self, name: &str, frame_of: impl FnOnce(u64) -> Result<RgbImage, EditError>, edit: FaceEdit) -> Result<FaceMeta, EditError> {
        super::curate::check_name(name)?;
        let path = self.dir.join(name);
        let (old_crop, meta) = read_face_png(&path).map_err(|e| EditError::Face(name.into(), e))?;
        if meta.face.revision != edit.revision {
            return Err(EditError::Conflict { current: meta.face.revision, by: meta.face.edits.last().map(|e| e.by.clone()) });
        }
        if edit.landmarks.is_none() && edit.painted.is_none() && edit.rect.is_none() {
            return Err(EditError::Nothing);
        }
        let mut face = meta.face.clone();
        let mut what = Vec::new();
        if let Some(rect) = edit.rect.filter(|r| *r != face.detection.rect) {
            // Finite and of a sane size: coordinates in the billions overflow the integer
            // arithmetic of the mask drawing downstream.
            if !(rect.width > 0.0 && rect.height > 0.0 && [rect.x, rect.y, rect.width, rect.height].iter().all(|v| v.is_finite() && v.abs() < 1e6)) {
                return Err(EditError::BadBox);
            }
            face.detection.rect = rect;
            what.push("box");
        }
        let mut painted = face.mask(MaskKind::Painted).and_then(|m| m.decode().ok()).map(|m| m.image);
        if let Some(new) = edit.painted {
            let (w, h) = new.dimensions();
            if w != h || w == 0 || w > MAX_PAINTED {
                return Err(EditError::BadMask(w, h));
            }
            painted = Some(new);
            what.push("painted mask");
        }
        let crop = match edit.landmarks {
            Some(landmarks) if landmarks != face.landmarks => {
                let frame = frame_of(meta.frame.index)?;
                let (w, h) = (frame.width() as f32, frame.height() as f32);
                if !landmarks.0.iter().all(|p| p.x.is_finite() && p.y.is_finite() && (-w..=2.0 * w).contains(&p.x) && (-h..=2.0 * h).contains(&p.y)) {
                    return Err(EditError::OffFrame);
                }
                let aligned = AlignedFace::new(&landmarks, face.aligned.size, face.aligned.frame).ok_or(EditError::Degenerate)?;
                let mask_size = face.masks.first().map_or(256, |m| m.size);
                let in_crop = aligned.landmarks_in_crop(&landmarks);
                // The painted mask follows the face into the new crop.
                painted = painted.map(|m| crate::mask::between_crops(&m, &face.aligned, &aligned, m.width()));
                face.masks = MaskKind::FROM_LANDMARKS.iter().filter_map(|&k| landmark_mask(k, &in_crop, aligned.size, mask_size)).map(|m| StoredMask::encode(&m)).collect();
                face.landmarks = landmarks;
                face.aligned = aligned;
                what.insert(0, "landmarks");
                aligned.crop(&frame)
            }
            _ => old_crop,
        };
        face.masks.retain(|m| m.kind != MaskKind::Painted);
        if let Some(image) = painted {
            face.masks.push(StoredMask::encode(&Mask { kind: MaskKind::Painted, image }));
        }
        if what.is_empty() {
            return Err(EditError::Nothing);
        }
        face.revision += 1;
        face.edits.push(EditRecord { by: edit.by, at: edit.at, what: what.join(" and ") });
        let meta = FaceMeta { face, ..meta };
        let bytes = encode_face_png(&crop, &meta).map_err(|e| EditError::Face(name.into(), e))?;
        doppel_fsio::write_atomic(&path, &bytes).map_err(|e| EditError::Write(name.into(), e))?;
        if let Some(store_path) = &self.alignments {
            let mut store = Alignments::load(store_path)?;
            if let Some(entry) = store.frames.get_mut(&meta.frame.index) {
                if let Some(slot) = entry.faces.iter_mut().find(|f| f.face_index == meta.face.face_index) {
                    *slot = meta.face.clone();
                    slot.file = Some(name.into());
                    store.save(store_path)?;
                }
            }
        }
        Ok(meta)
    }
}

/// The face's source frame for an edit: frame `index` of the video or image at `source`,
/// upright, as extraction saw it.
pub fn source_frame(source: &Path, index: u64) -> Result<RgbImage, EditError> {
    match crate::media::frame_of(source, index)? {
        Some(frame) => Ok(frame.image),
        None => Err(EditError::NoSuchFrame(index)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faces::png::read_face_meta;
    use image::Luma;

    fn folder(tag: &str) -> std::path::PathBuf {
        crate::train::testdata::copy_of_face_set_a(&format!("edit-{tag}"))
    }

    fn edit(revision: u32, landmarks: Option<Landmarks68>, painted: Option<GrayImage>, by: &str) -> FaceEdit {
        FaceEdit { revision, landmarks, rect: None, painted, by: by.into(), at: 1_700_000_000 }
    }

    #[test]
    fn moved_landmarks_re_extract_the_face_and_the_store_follows() {
        let dir = folder("landmarks");
        let f = FaceFolder::open(&dir).unwrap();
        let name = "talk_woman_a_000008_0.png";
        let before = read_face_meta(&dir.join(name)).unwrap();
        let frame = source_frame(&before_source(), 8).unwrap();
        // The whole face 6 px to the right: the crop follows, the face stays centred in it.
        let mut moved = before.face.landmarks;
        moved.0.iter_mut().for_each(|p| p.x += 6.0);
        let meta = f.edit(name, |_| Ok(frame.clone()), edit(0, Some(moved), None, "edna")).unwrap();
        assert_eq!(meta.face.revision, 1);
        assert_eq!(meta.face.edits, vec![EditRecord { by: "edna".into(), at: 1_700_000_000, what: "landmarks".into() }]);
        let shift = meta.face.aligned.to_crop.apply(before.face.landmarks.0[30]).x - before.face.aligned.to_crop.apply(before.face.landmarks.0[30]).x;
        let expected = -6.0 * meta.face.aligned.to_crop.scale as f32;
        assert!((shift - expected).abs() < 0.05, "the old nose sits {shift} px across in the new crop, not {expected}");
        let (crop, reread) = read_face_png(&dir.join(name)).unwrap();
        assert_eq!(reread, meta);
        assert_eq!(crop, meta.face.aligned.crop(&frame), "the crop is cut again from the frame");
        assert!(dir.join(format!("{name}.bak")).is_file(), "the previous version is kept");
        let store = Alignments::load(&dir.join("talk_woman_a.alignments.json")).unwrap();
        let entry = store.frames[&8].faces.iter().find(|x| x.face_index == 0).unwrap();
        assert_eq!((entry.landmarks, entry.revision, entry.file.as_deref()), (moved, 1, Some(name)));
        // A second editor who loaded revision 0 is told, and nothing changes.
        let err = f.edit(name, |_| Ok(frame.clone()), edit(0, Some(before.face.landmarks), None, "eric")).unwrap_err();
        assert!(err.to_string().contains("someone else saved this face") && err.to_string().contains("by edna"), "{err}");
        assert_eq!(read_face_meta(&dir.join(name)).unwrap(), meta);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_painted_mask_is_kept_and_follows_later_landmark_moves() {
        let dir = folder("paint");
        let f = FaceFolder::open(&dir).unwrap();
        let name = "talk_woman_a_000016_0.png";
        // Paint the left half of the crop.
        let painted = GrayImage::from_fn(128, 128, |x, _| Luma([if x < 64 { 255 } else { 0 }]));
        let meta = f.edit(name, no_frame, edit(0, None, Some(painted.clone()), "edna")).unwrap();
        let stored = meta.face.mask(MaskKind::Painted).unwrap().decode().unwrap();
        assert_eq!(stored.image, painted);
        assert!(meta.face.mask(MaskKind::Extended).is_some(), "landmark masks stay");
        // Landmarks without their frame cannot be applied.
        assert!(matches!(f.edit(name, no_frame, edit(1, Some(Landmarks68([crate::geometry::Point::new(1.0, 1.0); 68])), None, "edna")), Err(EditError::NoFrame)));
        // Moving the face right moves the painted half left in the new crop.
        let frame = source_frame(&before_source(), 16).unwrap();
        let mut moved = meta.face.landmarks;
        moved.0.iter_mut().for_each(|p| p.x += 10.0);
        let after = f.edit(name, |_| Ok(frame.clone()), edit(1, Some(moved), None, "edna")).unwrap();
        let warped = after.face.mask(MaskKind::Painted).unwrap().decode().unwrap().image;
        let inside = |m: &GrayImage| m.enumerate_pixels().filter(|(_, _, p)| p[0] > 0).map(|(x, ..)| f64::from(x)).sum::<f64>() / m.pixels().filter(|p| p[0] > 0).count() as f64;
        assert!(inside(&warped) < inside(&painted) - 0.5, "{} vs {}", inside(&warped), inside(&painted));
        assert!(matches!(f.edit(name, no_frame, edit(2, None, Some(GrayImage::new(10, 20)), "edna")), Err(EditError::BadMask(10, 20))));
        // Landmarks in the billions (they overflowed the mask drawing's integers) are refused.
        let mut far = after.face.landmarks;
        far.0[8].y = 3.0e9;
        assert!(matches!(f.edit(name, |_| Ok(frame.clone()), edit(2, Some(far), None, "edna")), Err(EditError::OffFrame)));
        assert!(matches!(f.edit("../x.png", no_frame, edit(2, None, None, "edna")), Err(EditError::Curate(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_moved_box_is_kept_and_a_bad_one_refused() {
        let dir = folder("box");
        let f = FaceFolder::open(&dir).unwrap();
        let name = "talk_woman_a_000024_0.png";
        let before = read_face_meta(&dir.join(name)).unwrap();
        let mut rect = before.face.detection.rect;
        rect.x += 5.0;
        let meta = f.edit(name, no_frame, FaceEdit { rect: Some(rect), ..edit(0, None, None, "edna") }).unwrap();
        assert_eq!((meta.face.detection.rect, meta.face.edits[0].what.as_str()), (rect, "box"));
        let bad = crate::geometry::Rect::new(1.0, 1.0, 0.0, 5.0);
        assert!(matches!(f.edit(name, no_frame, FaceEdit { rect: Some(bad), ..edit(1, None, None, "edna") }), Err(EditError::BadBox)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// For edits that must not need the frame.
    fn no_frame(_: u64) -> Result<RgbImage, EditError> {
        Err(EditError::NoFrame)
    }

    fn before_source() -> std::path::PathBuf {
        crate::media::testdata::video("talk_woman_a.mp4")
    }
}
