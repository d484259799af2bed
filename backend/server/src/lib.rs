//! The native side of Doppel: the axum server around the Leptos app, the job runner, the
//! streaming routes, and the command line. The `doppel` binary is a thin `main` over this.

pub mod cli;
pub mod curation;
pub mod error;
pub mod events;
pub mod jobs;
pub mod jpeg;
pub mod previews;
pub mod recovery;
pub mod routes;
pub mod security;
pub mod server;
pub mod bench;
pub mod bench_convert;
pub mod bench_serve;
pub mod bench_train;
pub mod detect;
pub mod convert_cli;
pub mod extract_cli;
pub mod media_cli;
pub mod sort_cli;
pub mod alignments_cli;
pub mod train_cli;
