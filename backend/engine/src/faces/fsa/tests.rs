use super::*;
use std::path::PathBuf;

/// Written by scripts/fixtures/make_fsa.py from Doppel's own faces of talk_woman_a.mp4
/// (frames 0-40, every 8th), with NumPy and Python's pickle as faceswap writes them.
fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

fn video() -> PathBuf {
    crate::media::testdata::video("talk_woman_a.mp4")
}

#[test]
fn a_faceswap_file_becomes_a_store_with_the_same_faces() {
    let (faces, _) = crate::train::testdata::face_sets();
    let ours = Alignments::load(&faces.join("talk_woman_a.alignments.json")).unwrap();
    for (file, version) in [("talk_woman_a_v24.fsa", 2.4), ("talk_woman_a_p5.fsa", 2.2), ("talk_woman_a_lists.fsa", 2.3)] {
        let got = import_fsa(&fixture(file), &video(), 128, 64, "doppel test").unwrap();
        assert_eq!(got.version, version, "{file}");
        assert_eq!(got.faces, 6, "{file}");
        assert_eq!(got.masks, 6, "{file}: every face's bisenet mask is kept");
        assert_eq!(got.store.source, ours.source, "the same video: same hash and size");
        assert_eq!(got.store.frames.keys().collect::<Vec<_>>(), ours.frames.keys().collect::<Vec<_>>(), "{file}: faceswap counts frames from 1");
        for (i, e) in &got.store.frames {
            let (a, b) = (&e.faces[0], &ours.frames[i].faces[0]);
            // The fixture holds the landmarks an earlier build extracted: the same to well
            // under a thousandth of a pixel (float rounding in the networks may move).
            let moved = a.landmarks.points().iter().zip(b.landmarks.points()).map(|(p, q)| p.distance(*q)).fold(0.0, f32::max);
            assert!(moved < 1e-3, "{file}: frame {i}: landmarks {moved} px from a fresh extraction");
            assert_eq!(Some(a.aligned), crate::align::AlignedFace::new(&a.landmarks, b.aligned.size, b.aligned.frame), "aligned as Doppel's extraction aligns");
            assert!((a.detection.rect.x - b.detection.rect.x).abs() <= 0.5, "faceswap boxes are whole pixels");
        }
        let skipped = got.skipped.join("\n");
        if file == "talk_woman_a_lists.fsa" {
            assert!(skipped.is_empty(), "{skipped}");
        } else {
            assert!(skipped.contains("talk_woman_a_000009.png, face 1: not 68 landmarks"), "{skipped}");
            assert!(skipped.contains("frame talk_woman_a_099999.png: not a frame of"), "{skipped}");
        }
    }
}

#[test]
fn the_faceswap_mask_lands_where_it_covered_the_frame() {
    let got = import_fsa(&fixture("talk_woman_a_v24.fsa"), &video(), 128, 64, "doppel test").unwrap();
    let face = &got.store.frames[&16].faces[0];
    let mask = face.mask(MaskKind::Painted).unwrap().decode().unwrap().image;
    // The fixture's mask is a disc of 0.3 box widths around the box's centre.
    let r = face.detection.rect;
    let at = |fx: f32, fy: f32| {
        let p = face.aligned.to_crop.apply(Point::new(fx, fy));
        let k = 64.0 / 128.0;
        mask.get_pixel(((p.x * k) as u32).min(63), ((p.y * k) as u32).min(63))[0]
    };
    assert_eq!(at(r.x + r.width / 2.0, r.y + r.height / 2.0), 255, "the centre of the box");
    assert_eq!(at(r.x + r.width * 0.05, r.y + r.height * 0.05), 0, "a corner of the box");
    let covered = mask.pixels().filter(|p| p[0] > 0).count() as f32 / (64.0 * 64.0);
    assert!((0.02..0.3).contains(&covered), "{covered}");
}

#[test]
fn damaged_and_foreign_files_get_clear_errors() {
    let dir = std::env::temp_dir().join(format!("doppel-fsa-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("plain.fsa");
    std::fs::write(&plain, b"not compressed at all").unwrap();
    let err = import_fsa(&plain, &video(), 128, 64, "t").unwrap_err();
    assert!(err.to_string().contains("is not a faceswap alignments file (.fsa)"), "{err}");
    // A cut file: the compressed stream ends early.
    let bytes = std::fs::read(fixture("talk_woman_a_v24.fsa")).unwrap();
    let cut = dir.join("cut.fsa");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(import_fsa(&cut, &video(), 128, 64, "t").is_err());
    // A pickle of something else.
    let other = dir.join("other.fsa");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94K\x01a.").unwrap();
    std::fs::write(&other, z.finish().unwrap()).unwrap();
    let err = import_fsa(&other, &video(), 128, 64, "t").unwrap_err();
    assert!(err.to_string().contains("of version 1"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
