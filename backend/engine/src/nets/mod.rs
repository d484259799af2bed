//! Pretrained face networks, ported to Burn, and the loader of their TF.js weights.
//!
//! The weights come from the npm package `@vladmandic/face-api@1.7.15`, fetched by
//! `scripts/fetch-models.sh` (pinned version, checked sha256) into `models/face-api/`.

pub mod landmark68;
pub mod input;
pub mod layers;
pub mod ssd;
pub mod recognition;
pub mod tfjs;

use std::path::{Path, PathBuf};

/// Where the fetched weight files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelsDir {
    root: PathBuf,
}

impl ModelsDir {
    /// The face-api weights under `root` (e.g. `models/`).
    pub fn new(root: impl Into<PathBuf>) -> ModelsDir {
        ModelsDir { root: root.into() }
    }

    /// `DOPPEL_MODELS_DIR` if set, else `models/` under the current directory.
    pub fn from_env() -> ModelsDir {
        ModelsDir::new(std::env::var_os("DOPPEL_MODELS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("models")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest of one face-api network, e.g. `face_landmark_68_model`.
    pub fn face_api_manifest(&self, model: &str) -> PathBuf {
        self.root.join("face-api").join(format!("{model}-weights_manifest.json"))
    }
}

/// The repository's `models/` (or `DOPPEL_MODELS_DIR`), for tests.
#[cfg(test)]
pub(crate) fn test_models() -> ModelsDir {
    match std::env::var_os("DOPPEL_MODELS_DIR") {
        Some(dir) => ModelsDir::new(PathBuf::from(dir)),
        None => ModelsDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models")),
    }
}
