//! `qunbot eval faq`: how well the faq plugin, with default options, answers
//! labelled queries (spec/cli.md).
//!
//! Every query goes through the whole plugin (`on_event`) as a message in a
//! fresh group, so cooldowns do not interfere; the plugin is asked which
//! entry answered. Figures: top-1 of in-scope queries (threshold ignored),
//! precision and recall of staying silent, and overall accuracy (the
//! answered entry equals `expect`, or silence when `expect` is null).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use qunbot::adapter::Capabilities;
use qunbot::bot::{BotInfo, GroupFilter, Locale};
use qunbot::config::Options;
use qunbot::event::{Chat, Event, EventKind, Message, MessageId, Sender};
use qunbot::plugin::faq::Faq;
use qunbot::plugin::{BuildCx, FaqConfig, Plugin, PluginConfig};
use qunbot::runtime::Ctx;
use serde::{Deserialize, Serialize};

/// Options of `qunbot eval faq`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The knowledge base: a YAML list of `{id, questions, answer}`
    #[arg(long)]
    faq: PathBuf,
    /// Labelled queries: `{"text": ..., "expect": ID or null}` a line
    #[arg(long)]
    queries: PathBuf,
    /// A local sentence-embedding model folder (sentence-transformers, BERT
    /// family), blended in as the faq plugin's `embedding: {model_dir: DIR}`
    /// with its default options; needs a build with the `embedding` feature
    #[arg(long, value_name = "DIR")]
    embedding_model: Option<PathBuf>,
    /// Write the queries it got wrong (a wrong answer, or silence against an
    /// answer or the other way round) to this file as JSONL, each with the
    /// entry it answered and its best entry and score, for tuning a
    /// knowledge base
    #[arg(long)]
    errors: Option<PathBuf>,
}

/// One labelled query.
#[derive(Deserialize)]
struct Query {
    /// The message.
    text: String,
    /// The entry that should answer, or none for silence.
    expect: Option<String>,
}

/// Counts, then figures.
#[derive(Default)]
struct Tally {
    /// Queries.
    n: usize,
    /// Queries with an expected entry.
    in_scope: usize,
    /// In-scope queries whose best entry (threshold ignored) is the expected one.
    top1: usize,
    /// Queries that expect silence.
    oos: usize,
    /// Queries left unanswered.
    silent: usize,
    /// Out-of-scope queries left unanswered.
    silent_oos: usize,
    /// Answers with the expected entry.
    answered_right: usize,
    /// Answers with another entry, or to out-of-scope queries.
    answered_wrong: usize,
    /// Time spent in the plugin.
    time: Duration,
    /// The queries got wrong, in input order.
    misses: Vec<Miss>,
}

/// A query got wrong, as `--errors` writes it.
#[derive(Serialize)]
struct Miss {
    /// The message.
    text: String,
    /// The entry that should have answered (null: silence).
    expect: Option<String>,
    /// The entry that answered (null: silence).
    answered: Option<String>,
    /// The best entry whatever the threshold, and its score.
    top: Option<String>,
    score: Option<f32>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

pub(crate) fn run(_config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let queries = read_queries(&args.queries)?;
    let bot = BotInfo {
        name: "eval".into(),
        adapters: vec!["eval".into()],
        groups: GroupFilter::All,
        admins: Vec::new(),
        timezone: chrono_tz::UTC,
        locale: Locale::En,
    };
    let path = std::path::absolute(&args.faq)?;
    let mut yaml = format!("file: {}\n", serde_json::to_string(&path.to_string_lossy())?);
    if let Some(dir) = &args.embedding_model {
        let dir = std::path::absolute(dir)?;
        yaml.push_str(&format!(
            "embedding: {{model_dir: {}}}\n",
            serde_json::to_string(&dir.to_string_lossy())?
        ));
    }
    let options = Options::from_yaml(Path::new("eval faq"), &yaml).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cx = BuildCx {
        bot: &bot,
        base_dir: Path::new("."),
        options: &options,
    };
    let faq = options
        .parse::<FaqConfig>()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .build_faq(&cx)
        .map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{}", lines.join("\n"))
        })?;
    let tally = super::super::tokio()?.block_on(async {
        let store = qunbot::storage::open("sqlite::memory:").await?;
        let caps = HashMap::from([("eval".into(), Capabilities::ALL)]);
        // Embeds the knowledge base (with --embedding-model) before the clock runs.
        let started = Instant::now();
        let ctx = Ctx::new(&bot, &*store, &caps, Utc::now(), FaqConfig::KIND);
        faq.start(&ctx).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if args.embedding_model.is_some() {
            eprintln!(
                "embedded the knowledge base in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        evaluate(&faq, &bot, &*store, &caps, &queries).await
    })?;
    if let Some(path) = &args.errors {
        let mut out = String::new();
        for miss in &tally.misses {
            out.push_str(&serde_json::to_string(miss)?);
            out.push('\n');
        }
        std::fs::write(path, out).with_context(|| path.display().to_string())?;
    }
    report(&tally);
    Ok(ExitCode::SUCCESS)
}

fn read_queries(path: &Path) -> anyhow::Result<Vec<Query>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1)))
        .collect()
}

async fn evaluate(
    faq: &Faq,
    bot: &BotInfo,
    store: &dyn qunbot::storage::Store,
    caps: &HashMap<qunbot::event::AdapterId, Capabilities>,
    queries: &[Query],
) -> anyhow::Result<Tally> {
    let mut t = Tally::default();
    for (i, q) in queries.iter().enumerate() {
        let event = Event {
            at: Utc::now(),
            kind: EventKind::Message {
                chat: Chat {
                    adapter: "eval".into(),
                    group: Some(format!("g{i}").as_str().into()),
                },
                sender: Sender::member("member"),
                message: Message {
                    id: MessageId(format!("m{i}")),
                    text: q.text.clone(),
                    reply_to: None,
                },
            },
        };
        let ctx = Ctx::new(bot, store, caps, event.at, FaqConfig::KIND);
        let started = Instant::now();
        faq.on_event(&ctx, &event)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        t.time += started.elapsed();
        let replied = !ctx.into_actions().is_empty();
        // The entry that answered is the best one (the plugin answers only
        // at or above the threshold).
        let top = faq.top_match(&q.text).await;
        let answered = if replied {
            top.as_ref().map(|m| m.id.clone())
        } else {
            None
        };
        t.n += 1;
        match &q.expect {
            Some(want) => {
                t.in_scope += 1;
                if top.as_ref().is_some_and(|m| &m.id == want) {
                    t.top1 += 1;
                }
            }
            None => t.oos += 1,
        }
        let right = match (&answered, &q.expect) {
            (None, expect) => {
                t.silent += 1;
                if expect.is_none() {
                    t.silent_oos += 1;
                }
                expect.is_none()
            }
            (Some(got), Some(want)) if got == want => {
                t.answered_right += 1;
                true
            }
            (Some(_), _) => {
                t.answered_wrong += 1;
                false
            }
        };
        if !right {
            t.misses.push(Miss {
                text: q.text.clone(),
                expect: q.expect.clone(),
                answered,
                top: top.as_ref().map(|m| m.id.clone()),
                score: top.as_ref().map(|m| m.score),
            });
        }
    }
    Ok(t)
}

fn report(t: &Tally) {
    let top1 = ratio(t.top1, t.in_scope);
    let oos_precision = ratio(t.silent_oos, t.silent);
    let oos_recall = ratio(t.silent_oos, t.oos);
    let accuracy = ratio(t.answered_right + t.silent_oos, t.n);
    let us_per_query = if t.n == 0 {
        0.0
    } else {
        t.time.as_secs_f64() * 1e6 / t.n as f64
    };
    println!(
        "queries            {:>8}  ({} in scope, {} out of scope)",
        t.n, t.in_scope, t.oos
    );
    println!("in-scope top-1     {top1:>8.3}");
    println!(
        "answered           {:>8}  ({} right, {} wrong)",
        t.answered_right + t.answered_wrong,
        t.answered_right,
        t.answered_wrong
    );
    println!(
        "silent             {:>8}  ({} out of scope)",
        t.silent, t.silent_oos
    );
    println!("silence precision  {oos_precision:>8.3}");
    println!("silence recall     {oos_recall:>8.3}");
    println!("accuracy           {accuracy:>8.3}");
    println!("time per query     {us_per_query:>8.1} µs");
    println!(
        "{}",
        serde_json::json!({
            "n": t.n,
            "in_scope_top1": round(top1),
            "oos_precision": round(oos_precision),
            "oos_recall": round(oos_recall),
            "accuracy": round(accuracy),
            "us_per_query": round(us_per_query),
        })
    );
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
