//! Face alignment: the similarity transform that maps a face's landmarks onto a reference
//! face, from which aligned crops are cut.

mod crop;
mod mean_face;
mod similarity;
mod warp;

pub use crop::{AlignedFace, Centering, CropFrame};
pub use mean_face::{mean_face, mirrored, procrustes_mean, ALIGN_POINTS};
pub use similarity::{estimate_similarity, Similarity};
pub use warp::warp_bicubic;
