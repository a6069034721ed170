//! `qunbot chat`: the bots in the terminal. Every configured adapter is
//! replaced by the console, so the bots answer as they would on their
//! platforms, and what they do is printed.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use qunbot::adapter::{ConsoleAdapter, ConsoleConfig};
use qunbot::bot::GroupFilter;
use qunbot::clock::SystemClock;
use qunbot::event::AdapterId;
use qunbot::outbox::RateLimits;
use qunbot::runtime::{self, RunOptions};
use tokio_util::sync::CancellationToken;

/// Options of `qunbot chat`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Talk to this bot only (default: every bot)
    #[arg(long)]
    bot: Option<String>,
    /// The group you start in (default: the bot's first listed group)
    #[arg(long)]
    group: Option<String>,
    /// The user you start as
    #[arg(long, default_value = "me")]
    user: String,
    /// The adapter your messages seem to come from (default: the bot's first)
    #[arg(long)]
    adapter: Option<String>,
    /// Store URL (default: a fresh in-memory database, forgotten on exit)
    #[arg(long, default_value = "sqlite::memory:")]
    store: String,
}

pub(crate) fn run(config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let mut config = super::load(config)?;
    if let Some(name) = &args.bot {
        config.bots.retain(|b| &b.info.name == name);
        if config.bots.is_empty() {
            anyhow::bail!("no bot named {name:?} in the configuration");
        }
    }
    let typed: AdapterId = match &args.adapter {
        Some(a) => a.as_str().into(),
        None => config
            .bots
            .first()
            .and_then(|b| b.info.adapters.first().cloned())
            .ok_or_else(|| anyhow::anyhow!("no bot has an adapter"))?,
    };
    if !config.adapters.iter().any(|a| a.id == typed) {
        anyhow::bail!("no adapter {typed} in the configuration");
    }
    let group = args.group.clone().unwrap_or_else(|| {
        config
            .bots
            .first()
            .and_then(|b| match &b.info.groups {
                GroupFilter::Only(list) => list.first().map(|g| g.id.to_string()),
                GroupFilter::All => None,
            })
            .unwrap_or_else(|| "console".to_owned())
    });
    let quit = CancellationToken::new();
    for entry in &mut config.adapters {
        let console = ConsoleAdapter::new(
            entry.id.clone(),
            ConsoleConfig {
                group: group.clone(),
                user: args.user.clone(),
            },
        );
        entry.adapter = if entry.id == typed {
            Arc::new(console.quit_with(quit.clone()))
        } else {
            Arc::new(console.printing_only())
        };
        entry.limits = RateLimits::default();
    }
    config.storage_url = args.store;
    println!(
        "qunbot chat: you are {} in group {} on {typed}; type /help",
        args.user, group
    );
    let rt = super::tokio()?;
    let shutdown = async move {
        tokio::select! {
            () = super::run::shutdown_signal() => {}
            () = quit.cancelled() => {}
        }
    };
    // The store is usually in memory: deliver what the bots decided before
    // leaving, or it is lost.
    let options = RunOptions {
        drain: Some(std::time::Duration::from_secs(5)),
        ..RunOptions::default()
    };
    let result = rt
        .block_on(runtime::run(config, Arc::new(SystemClock), options, shutdown))
        .map_err(|e| anyhow::anyhow!(e));
    // The daemon has drained; do not wait for a console read blocked on an
    // open terminal or pipe.
    rt.shutdown_background();
    result?;
    Ok(ExitCode::SUCCESS)
}
