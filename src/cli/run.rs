//! `qunbot run`: the daemon.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use qunbot::clock::SystemClock;
use qunbot::runtime::{self, RunOptions};

/// Options of `qunbot run`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Seed of the outbox's send jitter
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub(crate) fn run(config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = super::load(config)?;
    let rt = super::tokio()?;
    let result = rt
        .block_on(runtime::run(
            config,
            Arc::new(SystemClock),
            RunOptions {
                seed: args.seed,
                ..RunOptions::default()
            },
            shutdown_signal(),
        ))
        .map_err(|e| anyhow::anyhow!(e));
    // The daemon has drained; do not wait for a console read blocked on an
    // open terminal or pipe.
    rt.shutdown_background();
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
