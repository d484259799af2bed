use super::*;
use crate::media::testdata::video;
use crate::media::{probe, FrameReader};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doppel-writer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn fast() -> EncodeSettings {
    EncodeSettings { preset: "ultrafast".into(), ..EncodeSettings::default() }
}

/// Every frame of `source` through the writer, unchanged.
fn rewrite(source: &Path, out: &Path, settings: &EncodeSettings) -> (PathBuf, AudioOutcome) {
    let mut reader = FrameReader::open(source).unwrap();
    let size = reader.displayed_size();
    let mut writer = VideoWriter::create(out, size, reader.frame_rate().unwrap_or(25.0), settings, Some(source), Some(&Provenance::doppel())).unwrap();
    for frame in reader.by_ref() {
        let frame = frame.unwrap();
        writer.write(&frame.image, frame.time).unwrap();
    }
    let outcome = writer.audio_outcome.clone();
    (writer.finish().unwrap(), outcome)
}

#[test]
fn a_rewritten_video_keeps_frames_duration_and_audio_and_says_it_is_synthetic() {
    let source = video("talk_woman_a.mp4");
    let out = scratch("talk.mp4");
    let (written, audio) = rewrite(&source, &out, &fast());
    assert_eq!(written, out);
    assert_eq!(audio, AudioOutcome::Copied("aac".into()));
    let (a, b) = (probe(&source).unwrap(), probe(&out).unwrap());
    assert_eq!(b.frame_count, a.frame_count, "same frame count");
    assert!((b.duration_secs - a.duration_secs).abs() < 1.5 / a.fps, "duration {} vs {}", b.duration_secs, a.duration_secs);
    assert_eq!((b.width, b.height, b.video_codec.as_str(), b.audio_codec.as_deref()), (a.width, a.height, "h264", Some("aac")));
    let input = ffmpeg_next::format::input(&out).unwrap();
    let comment = input.metadata().get("comment").unwrap_or_default().to_string();
    assert!(comment.contains("Synthetic media") && comment.contains("Doppel"), "{comment}");
    let bytes = std::fs::read(&out).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(Provenance::DIGITAL_SOURCE_TYPE), "the XMP packet is in the file");
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().contains("talk.mp4.")).collect();
    assert!(leftovers.is_empty(), "no temporary file is left");
    std::fs::remove_file(&out).unwrap();
}

#[test]
fn h265_and_matroska_keep_audio_the_mp4_cannot_hold() {
    // An AVI with AC-3 audio into Matroska with H.265.
    let source = video("cartoon_mpeg4_ac3.avi");
    let out = scratch("cartoon.mkv");
    let settings = EncodeSettings { codec: VideoCodec::H265, ..fast() };
    let (_, audio) = rewrite(&source, &out, &settings);
    assert_eq!(audio, AudioOutcome::Copied("ac3".into()));
    let facts = probe(&out).unwrap();
    assert_eq!((facts.video_codec.as_str(), facts.audio_codec.as_deref()), ("hevc", Some("ac3")));
    assert_eq!(facts.frame_count, probe(&source).unwrap().frame_count);
    std::fs::remove_file(&out).unwrap();
}

#[test]
fn bad_outputs_are_refused_clearly_and_leave_nothing() {
    let p = Provenance::doppel();
    let err = |path: &Path, s: &EncodeSettings| VideoWriter::create(path, (64, 64), 25.0, s, None, Some(&p)).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err(&scratch("out.gif"), &fast()).contains(".mp4, .mov or .mkv"));
    assert!(err(Path::new("/nonexistent-folder/out.mp4"), &fast()).contains("cannot write"));
    assert!(err(&scratch("x.mp4"), &EncodeSettings { preset: "warp".into(), ..fast() }).contains("unknown preset"));
    // A writer dropped halfway leaves no file, neither final nor temporary.
    let out = scratch("half.mp4");
    let mut w = VideoWriter::create(&out, (64, 48), 25.0, &fast(), None, Some(&p)).unwrap();
    w.write(&RgbImage::new(64, 48), 0.0).unwrap();
    assert!(matches!(w.write(&RgbImage::new(10, 10), 0.04), Err(WriteError::FrameSize { .. })));
    drop(w);
    assert!(!out.exists());
    assert!(!std::fs::read_dir(out.parent().unwrap()).unwrap().flatten().any(|e| e.file_name().to_string_lossy().contains("half.mp4")));
}
