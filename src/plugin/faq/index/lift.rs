//! Per-entry calibration from the knowledge base itself: how well an
//! entry's own questions find it.
//!
//! Some entries are asked in many unrelated ways ("is it cold?", "do I need
//! an umbrella?", "the weather in London"): a real paraphrase of them shares
//! few words with any variant and scores low, so one threshold silences
//! them while it is right for entries whose variants are near-copies. Each
//! question is scored against the index built without it (leave-one-out,
//! one index per question position, the first [`POSITIONS`] of each entry).
//! An entry whose held-out questions score below the knowledge base's
//! mean has its scores lifted by
//! `(mean / own)^(Tuning::lift · found²)`, where `found` is the share of
//! its held-out questions that still ranked it first: an entry its own
//! paraphrases find is lifted in full, one they mistake for another entry
//! hardly at all (lifting it would turn silence into wrong answers); the
//! lift is at most [`MAX`]. Entries at or above the mean keep their
//! scores: lowering them would only move the threshold for everyone.
//!
//! The lift changes what the threshold sees, never the ranking.

use super::{EntryText, Index, Tuning};

/// Lowest leave-one-out score counted: an entry whose questions share no
/// words is lifted as much as one at this score, not without bound.
const FLOOR: f32 = 0.1;

/// The most an entry's scores are multiplied by: a faint match of an
/// entry asked in very many ways stays faint (on the shared development
/// sets no entry needs more).
const MAX: f32 = 2.0;

/// How many questions of an entry are held out, at most: each position
/// costs one build of the whole index, and an entry of fifty variants is
/// judged well enough by eight of them.
const POSITIONS: usize = 8;

/// What an entry's held-out questions say about it.
struct HeldOut {
    /// Their mean score for the entry.
    score: f32,
    /// The share of them that ranked the entry first.
    found: f32,
}

/// The score multiplier of each entry (1 for entries with fewer than two
/// questions, which have no held-out score, and when `tuning.lift` is 0).
pub(super) fn lifts(
    entries: &[EntryText],
    synonyms: &[Vec<String>],
    tuning: &Tuning,
) -> Result<Vec<f32>, String> {
    let mut out = vec![1.0; entries.len()];
    if tuning.lift == 0.0 {
        return Ok(out);
    }
    let held = held_out(entries, synonyms, tuning)?;
    let known: Vec<f32> = held.iter().flatten().map(|h| h.score).collect();
    if known.is_empty() {
        return Ok(out);
    }
    let mean = known.iter().sum::<f32>() / known.len() as f32;
    for (lift, held) in out.iter_mut().zip(&held) {
        if let Some(h) = held {
            let exponent = tuning.lift * h.found * h.found;
            *lift = (mean / h.score.max(FLOOR)).powf(exponent).clamp(1.0, MAX);
        }
    }
    Ok(out)
}

/// Each entry's own questions, each held out of the index it is scored
/// against (`None`: fewer than two questions).
fn held_out(
    entries: &[EntryText],
    synonyms: &[Vec<String>],
    tuning: &Tuning,
) -> Result<Vec<Option<HeldOut>>, String> {
    let plain = Tuning {
        lift: 0.0,
        ..tuning.clone()
    };
    let counted = |e: &EntryText, k: usize| e.questions.len() >= 2 && k < e.questions.len();
    let mut score = vec![0.0f32; entries.len()];
    let mut found = vec![0.0f32; entries.len()];
    let mut n = vec![0u32; entries.len()];
    let positions = entries
        .iter()
        .map(|e| e.questions.len())
        .max()
        .unwrap_or(0)
        .min(POSITIONS);
    for k in 0..positions {
        let without: Vec<EntryText> = entries
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if counted(&e, k) {
                    e.questions.remove(k);
                }
                e
            })
            .collect();
        let index = Index::build(&without, synonyms, plain.clone())?;
        for (i, e) in entries.iter().enumerate().filter(|(_, e)| counted(e, k)) {
            let ranked = index.search(&e.questions[k]);
            score[i] += ranked.iter().find(|s| s.entry == i).map_or(0.0, |s| s.score);
            if ranked.first().is_some_and(|s| s.entry == i) {
                found[i] += 1.0;
            }
            n[i] += 1;
        }
    }
    Ok((0..entries.len())
        .map(|i| {
            (n[i] > 0).then(|| HeldOut {
                score: score[i] / n[i] as f32,
                found: found[i] / n[i] as f32,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(questions: &[&str]) -> EntryText {
        EntryText {
            questions: questions.iter().map(|q| (*q).to_owned()).collect(),
            answer: String::new(),
            keywords: Vec::new(),
        }
    }

    #[test]
    fn entries_asked_in_unrelated_ways_are_lifted_and_near_copies_are_not() {
        let entries = vec![
            // Near-copies: each question is mostly the others' words.
            entry(&["取消所有的闹钟", "关掉所有的闹钟", "删除所有的闹钟"]),
            // Three unrelated ways to ask about the weather.
            entry(&["今天冷吗", "需要带雨伞吗", "伦敦天气如何"]),
            entry(&["退款多久到账", "退款什么时候到账", "退款几天到账"]),
            entry(&["只有一个问题"]),
            // Each question is closer to another entry than to its twin.
            entry(&["闹钟全部关掉", "退款到账要几天"]),
        ];
        let lift = lifts(&entries, &[], &Tuning::default()).unwrap();
        assert_eq!(lift[0], 1.0);
        assert_eq!(lift[2], 1.0);
        assert!(lift[1] > 1.1, "{lift:?}");
        assert_eq!(lift[3], 1.0, "no held-out score, no lift");
        assert_eq!(lift[4], 1.0, "its own questions do not find it: {lift:?}");
        let off = Tuning {
            lift: 0.0,
            ..Tuning::default()
        };
        assert_eq!(lifts(&entries, &[], &off).unwrap(), vec![1.0; 5]);
    }
}
