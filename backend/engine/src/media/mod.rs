//! Media files: what they hold ([`probe`]), what they look like ([`thumbnail`]) and every
//! frame they show ([`FrameReader`]).
//!
//! Everything goes through FFmpeg (ffmpeg-next), for videos and still images alike, so a
//! file is judged the same way here as when frames are later extracted from it.

mod error;
mod frames;
mod log;
mod probe;
mod rotation;
mod source;
mod sinks;
mod thumbnail;
pub mod tools;
mod audio;
mod writer;

pub use error::{Damage, MediaError};
pub use frames::{frame_of, Frame, FrameReader, SeekIndex, Seeked};
pub use probe::{probe, MediaFacts, MediaKind};
pub use sinks::{FrameSink, GifWriter, PngSequence};
pub use thumbnail::thumbnail;
pub use audio::AudioOutcome;
pub use writer::{EncodeSettings, Provenance, VideoCodec, VideoWriter, WriteError, PRESETS};

/// Initialises FFmpeg once per process and routes its log into `tracing` (errors only),
/// so it never writes to the terminal. [`probe`] and [`thumbnail`] call it themselves.
pub fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        if let Err(err) = ffmpeg_next::init() {
            tracing::error!("ffmpeg initialisation failed: {err}");
        }
        log::install();
    });
}

/// Paths to the shared test media (`shared/data` beside the repository; never copied into it).
#[cfg(test)]
pub(crate) mod testdata {
    use std::path::PathBuf;

    /// The shared data folder.
    pub(crate) fn root() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"))
    }

    /// A file of `shared/data/video`.
    pub(crate) fn video(name: &str) -> PathBuf {
        root().join("video").join(name)
    }

    /// A file of `shared/data/images`.
    pub(crate) fn image(name: &str) -> PathBuf {
        root().join("images").join(name)
    }

    /// A file of `shared/data/conformance` (face-api.js' reference inputs and outputs).
    pub(crate) fn conformance(rel: &str) -> PathBuf {
        root().join("conformance").join(rel)
    }

    /// A fresh path in the temporary folder for a file a test writes; removed on drop.
    pub(crate) struct TempFile(pub(crate) PathBuf);

    impl TempFile {
        pub(crate) fn with_bytes(name: &str, bytes: &[u8]) -> TempFile {
            let path =
                std::env::temp_dir().join(format!("doppel-engine-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).expect("write temp file");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
