//! Identity filter: keep the faces of wanted people (`--filter`), drop the faces of unwanted
//! ones (`--nfilter`), by the distance between identity descriptors.

use std::path::{Path, PathBuf};

use crate::analyze::{AnalyzeError, FaceAnalyzer};
use crate::nets::recognition::FaceDescriptor;
use crate::nets::ssd::DetectOptions;

/// Faces of one person usually lie within this distance of each other (face-api.js and
/// dlib's figure for this network).
pub const DEFAULT_THRESHOLD: f32 = 0.6;

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("reference image {1}")]
    Unreadable(PathBuf, crate::image_io::ImageIoError),
    #[error("reference image {0}: no face found in it; use a photo where the face is clearly visible")]
    NoFace(PathBuf),
    #[error("reference image {0}: {1}")]
    Analyze(PathBuf, AnalyzeError),
    #[error("the threshold must be above 0, not {0}")]
    Threshold(f32),
}

/// Why the filter kept or dropped a face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Keep,
    /// No `--filter` face is within the threshold.
    NotWanted { nearest: f32 },
    /// An `--nfilter` face is within the threshold (and nearer than any `--filter` face).
    Unwanted { distance: f32 },
}

/// Reference identities and the distance that counts as "the same person".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentityFilter {
    pub wanted: Vec<FaceDescriptor>,
    pub unwanted: Vec<FaceDescriptor>,
    pub threshold: f32,
}

impl IdentityFilter {
    /// A filter from reference photos: the largest face in each. Fails if a photo cannot be
    /// read or shows no face.
    pub fn from_images(analyzer: &FaceAnalyzer, wanted: &[PathBuf], unwanted: &[PathBuf], threshold: f32) -> Result<IdentityFilter, FilterError> {
        if threshold.is_nan() || threshold <= 0.0 {
            return Err(FilterError::Threshold(threshold));
        }
        let describe = |paths: &[PathBuf]| paths.iter().map(|p| reference_descriptor(analyzer, p)).collect::<Result<Vec<_>, _>>();
        Ok(IdentityFilter { wanted: describe(wanted)?, unwanted: describe(unwanted)?, threshold })
    }

    /// Whether the filter does anything.
    pub fn is_active(&self) -> bool {
        !self.wanted.is_empty() || !self.unwanted.is_empty()
    }

    /// Keeps a face if it is within the threshold of a wanted face (or there are none), unless
    /// an unwanted face is within the threshold and nearer than every wanted one.
    pub fn judge(&self, face: &FaceDescriptor) -> Verdict {
        let nearest = |refs: &[FaceDescriptor]| refs.iter().map(|r| r.distance(face)).fold(f32::INFINITY, f32::min);
        let (to_wanted, to_unwanted) = (nearest(&self.wanted), nearest(&self.unwanted));
        if !self.wanted.is_empty() && to_wanted > self.threshold {
            return Verdict::NotWanted { nearest: to_wanted };
        }
        if to_unwanted <= self.threshold && to_unwanted < to_wanted {
            return Verdict::Unwanted { distance: to_unwanted };
        }
        Verdict::Keep
    }
}

/// The descriptor of the largest face in the photo at `path`. A 150 x 150 image is taken as
/// an aligned face chip (the format dlib and face-api.js describe directly) and used whole.
fn reference_descriptor(analyzer: &FaceAnalyzer, path: &Path) -> Result<FaceDescriptor, FilterError> {
    let image = read_photo(path).map_err(|e| FilterError::Unreadable(path.into(), e))?.to_rgb8();
    let chip = crate::nets::recognition::INPUT_SIZE as u32;
    if image.dimensions() == (chip, chip) {
        return Ok(analyzer.describe_chip(&image));
    }
    let faces = analyzer.analyze(&image, &DetectOptions::default()).map_err(|e| FilterError::Analyze(path.into(), e))?;
    let largest = |faces: Vec<crate::analyze::FaceRecord>| faces.into_iter().max_by(|a, b| a.detection.rect.area().total_cmp(&b.detection.rect.area()));
    if let Some(face) = largest(faces) {
        return Ok(face.descriptor);
    }
    // A tight crop of a face is too close for the detector: look again with a margin.
    let (w, h) = image.dimensions();
    let mut padded = image::RgbImage::from_pixel(w * 2, h * 2, image::Rgb([128, 128, 128]));
    image::imageops::replace(&mut padded, &image, i64::from(w / 2), i64::from(h / 2));
    let faces = analyzer.analyze(&padded, &DetectOptions::default()).map_err(|e| FilterError::Analyze(path.into(), e))?;
    largest(faces).map(|f| f.descriptor).ok_or_else(|| FilterError::NoFace(path.into()))
}

/// A photo in any format the `image` crate reads, recognised by its content (stored uploads
/// have server-chosen names without extensions), within the limits of [`crate::image_io`].
fn read_photo(path: &Path) -> Result<image::DynamicImage, crate::image_io::ImageIoError> {
    crate::image_io::decode_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::ComputeDevice;
    use crate::media::testdata;

    fn d(v: f32) -> FaceDescriptor {
        let mut a = [0.0; 128];
        a[0] = v;
        FaceDescriptor(a)
    }

    #[test]
    fn judge_keeps_wanted_and_drops_unwanted() {
        let f = IdentityFilter { wanted: vec![d(0.0)], unwanted: vec![d(1.0)], threshold: 0.6 };
        assert_eq!(f.judge(&d(0.1)), Verdict::Keep);
        assert!(matches!(f.judge(&d(2.0)), Verdict::NotWanted { .. }));
        // Within both thresholds: the nearer side wins.
        assert!(matches!(f.judge(&d(0.55)), Verdict::Unwanted { .. }));
        assert_eq!(f.judge(&d(0.45)), Verdict::Keep);
        let only_drop = IdentityFilter { wanted: vec![], unwanted: vec![d(1.0)], threshold: 0.6 };
        assert_eq!(only_drop.judge(&d(-1.0)), Verdict::Keep);
        assert!(matches!(only_drop.judge(&d(1.2)), Verdict::Unwanted { .. }));
        assert!(!IdentityFilter::default().is_active());
    }

    /// The filter built from two people's reference crops separates the two faces of
    /// two_people.jpg, and keeps each person's other photos while dropping everyone else's.
    #[test]
    fn identities_separate() {
        let device = ComputeDevice::Cpu.to_burn().unwrap();
        let analyzer = FaceAnalyzer::load(&crate::nets::test_models(), &device).unwrap_or_else(|e| panic!("{e}"));
        let ids = testdata::root().join("identities");
        let person = |name: &str| (1..=5).map(|i| ids.join(name).join(format!("{name}{i}.png"))).collect::<Vec<_>>();
        let (sheldon, raj) = (person("sheldon"), person("raj"));
        let filter = IdentityFilter::from_images(&analyzer, &sheldon[..1], &raj[..1], DEFAULT_THRESHOLD).unwrap();
        let mut correct = 0;
        for p in sheldon[1..].iter().chain(&raj[1..]) {
            let verdict = filter.judge(&reference_descriptor(&analyzer, p).unwrap());
            let want_keep = p.to_string_lossy().contains("sheldon");
            correct += usize::from((verdict == Verdict::Keep) == want_keep);
        }
        assert!(correct >= 7, "only {correct} of 8 identity photos judged right");
        let others = ["amy", "penny", "howard"].iter().flat_map(|n| person(n)).collect::<Vec<_>>();
        let wrongly_kept = others.iter().filter(|p| filter.judge(&reference_descriptor(&analyzer, p).unwrap()) == Verdict::Keep).count();
        assert!(wrongly_kept <= 1, "{wrongly_kept} of 15 other people's photos kept as sheldon");

        // two_people.jpg: filtering on either face keeps exactly that one.
        let two = image::open(testdata::image("two_people.jpg")).unwrap().to_rgb8();
        let faces = analyzer.analyze(&two, &DetectOptions::default()).unwrap();
        assert_eq!(faces.len(), 2);
        for keep in 0..2 {
            let f = IdentityFilter { wanted: vec![faces[keep].descriptor], unwanted: vec![faces[1 - keep].descriptor], threshold: DEFAULT_THRESHOLD };
            let kept: Vec<usize> = (0..2).filter(|&i| f.judge(&faces[i].descriptor) == Verdict::Keep).collect();
            assert_eq!(kept, vec![keep]);
        }
    }

    #[test]
    fn a_reference_without_a_face_is_a_clear_error() {
        let device = ComputeDevice::Cpu.to_burn().unwrap();
        let analyzer = FaceAnalyzer::load(&crate::nets::test_models(), &device).unwrap_or_else(|e| panic!("{e}"));
        let blank = std::env::temp_dir().join(format!("doppel-blank-{}.png", std::process::id()));
        image::RgbImage::from_pixel(300, 300, image::Rgb([90, 140, 200])).save(&blank).unwrap();
        let err = IdentityFilter::from_images(&analyzer, std::slice::from_ref(&blank), &[], 0.6).unwrap_err();
        assert!(matches!(err, FilterError::NoFace(_)), "{err}");
        assert!(err.to_string().contains("no face found"));
        std::fs::remove_file(blank).unwrap();
        // A photo stored without an extension (as uploads are) is read by its content.
        let bare = std::env::temp_dir().join(format!("doppel-bare-{}", std::process::id()));
        std::fs::copy(testdata::root().join("identities/sheldon/sheldon1.png"), &bare).unwrap();
        let filter = IdentityFilter::from_images(&analyzer, std::slice::from_ref(&bare), &[], 0.6).unwrap();
        assert_eq!(filter.wanted.len(), 1);
        std::fs::remove_file(bare).unwrap();
        let bad = std::env::temp_dir().join(format!("doppel-notimage-{}.jpg", std::process::id()));
        std::fs::write(&bad, b"not an image").unwrap();
        let err = IdentityFilter::from_images(&analyzer, std::slice::from_ref(&bad), &[], 0.6).unwrap_err();
        assert!(err.to_string().contains("doppel-notimage"), "{err}");
        std::fs::remove_file(bad).unwrap();
        assert!(matches!(IdentityFilter::from_images(&analyzer, &[], &[], 0.0), Err(FilterError::Threshold(_))));
    }
}
