//! `qunbot train`: teach a bot's spam classifier from labelled JSONL. The
//! samples are kept in the bot's store, like admins' `/spam` and `/ham`, and
//! the bot trains its model on them (with its own samples) at every start.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use qunbot::plugin::moderation::eval;

/// Options of `qunbot train`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Labelled messages: `{"text": ..., "label": "spam"|"ham"}` a line
    #[arg(long)]
    data: PathBuf,
    /// The bot whose moderation classifier learns them
    #[arg(long)]
    bot: String,
    /// Store URL (default: config.yaml's storage.url)
    #[arg(long)]
    store: Option<String>,
}

pub(crate) fn run(config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.data).with_context(|| args.data.display().to_string())?;
    let rows = eval::read_labelled(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.data.display()))?;
    let config = super::load(config)?;
    let url = args.store.clone().unwrap_or_else(|| config.storage_url.clone());
    let entry = config
        .bots
        .into_iter()
        .find(|b| b.info.name == args.bot)
        .ok_or_else(|| anyhow::anyhow!("no bot named {:?}", args.bot))?;
    let plugin = entry
        .plugins
        .iter()
        .find(|p| p.kind == "moderation")
        .ok_or_else(|| anyhow::anyhow!("bot {:?} has no moderation plugin", args.bot))?;
    let now = qunbot::clock::Clock::now(&qunbot::clock::SystemClock);
    super::tokio()?.block_on(async {
        let store = qunbot::storage::open(&url).await?;
        // Training as the bot will at start, so a sample file that breaks
        // it fails here and not in the daemon.
        eval::train(&*plugin.plugin, &entry.info, &*store, &rows, now)
            .await
            .map_err(|e| anyhow::anyhow!("training: {e}"))?;
        store.flush().await?;
        anyhow::Ok(())
    })?;
    let spam = rows.iter().filter(|r| r.is_spam()).count();
    println!(
        "{} learned {} samples ({spam} spam, {} ham); its classifier retrains on them at every start",
        args.bot,
        rows.len(),
        rows.len() - spam
    );
    Ok(ExitCode::SUCCESS)
}
