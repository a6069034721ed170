//! `qunbot bench pipeline`: run a transcript as `simulate` does, without
//! printing actions, and report throughput and per-event latency
//! (spec/cli.md); with `--runs N`, of the median of N runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use qunbot::simulate::{self, SimOptions};

/// Options of `qunbot bench pipeline`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The transcript: one JSON event per line (see spec/simulate.md)
    #[arg(long)]
    transcript: PathBuf,
    /// Store URL (default: a fresh in-memory database)
    #[arg(long)]
    store: Option<String>,
    /// Run the transcript this many times, each on fresh bots and a fresh
    /// in-memory store, and report the run of median throughput (of an even
    /// number, the faster middle one): a busy or shared machine's figure
    /// steadies. Not with --store
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

/// Peak resident memory of this process in MB (VmHWM), if the platform says.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub(crate) fn run(config: &Path, args: Args) -> anyhow::Result<ExitCode> {
    if args.runs > 1 && args.store.is_some() {
        anyhow::bail!(
            "--runs {} needs a fresh store for each run: leave out --store",
            args.runs
        );
    }
    let text = std::fs::read_to_string(&args.transcript)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.transcript.display()))?;
    let options = SimOptions {
        store: args.store,
        ..Default::default()
    };
    let rt = super::super::tokio()?;
    let mut runs = Vec::with_capacity(args.runs as usize);
    for _ in 0..args.runs {
        // Loaded again for each run: every run starts from the same state.
        let config = super::super::load(config)?;
        match rt.block_on(simulate::bench(config, &text, &options)) {
            Ok(s) => runs.push(s),
            Err(e) => {
                eprintln!("{}: {e}", args.transcript.display());
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    let rate = |s: &simulate::BenchSummary| {
        if s.secs > 0.0 {
            s.events as f64 / s.secs
        } else {
            0.0
        }
    };
    runs.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    if runs.len() > 1 {
        println!(
            "runs          {} (events/s {:.0} to {:.0}; the median run below)",
            runs.len(),
            rate(&runs[0]),
            rate(&runs[runs.len() - 1])
        );
    }
    let summary = runs.swap_remove(runs.len() / 2);
    let pct = |p: f64| -> f64 {
        let l = &summary.latencies;
        if l.is_empty() {
            return 0.0;
        }
        let i = ((l.len() as f64 - 1.0) * p).round() as usize;
        l[i.min(l.len() - 1)].as_secs_f64() * 1e6
    };
    let events_per_sec = rate(&summary);
    let (p50, p99) = (pct(0.50), pct(0.99));
    let rss = peak_rss_mb().unwrap_or(0.0);
    println!("events        {}", summary.events);
    println!("actions       {}", summary.actions);
    println!("seconds       {:.3}", summary.secs);
    println!("events/s      {events_per_sec:.0}");
    println!("p50 latency   {p50:.1} µs");
    println!("p99 latency   {p99:.1} µs");
    println!("peak RSS      {rss:.1} MB");
    println!(
        "{}",
        serde_json::json!({
            "events": summary.events,
            "actions": summary.actions,
            "secs": summary.secs,
            "events_per_sec": events_per_sec,
            "p50_us": p50,
            "p99_us": p99,
            "peak_rss_mb": rss,
        })
    );
    Ok(ExitCode::SUCCESS)
}
