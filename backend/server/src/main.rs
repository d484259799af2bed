//! `doppel`: the web server and the command-line interface over the same engine.

use clap::Parser;
use doppel::{cli, detect, server};
use std::process::ExitCode;

fn main() -> ExitCode {
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
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_sessions=warn")),
        )
        .with_target(false)
        .init();
    match cli.command {
        cli::Command::Serve(args) => {
            let config = args.into_config()?;
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(server::serve(config))
        }
        cli::Command::Detect(args) => detect::run(args.into_config()?),
    }
}
