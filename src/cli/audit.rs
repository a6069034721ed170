//! `qunbot audit`: print a bot's moderation audit log (who, what text,
//! which rule, which action, when), oldest first.

use std::path::Path;
use std::process::ExitCode;

/// Options of `qunbot audit`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The bot whose log to print
    #[arg(long)]
    bot: String,
    /// Print the last N decisions
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Store URL (default: config.yaml's storage.url)
    #[arg(long)]
    store: Option<String>,
}

pub(crate) fn run(config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let config = super::load(config)?;
    let tz = config
        .bots
        .iter()
        .find(|b| b.info.name == args.bot)
        .map(|b| b.info.timezone)
        .ok_or_else(|| anyhow::anyhow!("no bot named {:?}", args.bot))?;
    let url = args.store.unwrap_or(config.storage_url);
    let log = super::tokio()?.block_on(async {
        let store = qunbot::storage::open(&url).await?;
        store.audit_log(&args.bot, args.limit).await
    })?;
    if log.is_empty() {
        println!("no moderation decisions recorded for {}", args.bot);
    }
    for e in &log {
        let at = e.at.with_timezone(&tz).fixed_offset();
        let text: String = e.text.chars().take(60).collect();
        println!(
            "{}  {}:{}  {} ({})  {}  {}{}  {}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            e.adapter,
            e.group,
            e.user_name,
            e.user,
            e.rule,
            if e.dry_run { "dry run: " } else { "" },
            e.action,
            serde_json::to_string(&text).unwrap_or_default(),
        );
    }
    Ok(ExitCode::SUCCESS)
}
