//! `qunbot eval spam`: precision, recall, F1 and false-positive rate of a
//! whole moderation plugin on labelled JSONL (spec/cli.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use qunbot::plugin::Plugin;
use qunbot::plugin::moderation::eval::{self, Figures, Labelled};

/// Options of `qunbot eval spam`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Labelled messages to score: `{"text", "label": "spam"|"ham", "lang"}` a line
    #[arg(long)]
    data: PathBuf,
    /// Labelled messages to train the classifier on first (on top of the
    /// plugin's own samples)
    #[arg(long)]
    train: Option<PathBuf>,
    /// Score this bot's moderation plugin (from --config) instead of one
    /// with default options
    #[arg(long)]
    bot: Option<String>,
    /// Write the messages it got wrong (spam let through, ham deleted) to
    /// this file, as labelled JSONL, for error analysis; a deleted ham line
    /// also has the `reason` (the rule that deleted it)
    #[arg(long)]
    errors: Option<PathBuf>,
}

fn read(path: &Path) -> anyhow::Result<Vec<Labelled>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    eval::read_labelled(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

pub(crate) fn run(config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let data = read(&args.data)?;
    let train = args.train.as_deref().map(read).transpose()?;
    let (bot, plugin): (qunbot::bot::BotInfo, Box<dyn Plugin>) = match &args.bot {
        Some(name) => {
            let config = super::super::load(config)?;
            let entry = config
                .bots
                .into_iter()
                .find(|b| &b.info.name == name)
                .ok_or_else(|| anyhow::anyhow!("no bot named {name:?}"))?;
            let info = std::sync::Arc::unwrap_or_clone(entry.info);
            let plugin = entry
                .plugins
                .into_iter()
                .find(|p| p.kind == "moderation")
                .ok_or_else(|| anyhow::anyhow!("bot {name:?} has no moderation plugin"))?
                .plugin;
            (info, plugin)
        }
        None => {
            let bot = eval::eval_bot();
            let plugin = eval::default_plugin(&bot).map_err(|errors| {
                anyhow::anyhow!(
                    "{}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })?;
            (bot, plugin)
        }
    };
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")?.to_utc();
    let report = super::super::tokio()?.block_on(async {
        let store = qunbot::storage::open("sqlite::memory:").await?;
        if let Some(train) = &train {
            eval::train(&*plugin, &bot, &*store, train, start)
                .await
                .map_err(|e| anyhow::anyhow!("training: {e}"))?;
        } else {
            eval::train(&*plugin, &bot, &*store, &[], start)
                .await
                .map_err(|e| anyhow::anyhow!("start: {e}"))?;
        }
        eval::score(&*plugin, &bot, &*store, &data, start)
            .await
            .map_err(|e| anyhow::anyhow!("scoring: {e}"))
    })?;
    if let Some(path) = &args.errors {
        let mut out = String::new();
        for miss in eval::misses(&data, &report) {
            out.push_str(&serde_json::to_string(&miss)?);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| path.display().to_string())?;
    }
    println!(
        "{:<8} {:>7} {:>6} {:>6} {:>6} {:>6} {:>9} {:>7} {:>7} {:>7}",
        "lang", "n", "tp", "fp", "fn", "tn", "precision", "recall", "f1", "fpr"
    );
    let row = |name: &str, f: &Figures| {
        println!(
            "{:<8} {:>7} {:>6} {:>6} {:>6} {:>6} {:>9.4} {:>7.4} {:>7.4} {:>7.4}",
            name, f.n, f.tp, f.fp, f.fn_, f.tn, f.precision, f.recall, f.f1, f.fpr
        );
    };
    for (lang, f) in &report.by_lang {
        row(lang, f);
    }
    row("all", &report.all);
    println!("{:.0} messages/s", report.msgs_per_sec);
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}
