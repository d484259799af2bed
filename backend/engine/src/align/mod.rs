//! Face alignment: the similarity transform that maps a face's landmarks onto a reference
//! face, from which aligned crops are cut.

mod similarity;

pub use similarity::{estimate_similarity, Similarity};
