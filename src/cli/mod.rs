//! The command line: one subcommand per job, each in its own module.

mod audit;
mod bench;
mod chat;
mod check;
mod coupons;
mod eval;
mod run;
mod schema;
mod simulate;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qunbot::config::{self, Config};
use qunbot::registry::Registry;

/// qunbot runs bots for marketing and community groups (coupons, scheduled
/// promotions, spam moderation, FAQ answers) on QQ, WeChat, Telegram, Matrix
/// and more. Bots are YAML files in bots/; config.yaml says where they run.
#[derive(Debug, Parser)]
#[command(name = "qunbot", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    /// config.yaml to use (it names the bots folder, storage and adapters)
    #[arg(
        long,
        short,
        global = true,
        env = "QUNBOT_CONFIG",
        default_value = "config.yaml"
    )]
    config: PathBuf,

    /// Log filter, e.g. `info`, `debug`, `qunbot=trace` (default: info;
    /// RUST_LOG is read too)
    #[arg(long, global = true, env = "QUNBOT_LOG")]
    log: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: connect every adapter, run every bot until Ctrl-C or
    /// SIGTERM (in-flight actions finish, queued ones are kept)
    Run(run::Args),
    /// Validate config.yaml and every bot; print each problem as
    /// file:line:col: message and exit non-zero if there is any
    Check,
    /// Talk to the bots in the terminal as a group member (type /help)
    Chat(chat::Args),
    /// Replay a transcript (JSONL events) on a virtual clock and print every
    /// action the bots take, one JSON object per line
    Simulate(simulate::Args),
    /// Print the JSON Schema of bot files, for editor completion and checks
    Schema(schema::Args),
    /// List the plugin and adapter kinds this build knows
    List,
    /// Coupon ledger tools (export the claims of a bot as CSV)
    Coupons(coupons::Args),
    /// Print quality figures: spam detection, FAQ answers
    #[command(subcommand)]
    Eval(eval::Eval),
    /// Print speed figures: the event pipeline, coupon claims
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Teach a bot's spam classifier labelled messages (JSONL); they are kept
    /// in the store and learned at every start
    Train(train::Args),
    /// Print a bot's moderation audit log
    Audit(audit::Args),
}

/// Log to standard error, filtered by `--log`, then RUST_LOG, then `info`.
pub(crate) fn init_tracing(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    // In a chat the terminal is the conversation: only warnings interrupt it.
    let default = if matches!(cli.command, Command::Chat(_)) {
        "warn"
    } else {
        "info"
    };
    let filter = cli
        .log
        .as_deref()
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Run the parsed command.
pub(crate) fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(&cli.config, args),
        Command::Check => check::run(&cli.config),
        Command::Chat(args) => chat::run(&cli.config, args),
        Command::Simulate(args) => simulate::run(&cli.config, args),
        Command::Schema(args) => schema::run(args),
        Command::Coupons(args) => coupons::run(&cli.config, args),
        Command::Eval(eval) => eval::run(&cli.config, eval),
        Command::Bench(bench) => bench::run(&cli.config, bench),
        Command::Train(args) => train::run(&cli.config, args),
        Command::Audit(args) => audit::run(&cli.config, args),
        Command::List => {
            list();
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Load the config or print every problem and fail.
fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    config::load(path, &Registry::builtin()).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        anyhow::anyhow!("{} problem(s) in the configuration", errors.len())
    })
}

/// A multi-threaded Tokio runtime for the commands that need one.
fn tokio() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn list() {
    let registry = Registry::builtin();
    println!("plugins (use: KIND in a bot's plugins):");
    for p in &registry.plugins {
        println!("  {:<14} {}", p.kind(), p.about());
    }
    println!("adapters (kind: KIND under adapters: in config.yaml):");
    for a in &registry.adapters {
        println!("  {:<14} {}", a.kind(), a.about());
    }
}
