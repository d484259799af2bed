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

/// A mono 16-bit PCM WAV file of a 440 Hz tone.
fn tone_wav(path: &Path, seconds: f64, rate: u32) {
    let samples: Vec<i16> = (0..(seconds * f64::from(rate)) as u32).map(|i| ((f64::from(i) * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin() * 8000.0) as i16).collect();
    let data = (samples.len() * 2) as u32;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    for v in [16u32.to_le_bytes().to_vec(), 1u16.to_le_bytes().to_vec(), 1u16.to_le_bytes().to_vec(), rate.to_le_bytes().to_vec(), (rate * 2).to_le_bytes().to_vec(), 2u16.to_le_bytes().to_vec(), 16u16.to_le_bytes().to_vec()] {
        bytes.extend_from_slice(&v);
    }
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.to_le_bytes());
    samples.iter().for_each(|s| bytes.extend_from_slice(&s.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn audio_the_container_cannot_hold_is_re_encoded_to_aac() {
    // A source with PCM audio (Matroska holds it; MP4 does not).
    let wav = scratch("tone.wav");
    tone_wav(&wav, 4.0, 22_050);
    let source = scratch("pcm_source.mkv");
    crate::media::tools::mux_audio(&video("tiny_5frames.mp4"), &wav, &source).unwrap();
    assert_eq!(probe(&source).unwrap().audio_codec.as_deref(), Some("pcm_s16le"));
    let out = scratch("pcm.mp4");
    let (_, audio) = rewrite(&source, &out, &fast());
    assert_eq!(audio, AudioOutcome::Encoded("pcm_s16le".into()));
    assert!(audio.describe().contains("re-encoded to AAC"));
    let facts = probe(&out).unwrap();
    assert_eq!((facts.audio_codec.as_deref(), facts.frame_count), (Some("aac"), 5));
    // All of the sound is there: the audio lasts as long as the source's (AAC adds a frame of
    // priming at most).
    let audio_seconds = |path: &Path| {
        let input = ffmpeg_next::format::input(path).unwrap();
        let stream = input.streams().best(ffmpeg_next::media::Type::Audio).unwrap();
        let mut last = 0.0f64;
        let base = f64::from(stream.time_base());
        let index = stream.index();
        let mut input = input;
        for (s, p) in input.packets() {
            if s.index() == index {
                last = last.max((p.pts().unwrap_or(0) + p.duration()) as f64 * base);
            }
        }
        last
    };
    let (got, want) = (audio_seconds(&out), audio_seconds(&source));
    assert!(want > 0.15 && (got - want).abs() < 0.06, "{got} s of audio, the source has {want} s");
    for p in [wav, source, out] {
        std::fs::remove_file(p).unwrap();
    }
}
