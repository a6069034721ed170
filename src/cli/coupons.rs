//! `qunbot coupons`: the coupon ledger from the command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use qunbot::storage::{self, Grant};

/// Options of `qunbot coupons`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write every grant of a bot as CSV (id, pool, code, adapter, user,
    /// group, message, claimed_at in the bot's time zone)
    Export {
        /// The bot whose ledger to export
        #[arg(long)]
        bot: String,
        /// Write to this file instead of standard output
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

pub(crate) fn run(config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let Command::Export { bot, out } = args.command;
    let config = super::load(config)?;
    let tz = config
        .bots
        .iter()
        .find(|b| b.info.name == bot)
        .map(|b| b.info.timezone)
        .ok_or_else(|| anyhow::anyhow!("no bot named {bot:?} in the configuration"))?;
    let grants = super::tokio()?.block_on(async {
        let store = storage::open(&config.storage_url).await?;
        store.grants(&bot).await
    })?;
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    writeln!(sink, "id,pool,code,adapter,user,group,message,claimed_at")?;
    for g in &grants {
        writeln!(sink, "{}", row(g, tz))?;
    }
    sink.flush()?;
    if let Some(path) = out {
        eprintln!("{} grant(s) written to {}", grants.len(), path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// One CSV line (RFC 4180 quoting).
fn row(g: &Grant, tz: chrono_tz::Tz) -> String {
    let at =
        g.at.with_timezone(&tz)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
    let c = &g.claimant;
    let fields = [
        g.id.to_string(),
        g.pool.clone(),
        g.code.clone(),
        c.adapter.to_string(),
        c.user.to_string(),
        c.group.as_ref().map(ToString::to_string).unwrap_or_default(),
        c.message.as_ref().map(ToString::to_string).unwrap_or_default(),
        at,
    ];
    fields.iter().map(|f| quote(f)).collect::<Vec<_>>().join(",")
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(quote("L-1"), "L-1");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
