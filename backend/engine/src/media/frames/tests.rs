//! Tests of the frame reader on the shared media.

use super::*;
use crate::media::testdata::{image, root, video, TempFile};
use crate::media::thumbnail;

/// Every frame of `path`, panicking on an error.
fn all_frames(path: &Path) -> Vec<Frame> {
    let reader = FrameReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader.map(|frame| frame.unwrap()).collect()
}

#[test]
fn tiny_video_yields_five_frames_at_its_rate() {
    let reader = FrameReader::open(&video("tiny_5frames.mp4")).unwrap();
    assert_eq!(reader.displayed_size(), (820, 460));
    assert_eq!(reader.frame_count_hint(), Some(5));
    assert!((reader.frame_rate().unwrap() - 24000.0 / 1001.0).abs() < 1e-9);
    let frames: Vec<Frame> = reader.map(Result::unwrap).collect();
    assert_eq!(frames.len(), 5);
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame.index, i as u64);
        assert_eq!(frame.image.dimensions(), (820, 460));
        let expected = i as f64 * 1001.0 / 24000.0;
        assert!(
            (frame.time - expected).abs() < 1e-3,
            "frame {i}: {}",
            frame.time
        );
    }
}

#[test]
fn every_frame_is_decoded_and_every_third_is_chosen() {
    let path = video("talk_woman_a.mp4");
    let mut reader = FrameReader::open(&path).unwrap();
    let mut indices = Vec::new();
    while let Some(frame) = reader.next_frame(&mut |i| i % 3 == 0).unwrap() {
        assert_eq!(frame.image.dimensions(), (512, 512));
        indices.push(frame.index);
    }
    assert_eq!(indices, (0..354).step_by(3).collect::<Vec<u64>>());
    assert_eq!((reader.skipped(), reader.damage()), (0, None));
    assert!(
        reader.next_frame(&mut |_| true).unwrap().is_none(),
        "stays at the end"
    );

    let frames = all_frames(&path);
    assert_eq!(frames.len(), 354);
    assert!(frames.windows(2).all(|w| w[1].time > w[0].time));
    assert!(
        (frames[353].time - 353.0 / 30.0).abs() < 0.01,
        "{}",
        frames[353].time
    );
}

#[test]
fn first_frames_match_the_thumbnail_exactly() {
    // Same scaler flags: the full-size thumbnail of a bright first frame is that frame.
    for path in [
        video("tiny_5frames.mp4"),
        video("phone_rotated90.mov"),
        image("32bit.png"),
        image("obama.jpg"),
    ] {
        let first = FrameReader::open(&path).unwrap().next().unwrap().unwrap();
        let thumb = thumbnail(&path, 4096).unwrap();
        assert!(first.image == thumb, "{}", path.display());
    }
}

#[test]
fn rotated_video_frames_come_out_upright() {
    let upright = all_frames(&video("talk_man_glasses.mp4"));
    let mut reader = FrameReader::open(&video("phone_rotated90.mov")).unwrap();
    assert_eq!(reader.rotation(), 270);
    assert_eq!(reader.displayed_size(), (512, 512));
    let mut phone = Vec::new();
    while let Some(frame) = reader.next_frame(&mut |i| i % 60 == 30).unwrap() {
        phone.push(frame);
    }
    assert_eq!(
        phone.iter().map(|f| f.index).collect::<Vec<_>>(),
        [30, 90, 150]
    );
    for frame in &phone {
        let expected = image::imageops::rotate270(&upright[frame.index as usize].image);
        let diff: u64 = frame
            .image
            .as_raw()
            .iter()
            .zip(expected.as_raw())
            .map(|(&a, &b)| u64::from(a.abs_diff(b)))
            .sum();
        let mean = diff as f64 / expected.as_raw().len() as f64;
        assert!(mean < 2.0, "frame {}: {mean}", frame.index);
    }
}

#[test]
fn images_yield_one_frame() {
    let frames = all_frames(&image("32bit.png"));
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].index, frames[0].time), (0, 0.0));
    assert_eq!(frames[0].image.dimensions(), (626, 1200));
    assert_eq!(all_frames(&image("obama.jpg")).len(), 1);

    let grey = image::GrayImage::from_fn(40, 20, |x, _| image::Luma([(x * 6) as u8]));
    let mut png = std::io::Cursor::new(Vec::new());
    grey.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let file = TempFile::with_bytes("frames-grey.png", png.get_ref());
    let frames = all_frames(&file.0);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].image.get_pixel(10, 5).0, [60, 60, 60]);
}

#[test]
fn a_cut_video_yields_the_frames_before_the_cut() {
    // interview.mp4 keeps its index first; cut in the middle, 83 of 169 packets remain.
    let bytes = std::fs::read(video("interview.mp4")).unwrap();
    let cut = TempFile::with_bytes("frames-interview-cut.mp4", &bytes[..280_000]);
    let mut reader = FrameReader::open(&cut.0).unwrap();
    assert_eq!(reader.frame_count_hint(), Some(169));
    let frames: Vec<Frame> = reader.by_ref().map(Result::unwrap).collect();
    assert!((70..=83).contains(&frames.len()), "{} frames", frames.len());
    assert_eq!(
        reader.damage().as_deref(),
        Some("only 83 of 169 frames could be read")
    );

    // Cut AVI: mpeg4 part-way through a frame.
    let bytes = std::fs::read(video("cartoon_mpeg4_ac3.avi")).unwrap();
    let cut = TempFile::with_bytes("frames-cartoon-cut.avi", &bytes[..600_000]);
    let mut reader = FrameReader::open(&cut.0).unwrap();
    let count = reader.by_ref().map(Result::unwrap).count();
    assert!((100..=130).contains(&count), "{count} frames");
    assert_eq!(
        reader.damage().as_deref(),
        Some("only 130 of 270 frames could be read")
    );
}

#[test]
fn damaged_packets_are_skipped_and_counted() {
    // 20000 bytes of noise in the middle of the `mdat` box: ffprobe -count_frames decodes
    // 349 of 354 frames from such a file; decoding goes on past the damage.
    let mut bytes = std::fs::read(video("talk_woman_a.mp4")).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for byte in &mut bytes[400_000..420_000] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = (state >> 24) as u8;
    }
    let file = TempFile::with_bytes("frames-noise.mp4", &bytes);
    let mut reader = FrameReader::open(&file.0).unwrap();
    let frames: Vec<Frame> = reader.by_ref().map(Result::unwrap).collect();
    assert!(
        (340..354).contains(&frames.len()),
        "{} frames",
        frames.len()
    );
    assert!(reader.skipped() > 0);
    assert_eq!(reader.damage(), None);
    assert!(
        frames.last().unwrap().time > 11.7,
        "{}",
        frames.last().unwrap().time
    );
}

#[test]
fn truncated_mp4_without_index_fails_at_open() {
    // truncated.mp4 lost its `moov` box (at the end): no frame can be located at all.
    let err = FrameReader::open(&video("truncated.mp4")).err().unwrap();
    assert!(
        matches!(err, MediaError::Truncated(Damage::Header { .. })),
        "{err:?}"
    );
}

#[test]
fn cuts_anywhere_never_panic() {
    let bytes = std::fs::read(video("talk_woman_a.mp4")).unwrap();
    let interview = std::fs::read(video("interview.mp4")).unwrap();
    for (name, bytes) in [("woman", &bytes), ("interview", &interview)] {
        for len in [100, 5000, 40_000, bytes.len() / 2, bytes.len() - 1000] {
            let cut =
                TempFile::with_bytes(&format!("frames-cut-{len}-{name}.mp4"), &bytes[..len]);
            if let Ok(reader) = FrameReader::open(&cut.0) {
                for frame in reader {
                    if frame.is_err() {
                        break;
                    }
                }
            }
        }
    }
}

#[test]
fn non_media_is_not_media() {
    let err = FrameReader::open(&root().join("README.md")).err().unwrap();
    assert!(matches!(err, MediaError::NotMedia { .. }), "{err:?}");
    let err = FrameReader::open(&video("no_such_file.mp4")).err().unwrap();
    assert!(matches!(err, MediaError::Io(_)), "{err:?}");
}

#[test]
fn readers_can_move_to_a_worker_thread() {
    fn is_send<T: Send>() {}
    is_send::<FrameReader>();
}
