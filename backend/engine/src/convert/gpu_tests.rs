//! Conversion on the GPU backend (`wgpu:0`, lavapipe where there is no GPU) gives the frames
//! the CPU gives: the face networks find the faces and the model swaps them on the device.

use super::*;
use std::path::Path;
use crate::device::{test_gpu, ComputeDevice, Device};

/// Frames 0 to 9 of the source, converted on `device` with faces found live (the three face
/// networks on the same device), written without loss.
fn convert_on(device: &Device, model: &Path, tag: &str) -> Vec<image::RgbImage> {
    let swapper = Swapper::load(model, device).unwrap();
    let analyzer = crate::analyze::FaceAnalyzer::load(&crate::nets::test_models(), device).unwrap_or_else(|e| panic!("{e}"));
    let out = model.join(format!("{tag}.mp4"));
    let mut options = ConvertOptions::new(crate::media::testdata::video("talk_woman_a.mp4"), out.clone(), None);
    options.encode = EncodeSettings { crf: 0, preset: "ultrafast".into(), ..EncodeSettings::default() };
    options.mask = MaskSettings { kind: MaskChoice::Learned, blur: 2.0, ..MaskSettings::default() };
    options.ranges = vec![(0, 9)];
    let report = run(&swapper, &options, Some(&analyzer), &mut Quiet).unwrap();
    assert_eq!(report.progress.faces_swapped, 10, "{tag}: one face in each of frames 0 to 9");
    FrameReader::open(&out).unwrap().take(10).map(|f| f.unwrap().image).collect()
}

#[test]
fn ten_frames_converted_on_wgpu_match_the_cpu() {
    let model = super::tests::model_named("gpu");
    let cpu_device = ComputeDevice::Cpu.to_burn().unwrap();
    // Where the faces are: the detector's boxes on the source frames (on the CPU).
    let analyzer = crate::analyze::FaceAnalyzer::load(&crate::nets::test_models(), &cpu_device).unwrap_or_else(|e| panic!("{e}"));
    let source: Vec<image::RgbImage> = FrameReader::open(&crate::media::testdata::video("talk_woman_a.mp4")).unwrap().take(10).map(|f| f.unwrap().image).collect();
    let boxes: Vec<crate::geometry::Rect> = source
        .iter()
        .map(|frame| analyzer.analyze(frame, &crate::nets::ssd::DetectOptions::default()).unwrap()[0].detection.rect)
        .collect();
    let cpu = convert_on(&cpu_device, &model, "cpu");
    let gpu = convert_on(&test_gpu(), &model, "gpu");
    let (mut all, mut all_n, mut face, mut face_n, mut worst) = (0u64, 0u64, 0u64, 0u64, 0u8);
    for ((c, g), rect) in cpu.iter().zip(&gpu).zip(&boxes) {
        for (x, y, p) in c.enumerate_pixels() {
            let q = g.get_pixel(x, y);
            let (fx, fy) = (x as f32, y as f32);
            let inside = fx >= rect.x && fx < rect.right() && fy >= rect.y && fy < rect.bottom();
            for k in 0..3 {
                let d = p[k].abs_diff(q[k]);
                worst = worst.max(d);
                all += u64::from(d);
                all_n += 1;
                if inside {
                    face += u64::from(d);
                    face_n += 1;
                }
            }
        }
    }
    let (all, face) = (all as f64 / all_n as f64, face as f64 / face_n.max(1) as f64);
    println!("wgpu vs cpu over 10 converted frames: mean {all:.4}/255, inside the face boxes {face:.4}/255 ({face_n} values), largest {worst}/255");
    // The swap really happened on both (else equal outputs prove nothing).
    let changed = cpu[0].pixels().zip(source[0].pixels()).filter(|(p, o)| (0..3).map(|k| u32::from(p[k].abs_diff(o[k]))).sum::<u32>() > 30).count();
    assert!(changed > 2_000, "the face was swapped: {changed} pixels changed");
    assert!(face_n > 10_000, "{face_n}");
    assert!(all <= 2.0, "mean difference {all}/255 > 2/255");
    assert!(face <= 2.0, "mean difference inside the faces {face}/255 > 2/255");
    std::fs::remove_dir_all(&model).unwrap();
}
