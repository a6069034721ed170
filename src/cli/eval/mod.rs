//! `qunbot eval`: quality figures (spec/cli.md).

mod faq;
mod spam;

use std::path::Path;
use std::process::ExitCode;

/// What to evaluate.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Eval {
    /// Spam detection of the moderation plugin on labelled JSONL
    /// (precision, recall, F1, false-positive rate, per language)
    Spam(spam::Args),
    /// FAQ answers on labelled queries (top-1, out-of-scope precision and
    /// recall, accuracy)
    Faq(faq::Args),
}

pub(crate) fn run(config: &Path, eval: Eval) -> anyhow::Result<ExitCode> {
    match eval {
        Eval::Spam(args) => spam::run(config, args),
        Eval::Faq(args) => faq::run(config, args),
    }
}
