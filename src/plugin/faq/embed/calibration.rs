//! Calibration of the blend with all-MiniLM-L6-v2 (folder from
//! `QUNBOT_TEST_MINILM`) on the shared development sets.
//!
//! The blend's defaults were tuned on the even-numbered dev queries of the
//! English sets and checked on the odd-numbered ones; `sweep` prints both
//! halves. Out-of-scope queries are also counted at the held-out splits'
//! share (about 18% for clinc150, whose dev split has 6%), so a blend that
//! only works with little chatter does not win. `small` cuts knowledge
//! bases of 1 to 5 entries out of the English sets, where most queries are
//! out of scope: the blend must not answer them more often than the plain
//! cosine did. `defaults_reach_the_issue_figures_with_minilm` (not ignored:
//! it runs with the feature's tests) guards the figures the defaults reach.

use std::path::PathBuf;

use super::super::DEFAULT_THRESHOLD;
use super::super::calibration::{Set, load};
use super::super::index::{EntryText, Index, Tuning};
use super::local::LocalModel;
use super::{
    DEFAULT_FLOOR, DEFAULT_FULL, DEFAULT_WEIGHT, Prepared, Role, Scale, VectorSource, cosines, english,
    normalize, prepare, texts_of,
};

/// Every data set; the English ones are those the blend is tuned on.
const SETS: &[(&str, bool)] = &[
    ("clinc150", true),
    ("banking77", true),
    ("xsid_zh", false),
    ("ride_zh", false),
];

/// The share of out-of-scope queries `weighted` accuracy assumes.
const OOS_SHARE: f64 = 0.18;

/// One set with every score the blend needs, computed once.
struct Scored {
    name: &'static str,
    /// Per query: expected entry.
    expect: Vec<Option<usize>>,
    /// Per query: lexical score of every entry.
    lexical: Vec<Vec<f32>>,
    /// Per query: the lexical order key of every entry (`Scored::order`).
    order: Vec<Vec<f32>>,
    /// Per query: cosine with each entry's centre.
    cosine: Vec<Vec<f32>>,
    /// Per query: the head's probability of each entry.
    head: Vec<Vec<f32>>,
    /// Per query: whether the model reads it (1 or 0, see `english`).
    coverage: Vec<f32>,
}

fn model_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("QUNBOT_TEST_MINILM")
            .expect("set QUNBOT_TEST_MINILM to the all-MiniLM-L6-v2 folder"),
    )
}

async fn unit_vectors(model: &LocalModel, texts: &[String]) -> Vec<Vec<f32>> {
    let mut v = model.embed(texts).await.expect("embed");
    v.iter_mut().for_each(|v| normalize(v));
    v
}

/// A set's texts as vectors: those the semantic index learns from (with
/// their roles) and the queries.
struct Embedded {
    roles: Vec<Role>,
    texts: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
}

async fn embed_set(model: &LocalModel, set: &Set) -> Embedded {
    let (roles, texts): (Vec<Role>, Vec<String>) = texts_of(&set.entries, false).into_iter().unzip();
    let queries: Vec<String> = set.queries.iter().map(|(t, _)| t.clone()).collect();
    Embedded {
        roles,
        texts: unit_vectors(model, &texts).await,
        queries: unit_vectors(model, &queries).await,
    }
}

/// Score the queries of `set` against the entries `keep` (all: `None`),
/// numbered in that order; queries of other entries are out of scope.
fn score_set(name: &'static str, set: &Set, embedded: &Embedded, keep: Option<&[usize]>) -> Scored {
    let all: Vec<usize> = (0..set.entries.len()).collect();
    let keep = keep.unwrap_or(&all);
    let renumber = |e: usize| keep.iter().position(|&k| k == e);
    let entries: Vec<EntryText> = keep.iter().map(|&e| set.entries[e].clone()).collect();
    let index = Index::build(&entries, &[], Tuning::default()).expect("index");
    let (roles, vectors): (Vec<Role>, Vec<Vec<f32>>) = embedded
        .roles
        .iter()
        .zip(&embedded.texts)
        .filter_map(|(role, v)| {
            let role = match *role {
                Role::Question(e) => Role::Question(renumber(e)?),
                Role::Answer(e) => Role::Answer(renumber(e)?),
                Role::Chatter => Role::Chatter,
            };
            Some((role, v.clone()))
        })
        .unzip();
    let prepared: Prepared = prepare(entries.len(), &roles, vectors);
    let mut out = Scored {
        name,
        expect: set.queries.iter().map(|q| q.1.and_then(renumber)).collect(),
        lexical: Vec::new(),
        order: Vec::new(),
        cosine: Vec::new(),
        head: Vec::new(),
        coverage: Vec::new(),
    };
    for ((text, _), v) in set.queries.iter().zip(&embedded.queries) {
        let (mut lex, mut order) = (vec![0.0; entries.len()], vec![0.0; entries.len()]);
        for s in index.search(text) {
            lex[s.entry] = s.score;
            order[s.entry] = s.order;
        }
        out.lexical.push(lex);
        out.order.push(order);
        out.cosine.push(cosines(v, &prepared.centres));
        out.head
            .push(prepared.head.probabilities(v)[..entries.len()].to_vec());
        out.coverage.push(if english(text) { 1.0 } else { 0.0 });
    }
    out
}

/// The blend's knobs.
#[derive(Clone, Copy, Debug)]
struct Knobs {
    weight: f32,
    scale: Scale,
    threshold: f32,
    /// Score by the plain cosine on `scale` (the blend before the head).
    cosine_only: bool,
}

impl Knobs {
    fn defaults() -> Self {
        Self {
            weight: DEFAULT_WEIGHT,
            scale: Scale {
                floor: DEFAULT_FLOOR,
                full: DEFAULT_FULL,
            },
            threshold: DEFAULT_THRESHOLD,
            cosine_only: false,
        }
    }

    /// The blend before the head: weight 0.5, the cosine mapped from
    /// 0.2–0.9.
    fn before() -> Self {
        Self {
            weight: 0.5,
            scale: Scale {
                floor: 0.2,
                full: 0.9,
            },
            threshold: DEFAULT_THRESHOLD,
            cosine_only: true,
        }
    }
}

/// Figures over the queries `keep` selects.
#[derive(Clone, Copy, Debug, Default)]
struct Figures {
    accuracy: f64,
    /// Accuracy with out-of-scope queries at [`OOS_SHARE`].
    weighted: f64,
    /// In-scope queries answered with their entry.
    answered: f64,
    /// Out-of-scope queries answered (wrongly).
    false_answers: f64,
}

fn figures(s: &Scored, k: Knobs, keep: impl Fn(usize) -> bool) -> Figures {
    let (mut right_in, mut n_in, mut right_oos, mut n_oos) = (0.0, 0.0, 0.0, 0.0);
    for q in (0..s.expect.len()).filter(|&q| keep(q)) {
        // As the plugin ranks: by the blended order key, then the score.
        let w = k.weight * s.coverage[q];
        let (mut best, mut best_key) = (None, (0.0f32, 0.0f32));
        for e in 0..s.lexical[q].len() {
            let semantic = if k.cosine_only {
                k.scale.map(s.cosine[q][e])
            } else {
                s.head[q][e] * k.scale.map(s.cosine[q][e])
            };
            let score = (1.0 - w) * s.lexical[q][e] + w * semantic;
            let order = (1.0 - w) * s.order[q][e] + w * semantic;
            if score > 0.0 && (order, score) > best_key {
                (best, best_key) = (Some(e), (order, score));
            }
        }
        let best_score = best_key.1;
        let answered = best.filter(|_| best_score >= k.threshold);
        match s.expect[q] {
            Some(want) => {
                n_in += 1.0;
                right_in += f64::from(u8::from(answered == Some(want)));
            }
            None => {
                n_oos += 1.0;
                right_oos += f64::from(u8::from(answered.is_none()));
            }
        }
    }
    Figures {
        accuracy: (right_in + right_oos) / (n_in + n_oos),
        weighted: (1.0 - OOS_SHARE) * right_in / n_in + OOS_SHARE * right_oos / n_oos.max(1.0),
        answered: right_in / n_in,
        false_answers: 1.0 - right_oos / n_oos.max(1.0),
    }
}

/// Every set, embedded.
async fn all_sets() -> Vec<(&'static str, Set, Embedded)> {
    let model = LocalModel::load(&model_dir()).expect("model");
    let mut out = Vec::new();
    for &(name, _) in SETS {
        if let Some(set) = load(name) {
            let embedded = embed_set(&model, &set).await;
            out.push((name, set, embedded));
        }
    }
    out
}

const EVEN: fn(usize) -> bool = |q| q % 2 == 0;
const ODD: fn(usize) -> bool = |q| q % 2 == 1;

/// `QUNBOT_TEST_MINILM=DIR cargo test --release --features embedding --lib embed::calibration::sweep -- --ignored --nocapture`
#[tokio::test]
#[ignore = "prints a tuning table; needs the model and the data"]
async fn sweep() {
    let sets = all_sets().await;
    let scored: Vec<Scored> = sets.iter().map(|(n, s, e)| score_set(n, s, e, None)).collect();
    let english: Vec<&Scored> = scored
        .iter()
        .filter(|s| SETS.iter().any(|&(n, en)| en && n == s.name))
        .collect();
    // The grid, scored on the tuning half: the mean over the English sets of
    // the plain and the out-of-scope-weighted accuracy at the default
    // threshold.
    let mut grid = Vec::new();
    for weight in (4..=9).map(|w| w as f32 / 10.0) {
        for floor in (0..=8).map(|f| f as f32 / 20.0) {
            for full in (floor * 20.0 + 1.0) as usize..=(floor * 20.0 + 8.0) as usize {
                let k = Knobs {
                    weight,
                    scale: Scale {
                        floor,
                        full: full as f32 / 20.0,
                    },
                    ..Knobs::defaults()
                };
                let tune: f64 = english
                    .iter()
                    .map(|s| {
                        let f = figures(s, k, EVEN);
                        f.accuracy + f.weighted
                    })
                    .sum::<f64>()
                    / (2 * english.len()) as f64;
                grid.push((tune, k));
            }
        }
    }
    grid.sort_by(|a, b| b.0.total_cmp(&a.0));
    let show = |label: &str, k: Knobs| {
        let cells: Vec<String> = scored
            .iter()
            .map(|s| {
                let (t, c, a) = (figures(s, k, EVEN), figures(s, k, ODD), figures(s, k, |_| true));
                format!(
                    "{} all {:.3} | tune {:.3}/{:.3} check {:.3}/{:.3}",
                    s.name, a.accuracy, t.accuracy, t.weighted, c.accuracy, c.weighted
                )
            })
            .collect();
        println!(
            "{label} w {:.2} floor {:.2} full {:.2} th {:.2}:\n    {}",
            k.weight,
            k.scale.floor,
            k.scale.full,
            k.threshold,
            cells.join("\n    ")
        );
    };
    for (score, k) in grid.iter().take(8) {
        show(&format!("tune-mean {score:.4}"), *k);
    }
    show("BEFORE THE HEAD", Knobs::before());
    show("DEFAULTS", Knobs::defaults());
}

/// Knowledge bases of 1, 2, 3 and 5 entries cut from the English sets
/// (ten of each size, entries drawn with a fixed seed): the in-scope
/// queries answered right and the out-of-scope ones answered, with the
/// defaults and with the blend before the head.
///
/// `QUNBOT_TEST_MINILM=DIR cargo test --release --features embedding --lib embed::calibration::small -- --ignored --nocapture`
#[tokio::test]
#[ignore = "prints a table; needs the model and the data"]
async fn small() {
    let sets = all_sets().await;
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for (name, set, embedded) in sets
        .iter()
        .filter(|(n, _, _)| SETS.iter().any(|&(s, en)| en && s == *n))
    {
        for size in [1, 2, 3, 5] {
            let (mut now, mut before) = (Figures::default(), Figures::default());
            let cuts = 10;
            for _ in 0..cuts {
                let mut keep: Vec<usize> = Vec::new();
                while keep.len() < size {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let e = (seed % set.entries.len() as u64) as usize;
                    if !keep.contains(&e) {
                        keep.push(e);
                    }
                }
                let s = score_set(name, set, embedded, Some(&keep));
                let (a, b) = (
                    figures(&s, Knobs::defaults(), |_| true),
                    figures(&s, Knobs::before(), |_| true),
                );
                now.answered += a.answered / cuts as f64;
                now.false_answers += a.false_answers / cuts as f64;
                before.answered += b.answered / cuts as f64;
                before.false_answers += b.false_answers / cuts as f64;
            }
            println!(
                "{name} {size} entries: answered {:.3} (before {:.3}), out of scope answered {:.4} (before {:.4})",
                now.answered, before.answered, now.false_answers, before.false_answers
            );
        }
    }
}

/// The issue's figures with all-MiniLM-L6-v2 and the default options
/// (accuracy at the default threshold over every dev query), with the
/// floors this implementation must not fall below; skipped without the
/// data. Reached when the defaults were set: clinc150 0.832, banking77
/// 0.728 (0.833 and 0.726 since the lexical scores' per-entry lift).
const TARGETS: &[(&str, f64)] = &[("clinc150", 0.82), ("banking77", 0.72)];

#[tokio::test]
async fn defaults_reach_the_issue_figures_with_minilm() {
    let model = LocalModel::load(&model_dir()).expect("model");
    for &(name, target) in TARGETS {
        let Some(set) = load(name) else {
            eprintln!("skipped: no data for {name}");
            continue;
        };
        let embedded = embed_set(&model, &set).await;
        let figures = figures(&score_set(name, &set, &embedded, None), Knobs::defaults(), |_| {
            true
        });
        eprintln!("{name}: {figures:?}");
        assert!(
            figures.accuracy >= target,
            "{name}: accuracy {:.3} fell below {target}",
            figures.accuracy
        );
    }
}
