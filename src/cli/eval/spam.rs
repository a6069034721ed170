//! `qunbot eval spam` (placeholder until its issue lands).

use std::path::Path;
use std::process::ExitCode;

/// Options of `qunbot eval spam`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let _ = (config, args);
    anyhow::bail!("not built yet")
}
