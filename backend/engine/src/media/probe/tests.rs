//! Tests of [`probe`](super::probe) against the shared media, checked with ffprobe.

use super::*;
use crate::media::testdata::{image, root, video, TempFile};

/// Facts measured independently with `ffprobe -count_packets -show_entries
/// format=format_name,duration:stream=codec_name,width,height,avg_frame_rate,nb_read_packets`
/// (FFmpeg 5.1) and, for the rotation, `-show_entries stream_side_data`.
struct Expected {
    file: &'static str,
    container: &'static str,
    video_codec: &'static str,
    audio_codec: Option<&'static str>,
    size: (u32, u32),
    rotation: u32,
    fps: (i32, i32),
    frames: u64,
    duration: f64,
}

const MP4: &str = "mov,mp4,m4a,3gp,3g2,mj2";

#[rustfmt::skip]
const VIDEOS: &[Expected] = &[
    Expected { file: "talk_woman_a.mp4", container: MP4, video_codec: "h264", audio_codec: Some("aac"), size: (512, 512), rotation: 0, fps: (30, 1), frames: 354, duration: 11.818 },
    Expected { file: "talk_woman_b.mp4", container: MP4, video_codec: "h264", audio_codec: Some("aac"), size: (480, 480), rotation: 0, fps: (30, 1), frames: 1008, duration: 33.645 },
    Expected { file: "talk_man_glasses.mp4", container: MP4, video_codec: "h264", audio_codec: Some("aac"), size: (512, 512), rotation: 0, fps: (25, 1), frames: 183, duration: 7.32 },
    Expected { file: "interview.mp4", container: MP4, video_codec: "h264", audio_codec: Some("aac"), size: (410, 412), rotation: 0, fps: (25, 1), frames: 169, duration: 6.76 },
    Expected { file: "short_hamilton_clip.mp4", container: MP4, video_codec: "h264", audio_codec: Some("aac"), size: (640, 360), rotation: 0, fps: (2997, 100), frames: 275, duration: 10.008 },
    Expected { file: "full_body.mp4", container: MP4, video_codec: "h264", audio_codec: Some("aac"), size: (720, 1080), rotation: 0, fps: (25, 1), frames: 103, duration: 4.132 },
    Expected { file: "cartoon_mpeg4_ac3.avi", container: "avi", video_codec: "mpeg4", audio_codec: Some("ac3"), size: (720, 528), rotation: 0, fps: (2997, 125), frames: 270, duration: 11.261261 },
    Expected { file: "tiny_5frames.mp4", container: MP4, video_codec: "h264", audio_codec: None, size: (820, 460), rotation: 0, fps: (24000, 1001), frames: 5, duration: 0.209 },
    // ffprobe: displaymatrix [0 -65536 0; 65536 0 0; 0 0 1<<30], "rotation=90" (counterclockwise);
    // `ffmpeg -i` autorotates it with transpose=cclock, i.e. 270 degrees clockwise.
    Expected { file: "phone_rotated90.mov", container: MP4, video_codec: "h264", audio_codec: Some("aac"), size: (512, 512), rotation: 270, fps: (25, 1), frames: 183, duration: 7.32 },
];

#[test]
fn every_shared_video_matches_ffprobe() {
    for e in VIDEOS {
        let facts = probe(&video(e.file)).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let fps = f64::from(e.fps.0) / f64::from(e.fps.1);
        assert_eq!(facts.kind, MediaKind::Video, "{}", e.file);
        assert_eq!(facts.container, e.container, "{}", e.file);
        assert_eq!(facts.video_codec, e.video_codec, "{}", e.file);
        assert_eq!(facts.audio_codec.as_deref(), e.audio_codec, "{}", e.file);
        assert_eq!(facts.has_audio, e.audio_codec.is_some(), "{}", e.file);
        assert_eq!((facts.width, facts.height), e.size, "{}", e.file);
        assert_eq!(
            (facts.coded_width, facts.coded_height),
            e.size,
            "{}",
            e.file
        );
        assert_eq!(facts.rotation, e.rotation, "{}", e.file);
        assert!(
            (facts.fps - fps).abs() < 1e-9,
            "{}: fps {}",
            e.file,
            facts.fps
        );
        assert_eq!(facts.frame_count, e.frames, "{}", e.file);
        assert!(
            (facts.duration_secs - e.duration).abs() < 1e-3,
            "{}: {}",
            e.file,
            facts.duration_secs
        );
    }
}

#[test]
fn readme_rates_are_what_players_show() {
    let rate = |file| probe(&video(file)).unwrap().fps;
    assert_eq!(format!("{:.2}", rate("short_hamilton_clip.mp4")), "29.97");
    assert_eq!(format!("{:.3}", rate("tiny_5frames.mp4")), "23.976");
    assert_eq!(format!("{:.2}", rate("cartoon_mpeg4_ac3.avi")), "23.98");
    let long = probe(&video("talk_woman_a.mp4")).unwrap();
    assert_eq!(long.container_long, "QuickTime / MOV");
    let avi = probe(&video("cartoon_mpeg4_ac3.avi")).unwrap();
    assert_eq!(avi.container_long, "AVI (Audio Video Interleaved)");
}

#[test]
fn rotated_portrait_swaps_displayed_size() {
    // Only the displayed size depends on the rotation; the stored size stays.
    let facts = probe(&video("phone_rotated90.mov")).unwrap();
    assert_eq!(displayed_size(720, 1080, facts.rotation), (1080, 720));
}

/// From ffprobe: format png_pipe / image2, codec png / mjpeg.
#[rustfmt::skip]
const IMAGES: &[(&str, &str, &str, u32, u32)] = &[
    ("32bit.png", "png_pipe", "png", 626, 1200),
    ("astronaut.png", "png_pipe", "png", 512, 512),
    ("bald_guys.jpg", "image2", "mjpeg", 1986, 1545),
    ("biden.jpg", "image2", "mjpeg", 970, 2204),
    ("dogs.jpg", "image2", "mjpeg", 900, 916),
    ("obama-1080p.jpg", "image2", "mjpeg", 1920, 1080),
    ("obama-240p.jpg", "image2", "mjpeg", 427, 240),
    ("obama.jpg", "image2", "mjpeg", 910, 1137),
    ("obama2.jpg", "image2", "mjpeg", 626, 1200),
    ("obama_partial_face.jpg", "image2", "mjpeg", 491, 1137),
    ("obama_small.jpg", "image2", "mjpeg", 320, 240),
    ("two_people.jpg", "image2", "mjpeg", 1126, 661),
];

#[test]
fn every_shared_image_probes_as_a_still() {
    for &(file, container, codec, width, height) in IMAGES {
        let facts = probe(&image(file)).unwrap_or_else(|err| panic!("{file}: {err}"));
        assert_eq!(facts.kind, MediaKind::Image, "{file}");
        assert_eq!(
            (facts.container.as_str(), facts.video_codec.as_str()),
            (container, codec),
            "{file}"
        );
        assert_eq!((facts.width, facts.height), (width, height), "{file}");
        assert_eq!(
            (facts.frame_count, facts.fps, facts.duration_secs),
            (1, 0.0, 0.0),
            "{file}"
        );
        assert_eq!((facts.rotation, facts.has_audio), (0, false), "{file}");
    }
}

#[test]
fn truncated_mp4_without_moov_is_damaged_header() {
    // The first 300000 bytes of talk_woman_a.mp4: `ftyp`, then a cut `mdat`; the `moov`
    // box (the index) was at the end. ffprobe: "moov atom not found", invalid data.
    let err = probe(&video("truncated.mp4")).unwrap_err();
    let MediaError::Truncated(Damage::Header { format, reason }) = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(format, MP4);
    if cfg!(target_arch = "x86_64") {
        assert_eq!(reason, "moov atom not found");
    }
    assert!(
        err.to_string()
            .starts_with("the file is truncated or damaged: "),
        "{err}"
    );
}

#[test]
fn cut_faststart_mp4_reports_missing_frames() {
    // interview.mp4 keeps `moov` first; cut in the middle, ffprobe counts 83 of 169 packets.
    let bytes = std::fs::read(video("interview.mp4")).unwrap();
    let cut = TempFile::with_bytes("interview-cut.mp4", &bytes[..280_000]);
    let err = probe(&cut.0).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Truncated(Damage::MissingFrames {
                read: 83,
                declared: 169
            })
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the file is truncated or damaged: only 83 of 169 frames could be read"
    );
}

#[test]
fn cut_avi_reports_missing_frames() {
    // ffprobe on the first 600000 bytes: 130 of 270 video packets.
    let bytes = std::fs::read(video("cartoon_mpeg4_ac3.avi")).unwrap();
    let cut = TempFile::with_bytes("cartoon-cut.avi", &bytes[..600_000]);
    let err = probe(&cut.0).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::Truncated(Damage::MissingFrames {
                read: 130,
                declared: 270
            })
        ),
        "{err:?}"
    );
}

#[test]
fn every_cut_of_a_video_is_rejected_without_panic() {
    // Not cut at the very end: an AVI without its trailing `idx1` index still holds every
    // frame and rightly probes fine.
    for file in [
        "talk_woman_a.mp4",
        "interview.mp4",
        "cartoon_mpeg4_ac3.avi",
        "tiny_5frames.mp4",
    ] {
        let bytes = std::fs::read(video(file)).unwrap();
        for len in [
            1,
            8,
            40,
            100,
            1000,
            5000,
            20_000,
            bytes.len() / 3,
            bytes.len() * 9 / 10,
        ] {
            let cut = TempFile::with_bytes(&format!("cut-{len}-{file}"), &bytes[..len]);
            let result = probe(&cut.0);
            assert!(result.is_err(), "{file} cut at {len}: {result:?}");
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift64).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn non_media_is_not_media() {
    let text = root().join("README.md");
    let toml = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
    let empty = TempFile::with_bytes("empty.mp4", b"");
    let hello = TempFile::with_bytes("hello.txt", b"hello world\n");
    for path in [&text, &toml, &empty.0, &hello.0] {
        let err = probe(path).unwrap_err();
        assert!(
            matches!(err, MediaError::NotMedia { .. }),
            "{}: {err:?}",
            path.display()
        );
        assert!(
            err.to_string().starts_with("not a video or image file: "),
            "{err}"
        );
    }
}

#[test]
fn random_bytes_are_rejected_without_panic() {
    for seed in 1..=24u64 {
        for len in [16usize, 3000, 70_000] {
            let file = TempFile::with_bytes(&format!("noise-{seed}-{len}.bin"), &noise(seed, len));
            let result = probe(&file.0);
            assert!(
                matches!(
                    result,
                    Err(MediaError::NotMedia { .. } | MediaError::NoVideoStream { .. })
                ),
                "seed {seed}, {len} bytes: {result:?}"
            );
        }
    }
}

#[test]
fn missing_files_and_directories_are_io_errors() {
    let missing = probe(&video("no_such_file.mp4")).unwrap_err();
    assert!(
        matches!(&missing, MediaError::Io(e) if e.kind() == std::io::ErrorKind::NotFound),
        "{missing:?}"
    );
    let folder = probe(&root().join("video")).unwrap_err();
    assert!(matches!(folder, MediaError::Io(_)), "{folder:?}");
    assert!(
        folder.to_string().starts_with("cannot read the file: "),
        "{folder}"
    );
}

#[test]
fn facts_serialise_with_lowercase_kind() {
    let facts = probe(&video("tiny_5frames.mp4")).unwrap();
    let json = serde_json::to_value(&facts).unwrap();
    assert_eq!(json["kind"], "video");
    assert_eq!(json["audio_codec"], serde_json::Value::Null);
    let back: MediaFacts = serde_json::from_value(json).unwrap();
    assert_eq!(back, facts);
}

#[test]
fn odd_file_names_are_taken_literally() {
    // `%03d` would be an image-sequence pattern to FFmpeg's image2 demuxer.
    let bytes = std::fs::read(image("obama_small.jpg")).unwrap();
    let file = TempFile::with_bytes("photo%03d.jpg", &bytes);
    assert_eq!(probe(&file.0).unwrap().kind, MediaKind::Image);

    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(b"doppel-engine-\xff.jpg");
    let path = std::env::temp_dir().join(name);
    std::fs::write(&path, &bytes).unwrap();
    let err = probe(&path).unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert!(matches!(err, MediaError::Io(_)), "{err:?}");
}
