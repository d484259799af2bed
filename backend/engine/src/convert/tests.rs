use super::*;
use crate::media::probe;
use crate::train::{train, ModelKind, TrainOptions};

/// A briefly trained Lightweight model with a learned mask on the test face sets.
fn model() -> PathBuf {
    model_named("plain")
}

/// The same model in a folder of its own, named after `tag` (tests run at the same time).
pub(super) fn model_named(tag: &str) -> PathBuf {
    let (a, b) = crate::train::testdata::face_sets();
    let dir = std::env::temp_dir().join(format!("doppel-convert-model-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut o = TrainOptions::new(a.clone(), b.clone(), dir.clone(), ModelKind::Lightweight);
    o.learn_mask = true;
    o.training.batch = 2;
    o.iterations = Some(2);
    train(&o, &crate::device::ComputeDevice::Cpu.to_burn().unwrap(), &mut crate::train::Quiet).unwrap();
    dir
}

#[test]
fn a_converted_video_keeps_every_frame_and_the_audio_and_swaps_the_faces_it_knows() {
    let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
    let model = model();
    let swapper = Swapper::load(&model, &device).unwrap();
    assert!(swapper.learns_mask());
    let (a, _) = crate::train::testdata::face_sets();
    let source = crate::media::testdata::video("talk_woman_a.mp4");
    let out = model.join("out.mp4");
    let mut options = ConvertOptions::new(source.clone(), out.clone(), Some(a.join("talk_woman_a.alignments.json")));
    options.encode.preset = "ultrafast".into();
    options.mask = MaskSettings { kind: MaskChoice::Learned, blur: 2.0, ..MaskSettings::default() };
    options.ranges = vec![(0, 20)];
    let report = run(&swapper, &options, None, &mut Quiet).unwrap();
    let (src, dst) = (probe(&source).unwrap(), probe(&out).unwrap());
    assert_eq!(dst.frame_count, src.frame_count);
    assert_eq!(report.progress.frames_done, src.frame_count);
    // Faces were extracted at frames 0, 8, .. 40; only those up to 20 are swapped.
    assert_eq!(report.progress.faces_swapped, 3);
    assert_eq!(report.frames_unchanged, src.frame_count - 3);
    assert_eq!(report.audio, AudioOutcome::Copied("aac".into()));
    assert!(dst.audio_codec.is_some());
    assert!(report.summary().contains("3 faces swapped"), "{}", report.summary());

    // The swapped frame differs from the source inside the face and hardly outside.
    let frame = |path: &std::path::Path, index: u64| FrameReader::open(path).unwrap().nth(index as usize).unwrap().unwrap().image;
    let (before, after) = (frame(&source, 8), frame(&out, 8));
    let entry = &crate::faces::Alignments::load(options.alignments.as_ref().unwrap()).unwrap().frames[&8];
    let nose = entry.faces[0].landmarks.points()[30];
    let diff = |x: u32, y: u32| (0..3).map(|c| i32::from(before.get_pixel(x, y)[c]).abs_diff(i32::from(after.get_pixel(x, y)[c]))).sum::<u32>();
    let patch = |cx: f32, cy: f32| (0..10).flat_map(|dy| (0..10).map(move |dx| (cx as u32 - 5 + dx, cy as u32 - 5 + dy))).map(|(x, y)| diff(x, y)).sum::<u32>() / 100;
    assert!(patch(nose.x, nose.y) > 20, "the face changed: {}", patch(nose.x, nose.y));
    assert!(patch(20.0, 20.0) < 12, "the corner did not: {}", patch(20.0, 20.0));

    // The preview of frame 8 is what the video got there (up to the encoder's loss).
    let (plain, swapped) = preview(&swapper, &options, None, 8).unwrap();
    assert_eq!(plain, before);
    let close = swapped.pixels().zip(after.pixels()).filter(|(p, q)| (0..3).all(|c| p[c].abs_diff(q[c]) < 24)).count();
    assert!(close as f32 > 0.95 * (after.width() * after.height()) as f32, "{close}");
    assert!(matches!(preview(&swapper, &options, None, 100_000), Err(ConvertError::NoFrame(100_000))));

    // Without a store, the face networks find the faces (here in frames 0 to 5 only).
    let analyzer = crate::analyze::FaceAnalyzer::load(&crate::nets::test_models(), &device).unwrap_or_else(|e| panic!("{e}"));
    // Written at half size.
    let live = ConvertOptions { alignments: None, output: model.join("live.mp4"), ranges: vec![(0, 5)], mask: MaskSettings::default(), scale: 50, ..options.clone() };
    let report = run(&swapper, &live, Some(&analyzer), &mut Quiet).unwrap();
    assert_eq!(report.progress.faces_swapped, 6, "one face in each of frames 0 to 5");
    let half = probe(&model.join("live.mp4")).unwrap();
    assert_eq!((half.frame_count, half.width, half.height), (src.frame_count, src.width / 2, src.height / 2));
    let none = ConvertOptions { alignments: None, ..options.clone() };
    assert!(matches!(run(&swapper, &none, None, &mut Quiet), Err(ConvertError::NoAlignments(_))));

    // Bad requests fail before writing anything.
    let other = ConvertOptions { alignments: Some(model.join("missing.json")), output: model.join("x.mp4"), ..options.clone() };
    assert!(matches!(run(&swapper, &other, None, &mut Quiet), Err(ConvertError::NoAlignments(_))));
    assert!(!model.join("x.mp4").exists());
    std::fs::remove_dir_all(&model).unwrap();
}

#[test]
fn output_sizes_scale_to_even_sides() {
    assert_eq!(scaled((512, 512), 100), (512, 512));
    assert_eq!(scaled((512, 512), 50), (256, 256));
    assert_eq!(scaled((721, 481), 50), (360, 240));
    assert_eq!(scaled((10, 10), 1), (2, 2));
}

#[test]
fn batches_shrink_for_big_frames() {
    assert_eq!(frames_per_batch((512, 512)), 64);
    assert_eq!(frames_per_batch((1920, 1080)), 8);
    assert_eq!(frames_per_batch((3840, 2160)), 4);
    assert_eq!(frames_per_batch((64, 64)), 64);
}
