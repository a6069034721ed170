//! `qunbot bench claims`: a national coupon drop in miniature. M users claim
//! concurrently (each twice) from one pool of N codes, through the coupons
//! plugin and the store; then the ledger is checked (spec/cli.md).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::Utc;
use qunbot::adapter::Capabilities;
use qunbot::bot::{BotInfo, GroupFilter, Locale};
use qunbot::config::Options;
use qunbot::event::{AdapterId, Chat, Event, EventKind, Message, MessageId, Sender};
use qunbot::plugin::{BuildCx, CouponsConfig, Plugin, PluginConfig};
use qunbot::runtime::Ctx;
use qunbot::storage::{self, Store};

/// Options of `qunbot bench claims`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Codes in the pool
    #[arg(long, default_value_t = 50_000)]
    inventory: usize,
    /// Members claiming (each tries twice)
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Claims in flight at once
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Store URL (default: a fresh SQLite file in a temporary folder)
    #[arg(long)]
    store: Option<String>,
}

const BOT: &str = "bench";

pub(crate) fn run(_config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    let dir = std::env::temp_dir().join(format!("qunbot-bench-claims-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = super::super::tokio()?.block_on(bench(&args, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn bench(args: &Args, dir: &Path) -> anyhow::Result<ExitCode> {
    let codes: String = (0..args.inventory).map(|i| format!("DROP-{i:07}\n")).collect();
    std::fs::write(dir.join("codes.txt"), codes)?;
    let url = args
        .store
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let store = storage::open(&url).await?;
    let bot = BotInfo {
        name: BOT.into(),
        adapters: vec!["bench".into()],
        groups: GroupFilter::All,
        admins: Vec::new(),
        timezone: chrono_tz::UTC,
        locale: Locale::Zh,
    };
    let plugin = build_plugin(&bot, dir)?;
    let caps: HashMap<AdapterId, Capabilities> = HashMap::from([("bench".into(), Capabilities::ALL)]);
    let start_ctx = Ctx::new(&bot, &*store, &caps, Utc::now(), CouponsConfig::KIND);
    plugin
        .start(&start_ctx)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(start_ctx);

    let shared = Arc::new(Shared {
        bot,
        store: store.clone(),
        caps,
        plugin,
        next_user: AtomicUsize::new(0),
        users: args.users,
    });
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        tasks.spawn(claimer(shared.clone()));
    }
    let mut attempts = 0;
    while let Some(done) = tasks.join_next().await {
        attempts += done??;
    }
    store.flush().await?;
    let secs = began.elapsed().as_secs_f64();

    let grants = store.grants(BOT).await?;
    let granted = grants.len();
    let codes: HashSet<&str> = grants.iter().map(|g| g.code.as_str()).collect();
    let mut per_user: HashMap<&str, usize> = HashMap::new();
    for g in &grants {
        *per_user.entry(g.claimant.user.as_str()).or_default() += 1;
    }
    let figures = serde_json::json!({
        "attempts": attempts,
        "granted": granted,
        "oversold": granted.saturating_sub(args.inventory),
        "duplicate_codes": granted - codes.len(),
        "per_user_violations": per_user.values().filter(|n| **n > 1).count(),
        "claims_per_sec": (attempts as f64 / secs).round(),
    });
    println!(
        "coupon claims: {} users x 2 tries, {} codes, concurrency {}",
        args.users, args.inventory, args.concurrency
    );
    println!("  store                {url}");
    println!("  attempts             {attempts}");
    println!("  granted              {granted}");
    println!("  oversold             {}", figures["oversold"]);
    println!("  duplicate codes      {}", figures["duplicate_codes"]);
    println!("  per-user violations  {}", figures["per_user_violations"]);
    println!("  seconds              {secs:.3}");
    println!("  claims per second    {}", figures["claims_per_sec"]);
    println!("{figures}");
    Ok(ExitCode::SUCCESS)
}

fn build_plugin(bot: &BotInfo, dir: &Path) -> anyhow::Result<Box<dyn Plugin>> {
    let yaml = "pools: [{id: drop, codes_file: codes.txt, per_user: 1}]\nclaim: {keywords: [领券], deliver: group}\n";
    let file = PathBuf::from("<bench>");
    let options = Options::from_yaml(&file, yaml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cx = BuildCx {
        bot,
        base_dir: dir,
        options: &options,
    };
    let fail = |errors: Vec<qunbot::config::ConfigError>| {
        anyhow::anyhow!(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    let config: CouponsConfig = options.parse_all().map_err(fail)?;
    config.build(&cx).map_err(fail)
}

/// What every claimer shares.
struct Shared {
    bot: BotInfo,
    store: Arc<dyn Store>,
    caps: HashMap<AdapterId, Capabilities>,
    plugin: Box<dyn Plugin>,
    /// The next member to serve.
    next_user: AtomicUsize,
    users: usize,
}

/// Serve members until none are left: each claims twice. Returns attempts.
async fn claimer(s: Arc<Shared>) -> anyhow::Result<usize> {
    let mut attempts = 0;
    loop {
        let i = s.next_user.fetch_add(1, Ordering::Relaxed);
        if i >= s.users {
            return Ok(attempts);
        }
        for try_no in 0..2 {
            let event = Event {
                at: Utc::now(),
                kind: EventKind::Message {
                    chat: Chat {
                        adapter: "bench".into(),
                        group: Some(format!("g{}", i % 1000).into()),
                    },
                    sender: Sender::member(format!("u{i}")),
                    message: Message {
                        id: MessageId(format!("m{i}-{try_no}")),
                        text: "领券".into(),
                        reply_to: None,
                    },
                },
            };
            let ctx = Ctx::new(&s.bot, &*s.store, &s.caps, event.at, CouponsConfig::KIND);
            s.plugin
                .on_event(&ctx, &event)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            attempts += 1;
        }
    }
}
