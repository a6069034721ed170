//! Per-entry calibration from the knowledge base itself: how well an
//! entry's own questions match one another.
//!
//! Some entries are asked in many unrelated ways ("is it cold?", "do I need
//! an umbrella?", "the weather in London"): a real paraphrase of them shares
//! few words with any variant and scores low, so one threshold silences
//! them while it is right for entries whose variants are near-copies. Each
//! question is scored against the index built without it (leave-one-out,
//! one index per question position); an entry whose held-out questions
//! score below the knowledge base's mean has its scores lifted by
//! `(mean / own)^Tuning::lift`. Entries at or above the mean keep their
//! scores: lowering them would only move the threshold for everyone.
//!
//! The lift changes what the threshold sees, never the ranking.

use super::{EntryText, Index, Tuning};

/// Lowest leave-one-out score counted: an entry whose questions share no
/// words is lifted as much as one at this score, not without bound.
const FLOOR: f32 = 0.1;

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
    let own = held_out_scores(entries, synonyms, tuning)?;
    let known: Vec<f32> = own.iter().flatten().copied().collect();
    if known.is_empty() {
        return Ok(out);
    }
    let mean = known.iter().sum::<f32>() / known.len() as f32;
    for (lift, own) in out.iter_mut().zip(&own) {
        if let Some(own) = own {
            *lift = (mean / own.max(FLOOR)).powf(tuning.lift).max(1.0);
        }
    }
    Ok(out)
}

/// Each entry's mean score for its own questions, each held out of the
/// index it is scored against (`None`: fewer than two questions).
fn held_out_scores(
    entries: &[EntryText],
    synonyms: &[Vec<String>],
    tuning: &Tuning,
) -> Result<Vec<Option<f32>>, String> {
    let plain = Tuning {
        lift: 0.0,
        ..tuning.clone()
    };
    let counted = |e: &EntryText, k: usize| e.questions.len() >= 2 && k < e.questions.len();
    let mut sum = vec![0.0f32; entries.len()];
    let mut n = vec![0u32; entries.len()];
    let positions = entries.iter().map(|e| e.questions.len()).max().unwrap_or(0);
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
            sum[i] += index
                .search(&e.questions[k])
                .iter()
                .find(|s| s.entry == i)
                .map_or(0.0, |s| s.score);
            n[i] += 1;
        }
    }
    Ok(sum
        .iter()
        .zip(&n)
        .map(|(&s, &n)| (n > 0).then(|| s / n as f32))
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
        ];
        let lift = lifts(&entries, &[], &Tuning::default()).unwrap();
        assert_eq!(lift[0], 1.0);
        assert_eq!(lift[2], 1.0);
        assert!(lift[1] > 1.1, "{lift:?}");
        assert_eq!(lift[3], 1.0, "no held-out score, no lift");
        let off = Tuning {
            lift: 0.0,
            ..Tuning::default()
        };
        assert_eq!(lifts(&entries, &[], &off).unwrap(), vec![1.0; 4]);
    }
}
