//! Extraction: video or images in, aligned face PNGs and an alignments store out.
//!
//! Three stages joined by bounded channels, so decoding, inference and PNG encoding overlap:
//! ```text
//! decode (thread) --frames--> analyze (caller's thread: detect batch -> landmarks
//!   -> identity) --faces--> write (thread: align -> crop -> masks -> PNG -> store)
//! ```
//! Frames already in the alignments store are skipped, so a stopped or crashed run resumes
//! where it was; the store is saved every few seconds and at the end.
//!
//! Others may change the set while a run goes on (the gallery's trash, restore and hand edits):
//! each save holds [`ExtractOptions::folder_lock`] and merges, reading the store again and
//! putting in only the frames and faces this run added since its last save. A face trashed
//! meanwhile stays out, a face edited meanwhile keeps its edit, and a face a person edited or
//! trashed is never written again by a resumed run (see `write.rs`).

mod input;
mod pipeline;
mod track;
mod write;

use std::path::PathBuf;

pub use input::{source_hash, Input, InputError};
pub use pipeline::run;
pub use write::DOUBTFUL_DIR;

use crate::align::CropFrame;
use crate::analyze::AnalyzeError;
use crate::faces::{AlignmentsError, FacePngError};
use crate::identity::IdentityFilter;
use crate::nets::ssd::DetectOptions;

/// What to extract and how.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// A video file or a folder of images.
    pub input: PathBuf,
    /// Folder for the face PNGs (created if missing).
    pub output: PathBuf,
    /// The alignments store; default `<output>/<source stem>.alignments.json`.
    pub alignments: Option<PathBuf>,
    /// Look at every n-th frame only (1 = all).
    pub every_n: u64,
    /// Only frames in this inclusive range of frame indices.
    pub frames: Option<(u64, u64)>,
    /// Faces whose detected box is smaller than this (pixels, longer side) are ignored.
    pub min_size: u32,
    /// Side of the face PNGs.
    pub size: u32,
    pub frame: CropFrame,
    /// Landmark runs per face, averaged.
    pub re_feed: u32,
    /// Drop detections whose landmarks are unstable (not faces); see [`crate::analyze::MAX_SPREAD`].
    pub max_spread: Option<f32>,
    pub detect: DetectOptions,
    pub filter: IdentityFilter,
    /// Frames analysed per network batch.
    pub batch: usize,
    /// Side of the stored masks.
    pub mask_size: u32,
    /// Held around each save of the alignments store, by every writer of the output folder
    /// (the server's gallery takes the same one for trash, restore and edits); `None` when no
    /// one else writes there (the command line).
    pub folder_lock: Option<std::sync::Arc<std::sync::Mutex<()>>>,
}

impl ExtractOptions {
    pub fn new(input: PathBuf, output: PathBuf) -> ExtractOptions {
        ExtractOptions {
            input,
            output,
            alignments: None,
            every_n: 1,
            frames: None,
            min_size: 0,
            size: 512,
            frame: CropFrame::EXTRACT,
            re_feed: 1,
            max_spread: Some(crate::analyze::MAX_SPREAD),
            detect: DetectOptions::default(),
            filter: IdentityFilter::default(),
            batch: 4,
            mask_size: 256,
            folder_lock: None,
        }
    }

    /// Whether frame `index` is to be looked at.
    pub fn wants(&self, index: u64) -> bool {
        let in_range = self.frames.is_none_or(|(a, b)| (a..=b).contains(&index));
        in_range && index.is_multiple_of(self.every_n.max(1))
    }
}

/// Where a run is, reported after every frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Frames looked at in this run.
    pub frames_done: u64,
    /// Frames this run will look at, when the source's frame count is known.
    pub frames_total: Option<u64>,
    /// Frames skipped because the alignments store already has them.
    pub frames_resumed: u64,
    pub faces_written: u64,
    /// Faces dropped by the identity filter.
    pub faces_filtered: u64,
    /// Faces that failed the face check, set aside in `<output>/doubtful/` for review.
    pub faces_doubtful: u64,
    /// Faces the face check doubted but kept (counted in `faces_written`): the same face
    /// passed in a neighbouring frame.
    pub faces_tracked: u64,
    /// Frames that could not be decoded.
    pub frames_corrupt: u64,
    pub seconds: f64,
}

/// Receives progress and each face as it is written (for progress bars, live thumbnails).
pub trait Observer: Send {
    fn progress(&mut self, _progress: &Progress) {}
    fn face_written(&mut self, _path: &std::path::Path) {}
    /// Polled between frames: `true` stops the run (the store is saved first).
    fn should_stop(&self) -> bool {
        false
    }
}

/// An observer that does nothing.
pub struct Silent;
impl Observer for Silent {}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub progress: Progress,
    pub alignments: PathBuf,
    /// Frames with at least one face kept, in the whole store.
    pub frames_with_faces: u64,
    /// Faces in the whole store.
    pub faces_total: u64,
    /// Stopped before the end (by the observer).
    pub stopped: bool,
    /// Why the source ended early, if it is damaged.
    pub damage: Option<String>,
    /// Seconds spent in each stage (decode, analyze, write): the stages overlap.
    pub stage_seconds: [f64; 3],
}

impl Report {
    /// One line for people: what was found, and a clear word when nothing was.
    pub fn summary(&self) -> String {
        let p = &self.progress;
        let mut s = if self.faces_total == 0 {
            format!("no faces found in {} frames looked at", p.frames_done + p.frames_resumed)
        } else {
            format!("{} faces in {} frames ({} written now)", self.faces_total, self.frames_with_faces, p.faces_written)
        };
        if p.frames_resumed > 0 {
            s += &format!(", {} frames already done", p.frames_resumed);
        }
        if p.faces_tracked > 0 {
            s += &format!(", {} of them doubtful but kept because the same face passed in a neighbouring frame", p.faces_tracked);
        }
        if p.faces_doubtful > 0 {
            s += &format!(", {} doubtful faces set aside in {}/ for review", p.faces_doubtful, write::DOUBTFUL_DIR);
        }
        if p.faces_filtered > 0 {
            s += &format!(", {} faces filtered out by identity", p.faces_filtered);
        }
        if p.frames_corrupt > 0 {
            s += &format!(", {} damaged frames skipped", p.frames_corrupt);
        }
        if let Some(d) = &self.damage {
            s += &format!(", the source ends early: {d}");
        }
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
    #[error("{path}: {source}")]
    Alignments { path: PathBuf, source: AlignmentsError },
    #[error("{path}: {source}")]
    FacePng { path: PathBuf, source: FacePngError },
    #[error("cannot create the output folder {path}: {source}")]
    Output { path: PathBuf, source: std::io::Error },
    #[error("cannot move {path} out of the doubtful faces: {source}")]
    Doubtful { path: PathBuf, source: std::io::Error },
    #[error("{path} belongs to another source ({theirs}, not {ours}): choose another --alignments file or output folder")]
    OtherSource { path: PathBuf, theirs: String, ours: String },
    #[error("invalid options: {0}")]
    Options(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::FaceAnalyzer;
    use crate::device::ComputeDevice;
    use crate::faces::{read_face_png, Alignments};
    use crate::media::testdata;

    fn analyzer() -> FaceAnalyzer {
        let device = ComputeDevice::Cpu.to_burn().unwrap();
        FaceAnalyzer::load(&crate::nets::test_models(), &device).unwrap_or_else(|e| panic!("{e}"))
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("doppel-extract-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    struct Stopper(u64);
    impl Observer for Stopper {
        fn progress(&mut self, p: &Progress) {
            self.0 = p.frames_done;
        }
        fn should_stop(&self) -> bool {
            self.0 >= 6
        }
    }

    /// talk_woman_a.mp4 (one woman, frontal): one upright face per frame with masks and
    /// metadata; a stopped run resumes without redoing frames.
    #[test]
    fn a_talking_head_gives_one_upright_face_per_frame_and_resumes() {
        let analyzer = analyzer();
        let out = scratch("talk");
        let mut options = ExtractOptions::new(testdata::video("talk_woman_a.mp4"), out.clone());
        options.frames = Some((0, 15));
        options.size = 256;
        let first = run(&analyzer, &options, &mut Stopper(0)).unwrap();
        assert!(first.stopped && first.progress.frames_done < 16, "{first:?}");
        let second = run(&analyzer, &options, &mut Silent).unwrap();
        assert_eq!(second.progress.frames_resumed, first.progress.frames_done, "frames done before are not looked at again");
        assert_eq!(second.progress.frames_done + second.progress.frames_resumed, 16);
        assert_eq!((second.faces_total, second.frames_with_faces), (16, 16), "{}", second.summary());

        let store = Alignments::load(&second.alignments).unwrap();
        assert_eq!(store.frames.len(), 16);
        assert_eq!(store.source.file, "talk_woman_a.mp4");
        let entry = &store.frames[&7].faces[0];
        let (crop, meta) = read_face_png(&out.join(entry.file.as_ref().unwrap())).unwrap();
        assert_eq!(crop.dimensions(), (256, 256));
        assert_eq!((meta.frame.index, meta.face.face_index), (7, 0));
        assert!((meta.frame.time - 7.0 / 30.0).abs() < 0.01, "time {}", meta.frame.time);
        assert_eq!(meta.face.masks.len(), 2);
        assert!(meta.face.identity.is_some());
        // Upright and centred: eyes level, nose below them, mouth below the nose, face in the middle.
        let p = meta.face.aligned.landmarks_in_crop(&meta.face.landmarks);
        let p = p.points();
        assert!((p[36].y - p[45].y).abs() < 6.0, "eyes level: {} vs {}", p[36].y, p[45].y);
        assert!(p[36].y < p[30].y && p[30].y < p[57].y);
        assert!((p[30].x - 128.0).abs() < 20.0);
        std::fs::remove_dir_all(out).unwrap();
    }

    /// Frames 225-260 of talk_woman_a.mp4, where she closes her eyes and looks down: the
    /// face check doubts the faces of 18 of them, yet they are hers, where her face was a
    /// moment before and after. Each frame gives one face, the doubted ones kept by tracking
    /// with their alignments; nothing stays in doubtful/.
    #[test]
    fn closed_eyes_in_a_video_are_kept_by_tracking() {
        let analyzer = analyzer();
        let out = scratch("closed-eyes");
        let mut options = ExtractOptions::new(testdata::video("talk_woman_a.mp4"), out.clone());
        options.frames = Some((225, 260));
        options.size = 128;
        let report = run(&analyzer, &options, &mut Silent).unwrap();
        let p = &report.progress;
        assert!(p.faces_tracked >= 10, "faces kept by tracking: {}", p.faces_tracked);
        assert_eq!((p.faces_doubtful, p.faces_written), (0, 36), "{}", report.summary());
        let store = Alignments::load(&report.alignments).unwrap();
        for (index, frame) in &store.frames {
            assert_eq!(frame.faces.len(), 1, "frame {index}");
            let file = out.join(frame.faces[0].file.as_deref().unwrap());
            let (_, meta) = read_face_png(&file).unwrap();
            assert_eq!((meta.frame.index, meta.face.face_index), (*index, frame.faces[0].face_index));
        }
        assert_eq!(std::fs::read_dir(out.join(DOUBTFUL_DIR)).map(|d| d.count()).unwrap_or(0), 0);
        assert_eq!(std::fs::read_dir(&out).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png")).count(), 36);
        std::fs::remove_dir_all(out).unwrap();
    }

    /// A folder of images: the dog is not a face, RGBA and grey images work, a broken file is
    /// skipped and counted.
    #[test]
    fn an_image_folder_with_a_dog_an_rgba_photo_and_a_broken_file() {
        let analyzer = analyzer();
        let input = scratch("imgs-in");
        std::fs::create_dir_all(&input).unwrap();
        for name in ["dogs.jpg", "32bit.png"] {
            std::fs::copy(testdata::image(name), input.join(name)).unwrap();
        }
        std::fs::copy(testdata::root().join("identities/penny/penny1.png"), input.join("grey.png")).unwrap();
        std::fs::write(input.join("broken.jpg"), b"not a jpeg").unwrap();
        let out = scratch("imgs-out");
        let report = run(&analyzer, &ExtractOptions::new(input.clone(), out.clone()), &mut Silent).unwrap();
        assert_eq!(report.progress.frames_corrupt, 1);
        let store = Alignments::load(&report.alignments).unwrap();
        let faces_in = |name: &str| store.frames.values().find(|f| f.name.as_deref() == Some(name)).map(|f| f.faces.len());
        assert_eq!(faces_in("dogs.jpg"), Some(0));
        assert_eq!(report.progress.faces_doubtful, 1, "the dog is set aside for review");
        assert_eq!(std::fs::read_dir(out.join(DOUBTFUL_DIR)).unwrap().count(), 1);
        assert_eq!(faces_in("32bit.png"), Some(1));
        std::fs::remove_dir_all(input).unwrap();
        std::fs::remove_dir_all(out).unwrap();
    }

    /// Moves the box of face `name` by hand (an edit that needs no frame): revision 1.
    fn edit_box(dir: &std::path::Path, name: &str) -> crate::faces::FaceMeta {
        let meta = crate::faces::read_face_meta(&dir.join(name)).unwrap();
        let mut rect = meta.face.detection.rect;
        rect.x += 3.0;
        let edit = crate::faces::edit::FaceEdit { revision: meta.face.revision, landmarks: None, rect: Some(rect), painted: None, by: "edna".into(), at: 1 };
        crate::faces::curate::FaceFolder::open(dir).unwrap().edit(name, |_| Err(crate::faces::edit::EditError::NoFrame), edit).unwrap()
    }

    fn face_of(store: &Alignments, frame: u64) -> Option<&crate::faces::FaceEntry> {
        store.frames[&frame].faces.first()
    }

    /// Does a trash and an edit from the gallery in the middle of a run, between two frames.
    struct Curator {
        dir: PathBuf,
        done: bool,
    }
    impl Observer for Curator {
        fn progress(&mut self, p: &Progress) {
            if p.frames_done == 2 && !self.done {
                self.done = true;
                let folder = crate::faces::curate::FaceFolder::open(&self.dir).unwrap();
                folder.trash(&["talk_woman_a_000001_0.png".to_string()]).unwrap();
                edit_box(&self.dir, "talk_woman_a_000003_0.png");
            }
        }
    }

    /// A run resumed on a set someone curates: the trash and the edit made while it runs are
    /// still in the store after its saves (which merge with the store on disk), and its own
    /// new frames are there too.
    #[test]
    fn a_trash_and_an_edit_made_while_a_run_resumes_survive_it() {
        let analyzer = analyzer();
        let out = scratch("curated");
        let mut options = ExtractOptions::new(testdata::video("talk_woman_a.mp4"), out.clone());
        options.size = 128;
        options.frames = Some((0, 5));
        run(&analyzer, &options, &mut Silent).unwrap();
        options.frames = Some((0, 11));
        let mut curator = Curator { dir: out.clone(), done: false };
        let report = run(&analyzer, &options, &mut curator).unwrap();
        assert!(curator.done && report.progress.frames_resumed == 6, "{}", report.summary());
        let store = Alignments::load(&report.alignments).unwrap();
        assert_eq!(store.frames.len(), 12, "the frames of both runs");
        assert!(face_of(&store, 1).is_none(), "the trashed face stays out of the store");
        assert!(out.join("trash/talk_woman_a_000001_0.png").is_file() && !out.join("talk_woman_a_000001_0.png").exists());
        assert_eq!(face_of(&store, 3).map(|f| (f.revision, f.edits.len())), Some((1, 1)), "the edit stays in the store");
        assert!((6..12).all(|i| face_of(&store, i).is_some()), "this run's faces are in");
        assert_eq!(report.faces_total, 11);
        std::fs::remove_dir_all(out).unwrap();
    }

    /// A run that stopped after writing faces but before saving the store: a person then
    /// edits one of those faces and deletes another. Resuming looks at their frames again,
    /// and keeps both choices instead of writing the faces afresh.
    #[test]
    fn a_resumed_run_keeps_faces_edited_or_trashed_since_its_crash() {
        let analyzer = analyzer();
        let out = scratch("crashed");
        let mut options = ExtractOptions::new(testdata::video("talk_woman_a.mp4"), out.clone());
        options.size = 128;
        options.frames = Some((0, 5));
        let first = run(&analyzer, &options, &mut Silent).unwrap();
        // The crash: frames 4 and 5 have their faces, not their entries.
        let mut store = Alignments::load(&first.alignments).unwrap();
        store.frames.retain(|&i, _| i < 4);
        store.save(&first.alignments).unwrap();
        let edited = edit_box(&out, "talk_woman_a_000004_0.png");
        std::fs::create_dir_all(out.join(crate::faces::curate::TRASH_DIR)).unwrap();
        std::fs::rename(out.join("talk_woman_a_000005_0.png"), out.join("trash/talk_woman_a_000005_0.png")).unwrap();

        let again = run(&analyzer, &options, &mut Silent).unwrap();
        assert_eq!((again.progress.frames_resumed, again.progress.frames_done), (4, 2));
        assert_eq!(crate::faces::read_face_meta(&out.join("talk_woman_a_000004_0.png")).unwrap(), edited, "the edited face is not cut again");
        assert!(!out.join("talk_woman_a_000005_0.png").exists(), "the deleted face is not written again");
        let store = Alignments::load(&again.alignments).unwrap();
        assert_eq!(face_of(&store, 4).map(|f| f.revision), Some(1));
        assert!(store.frames.contains_key(&5) && face_of(&store, 5).is_none(), "frame 5 is looked at, its face stays deleted");
        std::fs::remove_dir_all(out).unwrap();
    }

    #[test]
    fn bad_sources_and_options_are_clear_errors() {
        let analyzer = analyzer();
        let out = scratch("bad");
        let err = run(&analyzer, &ExtractOptions::new(testdata::root().join("README.md"), out.clone()), &mut Silent).unwrap_err();
        assert!(err.to_string().contains("README.md") && err.to_string().contains("not a video or image"), "{err}");
        let mut options = ExtractOptions::new(testdata::video("tiny_5frames.mp4"), out.clone());
        options.frames = Some((9, 3));
        assert!(run(&analyzer, &options, &mut Silent).unwrap_err().to_string().contains("empty"));
        // A store of another source is not mixed up with this one.
        options.frames = None;
        options.alignments = Some(out.join("x.json"));
        run(&analyzer, &options, &mut Silent).unwrap();
        options.input = testdata::video("interview.mp4");
        let err = run(&analyzer, &options, &mut Silent).unwrap_err();
        assert!(err.to_string().contains("belongs to another source"), "{err}");
        std::fs::remove_dir_all(out).unwrap();
    }

    /// A truncated upload (its MP4 index is missing) is refused with the reason, and
    /// leaves no alignments store behind.
    #[test]
    fn a_truncated_video_is_a_clear_error() {
        let analyzer = analyzer();
        let out = scratch("trunc");
        let err = run(&analyzer, &ExtractOptions::new(testdata::video("truncated.mp4"), out.clone()), &mut Silent).unwrap_err();
        assert!(err.to_string().contains("truncated or damaged"), "{err}");
        assert!(!out.join("truncated.alignments.json").exists());
        std::fs::remove_dir_all(out).unwrap();
    }
}
