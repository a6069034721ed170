//! The retrieval index of an FAQ: every entry's question variants and answer
//! as bags of weighted terms, built once when the plugin is built; a query is
//! only tokenised and scored.
//!
//! Terms come from the shared tokenizer ([`crate::text::tokenize`]): English
//! words stemmed (Snowball), Chinese as character unigrams and bigrams plus
//! jieba words of three or more characters, after the bot's synonyms and a
//! few common chat spellings have been folded. Chinese function words
//! (怎么, 什么, 可以…) weigh less, and Latin words inside Chinese text
//! (names and titles, mostly) not at all. A query word the index does not
//! know that is one or two edits away from a known English word counts as
//! that word (typos).
//!
//! The score of an entry is calibrated to `0..=1` so one threshold fits any
//! knowledge base: it blends
//!
//! - the best variant's weighted Dice overlap with the query (IDF mass the
//!   two share over their mean mass: 1 when they are the same terms), and
//! - BM25 coverage of the query by the whole entry (every variant and the
//!   answer as one document): the share of the query's IDF mass the entry
//!   contains, with BM25's term saturation and length normalisation, capped
//!   at 1 per term.
//!
//! Entries are ordered by the same blend in which each Chinese term of the
//! entry coverage counts in proportion to the share of the entry's
//! questions that have it (its core words, not a one-off name); the
//! threshold sees the plain blend, whose scale is the same in both
//! languages.
//!
//! Query words the index has never seen weigh in at the highest IDF
//! (Chinese ones at half weight: paraphrases bring new words), so a message
//! that is mostly about something else scores low. [`Index::search`] ends
//! in one function that turns these scores into the final one the
//! threshold sees (`decide`): an entry whose own questions share few words
//! (it is asked in many ways) has its score lifted, by how far its
//! questions' leave-one-out scores fall below the knowledge base's mean,
//! in full only when those held-out questions still rank it first
//! (`lift`). A whole question written again scores 1, and an entry keyword
//! found in the message adds [`KEYWORD_BONUS`].
//!
//! # Files
//!
//! - `fold`: synonym, chat-spelling and loanword folding.
//! - `lift`: per-entry calibration by how well an entry's own questions,
//!   held out, find it.
//! - `terms`: the weighted terms of a text.
//! - `tuning`: the scoring knobs and their shipped values.

mod fold;
mod lift;
mod terms;
mod tuning;

use std::collections::HashMap;

use aho_corasick::AhoCorasick;

use crate::text::normalize;
use fold::Folder;
use terms::RawTerm;
pub(crate) use tuning::Tuning;

/// What an entry keyword found in a message adds to the entry's score.
pub(crate) const KEYWORD_BONUS: f32 = 0.3;

/// One knowledge-base entry as the index sees it.
#[derive(Clone, Debug)]
pub(crate) struct EntryText {
    /// Question variants.
    pub(crate) questions: Vec<String>,
    /// The answer text (indexed with a lower weight).
    pub(crate) answer: String,
    /// Exact keywords: found anywhere in the normalised message, they add
    /// [`KEYWORD_BONUS`].
    pub(crate) keywords: Vec<String>,
}

/// A scored entry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scored {
    /// Index of the entry, in the order the index was built from.
    pub(crate) entry: usize,
    /// Calibrated score in `0..=1`: what the threshold sees.
    pub(crate) score: f32,
    /// What entries are ranked by (`0..=1`; see `Tuning::core`), which
    /// may differ from `score`.
    pub(crate) order: f32,
}

impl Scored {
    /// Best first: by `order`, then by `score`, then the earlier entry.
    pub(crate) fn sort(ranked: &mut [Scored]) {
        ranked.sort_by(|a, b| {
            b.order
                .total_cmp(&a.order)
                .then(b.score.total_cmp(&a.score))
                .then(a.entry.cmp(&b.entry))
        });
    }
}

/// What a query's terms say about each entry, by entry index, before the
/// blend.
#[derive(Clone, Debug, Default)]
pub(crate) struct Evidence {
    /// The best variant's Dice with the second's folded in
    /// ([`Tuning::second`]).
    pub(crate) variant: Vec<f32>,
    /// Share of the query's IDF mass the entry document covers.
    pub(crate) cover: Vec<f32>,
    /// The same, each Chinese term weighted by its share of the entry's
    /// questions ([`Tuning::core`]).
    pub(crate) core_cover: Vec<f32>,
}

/// The built index.
#[derive(Debug)]
pub(crate) struct Index {
    /// Synonym folding applied to questions and messages alike.
    folder: Folder,
    /// Term string → id.
    vocab: HashMap<String, u32>,
    /// Whether each term (by id) is Latin.
    latin: Vec<bool>,
    /// IDF by term id (over entries).
    idf: Vec<f32>,
    /// IDF of a term no entry has: that of a term only one entry has.
    oov_idf: f32,
    /// Known English stems by length, for typo correction: (stem, id).
    latin_terms: Vec<(String, u32)>,
    /// Entry of each variant.
    variant_entry: Vec<usize>,
    /// Mass of each variant.
    variant_mass: Vec<f32>,
    /// term id → (variant, weight).
    variant_postings: Vec<Vec<(u32, f32)>>,
    /// Length of each entry document.
    entry_len: Vec<f32>,
    /// Mean entry document length.
    avg_entry_len: f32,
    /// term id → (entry, weight) in entry documents.
    entry_postings: Vec<Vec<(u32, f32, f32)>>,
    /// Squashed question text → entry: a question written again.
    exact: HashMap<String, usize>,
    /// Entry keywords, normalised, in one automaton.
    keywords: Option<AhoCorasick>,
    /// The entry of each keyword pattern.
    keyword_entry: Vec<usize>,
    /// Number of entries.
    entries: usize,
    /// The knobs.
    tuning: Tuning,
    /// What each entry's score is multiplied by before the threshold sees
    /// it (see `lift`).
    lift: Vec<f32>,
}

impl Index {
    /// Build the index of `entries`, with `synonyms` (groups of spellings;
    /// the first of each group is the one kept).
    pub(crate) fn build(
        entries: &[EntryText],
        synonyms: &[Vec<String>],
        tuning: Tuning,
    ) -> Result<Self, String> {
        let mut index = Self {
            folder: Folder::for_bot(synonyms)?,
            vocab: HashMap::new(),
            latin: Vec::new(),
            idf: Vec::new(),
            oov_idf: 0.0,
            latin_terms: Vec::new(),
            variant_entry: Vec::new(),
            variant_mass: Vec::new(),
            variant_postings: Vec::new(),
            entry_len: Vec::new(),
            avg_entry_len: 1.0,
            entry_postings: Vec::new(),
            exact: HashMap::new(),
            keywords: None,
            keyword_entry: Vec::new(),
            entries: entries.len(),
            lift: lift::lifts(entries, synonyms, &tuning)?,
            tuning,
        };

        // Pass 1: terms of every text, and document frequency over entries.
        let mut variant_bags: Vec<(usize, Vec<(u32, f32)>)> = Vec::new();
        let mut entry_bags: Vec<HashMap<u32, f32>> = Vec::with_capacity(entries.len());
        // Per entry: term → share of its questions that have it.
        let mut entry_shares: Vec<HashMap<u32, f32>> = Vec::with_capacity(entries.len());
        let mut df: Vec<u32> = Vec::new();
        for (e, entry) in entries.iter().enumerate() {
            let mut doc: HashMap<u32, f32> = HashMap::new();
            let mut share: HashMap<u32, f32> = HashMap::new();
            let per_question = 1.0 / entry.questions.len().max(1) as f32;
            for q in &entry.questions {
                let terms = index.intern(index.terms(q));
                for &(t, w) in &terms {
                    *doc.entry(t).or_default() += w;
                    *share.entry(t).or_default() += per_question;
                }
                variant_bags.push((e, terms));
                let key = squash(&index.folder.fold(&normalize(q)));
                if !key.is_empty() {
                    index.exact.entry(key).or_insert(e);
                }
            }
            let answer_weight = index.tuning.answer;
            let answer_terms = index.intern(index.terms(&entry.answer));
            for &(t, w) in &answer_terms {
                *doc.entry(t).or_default() += w * answer_weight;
                *share.entry(t).or_default() += per_question * answer_weight;
            }
            entry_shares.push(share);
            if index.tuning.answer_variant {
                variant_bags.push((e, answer_terms));
            }
            df.resize(index.vocab.len(), 0);
            for &t in doc.keys() {
                df[t as usize] += 1;
            }
            entry_bags.push(doc);
        }
        let n = entries.len().max(1) as f32;
        let idf_of = |df: f32| (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        index.idf = df.iter().map(|&d| idf_of(d as f32)).collect();
        index.oov_idf = idf_of(1.0);

        // Pass 2: postings.
        let vocab = index.vocab.len();
        index.variant_postings = vec![Vec::new(); vocab];
        index.entry_postings = vec![Vec::new(); vocab];
        for (v, (e, terms)) in variant_bags.iter().enumerate() {
            index.variant_entry.push(*e);
            let mut mass = 0.0;
            for &(t, w) in terms {
                mass += index.idf[t as usize] * w;
                index.variant_postings[t as usize].push((v as u32, w));
            }
            index.variant_mass.push(mass);
        }
        for (e, doc) in entry_bags.iter().enumerate() {
            let mut terms: Vec<(u32, f32)> = doc.iter().map(|(&t, &w)| (t, w)).collect();
            terms.sort_by_key(|&(t, _)| t);
            index.entry_len.push(terms.iter().map(|&(_, w)| w).sum());
            for (t, w) in terms {
                let share = entry_shares[e].get(&t).copied().unwrap_or(0.0).min(1.0);
                index.entry_postings[t as usize].push((e as u32, w, share));
            }
        }
        index.avg_entry_len = (index.entry_len.iter().sum::<f32>() / n).max(1.0);
        let mut latin: Vec<(String, u32)> = index
            .vocab
            .iter()
            .filter(|(s, _)| s.len() >= 3 && s.chars().all(|c| c.is_ascii_lowercase()))
            .map(|(s, &id)| (s.clone(), id))
            .collect();
        latin.sort();
        index.latin_terms = latin;

        let mut keywords = Vec::new();
        for (e, entry) in entries.iter().enumerate() {
            for k in &entry.keywords {
                let k = index.folder.fold(&normalize(k));
                if !k.is_empty() {
                    keywords.push(k);
                    index.keyword_entry.push(e);
                }
            }
        }
        if !keywords.is_empty() {
            index.keywords = Some(AhoCorasick::new(&keywords).map_err(|e| e.to_string())?);
        }
        Ok(index)
    }

    /// Every entry with a positive score for `text`, best first (ties: the
    /// earlier entry).
    pub(crate) fn search(&self, text: &str) -> Vec<Scored> {
        let norm = self.folder.fold(&normalize(text));
        let mut scores = vec![0.0f32; self.entries];
        // What entries are ordered by (see `Tuning::core`); `scores` is
        // what the threshold sees.
        let mut rank = vec![0.0f32; self.entries];
        if let Some(&e) = self.exact.get(&squash(&norm)) {
            scores[e] = 1.0;
            rank[e] = 1.0;
        }
        let query = self.lookup(terms::terms(&self.tuning, &norm));
        let q_mass: f32 = query.iter().map(|&(t, w)| self.idf_of(t) * w).sum();
        if q_mass > 0.0 {
            self.score_terms(&query, q_mass, &mut scores, &mut rank);
        }
        if let Some(ac) = &self.keywords {
            let mut hit = vec![false; self.entries];
            for m in ac.find_overlapping_iter(&norm) {
                hit[self.keyword_entry[m.pattern().as_usize()]] = true;
            }
            for ((s, r), h) in scores.iter_mut().zip(rank.iter_mut()).zip(hit) {
                if h {
                    *s = (*s + KEYWORD_BONUS).min(1.0);
                    *r = (*r + KEYWORD_BONUS).min(1.0);
                }
            }
        }
        let mut out: Vec<Scored> = scores
            .iter()
            .enumerate()
            .filter(|&(_, &s)| s > 0.0)
            .map(|(entry, &score)| Scored {
                entry,
                score,
                order: rank[entry],
            })
            .collect();
        Scored::sort(&mut out);
        self.decide(&mut out);
        out
    }

    /// The final score of each ranked entry (best first), the one number
    /// the threshold sees: the calibrated blend, lifted for entries asked
    /// in many ways (`lift`), and moved by the entry's lead over the best
    /// other entry ([`Tuning::margin`]).
    fn decide(&self, ranked: &mut [Scored]) {
        for s in ranked.iter_mut() {
            s.score = (s.score * self.lift[s.entry]).min(1.0);
        }
        let m = self.tuning.margin;
        if m == 0.0 || ranked.is_empty() {
            return;
        }
        let first = ranked[0].score;
        let second = ranked.iter().skip(1).map(|s| s.score).fold(0.0f32, f32::max);
        for (i, s) in ranked.iter_mut().enumerate() {
            let other = if i == 0 { second } else { first.max(second) };
            s.score = (s.score + m * (s.score - other)).clamp(0.0, 1.0);
        }
    }

    /// Blend each entry's lexical evidence into `scores` (what the
    /// threshold sees) and `rank` (the order entries are tried in): the
    /// one place per-entry signals are combined, before `decide`.
    fn score_terms(&self, query: &[(Option<u32>, f32)], q_mass: f32, scores: &mut [f32], rank: &mut [f32]) {
        let ev = self.evidence_of(query, q_mass);
        let share = self.tuning.variant_share;
        for e in 0..self.entries {
            let s = share * ev.variant[e] + (1.0 - share) * ev.cover[e];
            scores[e] = scores[e].max(s.min(1.0));
            let r = share * ev.variant[e] + (1.0 - share) * ev.core_cover[e];
            rank[e] = rank[e].max(r.min(1.0));
        }
    }

    /// Per-entry evidence for a query's terms.
    fn evidence_of(&self, query: &[(Option<u32>, f32)], q_mass: f32) -> Evidence {
        let mut shared = vec![0.0f32; self.variant_entry.len()];
        let mut cover = vec![0.0f32; self.entries];
        let mut core_cover = vec![0.0f32; self.entries];
        let (k1, b) = (self.tuning.k1, self.tuning.b);
        for &(t, wq) in query {
            let Some(t) = t else { continue };
            let idf = self.idf[t as usize];
            for &(v, wv) in &self.variant_postings[t as usize] {
                shared[v as usize] += idf * wq.min(wv);
            }
            for &(e, tf, share) in &self.entry_postings[t as usize] {
                let norm = 1.0 - b + b * self.entry_len[e as usize] / self.avg_entry_len;
                let sat = (tf * (k1 + 1.0) / (tf + k1 * norm)).min(1.0);
                let core = if self.tuning.core > 0.0 && !self.latin[t as usize] {
                    share.powf(self.tuning.core)
                } else {
                    1.0
                };
                cover[e as usize] += idf * wq * sat;
                core_cover[e as usize] += idf * wq * sat * core;
            }
        }
        let mut best = vec![0.0f32; self.entries];
        let mut second = vec![0.0f32; self.entries];
        for (v, &m) in shared.iter().enumerate() {
            if m > 0.0 {
                let dice = 2.0 * m / (q_mass + self.variant_mass[v]);
                let e = self.variant_entry[v];
                if dice > best[e] {
                    second[e] = best[e];
                    best[e] = dice;
                } else if dice > second[e] {
                    second[e] = dice;
                }
            }
        }
        let s2 = self.tuning.second;
        let variant = best
            .iter()
            .zip(&second)
            .map(|(b, s)| (b + s2 * s) / (1.0 + s2))
            .collect();
        Evidence {
            variant,
            cover: cover.iter().map(|c| c / q_mass).collect(),
            core_cover: core_cover.iter().map(|c| c / q_mass).collect(),
        }
    }

    /// The query's evidence for every entry, and its IDF mass (all, and
    /// the part the index knows): for the calibration's analysis.
    #[cfg(test)]
    pub(crate) fn explain(&self, text: &str) -> (Evidence, f32, f32) {
        let norm = self.folder.fold(&normalize(text));
        let query = self.lookup(terms::terms(&self.tuning, &norm));
        let q_mass: f32 = query.iter().map(|&(t, w)| self.idf_of(t) * w).sum();
        let known: f32 = query
            .iter()
            .filter(|(t, _)| t.is_some())
            .map(|&(t, w)| self.idf_of(t) * w)
            .sum();
        (self.evidence_of(&query, q_mass.max(1e-6)), q_mass, known)
    }

    fn idf_of(&self, t: Option<u32>) -> f32 {
        t.map_or(self.oov_idf, |t| self.idf[t as usize])
    }

    /// The terms of `text` as written.
    fn terms(&self, text: &str) -> Vec<RawTerm> {
        terms::terms(&self.tuning, &self.folder.fold(&normalize(text)))
    }

    /// Ids of terms, adding new ones (build time).
    fn intern(&mut self, raw: Vec<RawTerm>) -> Vec<(u32, f32)> {
        let mut bag: HashMap<u32, f32> = HashMap::new();
        for r in raw {
            let next = self.vocab.len() as u32;
            let id = *self.vocab.entry(r.text).or_insert(next);
            if id == next {
                self.latin.push(r.latin);
            }
            *bag.entry(id).or_default() += r.weight;
        }
        let mut terms: Vec<(u32, f32)> = bag.into_iter().collect();
        terms.sort_by_key(|&(t, _)| t);
        terms
    }

    /// Ids of a query's terms (`None`: unknown), with typo correction.
    fn lookup(&self, raw: Vec<RawTerm>) -> Vec<(Option<u32>, f32)> {
        let mut bag: Vec<(Option<u32>, f32)> = Vec::with_capacity(raw.len());
        for r in raw {
            let unknown = if r.latin {
                r.weight
            } else {
                r.weight * self.tuning.oov_cjk
            };
            let (id, w) = match self.vocab.get(&r.text) {
                Some(&id) => (Some(id), r.weight),
                None if r.correctable => match self.correct(&r.text) {
                    Some(id) => (Some(id), r.weight * self.tuning.typo),
                    None => (None, unknown),
                },
                None => (None, unknown),
            };
            match bag.iter_mut().find(|(t, _)| id.is_some() && *t == id) {
                Some(slot) => slot.1 += w,
                None => bag.push((id, w)),
            }
        }
        bag
    }

    /// The known English term closest to `stem` within one edit (two for
    /// stems of eight letters or more), if exactly one distance wins.
    fn correct(&self, stem: &str) -> Option<u32> {
        let max = if stem.len() >= 8 { 2 } else { 1 };
        let mut best: Option<(usize, u32)> = None;
        for (known, id) in &self.latin_terms {
            if known.len().abs_diff(stem.len()) > max {
                continue;
            }
            let d = strsim::damerau_levenshtein(known, stem);
            if d <= max && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, *id));
            }
        }
        best.map(|(_, id)| id)
    }
}

/// `norm` without spaces and punctuation: two texts that differ only in
/// those are the same question.
fn squash(norm: &str) -> String {
    norm.chars().filter(|c| c.is_alphanumeric()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(questions: &[&str], answer: &str) -> EntryText {
        EntryText {
            questions: questions.iter().map(|q| (*q).to_owned()).collect(),
            answer: answer.to_owned(),
            keywords: Vec::new(),
        }
    }

    fn kb() -> Vec<EntryText> {
        vec![
            entry(&["优惠券怎么使用？", "领到的券在哪里用"], "下单时选券"),
            entry(&["退款多久到账", "退款什么时候能到"], "1-3 个工作日"),
            entry(
                &["How do I reset my password?", "I forgot my password"],
                "Tap 'Forgot password'.",
            ),
            entry(
                &["Where is my refund?", "When will I get my money back"],
                "Refunds take 5 days.",
            ),
        ]
    }

    fn top(index: &Index, text: &str) -> Option<(usize, f32)> {
        index.search(text).first().map(|s| (s.entry, s.score))
    }

    #[test]
    fn a_question_written_again_scores_one() {
        let index = Index::build(&kb(), &[], Tuning::default()).unwrap();
        assert_eq!(top(&index, "优惠券 怎么使用"), Some((0, 1.0)));
        assert_eq!(top(&index, "i forgot my PASSWORD!!"), Some((2, 1.0)));
    }

    #[test]
    fn paraphrases_rank_the_right_entry() {
        let index = Index::build(&kb(), &[], Tuning::default()).unwrap();
        assert_eq!(top(&index, "券怎么用").map(|t| t.0), Some(0));
        assert_eq!(top(&index, "退款几天到账啊").map(|t| t.0), Some(1));
        assert_eq!(
            top(&index, "resetting passwords").map(|t| t.0),
            Some(2),
            "stemmed"
        );
        assert_eq!(top(&index, "refunded money when").map(|t| t.0), Some(3));
    }

    #[test]
    fn unrelated_messages_score_low() {
        let index = Index::build(&kb(), &[], Tuning::default()).unwrap();
        for text in ["今天天气不错", "anyone up for lunch today", "哈哈哈"] {
            let score = top(&index, text).map_or(0.0, |t| t.1);
            assert!(score < 0.3, "{text}: {score}");
        }
    }

    #[test]
    fn typos_and_chat_spellings_still_match() {
        let index = Index::build(&kb(), &[], Tuning::default()).unwrap();
        let typo = top(&index, "pasword reset").unwrap();
        assert_eq!(typo.0, 2);
        let plain = top(&index, "password reset").unwrap();
        assert!(typo.1 > 0.5 * plain.1, "{typo:?} vs {plain:?}");
        // 劵 is folded to 券.
        assert_eq!(top(&index, "优惠劵怎么使用").map(|t| t.1), Some(1.0));
        // Colloquial "where" is folded to the written form.
        assert_eq!(index.folder.fold("券在哪儿用,在那儿领"), "券在哪里用,在哪里领");
        assert_eq!(top(&index, "领到的券在哪儿用").map(|t| t.1), Some(1.0));
    }

    #[test]
    fn synonyms_fold_into_the_first_spelling() {
        let without = Index::build(&kb(), &[], Tuning::default()).unwrap();
        let with = Index::build(&kb(), &[vec!["券".into(), "coupon".into()]], Tuning::default()).unwrap();
        let before = top(&without, "coupon").map_or(0.0, |t| t.1);
        let after = top(&with, "coupon").unwrap();
        assert_eq!(after.0, 0);
        assert!(after.1 > before + 0.2, "{after:?} vs {before}");
        // Latin synonyms replace whole words only.
        assert_eq!(with.folder.fold("coupons coupon"), "coupons 券");
    }

    #[test]
    fn english_words_in_chinese_text_count_as_chinese() {
        let index = Index::build(&kb(), &[], Tuning::default()).unwrap();
        assert_eq!(index.folder.fold("refund 要多久"), "退款 要多久");
        // Chinese characters around a word end it as a space would.
        assert_eq!(index.folder.fold("打车的fapiao,vip有啥"), "打车的发票,会员有什么");
        assert_eq!(index.folder.fold("refund以后coupon"), "退款以后券");
        assert_eq!(index.folder.fold("vipx里"), "vipx里", "whole words only");
        assert_eq!(index.folder.fold("vipé里"), "vipé里", "whole words only");
        assert_eq!(index.folder.fold("sms code收不到"), "短信 码收不到");
        assert_eq!(index.folder.fold("sms code"), "sms code", "English stays");
        assert_eq!(
            index.folder.fold("where is my refund"),
            "where is my refund",
            "English stays"
        );
        assert_eq!(top(&index, "refund多久到账").map(|t| t.0), Some(1));
        assert_eq!(top(&index, "where is my refund").map(|t| t.0), Some(3));
    }

    #[test]
    fn keywords_add_a_bonus() {
        let mut entries = kb();
        entries[1].keywords = vec!["到账".into()];
        let plain = Index::build(&kb(), &[], Tuning::default()).unwrap();
        let keyed = Index::build(&entries, &[], Tuning::default()).unwrap();
        let a = plain
            .search("钱到账了没")
            .iter()
            .find(|s| s.entry == 1)
            .map_or(0.0, |s| s.score);
        let b = keyed
            .search("钱到账了没")
            .iter()
            .find(|s| s.entry == 1)
            .map_or(0.0, |s| s.score);
        assert!((b - a - KEYWORD_BONUS).abs() < 1e-4, "{a} → {b}");
    }

    #[test]
    fn unknown_chinese_words_pull_a_paraphrase_down_by_half() {
        let half = Index::build(&kb(), &[], Tuning::default()).unwrap();
        let full = Index::build(
            &kb(),
            &[],
            Tuning {
                oov_cjk: 1.0,
                ..Tuning::default()
            },
        )
        .unwrap();
        let text = "退款多久到账 急用钱交房租";
        let (a, b) = (top(&half, text).unwrap(), top(&full, text).unwrap());
        assert_eq!((a.0, b.0), (1, 1));
        assert!(a.1 > b.1 + 0.05, "{a:?} vs {b:?}");
    }
}
