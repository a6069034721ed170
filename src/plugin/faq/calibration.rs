//! Calibration against the shared development sets (../shared/data/faq):
//! the default threshold must reach the accuracy targets on all four
//! knowledge bases, and an ignored test sweeps the scoring knobs.
//!
//! The data is read in place, never copied into the repository; the tests
//! skip with a message when it is missing.

use std::path::PathBuf;

use super::index::{EntryText, Index, Tuning};
use super::{DEFAULT_THRESHOLD, EntryConfig};
use crate::config::Options;

/// (data set, the accuracy target for the default options on its
/// dev queries, the floor this implementation must not fall below).
///
/// The floors are the figures reached when the defaults were set, less one
/// point; where the floor is under the target, the target is not met yet
/// (issue 5: the Chinese sets, and clinc150 by 0.8 points: the default
/// threshold trades that for silence on out-of-scope messages, see
/// [`DEFAULT_THRESHOLD`]).
const TARGETS: &[(&str, f64, f64)] = &[
    ("clinc150", 0.70, 0.685),
    ("banking77", 0.55, 0.57),
    ("xsid_zh", 0.80, 0.715),
    ("ride_zh", 0.65, 0.61),
];

/// One data set, loaded.
pub(super) struct Set {
    /// The knowledge base.
    pub(super) entries: Vec<EntryText>,
    /// Entry ids, by index.
    pub(super) ids: Vec<String>,
    /// (text, expected entry index or None).
    pub(super) queries: Vec<(String, Option<usize>)>,
}

pub(super) fn data_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/faq"))
}

pub(super) fn load(name: &str) -> Option<Set> {
    let dir = data_dir().join(name);
    let kb = std::fs::read_to_string(dir.join("faq.yaml")).ok()?;
    let entries: Vec<EntryConfig> = Options::from_yaml(&dir.join("faq.yaml"), &kb)
        .and_then(|o| o.parse())
        .expect("faq.yaml parses");
    let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    let queries = std::fs::read_to_string(dir.join("dev_queries.jsonl"))
        .ok()?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("query line");
            let text = v["text"].as_str().expect("text").to_owned();
            let expect = v["expect"]
                .as_str()
                .map(|id| ids.iter().position(|x| x == id).expect("known id"));
            (text, expect)
        })
        .collect();
    let entries = entries
        .into_iter()
        .map(|e| EntryText {
            questions: e.questions,
            answer: e.answer,
            keywords: e.keywords,
        })
        .collect();
    Some(Set {
        entries,
        ids,
        queries,
    })
}

/// (accuracy, in-scope top-1) at `threshold`.
fn score(set: &Set, tuning: &Tuning, thresholds: &[f32]) -> Vec<(f64, f64)> {
    score_with(set, tuning, thresholds, 0.0)
}

fn score_with(set: &Set, tuning: &Tuning, thresholds: &[f32], alpha: f32) -> Vec<(f64, f64)> {
    let index = Index::build(&set.entries, &[], tuning.clone()).expect("index");
    let tops: Vec<Option<(usize, f32)>> = set
        .queries
        .iter()
        .map(|(t, _)| {
            let found = index.search(t);
            let s2 = found.get(1).map_or(0.0, |s| s.score);
            found.first().map(|s| (s.entry, s.score + alpha * (s.score - s2)))
        })
        .collect();
    let n = set.queries.len() as f64;
    let in_scope = set.queries.iter().filter(|q| q.1.is_some()).count() as f64;
    let top1 = set
        .queries
        .iter()
        .zip(&tops)
        .filter(|((_, want), top)| want.is_some() && top.map(|t| t.0) == *want)
        .count() as f64
        / in_scope;
    thresholds
        .iter()
        .map(|&th| {
            let right = set
                .queries
                .iter()
                .zip(&tops)
                .filter(|((_, want), top)| {
                    let answered = top.filter(|t| t.1 >= th).map(|t| t.0);
                    answered == *want
                })
                .count() as f64;
            (right / n, top1)
        })
        .collect()
}

#[test]
fn default_threshold_reaches_the_targets_on_the_dev_sets() {
    let mut missing = Vec::new();
    for &(name, target, floor) in TARGETS {
        let Some(set) = load(name) else {
            missing.push(name);
            continue;
        };
        let (accuracy, top1) = score(&set, &Tuning::default(), &[DEFAULT_THRESHOLD])[0];
        eprintln!("{name}: accuracy {accuracy:.3} (target {target}), top-1 {top1:.3}");
        assert!(
            accuracy >= floor.min(target),
            "{name}: accuracy {accuracy:.3} fell below {} (top-1 {top1:.3}, {} entries)",
            floor.min(target),
            set.ids.len()
        );
    }
    if !missing.is_empty() {
        eprintln!("skipped: no data for {missing:?} under {}", data_dir().display());
    }
}

/// `cargo test --lib faq::calibration::sweep -- --ignored --nocapture`
#[test]
#[ignore = "prints a table for tuning; slow"]
fn sweep() {
    let sets: Vec<(&str, Set)> = TARGETS
        .iter()
        .filter_map(|&(n, _, _)| load(n).map(|s| (n, s)))
        .collect();
    let thresholds: Vec<f32> = (5..=40).step_by(1).map(|t| t as f32 / 100.0).collect();
    let tunings = vec![Tuning::default()];
    for (n, set) in &sets {
        let r = score(set, &Tuning::default(), &thresholds);
        let cells: Vec<String> = r
            .iter()
            .zip(&thresholds)
            .map(|(x, t)| format!("{t:.2}:{:.3}", x.0))
            .collect();
        println!("{n}: {}", cells.join(" "));
    }
    for alpha in [0.0f32, 0.5, 1.0, 2.0] {
        let cells: Vec<String> = sets
            .iter()
            .map(|(n, s)| {
                let r = score_with(s, &Tuning::default(), &thresholds, alpha);
                let (i, best) = r
                    .iter()
                    .enumerate()
                    .fold((0, 0.0), |a, (i, x)| if x.0 > a.1 { (i, x.0) } else { a });
                format!("{n} {best:.3}@{:.2}", thresholds[i])
            })
            .collect();
        println!("alpha {alpha}: per-set best {}", cells.join("  "));
    }
    for tuning in tunings {
        let per_set: Vec<Vec<(f64, f64)>> =
            sets.iter().map(|(_, s)| score(s, &tuning, &thresholds)).collect();
        let (best_t, best_min) = thresholds
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let margin = per_set
                    .iter()
                    .zip(TARGETS)
                    .map(|(r, (_, target, _))| r[i].0 - target)
                    .fold(f64::INFINITY, f64::min);
                (t, margin)
            })
            .fold((0.0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
        let i = thresholds.iter().position(|&t| t == best_t).unwrap_or(0);
        let cells: Vec<String> = sets
            .iter()
            .zip(&per_set)
            .map(|((n, _), r)| format!("{n} {:.3}/{:.3}", r[i].0, r[i].1))
            .collect();
        let bests: Vec<String> = per_set
            .iter()
            .map(|r| {
                let (i, b) = r
                    .iter()
                    .enumerate()
                    .fold((0, 0.0), |a, (i, x)| if x.0 > a.1 { (i, x.0) } else { a });
                format!("{b:.3}@{:.2}", thresholds[i])
            })
            .collect();
        println!("    per-set best {}", bests.join(" "));
        println!(
            "tri {:.1} share {:.1} ans {:.1}: best threshold {best_t:.2} (min margin {best_min:+.3}) {}",
            tuning.trigram,
            tuning.variant_share,
            tuning.answer,
            cells.join("  ")
        );
    }
}

/// `cargo test --lib faq::calibration::errors -- --ignored --nocapture`:
/// every dev query of every set with its expected entry and the three best
/// entries, marked `ok` when the best is the expected one (`-`: silence
/// expected). Filter with grep.
#[test]
#[ignore = "prints error analysis"]
fn errors() {
    for &(name, _, _) in TARGETS {
        print_errors(name);
    }
}

fn print_errors(name: &str) {
    let Some(set) = load(name) else { return };
    let index = Index::build(&set.entries, &[], Tuning::default()).expect("index");
    for (text, want) in &set.queries {
        let found = index.search(text);
        let top: Vec<String> = found
            .iter()
            .take(3)
            .map(|s| format!("{}:{:.2}", set.ids[s.entry], s.score))
            .collect();
        let want = want.map_or("-", |w| set.ids[w].as_str());
        let ok = found.first().map(|s| set.ids[s.entry].as_str()) == Some(want);
        println!(
            "{name} {} {want:<28} {text}  => {}",
            if ok { "ok " } else { "BAD" },
            top.join(" ")
        );
    }
}
