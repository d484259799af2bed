//! Face sets on disk: face PNGs that describe themselves, and the alignments store of each
//! source.

pub mod alignments;
pub mod meta;
pub mod pickle;
pub mod png;

pub mod curate;
pub mod edit;
pub mod fsa;
pub mod jobs;
pub use alignments::{Alignments, AlignmentsError, FrameEntry};
pub use meta::{face_file_name, sha256_file, EditRecord, ExtractorSettings, FaceEntry, FaceMeta, FrameRef, SourceRef, StoredMask};
pub use png::{read_face_meta, read_face_png, write_face_png, FacePngError};
