//! Face analysis of still images: detect (SSD MobileNetV1) -> 68 landmarks (FaceLandmark68Net)
//! -> identity descriptor (FaceRecognitionNet), the way face-api.js chains them. This is what
//! `doppel detect --json` prints, the stable interface for evaluation.

use crate::geometry::{Detection, Landmarks68, Point, Rect};
use crate::nets::landmark68::{FaceInput, FaceLandmark68Net, LandmarksError};
use crate::nets::recognition::{FaceDescriptor, FaceRecognitionNet};
use crate::nets::ssd::{DetectOptions, SsdMobilenetV1};
use crate::nets::tfjs::{TfjsWeights, WeightsError};
use crate::nets::ModelsDir;
use burn::tensor::Device;
use image::RgbImage;

/// Geometry of the descriptor crop, relative to the eye-to-mouth distance (dlib's face chip
/// as face-api.js approximates it): the square's side is that distance / 0.45, and the centre
/// of eyes and mouth sits at 50 % across and 43 % down.
const CHIP_SCALE: f32 = 0.45;
const CHIP_X: f32 = 0.5;
const CHIP_Y: f32 = 0.43;

/// One face found in an image, in the image's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceRecord {
    pub detection: Detection,
    pub landmarks: Landmarks68,
    pub descriptor: FaceDescriptor,
    /// Failed the face check: unsteady landmarks not confirmed on the aligned crop. Either
    /// not a face (a dog) or a face the aligner cannot place (eyes closed, looking down):
    /// extraction sets these aside for review instead of using them.
    pub doubtful: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Landmarks(#[from] LandmarksError),
}

/// The three networks, loaded once.
#[derive(Debug)]
pub struct FaceAnalyzer {
    detector: SsdMobilenetV1,
    landmarks: FaceLandmark68Net,
    recognition: FaceRecognitionNet,
}

impl FaceAnalyzer {
    /// Loads the face-api.js weights from `models` onto `device`.
    pub fn load(models: &ModelsDir, device: &Device) -> Result<FaceAnalyzer, WeightsError> {
        let mut ssd = TfjsWeights::load(&models.face_api_manifest("ssd_mobilenetv1_model"))?;
        let detector = SsdMobilenetV1::load(&mut ssd, device)?;
        let landmarks = FaceLandmark68Net::load(TfjsWeights::load(&models.face_api_manifest("face_landmark_68_model"))?, device)?;
        let mut rec = TfjsWeights::load(&models.face_api_manifest("face_recognition_model"))?;
        let recognition = FaceRecognitionNet::load(&mut rec, device)?;
        Ok(FaceAnalyzer { detector, landmarks, recognition })
    }

    /// Every face in `image` with its landmarks and descriptor, best detection first.
    pub fn analyze(&self, image: &RgbImage, options: &DetectOptions) -> Result<Vec<FaceRecord>, AnalyzeError> {
        // The stable interface reports what the detector finds, like face-api.js does.
        let options = AnalyzeOptions { detect: *options, max_spread: None, ..AnalyzeOptions::default() };
        Ok(self.analyze_batch(&[image], &options)?.pop().unwrap_or_default())
    }

    /// [`analyze`](Self::analyze) for several images at once: detection runs as one batch,
    /// landmarks for all faces of all images as one batch, descriptors as one batch.
    pub fn analyze_batch(&self, images: &[&RgbImage], options: &AnalyzeOptions) -> Result<Vec<Vec<FaceRecord>>, AnalyzeError> {
        Ok(self.analyze_batch_timed(images, options)?.0)
    }

    /// [`analyze_batch`](Self::analyze_batch) with the seconds spent detecting, aligning
    /// (landmarks and the face check) and describing, for benchmarks.
    pub fn analyze_batch_timed(&self, images: &[&RgbImage], options: &AnalyzeOptions) -> Result<(Vec<Vec<FaceRecord>>, [f64; 3]), AnalyzeError> {
        let clock = std::time::Instant::now();
        let found = self.detector.detect_batch(images, &options.detect);
        let detect = clock.elapsed().as_secs_f64();
        // (image, detection) for every face big enough.
        let faces: Vec<(usize, Detection)> = found
            .into_iter()
            .enumerate()
            .flat_map(|(i, dets)| dets.into_iter().map(move |d| (i, d)))
            .filter(|(_, d)| d.rect.width.max(d.rect.height) >= options.min_size as f32)
            .collect();
        let boxes: Vec<(&RgbImage, Rect)> = faces.iter().map(|&(i, d)| (images[i], d.rect)).collect();
        let clock = std::time::Instant::now();
        let refed = self.landmarks_refeed(&boxes, options.re_feed)?;
        // Drop what is not a face. The aligner's points wander when its box moves a little on
        // things that are not faces (and on some real faces: closed eyes, looking down); those
        // are confirmed by detecting again on the upright aligned crop, where real faces score
        // 0.98 and more.
        let doubtful: Vec<usize> = refed.iter().enumerate().filter(|(_, (_, spread))| options.max_spread.is_some_and(|max| *spread > max)).map(|(k, _)| k).collect();
        let confirmed = self.confirm(&faces, &refed, images, &doubtful);
        let (faces, landmarks): (Vec<(usize, Detection, bool)>, Vec<Landmarks68>) = faces
            .into_iter()
            .zip(refed)
            .enumerate()
            .map(|(k, ((i, d), (landmarks, _)))| ((i, d, doubtful.contains(&k) && !confirmed.contains(&k)), landmarks))
            .unzip();
        let (faces, landmarks) = drop_duplicates(faces, landmarks);
        let align = clock.elapsed().as_secs_f64();
        let clock = std::time::Instant::now();
        let crops: Vec<RgbImage> = faces.iter().zip(&landmarks).map(|(&(i, _, _), l)| crop(images[i], &descriptor_box(l))).collect();
        let descriptors = self.recognition.describe_all(&crops);
        let describe = clock.elapsed().as_secs_f64();
        let mut out: Vec<Vec<FaceRecord>> = vec![Vec::new(); images.len()];
        for (((i, detection, doubtful), landmarks), descriptor) in faces.into_iter().zip(landmarks).zip(descriptors) {
            out[i].push(FaceRecord { detection, landmarks, descriptor, doubtful });
        }
        Ok((out, [detect, align, describe]))
    }

    /// Which of the `doubtful` faces the detector finds again in their upright aligned crops:
    /// with a score of at least [`CONFIRM_SCORE`], and where the landmarks put the face
    /// (overlap of at least [`CONFIRM_IOU`] with the box of the landmarks in the crop).
    fn confirm(&self, faces: &[(usize, Detection)], refed: &[(Landmarks68, f32)], images: &[&RgbImage], doubtful: &[usize]) -> Vec<usize> {
        let crops: Vec<(usize, RgbImage, Rect)> = doubtful
            .iter()
            .filter_map(|&k| {
                let aligned = crate::align::AlignedFace::new(&refed[k].0, CONFIRM_CROP, crate::align::CropFrame::EXTRACT)?;
                Some((k, aligned.crop(images[faces[k].0]), aligned.landmarks_in_crop(&refed[k].0).bounds()))
            })
            .collect();
        let refs: Vec<&RgbImage> = crops.iter().map(|(_, c, _)| c).collect();
        let options = DetectOptions { min_confidence: CONFIRM_SCORE, ..DetectOptions::default() };
        self.detector
            .detect_batch(&refs, &options)
            .into_iter()
            .zip(&crops)
            .filter(|(found, (_, _, marked))| found.iter().any(|d| d.rect.iou(marked) >= CONFIRM_IOU))
            .map(|(_, (k, _, _))| *k)
            .collect()
    }

    /// The descriptor of an image that is already an aligned face chip.
    pub fn describe_chip(&self, chip: &RgbImage) -> FaceDescriptor {
        self.recognition.describe(chip)
    }

    /// Landmarks of each face box, averaged over `re_feed` runs on slightly moved and scaled
    /// copies of the box (the first is the box itself), all in one network batch. Averaging
    /// cancels part of the aligner's sensitivity to where the detector put the box, which is
    /// what makes landmarks jitter from frame to frame.
    ///
    /// With each face's landmarks comes their spread: the mean distance of the points of at
    /// least [`CHECK_RUNS`] runs from their average, over the box width. Real faces stay
    /// below 0.03; the points the aligner invents for things that are not faces (a dog's
    /// head) wander further (0.044).
    pub fn landmarks_refeed(&self, boxes: &[(&RgbImage, Rect)], re_feed: u32) -> Result<Vec<(Landmarks68, f32)>, AnalyzeError> {
        let averaged = re_feed.max(1) as usize;
        let n = averaged.max(CHECK_RUNS);
        let mut inputs = Vec::with_capacity(boxes.len() * n);
        for &(image, rect) in boxes {
            for k in 0..n {
                inputs.push(FaceInput { image, face: Some(jittered(rect, k)) });
            }
        }
        let all = self.landmarks.detect_landmarks_batch(&inputs)?;
        Ok(all
            .chunks(n)
            .zip(boxes)
            .map(|(runs, (_, rect))| {
                let spread = spread(runs, rect.width);
                // Unsteady points: the mean of all runs is the better estimate.
                let used = if spread > MAX_SPREAD { runs } else { &runs[..averaged] };
                (mean_points(used), spread)
            })
            .collect())
    }
}

/// Two boxes on one face (the detector sometimes also boxes its lower half, and NMS keeps
/// both when they overlap by less than half) give nearly the same landmarks: keep the better
/// scored. "Nearly" is a mean point distance under a tenth of the face's width.
fn drop_duplicates(faces: Vec<(usize, Detection, bool)>, landmarks: Vec<Landmarks68>) -> (Vec<(usize, Detection, bool)>, Vec<Landmarks68>) {
    let mut keep = vec![true; faces.len()];
    for a in 0..faces.len() {
        for b in a + 1..faces.len() {
            if faces[a].0 != faces[b].0 || !keep[a] || !keep[b] {
                continue;
            }
            let (pa, pb) = (landmarks[a].points(), landmarks[b].points());
            let width = pa[0].distance(pa[16]).max(pb[0].distance(pb[16])).max(1.0);
            let mean = pa.iter().zip(pb).map(|(p, q)| p.distance(*q)).sum::<f32>() / 68.0;
            if mean < 0.1 * width {
                let worse = if faces[a].1.score >= faces[b].1.score { b } else { a };
                keep[worse] = false;
            }
        }
    }
    faces.into_iter().zip(landmarks).zip(keep).filter(|(_, k)| *k).map(|(f, _)| f).unzip()
}

/// Side of the aligned crop doubtful faces are detected again in.
const CONFIRM_CROP: u32 = 256;
/// Score a doubtful face must reach in its aligned crop: measured, real faces of the test
/// images and talk videos score 0.93 to 0.999 there (0.985 and more on photos).
pub const CONFIRM_SCORE: f32 = 0.95;
/// Overlap a face found again in the aligned crop must have with the box of its landmarks
/// there. Measured: real faces 0.56 to 0.75; dogs.jpg's dog, whose whole head the detector
/// boxes at 0.95 while its invented landmarks sit where a face's would, 0.25.
pub const CONFIRM_IOU: f32 = 0.4;

/// Landmark runs per face used to judge whether it is a face at all.
pub const CHECK_RUNS: usize = 8;

fn mean_points(runs: &[Landmarks68]) -> Landmarks68 {
    let n = runs.len() as f32;
    Landmarks68(std::array::from_fn(|p| {
        let (x, y) = runs.iter().fold((0.0, 0.0), |(x, y), l| (x + l.points()[p].x, y + l.points()[p].y));
        Point::new(x / n, y / n)
    }))
}

/// Mean distance of the runs' points from their average, relative to `width`.
fn spread(runs: &[Landmarks68], width: f32) -> f32 {
    let mean = mean_points(runs);
    let total: f32 = runs.iter().flat_map(|r| r.points().iter().zip(mean.points()).map(|(a, b)| a.distance(*b))).sum();
    total / (runs.len() * 68) as f32 / width.max(1.0)
}

/// Options of [`FaceAnalyzer::analyze_batch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalyzeOptions {
    pub detect: DetectOptions,
    /// Faces whose box is smaller than this many pixels (longer side) are ignored.
    pub min_size: u32,
    /// Landmark runs per face, averaged (1 = no re-feed).
    pub re_feed: u32,
    /// Faces whose landmarks spread more than this (see [`FaceAnalyzer::landmarks_refeed`])
    /// are detected again on their aligned crop and marked doubtful unless found there;
    /// `None` skips the face check.
    pub max_spread: Option<f32>,
}

/// Default [`AnalyzeOptions::max_spread`]: measured with 8 runs, the real faces of
/// ../shared/data/images (a crowd of 23, grey, partial) stay at or below 0.028; dogs.jpg's
/// dog spreads 0.044, but so do frames of talk_woman_a.mp4 with closed eyes looking down
/// (0.035-0.059), where the aligner misplaces the points (their crops are visibly off).
pub const MAX_SPREAD: f32 = 0.036;

impl Default for AnalyzeOptions {
    fn default() -> AnalyzeOptions {
        AnalyzeOptions { detect: DetectOptions::default(), min_size: 0, re_feed: 1, max_spread: Some(MAX_SPREAD) }
    }
}

/// How far re-feed moves the box: up to this fraction of its size, across, down and in scale.
const JITTER: f32 = 0.05;

/// The `k`-th re-feed box: `k = 0` is `rect`; then shifts and scalings within [`JITTER`],
/// spread evenly (a fixed pattern, so results are reproducible).
fn jittered(rect: Rect, k: usize) -> Rect {
    if k == 0 {
        return rect;
    }
    // Low-discrepancy offsets in [-1, 1] (additive recurrences with irrational steps).
    let frac = |v: f32| v - v.floor();
    let kf = k as f32;
    let (u, v, w) = (frac(kf * 0.618_034) * 2.0 - 1.0, frac(kf * 0.754_878) * 2.0 - 1.0, frac(kf * 0.569_840) * 2.0 - 1.0);
    let scale = 1.0 + JITTER * w;
    let (width, height) = (rect.width * scale, rect.height * scale);
    let cx = rect.x + rect.width / 2.0 + JITTER * u * rect.width;
    let cy = rect.y + rect.height / 2.0 + JITTER * v * rect.height;
    Rect::new(cx - width / 2.0, cy - height / 2.0, width, height)
}

/// The square a descriptor is computed from, placed by the eye and mouth centres.
pub fn descriptor_box(landmarks: &Landmarks68) -> Rect {
    let pts = landmarks.points();
    let centre = |range: std::ops::Range<usize>| {
        let n = range.len() as f32;
        let (sx, sy) = pts[range].iter().fold((0.0, 0.0), |(x, y), p| (x + p.x, y + p.y));
        Point::new(sx / n, sy / n)
    };
    let (left_eye, right_eye, mouth) = (centre(36..42), centre(42..48), centre(48..68));
    let eye_to_mouth = (mouth.distance(left_eye) + mouth.distance(right_eye)) / 2.0;
    let side = (eye_to_mouth / CHIP_SCALE).floor();
    let reference = Point::new((left_eye.x + right_eye.x + mouth.x) / 3.0, (left_eye.y + right_eye.y + mouth.y) / 3.0);
    let x = (reference.x - CHIP_X * side).max(0.0).floor();
    let y = (reference.y - CHIP_Y * side).max(0.0).floor();
    Rect::new(x, y, side, side)
}

/// The whole pixels of `rect` inside `image` (an empty crop becomes 1x1 black).
fn crop(image: &RgbImage, rect: &Rect) -> RgbImage {
    match rect.pixel_region(image.width(), image.height()) {
        Some((x, y, w, h)) => image::imageops::crop_imm(image, x, y, w, h).to_image(),
        None => RgbImage::new(1, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::ComputeDevice;

    use crate::media::testdata::conformance;

    /// The face check sets dogs.jpg's dog aside (the detector, like face-api.js, scores it
    /// 0.79) and passes every face of a crowd, a grey photo and a partial face.
    #[test]
    fn the_face_check_drops_the_dog_and_keeps_real_faces() {
        let device = ComputeDevice::Cpu.to_burn().unwrap();
        let analyzer = FaceAnalyzer::load(&crate::nets::test_models(), &device).unwrap_or_else(|e| panic!("{e}"));
        let checked = AnalyzeOptions::default();
        for (name, want) in [("dogs.jpg", (1, 0)), ("bald_guys.jpg", (23, 23)), ("32bit.png", (1, 1)), ("obama_partial_face.jpg", (1, 1)), ("two_people.jpg", (2, 2)), ("biden.jpg", (1, 1))] {
            let image = image::open(crate::media::testdata::image(name)).unwrap().to_rgb8();
            let found = analyzer.analyze_batch(&[&image], &checked).unwrap().remove(0);
            let passed = found.iter().filter(|f| !f.doubtful).count();
            assert_eq!((found.len(), passed), want, "{name}: (detected, passed)");
        }
    }

    /// Re-feed steadies the landmarks: mean frame-to-frame motion of the 68 points on the
    /// first 40 frames of talk_woman_a.mp4 (the same detections for both), re-feed 1 vs 5;
    /// and the jitter, each point's distance from the midpoint of its neighbours in time,
    /// which leaves out smooth head motion.
    #[test]
    fn refeed_reduces_frame_to_frame_landmark_motion() {
        let device = ComputeDevice::Cpu.to_burn().unwrap();
        let analyzer = FaceAnalyzer::load(&crate::nets::test_models(), &device).unwrap_or_else(|e| panic!("{e}"));
        let mut reader = crate::media::FrameReader::open(&crate::media::testdata::video("talk_woman_a.mp4")).unwrap();
        let frames: Vec<RgbImage> = (0..40).map(|_| reader.next_frame(&mut |_| true).unwrap().unwrap().image).collect();
        let boxes: Vec<(&RgbImage, Rect)> = frames.iter().map(|f| (f, analyzer.detector.detect(f, &DetectOptions::default())[0].rect)).collect();
        let motion = |re_feed| {
            let marks: Vec<Landmarks68> = analyzer.landmarks_refeed(&boxes, re_feed).unwrap().into_iter().map(|(l, _)| l).collect();
            let total: f32 = marks.windows(2).map(|w| w[0].points().iter().zip(w[1].points()).map(|(a, b)| a.distance(*b)).sum::<f32>() / 68.0).sum();
            let jitter: f32 = marks
                .windows(3)
                .map(|w| (0..68).map(|i| w[1].points()[i].distance(Point::new((w[0].points()[i].x + w[2].points()[i].x) / 2.0, (w[0].points()[i].y + w[2].points()[i].y) / 2.0))).sum::<f32>() / 68.0)
                .sum();
            (total / (marks.len() - 1) as f32, jitter / (marks.len() - 2) as f32)
        };
        let ((one, jitter_one), (five, jitter_five)) = (motion(1), motion(5));
        println!("mean frame-to-frame landmark motion: re-feed 1 {one:.3} px, re-feed 5 {five:.3} px ({:.0} % less)", 100.0 * (1.0 - five / one));
        println!("jitter: re-feed 1 {jitter_one:.3} px, re-feed 5 {jitter_five:.3} px ({:.0} % less)", 100.0 * (1.0 - jitter_five / jitter_one));
        assert!(five < one, "re-feed 5 ({five}) should move less than re-feed 1 ({one})");
        assert!(jitter_five < jitter_one * 0.9, "re-feed 5 should jitter clearly less ({jitter_five} vs {jitter_one})");
    }

    #[test]
    fn refeed_boxes_stay_near_the_original_and_differ() {
        let r = Rect::new(100.0, 50.0, 200.0, 220.0);
        assert_eq!(jittered(r, 0), r);
        let boxes: Vec<Rect> = (1..8).map(|k| jittered(r, k)).collect();
        for b in &boxes {
            assert!(b.iou(&r) > 0.75, "{b:?}");
            assert!(b.iou(&r) < 0.999, "{b:?} is not moved");
        }
        assert!(boxes.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn descriptor_box_is_placed_by_eyes_and_mouth() {
        let mut pts = [Point::new(0.0, 0.0); 68];
        pts[36..42].fill(Point::new(100.0, 100.0));
        pts[42..48].fill(Point::new(160.0, 100.0));
        pts[48..68].fill(Point::new(130.0, 160.0));
        // Eye-to-mouth distance: sqrt(30² + 60²) = 67.08 -> side floor(67.08 / 0.45) = 149.
        // Centre (130, 120): x = floor(130 - 74.5) = 55, y = floor(120 - 64.07) = 55.
        assert_eq!(descriptor_box(&Landmarks68(pts)), Rect::new(55.0, 55.0, 149.0, 149.0));
    }

    /// The whole chain on faces.jpg against face-api.js' own end-to-end results (all faces:
    /// landmarks and descriptors). The reference ran in a browser, whose canvas resizes the
    /// image for the detector differently from TensorFlow's resize that the networks' own
    /// conformance tests use; boxes shift by a few pixels and the differences add up along the
    /// chain. Each network alone meets the original tolerances (3 px, L2 < 0.1); end to end we
    /// measured at most 3.1 px and L2 0.105, and hold the chain to 4 px and 0.12.
    #[test]
    fn faces_jpg_matches_face_api_end_to_end() {
        let device = ComputeDevice::Cpu.to_burn().unwrap();
        let analyzer = FaceAnalyzer::load(&crate::nets::test_models(), &device).unwrap_or_else(|e| panic!("{e}"));
        let image = image::open(conformance("images/faces.jpg")).unwrap().to_rgb8();
        let faces = analyzer.analyze(&image, &DetectOptions::default()).unwrap();
        let read = |f: &str| serde_json::from_slice::<serde_json::Value>(&std::fs::read(conformance(f)).unwrap()).unwrap();
        let want_marks = read("expected/facesFaceLandmarkPositions.json");
        let want_desc = read("expected/facesFaceDescriptors.json");
        let want_marks = want_marks.as_array().unwrap();
        assert_eq!(faces.len(), want_marks.len(), "faces found");
        for (i, expected) in want_marks.iter().enumerate() {
            let pts: Vec<Point> = expected
                .as_array()
                .unwrap()
                .iter()
                .map(|p| Point::new(p["x"].as_f64().unwrap() as f32, p["y"].as_f64().unwrap() as f32))
                .collect();
            // Match the expected face to ours by the nose tip (point 30).
            let face = faces
                .iter()
                .min_by(|a, b| {
                    let da = a.landmarks.points()[30].distance(pts[30]);
                    let db = b.landmarks.points()[30].distance(pts[30]);
                    da.total_cmp(&db)
                })
                .unwrap();
            let max = face.landmarks.points().iter().zip(&pts).map(|(a, b)| a.distance(*b)).fold(0.0f32, f32::max);
            let desc: Vec<f32> = want_desc[i].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let dist = desc.iter().zip(face.descriptor.0.iter()).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt();
            println!("face {i}: landmarks max {max:.2} px, descriptor distance {dist:.4}");
            assert!(max < 4.0, "face {i}: landmarks {max} px off");
            assert!(dist < 0.12, "face {i}: descriptor {dist} away");
        }
    }
}
