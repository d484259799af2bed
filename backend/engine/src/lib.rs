//! Doppel's face-swap engine: media, detection, alignment, training, conversion.
//!
//! Architecture invariant: the engine never imports web or storage crates (axum, leptos,
//! tokio, sqlx); the server calls it from worker threads.

pub mod align;
pub mod analyze;
pub mod device;
pub mod extract;
pub mod faces;
pub mod geometry;
pub mod identity;
pub mod mask;
pub mod media;
pub mod nets;
