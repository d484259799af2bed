//! Training the swap model: the autoencoder family ([`model`]), its blocks, and the training
//! iteration ([`step`]). Sessions, data loading and augmentation build on these.

pub mod blocks;
pub mod data;
pub mod model;
pub mod session;
pub mod step;

pub use data::{load_sample, DataError, FaceSet, Sample};
pub use model::{ModelKind, SwapModel, SwapModelConfig};
pub use session::{resume, save, SessionError, TrainProgress};
pub use step::{Batch, OptimizerSettings, StepLoss, Trainer};
