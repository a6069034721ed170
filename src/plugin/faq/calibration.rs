//! Calibration against the shared development sets (../shared/data/faq):
//! the default threshold must reach the accuracy targets on all four
//! knowledge bases (or stay above the recorded floor where it does not yet).
//!
//! Ignored tests help tuning without overfitting the dev queries: `sweep`
//! scores tunings (`FAQ_TUNE`, see [`tunings`]) on one half of each set's
//! queries and checks them on the other (split by a hash of the text),
//! `errors` lists every query with its three best entries, and `dump`
//! writes each query's per-entry evidence for analysis outside Rust.
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
/// The floors are the figures reached when the defaults were set, less
/// about one point, so that a one-query change does not fail the test but a
/// regression does. At the defaults every target is met on the dev
/// queries, xsid_zh by one query of 213 (0.803); its remaining errors are
/// mostly assistant commands that share no words with the entry, or share
/// them with a near-duplicate question of another entry (see the `errors`
/// listing).
const TARGETS: &[(&str, f64, f64)] = &[
    ("clinc150", 0.70, 0.698),
    ("banking77", 0.55, 0.577),
    ("xsid_zh", 0.80, 0.793),
    ("ride_zh", 0.65, 0.654),
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

/// (accuracy, in-scope top-1) at each of `thresholds`.
fn score(set: &Set, tuning: &Tuning, thresholds: &[f32]) -> Vec<(f64, f64)> {
    let index = Index::build(&set.entries, &[], tuning.clone()).expect("index");
    let tops: Vec<Option<(usize, f32)>> = set
        .queries
        .iter()
        .map(|(t, _)| index.search(t).first().map(|s| (s.entry, s.score)))
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

/// Which half of a dev set a query falls in, by a hash of its text: knobs
/// are tuned on half 0 and checked on half 1, so a gain that only fits the
/// queries it was tuned on shows.
fn half(text: &str) -> usize {
    // FNV-1a: stable across runs and platforms.
    let h = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (h >> 7) as usize & 1
}

/// `set` restricted to one half (0 or 1), or whole (`None`).
fn split(set: &Set, which: Option<usize>) -> Set {
    Set {
        entries: set.entries.clone(),
        ids: set.ids.clone(),
        queries: set
            .queries
            .iter()
            .filter(|(t, _)| which.is_none_or(|w| half(t) == w))
            .cloned()
            .collect(),
    }
}

/// Apply `key=value` to a tuning (the sweep's `FAQ_TUNE`).
fn set_knob(t: &mut Tuning, key: &str, v: f32) {
    match key {
        "unigram" => t.unigram = v,
        "answer" => t.answer = v,
        "share" => t.variant_share = v,
        "k1" => t.k1 = v,
        "b" => t.b = v,
        "latin_ngram" => t.latin_ngram = v,
        "latin_bigram" => t.latin_bigram = v,
        "second" => t.second = v,
        "answer_variant" => t.answer_variant = v > 0.0,
        "cross_bigram" => t.cross_bigram = v,
        "core" => t.core = v,
        "trigram" => t.trigram = v,
        "typo" => t.typo = v,
        "margin" => t.margin = v,
        "oov_cjk" => t.oov_cjk = v,
        "latin_in_chinese" => t.latin_in_chinese = v,
        "stop_cjk" => t.stop_cjk = v,
        "lift" => t.lift = v,
        other => panic!("unknown knob {other}"),
    }
}

/// The tunings to sweep: `FAQ_TUNE="margin=0.5,core=0;unigram=0.6"` is two
/// tunings, each the default with those knobs set; unset, the default.
fn tunings() -> Vec<(String, Tuning)> {
    let spec = std::env::var("FAQ_TUNE").unwrap_or_default();
    let mut out = vec![("default".to_owned(), Tuning::default())];
    for item in spec.split(';').filter(|s| !s.trim().is_empty()) {
        let mut t = Tuning::default();
        for kv in item.split(',') {
            let (k, v) = kv.split_once('=').expect("knob=value");
            set_knob(&mut t, k.trim(), v.trim().parse().expect("number"));
        }
        out.push((item.to_owned(), t));
    }
    out
}

/// `FAQ_TUNE=... cargo test --release --lib faq::calibration::sweep -- --ignored --nocapture`:
/// for each tuning, the accuracy of each set at the default threshold on
/// the tuning half, the check half and the whole set, then the one
/// threshold that best meets every target on the tuning half, with its
/// figures on the check half and the whole.
#[test]
#[ignore = "prints a table for tuning; slow"]
fn sweep() {
    let sets: Vec<(&str, f64, [Set; 3])> = TARGETS
        .iter()
        .filter_map(|&(n, target, _)| {
            load(n).map(|s| (n, target, [split(&s, Some(0)), split(&s, Some(1)), s]))
        })
        .collect();
    let thresholds: Vec<f32> = (5..=40).map(|t| t as f32 / 100.0).collect();
    let at = thresholds
        .iter()
        .position(|&t| (t - DEFAULT_THRESHOLD).abs() < 1e-6)
        .unwrap_or(0);
    for (name, tuning) in tunings() {
        // [set][half][threshold] → (accuracy, top-1)
        let r: Vec<Vec<Vec<(f64, f64)>>> = sets
            .iter()
            .map(|(_, _, halves)| halves.iter().map(|h| score(h, &tuning, &thresholds)).collect())
            .collect();
        let cells: Vec<String> = sets
            .iter()
            .zip(&r)
            .map(|((n, _, _), h)| {
                format!(
                    "{n} {:.3}/{:.3}/{:.3} (top1 {:.3})",
                    h[0][at].0, h[1][at].0, h[2][at].0, h[2][at].1
                )
            })
            .collect();
        println!("{name}\n  at {DEFAULT_THRESHOLD}: {}", cells.join("  "));
        let (best, margin) = (0..thresholds.len())
            .map(|i| {
                let m = sets
                    .iter()
                    .zip(&r)
                    .map(|((_, target, _), h)| h[0][i].0 - target)
                    .fold(f64::INFINITY, f64::min);
                (i, m)
            })
            .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a });
        let cells: Vec<String> = sets
            .iter()
            .zip(&r)
            .map(|((n, _, _), h)| format!("{n} {:.3}/{:.3}/{:.3}", h[0][best].0, h[1][best].0, h[2][best].0))
            .collect();
        println!(
            "  tuned {:.2} (min margin {margin:+.3} on half 0): {}",
            thresholds[best],
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
    // The last tuning of `FAQ_TUNE` (the default when unset).
    let tuning = tunings().pop().map(|t| t.1).unwrap_or_default();
    let index = Index::build(&set.entries, &[], tuning).expect("index");
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

/// `FAQ_DUMP=/tmp/x.jsonl cargo test --lib faq::calibration::dump -- --ignored`:
/// per query of every set, its expected entry, IDF mass (all and known),
/// and the evidence of the twelve best entries, for analysis outside Rust.
#[test]
#[ignore = "writes an analysis file"]
fn dump() {
    use std::io::Write;
    let path = std::env::var("FAQ_DUMP").expect("FAQ_DUMP=path");
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let tuning = tunings().pop().map(|t| t.1).unwrap_or_default();
    for &(name, _, _) in TARGETS {
        let Some(set) = load(name) else { continue };
        let index = Index::build(&set.entries, &[], tuning.clone()).expect("index");
        for (text, want) in &set.queries {
            let found = index.search(text);
            let (ev, q_mass, known) = index.explain(text);
            let top: Vec<serde_json::Value> = found
                .iter()
                .take(12)
                .map(|s| {
                    let e = s.entry;
                    serde_json::json!([e, s.score, ev.variant[e], ev.cover[e], ev.core_cover[e]])
                })
                .collect();
            let line = serde_json::json!({
                "set": name, "half": half(text), "text": text, "want": want,
                "q_mass": q_mass, "known": known, "n_entries": set.ids.len(), "top": top,
            });
            writeln!(out, "{line}").expect("write");
        }
    }
}
