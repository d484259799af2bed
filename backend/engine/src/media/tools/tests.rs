use super::*;
use crate::media::probe;
use crate::media::testdata::video;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("doppel-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn fast() -> EncodeSettings {
    EncodeSettings { preset: "ultrafast".into(), ..EncodeSettings::default() }
}

#[test]
fn frames_out_and_back_in_make_the_same_video() {
    let src = video("tiny_5frames.mp4");
    let dir = scratch("frames");
    assert_eq!(frames_to_pngs(&src, &dir).unwrap(), 5);
    assert!(dir.join("frame_000004.png").is_file());
    let out = scratch("from-frames.mp4");
    assert_eq!(pngs_to_video(&dir, &out, 10.0, &fast()).unwrap(), 5);
    let facts = probe(&out).unwrap();
    assert_eq!(facts.frame_count, 5);
    assert!((facts.fps - 10.0).abs() < 0.01, "{}", facts.fps);
    assert!(matches!(pngs_to_video(&dir, &out, 0.0, &fast()), Err(ToolError::Input(_))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rotate_turns_the_picture_and_keeps_the_audio() {
    let src = video("talk_woman_a.mp4");
    let out = scratch("rotated.mp4");
    let before = probe(&src).unwrap();
    let frames = rotate(&src, &out, 90, &fast()).unwrap();
    let after = probe(&out).unwrap();
    assert_eq!(frames, before.frame_count);
    assert_eq!((after.width, after.height), (before.height, before.width));
    assert_eq!(after.audio_codec.as_deref(), Some("aac"));
    assert!(rotate(&src, &out, 45, &fast()).is_err());
}

#[test]
fn slicing_copies_the_range_from_the_key_frame_before_it() {
    let src = video("talk_woman_a.mp4");
    let out = scratch("slice.mp4");
    slice(&src, &out, 3.0, 6.0).unwrap();
    let facts = probe(&out).unwrap();
    // Starts at most a GOP early (talk_woman_a's key frames are 10 s apart at most).
    assert!(facts.duration_secs > 2.9 && facts.duration_secs < 6.2, "{}", facts.duration_secs);
    assert_eq!((facts.video_codec.as_str(), facts.audio_codec.as_deref()), ("h264", Some("aac")));
    assert!(matches!(slice(&src, &out, 5.0, 5.0), Err(ToolError::Input(_))));
    assert!(matches!(slice(&src, &scratch("x.gif"), 1.0, 2.0), Err(ToolError::Write(WriteError::UnsupportedContainer(_)))));
}

#[test]
fn audio_from_another_file_is_muxed_in_and_cut_at_the_video_end() {
    let (v, a) = (video("tiny_5frames.mp4"), video("talk_woman_a.mp4"));
    let out = scratch("muxed.mp4");
    mux_audio(&v, &a, &out).unwrap();
    let (vf, of) = (probe(&v).unwrap(), probe(&out).unwrap());
    assert_eq!(of.frame_count, vf.frame_count);
    assert_eq!(of.audio_codec.as_deref(), Some("aac"));
    assert!(of.duration_secs < vf.duration_secs + 0.1, "the audio stops with the video: {} vs {}", of.duration_secs, vf.duration_secs);
    assert!(matches!(mux_audio(&v, &v, &scratch("none.mp4")), Err(ToolError::Input(_))), "tiny_5frames has no audio");
    assert!(!scratch("none.mp4").exists());
}
