//! What extraction reads: a video (every frame, upright) or a folder of images (one frame
//! per image, in name order), behind one frame iterator.

use std::path::{Path, PathBuf};

use crate::faces::sha256_file;
use crate::media::{Frame, FrameReader, MediaError};

/// Image file extensions a folder source picks up.
const IMAGE_EXTENSIONS: [&str; 9] = ["png", "jpg", "jpeg", "bmp", "webp", "tif", "tiff", "ppm", "gif"];

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Media { path: PathBuf, source: MediaError },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}: the folder has no images (looked for {exts})", exts = IMAGE_EXTENSIONS.join(", "))]
    EmptyFolder(PathBuf),
}

/// A source of frames.
pub enum Input {
    Video { path: PathBuf, reader: Box<FrameReader> },
    Images { dir: PathBuf, files: Vec<PathBuf>, next: usize, skipped: u64 },
}

impl Input {
    /// Opens a video file or an image folder.
    pub fn open(path: &Path) -> Result<Input, InputError> {
        let io = |source| InputError::Io { path: path.into(), source };
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(InputError::EmptyFolder(path.into()));
            }
            return Ok(Input::Images { dir: path.into(), files, next: 0, skipped: 0 });
        }
        let reader = FrameReader::open(path).map_err(|source| InputError::Media { path: path.into(), source })?;
        Ok(Input::Video { path: path.into(), reader: Box::new(reader) })
    }

    /// A name for the source, used in face file names: the file or folder name without
    /// extension.
    pub fn stem(&self) -> String {
        let path = match self {
            Input::Video { path, .. } => path,
            Input::Images { dir, .. } => dir,
        };
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// Frames the source says it has (a video's header may be wrong; a folder is exact).
    pub fn frame_count_hint(&self) -> Option<u64> {
        match self {
            Input::Video { reader, .. } => reader.frame_count_hint(),
            Input::Images { files, .. } => Some(files.len() as u64),
        }
    }

    /// Upright frame size of a video; (0, 0) for an image folder (images differ).
    pub fn displayed_size(&self) -> (u32, u32) {
        match self {
            Input::Video { reader, .. } => reader.displayed_size(),
            Input::Images { .. } => (0, 0),
        }
    }

    /// Why a video ended early, if it did.
    pub fn damage(&self) -> Option<String> {
        match self {
            Input::Video { reader, .. } => reader.damage(),
            Input::Images { .. } => None,
        }
    }

    /// The file name of frame `index` for an image folder.
    pub fn frame_name(&self, index: u64) -> Option<String> {
        match self {
            Input::Images { files, .. } => files.get(index as usize).map(|f| file_name(f)),
            Input::Video { .. } => None,
        }
    }

    /// Frames that could not be decoded (skipped and counted, never fatal).
    pub fn skipped(&self) -> u64 {
        match self {
            Input::Video { reader, .. } => reader.skipped(),
            Input::Images { skipped, .. } => *skipped,
        }
    }

    /// The next frame whose index `want` accepts. Unwanted video frames are decoded but not
    /// converted; unwanted images are not read at all.
    pub fn next_frame(&mut self, want: &mut dyn FnMut(u64) -> bool) -> Result<Option<Frame>, InputError> {
        match self {
            Input::Video { path, reader } => reader.next_frame(want).map_err(|source| InputError::Media { path: path.clone(), source }),
            Input::Images { files, next, skipped, .. } => loop {
                let Some(file) = files.get(*next) else { return Ok(None) };
                let index = *next as u64;
                *next += 1;
                if !want(index) {
                    continue;
                }
                match crate::image_io::decode_file(file) {
                    // Alpha is dropped, grey is expanded: every frame is RGB.
                    Ok(img) => return Ok(Some(Frame { index, time: 0.0, image: img.to_rgb8() })),
                    Err(err) => {
                        tracing::warn!("skipped: {err}");
                        *skipped += 1;
                    }
                }
            },
        }
    }
}

/// The source's SHA-256: of the file, or for a folder of the sorted names and hashes of its
/// images.
pub fn source_hash(path: &Path) -> Result<String, InputError> {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InputError + '_ {
        move |source| InputError::Io { path: path.into(), source }
    }
    if !path.is_dir() {
        return sha256_file(path).map_err(io(path));
    }
    use sha2::Digest as _;
    let Input::Images { files, .. } = Input::open(path)? else { unreachable!("a folder opens as images") };
    let mut all = sha2::Sha256::new();
    for f in &files {
        all.update(file_name(f).as_bytes());
        all.update(sha256_file(f).map_err(io(f))?.as_bytes());
    }
    Ok(crate::faces::meta::hex(&all.finalize()))
}

/// The last component of `path`, lossily as text.
pub(super) fn file_name(path: &Path) -> String {
    path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}
