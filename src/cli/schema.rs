//! `qunbot schema`: the JSON Schema of bot files.

use std::process::ExitCode;

use qunbot::config;
use qunbot::registry::Registry;

/// Which schema to print.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print the schema of config.yaml instead of bot files
    #[arg(long)]
    config_file: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let registry = Registry::builtin();
    let schema = if args.config_file {
        config::config_schema(&registry)
    } else {
        config::bot_schema(&registry)
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}
