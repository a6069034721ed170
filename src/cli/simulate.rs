//! `qunbot simulate`: replay a transcript on a virtual clock.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use qunbot::simulate::{self, SimOptions};

/// Options of `qunbot simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The transcript: one JSON event per line (see spec/simulate.md)
    transcript: PathBuf,
    /// Keep the clock running after the last line until this RFC 3339 time
    #[arg(long, value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Seed of every random choice
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Store URL (default: a fresh in-memory database)
    #[arg(long)]
    store: Option<String>,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time: {e}"))
}

pub(crate) fn run(config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = super::load(config)?;
    let text = std::fs::read_to_string(&args.transcript)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.transcript.display()))?;
    let options = SimOptions {
        until: args.until,
        seed: args.seed,
        store: args.store,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = super::tokio()?.block_on(simulate::run(config, &text, &options, &mut out));
    match result {
        Ok(summary) => {
            tracing::info!(
                events = summary.events,
                actions = summary.actions,
                "simulation done"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: {e}", args.transcript.display());
            Ok(ExitCode::FAILURE)
        }
    }
}
