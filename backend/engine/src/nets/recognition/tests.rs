//! Conformance with face-api.js' own tests (`test/tests/faceRecognitionNet`): descriptors
//! within 0.1 of the recorded ones, for square and rectangular inputs, single and batched.

use super::*;
use crate::device::ComputeDevice;
use crate::nets::test_models;
use std::path::{Path, PathBuf};

const MODEL: &str = "face_recognition_model";
/// `(image, expected descriptor)`, as paired in `expected/faceRecognitionNet.test.ts`.
const CASES: [(&str, &str); 3] =
    [("face1.png", "faceDescriptor1.json"), ("face2.png", "faceDescriptor2.json"), ("face_rectangular.png", "faceDescriptorRect.json")];

fn conformance() -> PathBuf {
    crate::media::testdata::conformance("")
}

fn device() -> Device {
    ComputeDevice::Cpu.to_burn().unwrap()
}

fn net() -> FaceRecognitionNet {
    net_on(&device())
}

fn net_on(device: &Device) -> FaceRecognitionNet {
    let mut weights = TfjsWeights::load(&test_models().face_api_manifest(MODEL)).unwrap_or_else(|e| panic!("{e}"));
    FaceRecognitionNet::load(&mut weights, device).unwrap_or_else(|e| panic!("{e}"))
}

fn face(name: &str) -> RgbImage {
    let path = conformance().join("images").join(name);
    image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

fn expected(name: &str) -> FaceDescriptor {
    let path = conformance().join("expected").join(name);
    let values: Vec<f32> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    FaceDescriptor(values.try_into().expect("128 values"))
}

#[test]
fn descriptors_match_face_api() {
    descriptors_match_on(&device());
}

/// The same check on the GPU backend, same tolerances.
#[cfg(feature = "wgpu")]
#[test]
fn descriptors_match_face_api_on_wgpu() {
    descriptors_match_on(&crate::device::test_gpu());
}

fn descriptors_match_on(device: &Device) {
    let net = net_on(device);
    let mut measured = Vec::new();
    for (image, want) in CASES {
        let start = std::time::Instant::now();
        let got = net.describe(&face(image));
        let d = got.distance(&expected(want));
        println!("{image}: L2 distance to {want} = {d:.5} ({:.2?})", start.elapsed());
        assert!(d < 0.1, "{image}: distance {d} to {want}");
        measured.push(got);
    }
    // Different people: farther apart than the usual 0.6 match threshold, as the recorded
    // descriptors are (0.89, 0.73, 0.69).
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        let d = measured[i].distance(&measured[j]);
        println!("{} vs {}: {d:.4}", CASES[i].0, CASES[j].0);
        assert!(d > 0.6, "{} vs {}: {d}", CASES[i].0, CASES[j].0);
    }
}

#[test]
fn batch_forward_equals_single_forwards() {
    let net = net();
    let faces: Vec<RgbImage> = CASES.iter().map(|(image, _)| face(image)).collect();
    let batch = net.describe_all(&faces);
    assert_eq!(batch.len(), 3);
    for ((face, (image, want)), batched) in faces.iter().zip(CASES).zip(&batch) {
        let single = net.describe(face);
        let diff = single.0.iter().zip(&batched.0).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(diff < 1e-4, "{image}: batched differs from single by {diff}");
        assert!(batched.distance(&expected(want)) < 0.1, "{image}");
    }
}

#[test]
fn loaded_weights_fill_the_architecture() {
    let device = device();
    let loaded = net();
    let fresh = FaceRecognitionNetConfig::new().init(&device);
    assert_eq!(loaded.num_params(), fresh.num_params());
    let out = fresh.forward(Tensor::zeros([1, 3, INPUT_SIZE, INPUT_SIZE], &device));
    assert_eq!(out.dims(), [1, DESCRIPTOR_LEN]);
}

/// A copy of the fetched model in a temp folder, its manifest edited by `edit` and its shard
/// extended by `extra` bytes.
fn edited_model(tag: &str, extra: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> (PathBuf, PathBuf) {
    let source = test_models().face_api_manifest(MODEL);
    let dir = std::env::temp_dir().join(format!("doppel-recognition-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&source).unwrap()).unwrap();
    edit(&mut manifest);
    let shard = manifest[0]["paths"][0].as_str().unwrap().to_string();
    let mut bytes = std::fs::read(source.parent().unwrap_or(Path::new(".")).join(&shard)).unwrap();
    bytes.extend_from_slice(extra);
    std::fs::write(dir.join(&shard), bytes).unwrap();
    let path = dir.join(format!("{MODEL}-weights_manifest.json"));
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    (dir, path)
}

fn entry<'a>(manifest: &'a mut serde_json::Value, name: &str) -> &'a mut serde_json::Value {
    manifest[0]["weights"].as_array_mut().unwrap().iter_mut().find(|w| w["name"] == name).unwrap()
}

#[test]
fn load_rejects_a_tensor_of_the_wrong_shape() {
    // Same element count, so the shard still reads: only the network can notice.
    let (dir, path) = edited_model("shape", &[], |m| entry(m, "conv64_down/conv1/conv/filters")["shape"] = serde_json::json!([3, 3, 64, 32]));
    let mut weights = TfjsWeights::load(&path).unwrap();
    let err = FaceRecognitionNet::load(&mut weights, &device()).unwrap_err();
    std::fs::remove_dir_all(dir).unwrap();
    assert!(matches!(err, WeightsError::Mismatch(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("conv64_down/conv1/conv/filters") && msg.contains("[3, 3, 32, 64]"), "{msg}");
}

#[test]
fn load_rejects_tensors_it_does_not_use() {
    let (dir, path) = edited_model("extra", &[0; 4], |m| {
        m[0]["weights"].as_array_mut().unwrap().push(serde_json::json!({"name": "fc_bias", "shape": [1], "dtype": "float32"}))
    });
    let mut weights = TfjsWeights::load(&path).unwrap();
    let err = FaceRecognitionNet::load(&mut weights, &device()).unwrap_err();
    std::fs::remove_dir_all(dir).unwrap();
    assert!(err.to_string().contains("not used") && err.to_string().contains("fc_bias"), "{err}");
}

#[test]
fn descriptor_distance_is_euclidean() {
    let mut a = FaceDescriptor([0.0; DESCRIPTOR_LEN]);
    let b = a;
    a.0[0] = 3.0;
    a.0[127] = 4.0;
    assert_eq!(a.distance(&b), 5.0);
    assert_eq!(b.distance(&a), 5.0);
    assert_eq!(a.distance(&a), 0.0);
}

#[test]
fn config_defaults_are_face_api_js() {
    let config = FaceRecognitionNetConfig::new();
    assert_eq!(config.mean_rgb, [122.782, 117.001, 104.298]);
    assert_eq!(config.divisor, 256.0);
}
