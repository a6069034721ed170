//! `qunbot bench`: speed figures (spec/cli.md).

mod claims;
mod pipeline;

use std::path::Path;
use std::process::ExitCode;

/// What to measure.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Bench {
    /// Throughput and per-event latency of the bots on a transcript
    Pipeline(pipeline::Args),
    /// Concurrent coupon claims through the coupons plugin and the store
    Claims(claims::Args),
}

pub(crate) fn run(config: &Path, bench: Bench) -> anyhow::Result<ExitCode> {
    match bench {
        Bench::Pipeline(args) => pipeline::run(config, args),
        Bench::Claims(args) => claims::run(config, args),
    }
}
