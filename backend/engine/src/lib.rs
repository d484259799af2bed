//! Doppel's face-swap engine: media, detection, alignment, training, conversion.
//!
//! Architecture invariant: the engine never imports web or storage crates (axum, leptos,
//! tokio, sqlx); the server calls it from worker threads.

pub mod align;
pub mod analyze;
pub mod convert;
pub mod device;
pub mod extract;
pub mod faces;
pub mod geometry;
pub mod identity;
pub mod image_io;
pub mod kernels;
pub mod mask;
pub mod media;
pub mod nets;
pub mod sort;
pub mod train;

/// Tests allocate as the `doppel` binary does (see its `main.rs`): the system allocator maps
/// every block over 32 MB afresh, and page faults then cost more than the convolutions.
#[cfg(test)]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
