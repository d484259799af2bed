//! `doppel`: the web server and the command-line interface over the same engine.

use clap::Parser;
use doppel::{alignments_cli, bench, cli, convert_cli, detect, extract_cli, media_cli, server, sort_cli, train_cli};
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: glibc maps every block over 32 MB afresh (a batch of
/// detector feature maps is 33 MB), and the page faults on this kind of VM made the
/// detector's first layers 10x slower (measured: a depthwise 3x3 conv on 4x32x256x256 took
/// 108 ms with glibc, 11 ms with mimalloc).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its C enum's 16th entry; the Rust bindings do not name
/// it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Keep freed memory instead of returning it to the system after 10 ms: a training step
    // frees and reallocates gigabytes of tensors, and faulting those pages in afresh cost 13 %
    // of the step (measured: Original at batch 16, 6.2 -> 7.1 examples/s). Memory stays at its
    // peak for the life of the process.
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DOPPEL_LOG")
                // wgpu's OpenGL probe logs an error on every machine without EGL while it looks
                // for adapters; Doppel uses Vulkan, Metal or DX12, never GL.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_sessions=warn,wgpu_hal::gles=off")),
        )
        .with_target(false)
        // Logs go to stderr: stdout carries what commands print (`detect --json`, `devices --json`).
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        cli::Command::Serve(args) => {
            let engine = args.engine_config()?;
            let config = args.into_config()?;
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(server::serve_with(config, engine))
        }
        cli::Command::Detect(args) => detect::run(args.into_config()?),
        cli::Command::Extract(args) => extract_cli::run(args),
        cli::Command::Train(args) => train_cli::run(args),
        cli::Command::Convert(args) => convert_cli::run(args),
        cli::Command::Media(command) => media_cli::run(command),
        cli::Command::Sort(args) => sort_cli::run(args),
        cli::Command::Alignments(command) => alignments_cli::run(command),
        cli::Command::Bench(command) => bench::run(command),
        cli::Command::Devices(args) => cli::list_devices(args),
    }
}
