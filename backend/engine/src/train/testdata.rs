//! Faces for training tests, extracted once per test binary from ../shared/data.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::extract::{run, ExtractOptions, Silent};

/// Folders with a few faces of each talking woman (every 8th of the first 41 frames, 128 px).
pub fn face_sets() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let device = crate::device::ComputeDevice::Cpu.to_burn().unwrap();
        let analyzer = crate::analyze::FaceAnalyzer::load(&crate::nets::test_models(), &device).unwrap_or_else(|e| panic!("{e}"));
        let root = std::env::temp_dir().join(format!("doppel-train-faces-{}", std::process::id()));
        let dir = |name: &str| {
            let out = root.join(name);
            let _ = std::fs::remove_dir_all(&out);
            let mut options = ExtractOptions::new(crate::media::testdata::video(&format!("{name}.mp4")), out.clone());
            options.frames = Some((0, 40));
            options.every_n = 8;
            options.size = 128;
            run(&analyzer, &options, &mut Silent).unwrap();
            out
        };
        (dir("talk_woman_a"), dir("talk_woman_b"))
    })
}

/// A fresh copy of talk_woman_a's face set of [`face_sets`] (faces and alignments store) in
/// a scratch folder named after `tag`, for tests that change it.
pub fn copy_of_face_set_a(tag: &str) -> PathBuf {
    let (a, _) = face_sets();
    let dir = std::env::temp_dir().join(format!("doppel-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(a).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
    dir
}

/// `n` faces of one person of ../shared/data/identities (`amy`, `raj`, ...) as a `side` px
/// batch that reconstructs itself, full masks.
pub fn identity_batch(person: &str, n: usize, side: usize) -> super::step::Batch {
    let dir = crate::media::testdata::root().join("identities").join(person);
    let (mut input, mut mask) = (Vec::new(), Vec::new());
    for i in 1..=n {
        let path = dir.join(format!("{person}{i}.png"));
        let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
        let img = image::imageops::resize(&img, side as u32, side as u32, image::imageops::FilterType::Triangle);
        for c in 0..3 {
            input.extend(img.pixels().map(|p| f32::from(p[c]) / 255.0));
        }
        mask.extend(std::iter::repeat_n(1.0, side * side));
    }
    super::step::Batch { target: input.clone(), input, eyes: mask.clone(), mouth: mask.clone(), mask, size: n, input_side: side, output_side: side }
}
