//! Training the swap model: the autoencoder family ([`model`]), its blocks, and the training
//! iteration ([`step`]). Sessions, data loading and augmentation build on these.

pub mod adam;
pub mod augment;
pub mod blocks;
pub mod conv;
pub mod conv_grad;
pub mod data;
pub mod dense;
#[cfg(all(test, feature = "wgpu"))]
mod gpu_tests;
pub mod loader;
pub mod loss;
pub mod model;
pub mod planes;
pub mod preview;
pub mod profile;
pub mod run;
pub mod session;
pub mod step;
pub mod stride1_grad;
#[cfg(test)]
pub(crate) mod testdata;
pub mod warp;

pub use augment::{augment, AugmentSettings, Example, Source, WarpMode};
pub use data::{load_sample, DataError, FaceSet};
pub use model::{ModelKind, SwapModel, SwapModelConfig};
pub use session::{resume, save, SessionError, TrainProgress};
pub use run::{train, Quiet, Saved, Started, Status, Timelapse, TrainError, TrainObserver, TrainOptions, TrainReport};
pub use session::{ModelFile, TrainingSettings};
pub use step::{Batch, Identity, OptimizerKind, OptimizerSettings, StepLoss, Trainer};
