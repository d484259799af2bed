//! Tests against the shipped weights and face-api.js' own expectations.

use super::*;
use crate::device::ComputeDevice;
use crate::nets::test_models;
use std::sync::OnceLock;
use std::time::Instant;

const MODEL: &str = "ssd_mobilenetv1_model";

fn device() -> Device {
    ComputeDevice::Cpu.to_burn().expect("cpu")
}

fn detector() -> &'static SsdMobilenetV1 {
    static NET: OnceLock<SsdMobilenetV1> = OnceLock::new();
    NET.get_or_init(|| {
        let mut w = TfjsWeights::load(&test_models().face_api_manifest(MODEL)).unwrap_or_else(|e| panic!("{e}"));
        SsdMobilenetV1::load(&mut w, &device()).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// An image of `shared/data`, by its path there.
fn rgb(rel: &str) -> RgbImage {
    let path = crate::media::testdata::root().join(rel);
    image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

fn timed_detect(name: &str, image: &RgbImage, options: &DetectOptions) -> Vec<Detection> {
    timed_detect_with(detector(), name, image, options)
}

fn timed_detect_with(detector: &SsdMobilenetV1, name: &str, image: &RgbImage, options: &DetectOptions) -> Vec<Detection> {
    let start = Instant::now();
    let found = detector.detect(image, options);
    eprintln!("ssd: {name} ({}x{}): {} faces in {:.2?}: {found:?}", image.width(), image.height(), found.len(), start.elapsed());
    found
}

/// face-api.js' `test/tests/ssdMobilenetv1/expectedBoxes.ts` (boxes of `faces.jpg`).
const EXPECTED: [Rect; 6] = [
    Rect::new(48.0, 253.0, 104.0, 129.0),
    Rect::new(260.0, 227.0, 76.0, 117.0),
    Rect::new(466.0, 165.0, 88.0, 130.0),
    Rect::new(234.0, 36.0, 84.0, 119.0),
    Rect::new(577.0, 65.0, 84.0, 105.0),
    Rect::new(84.0, 14.0, 79.0, 132.0),
];

/// Sorted by the distance of the top-left corner to the origin, as face-api.js' `sortBoxes`.
fn by_origin_distance<T>(mut items: Vec<T>, rect: impl Fn(&T) -> Rect) -> Vec<T> {
    items.sort_by(|a, b| {
        let (a, b) = (rect(a), rect(b));
        a.x.hypot(a.y).total_cmp(&b.x.hypot(b.y))
    });
    items
}

/// face-api.js' `expectRectClose`: the distance between the corners and between the sizes.
fn deviation(got: &Rect, want: &Rect) -> f32 {
    let corner = (got.x - want.x).hypot(got.y - want.y);
    let size = (got.width - want.width).hypot(got.height - want.height);
    corner.max(size)
}

#[test]
fn ssd_conformance_faces_jpg() {
    conformance_faces_jpg(detector());
}

/// The same check on the GPU backend, same tolerances.
#[cfg(feature = "wgpu")]
#[test]
fn ssd_conformance_faces_jpg_on_wgpu() {
    let mut w = TfjsWeights::load(&test_models().face_api_manifest(MODEL)).unwrap_or_else(|e| panic!("{e}"));
    let net = SsdMobilenetV1::load(&mut w, &crate::device::test_gpu()).unwrap_or_else(|e| panic!("{e}"));
    conformance_faces_jpg(&net);
}

fn conformance_faces_jpg(detector: &SsdMobilenetV1) {
    // face-api.js' ssdMobilenetv1.locateFaces tests: minConfidence 0.5 finds 6 faces with these
    // scores (box tolerance 5 px, score 0.05); minConfidence 0.7 finds 4 (box tolerance 4 px).
    let image = rgb("conformance/images/faces.jpg");
    let found = timed_detect_with(detector, "faces.jpg", &image, &DetectOptions { min_confidence: 0.5, ..DetectOptions::default() });
    let expected_scores = [0.54, 0.81, 0.97, 0.88, 0.84, 0.61];
    let expected = by_origin_distance(EXPECTED.to_vec(), |r| *r);
    let found = by_origin_distance(found, |d| d.rect);
    assert_eq!(found.len(), 6, "{found:?}");
    let (mut max_box, mut max_box_strict, mut max_score) = (0.0f32, 0.0f32, 0.0f32);
    for ((det, want), score) in found.iter().zip(&expected).zip(expected_scores) {
        let dev = deviation(&det.rect, want);
        max_box = max_box.max(dev);
        max_score = max_score.max((det.score - score).abs());
        if score > 0.7 {
            max_box_strict = max_box_strict.max(dev);
        }
        assert!(dev <= 5.0, "{det:?} vs {want:?}: {dev} px");
        assert!((det.score - score).abs() < 0.05, "{det:?}: expected score {score}");
    }
    let confident = found.iter().filter(|d| d.score > 0.7).count();
    assert_eq!(confident, 4, "minConfidence 0.7 keeps 4 faces");
    assert!(max_box_strict <= 4.0, "{max_box_strict} px");
    eprintln!("ssd conformance: max box deviation {max_box:.2} px (tolerance 5), {max_box_strict:.2} px on the 4 faces > 0.7 (tolerance 4), max score deviation {max_score:.3} (tolerance 0.05)");
}

#[test]
fn ssd_dogs_give_the_one_dog_face_face_api_reports() {
    // face-api.js itself finds one "face" (the bottom-right dog, 0.79) at the default 0.5; none
    // above 0.8.
    let dogs = rgb("images/dogs.jpg");
    let found = timed_detect("dogs.jpg", &dogs, &DetectOptions::default());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!((found[0].score - 0.7922).abs() < 1e-3 && found[0].rect.x > 450.0 && found[0].rect.y > 450.0, "{found:?}");
    let strict = DetectOptions { min_confidence: 0.8, ..DetectOptions::default() };
    assert!(detector().detect(&dogs, &strict).is_empty());
}

/// `@vladmandic/face-api@1.7.15` (tfjs 4.22, CPU backend) on the pixels the `image` crate
/// decodes: `locateFaces(tf.tensor3d(rgb), { minConfidence: 0.5 })`, boxes as `[x, y, w, h]`.
const FACE_API_RUNS: [(&str, &[(f32, [f32; 4])]); 3] = [
    (
        "conformance/images/faces.jpg",
        &[
            (0.97433, [50.279, 255.658, 100.401, 129.451]),
            (0.88269, [261.188, 226.004, 74.651, 117.813]),
            (0.83374, [466.014, 164.508, 89.561, 131.853]),
            (0.82396, [232.77, 37.133, 84.001, 117.777]),
            (0.5906, [578.627, 65.489, 82.091, 107.847]),
            (0.5186, [86.667, 15.313, 75.217, 129.687]),
        ],
    ),
    ("images/dogs.jpg", &[(0.79224, [485.768, 536.645, 318.421, 320.97])]),
    ("images/two_people.jpg", &[(0.91126, [793.219, 37.224, 139.407, 209.345]), (0.76647, [235.503, 21.752, 142.939, 193.108])]),
];

#[test]
fn ssd_matches_face_api_run_on_the_same_pixels() {
    let (mut max_box, mut max_score) = (0.0f32, 0.0f32);
    for (path, want) in FACE_API_RUNS {
        let image = rgb(path);
        let found = detector().detect(&image, &DetectOptions::default());
        assert_eq!(found.len(), want.len(), "{path}: {found:?}");
        // face-api.js maps back through the resized size rounded to whole pixels, so its
        // coordinates along the shorter side are scaled by `dim * 512 / round(dim * 512 / side)
        // / side`; apply the same factor to ours to compare the networks.
        let side = image.width().max(image.height()) as f32;
        let factor = |dim: u32| dim as f32 * 512.0 / (dim as f32 * 512.0 / side).round() / side;
        let (fx, fy) = (factor(image.width()), factor(image.height()));
        for (det, &(score, [x, y, w, h])) in found.iter().zip(want) {
            let r = det.rect;
            let ours = [r.x * fx, r.y * fy, r.width * fx, r.height * fy];
            let dev = ours.iter().zip([x, y, w, h]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            max_box = max_box.max(dev);
            max_score = max_score.max((det.score - score).abs());
            assert!(dev < 0.05 && (det.score - score).abs() < 1e-4, "{path}: {det:?} vs {score} {:?}", [x, y, w, h]);
        }
    }
    eprintln!("ssd vs face-api.js on the same pixels: max coordinate deviation {max_box:.4} px, max score deviation {max_score:.6}");
}

#[test]
fn ssd_rgba_png_works() {
    let image = image::open(crate::media::testdata::image("32bit.png")).expect("32bit.png");
    assert!(image.color().has_alpha(), "the fixture is RGBA");
    let found = timed_detect("32bit.png", &image.to_rgb8(), &DetectOptions::default());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].score > 0.9 && found[0].rect.area() > 50.0 * 50.0, "{found:?}");
}

#[test]
fn ssd_two_people_and_batching() {
    let people = rgb("images/two_people.jpg");
    let found = timed_detect("two_people.jpg", &people, &DetectOptions::default());
    assert_eq!(found.len(), 2, "{found:?}");
    // The same image in a batch with another (of another size) gives the same faces.
    let small = image::imageops::thumbnail(&people, 400, 235);
    let start = Instant::now();
    let batch = detector().detect_batch(&[&small, &people], &DetectOptions::default());
    eprintln!("ssd: batch of 2 in {:.2?}", start.elapsed());
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[1].len(), 2);
    for (a, b) in batch[1].iter().zip(&found) {
        assert!(deviation(&a.rect, &b.rect) < 0.01 && (a.score - b.score).abs() < 1e-4, "{a:?} vs {b:?}");
    }
}

#[test]
fn ssd_loaded_anchors_are_the_generated_ones() {
    let loaded: Vec<f32> = detector().anchors.val().into_data().try_into_vec().unwrap();
    let generated: Vec<f32> = anchors::generate(512).into_iter().flatten().collect();
    assert_eq!(loaded.len(), 5118 * 4);
    let max = loaded.iter().zip(&generated).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(max < 1e-4, "anchors differ by {max}");
}

#[test]
fn ssd_load_fails_clearly_on_a_wrong_shape() {
    let src = test_models().face_api_manifest(MODEL);
    let dir = std::env::temp_dir().join(format!("doppel-ssd-shape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(src.with_file_name(format!("{MODEL}.bin")), dir.join(format!("{MODEL}.bin"))).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&src).unwrap()).unwrap();
    let entry = manifest[0]["weights"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["name"] == "MobilenetV1/Conv2d_1_pointwise/weights")
        .expect("tensor in manifest");
    entry["shape"] = serde_json::json!([1, 1, 64, 32]); // same size, transposed channels
    let path = dir.join(format!("{MODEL}-weights_manifest.json"));
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();

    let mut w = TfjsWeights::load(&path).expect("the file itself is consistent");
    let err = SsdMobilenetV1::load(&mut w, &device()).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(err, WeightsError::Mismatch(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("MobilenetV1/Conv2d_1_pointwise/weights") && msg.contains("[1, 1, 32, 64]"), "{msg}");
}

#[test]
fn ssd_config_init_builds_the_same_architecture() {
    let net = SsdMobilenetV1Config::new().init(&device());
    assert_eq!(net.input_size(), 512);
    assert_eq!(net.anchors.val().dims(), [5118, 4]);
    // The same parameters as the network built from the shipped weights (anchors included).
    assert_eq!(net.num_params(), detector().num_params());
}

