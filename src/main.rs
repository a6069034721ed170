//! The `qunbot` binary: parse the command line, set up logging, run.

use std::process::ExitCode;

use clap::Parser;

mod cli;

/// mimalloc instead of the system allocator: every message allocates its
/// folded views, features and actions, and mimalloc's thread-local free
/// lists make that a fraction of glibc's cost (`qunbot bench pipeline`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(&args);
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
