//! The retrieval index of an FAQ: every entry's question variants and answer
//! as bags of weighted terms, built once when the plugin is built; a query is
//! only tokenised and scored.
//!
//! Terms come from the shared tokenizer ([`crate::text::tokenize`]): English
//! words stemmed (Snowball), Chinese as character unigrams and bigrams plus
//! jieba words of three or more characters, after the bot's synonyms and a
//! few common chat spellings have been folded. A query word the index does
//! not know that is one or two edits away from a known English word counts
//! as that word (typos).
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
//! Query words the index has never seen weigh in at the highest IDF, so a
//! message that is mostly about something else scores low. A whole question
//! written again scores 1, and an entry keyword found in the message adds
//! [`KEYWORD_BONUS`].

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::text::normalize;
use crate::text::tokenize::{cjk_ngrams, is_cjk, stem_en, words};

/// What an entry keyword found in a message adds to the entry's score.
pub(crate) const KEYWORD_BONUS: f32 = 0.3;

/// Spellings group members type for a common word, folded before matching
/// (on top of the bot's own `synonyms`): typos of 券 and 账, and colloquial
/// question words.
const BUILTIN_SYNONYMS: &[(&str, &str)] = &[
    ("劵", "券"),
    ("优惠卷", "优惠券"),
    ("红包卷", "红包券"),
    ("打车卷", "打车券"),
    ("外卖卷", "外卖券"),
    ("帐号", "账号"),
    ("帐户", "账户"),
    ("在那里", "在哪里"),
    ("在那儿", "在哪儿"),
    ("咋", "怎么"),
    ("啥", "什么"),
    ("木有", "没有"),
    ("领卷", "领券"),
    ("用卷", "用券"),
    ("抢卷", "抢券"),
    ("的卷", "的券"),
    ("张卷", "张券"),
    ("卷包", "券包"),
    ("卷码", "券码"),
    ("到帐", "到账"),
    ("帐单", "账单"),
];

/// English words members mix into Chinese messages, folded to the Chinese
/// word only in text that has Chinese characters (an English knowledge base
/// keeps its own words).
const LOANWORDS: &[(&str, &str)] = &[
    ("coupon", "券"),
    ("coupons", "券"),
    ("voucher", "券"),
    ("refund", "退款"),
    ("refunds", "退款"),
    ("vip", "会员"),
    ("member", "会员"),
    ("membership", "会员"),
    ("invoice", "发票"),
    ("fapiao", "发票"),
    ("expired", "过期"),
    ("expire", "过期"),
    ("points", "积分"),
    ("order", "订单"),
    ("account", "账号"),
    ("password", "密码"),
    ("customer service", "客服"),
    ("kefu", "客服"),
    ("cancel", "取消"),
    ("login", "登录"),
    ("newbie", "新人"),
    ("bug", "故障"),
];

/// English words too common to tell entries apart; they only dilute scores.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "to", "of", "and", "or", "in", "on", "at", "for", "is", "are", "am", "be", "it", "its",
    "i", "im", "me", "my", "you", "your", "we", "our", "this", "that", "there", "please", "pls", "can",
    "could", "would", "will", "do", "does", "did", "have", "has", "so", "just", "with", "about", "what",
    "how", "hi", "hello", "hey", "u", "s", "t", "m", "d", "ll", "ve", "re",
];

/// Chinese particles and pronouns that carry no topic as single characters.
const CJK_STOP_CHARS: &str = "的了吗呢啊吧呀哦么嘛我你他她它们是在有个这那一也都就还和与吗";

/// Chinese function words: question words, pronouns, modal verbs and
/// connectives any question may carry; they say how something is asked,
/// not what about.
const CJK_STOP_WORDS: &[&str] = &[
    "怎么", "怎样", "怎么样", "怎么办", "什么", "为什么", "如何", "可以", "可不可以", "能不能", "能否",
    "是不是", "有没有", "请问", "一下", "一个", "这个", "那个", "我们", "你们", "他们", "自己", "还是",
    "就是", "但是", "因为", "所以", "如果", "已经", "然后", "还有", "没有", "不能", "需要", "应该",
    "现在", "知道", "大家", "的话", "一直", "为啥", "干嘛", "为何", "回事", "情况", "一点",
];

/// Scoring knobs. [`Tuning::default`] is what ships; the fields exist so
/// the calibration test can sweep them.
#[derive(Clone, Debug)]
pub(crate) struct Tuning {
    /// Weight of a Chinese character unigram (bigrams and words weigh 1):
    /// unigrams catch one-character words and typos but are weak evidence.
    pub(crate) unigram: f32,
    /// Weight of the answer's terms in the entry document.
    pub(crate) answer: f32,
    /// Share of the best-variant Dice in the blend (the rest is entry
    /// coverage).
    pub(crate) variant_share: f32,
    /// BM25 term saturation.
    pub(crate) k1: f32,
    /// BM25 length normalisation.
    pub(crate) b: f32,
    /// Weight of each character 4-gram of an English word (with word
    /// boundaries); 0 turns them off.
    pub(crate) latin_ngram: f32,
    /// Weight of a pair of adjacent English words ("carry on"); 0 turns
    /// them off.
    pub(crate) latin_bigram: f32,
    /// Weight of the second-best variant's Dice, added to the best's (an
    /// entry two variants agree on is likelier).
    pub(crate) second: f32,
    /// Whether the answer also counts as a variant for Dice.
    pub(crate) answer_variant: bool,
    /// Weight of a Chinese bigram that straddles a jieba word boundary
    /// (bigrams that are words weigh 1).
    pub(crate) cross_bigram: f32,
    /// Weight of an unknown Latin term in a Chinese message.
    pub(crate) oov_latin_in_chinese: f32,
    /// Exponent of the share of an entry's questions that have a term, in
    /// entry coverage: terms most variants share are the entry's core, a
    /// name in one variant is incidental. 0 turns it off.
    pub(crate) core: f32,
    /// Weight of a Chinese character trigram; 0 turns them off.
    pub(crate) trigram: f32,
    /// Weight of a term reached through a typo correction.
    pub(crate) typo: f32,
    /// How much the best entry's lead over the runner-up adds to its
    /// score (and a trailing entry's gap takes off).
    pub(crate) margin: f32,
    /// Weight of a Chinese term the index has never seen, relative to a
    /// known one.
    pub(crate) oov_cjk: f32,
    /// Weight of a Chinese skip-bigram (characters two apart); 0 turns
    /// them off.
    pub(crate) skip_bigram: f32,
    /// Weight of Latin terms in text with Chinese characters (mostly
    /// names and titles there), in questions and messages alike.
    pub(crate) latin_in_chinese: f32,
    /// Exponent applied to every IDF (above 1 sharpens rare terms).
    pub(crate) idf_pow: f32,
    /// Weight of an unknown Chinese bigram whose two characters the index
    /// knows, relative to another unknown term.
    pub(crate) oov_bigram_known: f32,
    /// Whether `core` also weighs Latin terms.
    pub(crate) core_latin: bool,
    /// Weight of a Chinese function word ([`CJK_STOP_WORDS`]) and of the
    /// bigrams inside it.
    pub(crate) stop_cjk: f32,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            unigram: 0.8,
            answer: 1.0,
            variant_share: 0.5,
            k1: 1.2,
            b: 0.75,
            typo: 0.8,
            latin_ngram: 0.2,
            latin_bigram: 0.5,
            second: 0.5,
            answer_variant: true,
            cross_bigram: 0.5,
            oov_latin_in_chinese: 0.1,
            trigram: 0.0,
            core: 1.0,
            margin: 0.0,
            oov_cjk: 1.0,
            skip_bigram: 0.0,
            latin_in_chinese: 1.0,
            idf_pow: 1.0,
            oov_bigram_known: 1.0,
            core_latin: false,
            stop_cjk: 1.0,
        }
    }
}

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
    /// Calibrated score in `0..=1`.
    pub(crate) score: f32,
}

/// What a query's terms say about each entry, by entry index, before the
/// blend.
#[derive(Clone, Debug, Default)]
pub(crate) struct Evidence {
    /// The best variant's Dice with the second's folded in
    /// ([`Tuning::second`]).
    pub(crate) variant: Vec<f32>,
    /// The best variant's Dice alone.
    pub(crate) best: Vec<f32>,
    /// Share of the query's IDF mass the entry document covers.
    pub(crate) cover: Vec<f32>,
    /// The same, each Chinese term weighted by its share of the entry's
    /// questions ([`Tuning::core`]).
    pub(crate) core_cover: Vec<f32>,
}

/// Folds synonyms into one spelling before tokenising.
#[derive(Debug)]
struct Folder {
    /// Every spelling to replace, leftmost-longest.
    automaton: AhoCorasick,
    /// The replacement of each pattern.
    to: Vec<String>,
    /// Whether each pattern is Latin (replaced only as a whole word).
    latin: Vec<bool>,
    /// Whether each pattern applies only to text with Chinese characters.
    mixed_only: Vec<bool>,
}

impl Folder {
    /// `pairs`: (spelling, replacement, only in text with Chinese).
    fn new(pairs: Vec<(String, String, bool)>) -> Result<Self, String> {
        let mut from = Vec::with_capacity(pairs.len());
        let mut to = Vec::with_capacity(pairs.len());
        let mut mixed_only = Vec::with_capacity(pairs.len());
        for (f, t, m) in pairs {
            from.push(f);
            to.push(t);
            mixed_only.push(m);
        }
        let latin = from.iter().map(|f| f.chars().all(|c| !is_cjk(c))).collect();
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&from)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            automaton,
            to,
            latin,
            mixed_only,
        })
    }

    fn fold(&self, norm: &str) -> String {
        let mut out = String::with_capacity(norm.len());
        let mut last = 0;
        let chinese = norm.chars().any(is_cjk);
        for m in self.automaton.find_iter(norm) {
            let p = m.pattern().as_usize();
            if self.mixed_only[p] && !chinese {
                continue;
            }
            if self.latin[p] {
                let before = norm[..m.start()].chars().next_back();
                let after = norm[m.end()..].chars().next();
                if before.is_some_and(char::is_alphanumeric) || after.is_some_and(char::is_alphanumeric) {
                    continue;
                }
            }
            out.push_str(&norm[last..m.start()]);
            out.push_str(&self.to[p]);
            last = m.end();
        }
        out.push_str(&norm[last..]);
        out
    }
}

/// A term of a text before it is looked up: its string, its weight, and
/// whether a typo correction may replace it.
struct RawTerm {
    /// The term as indexed (a stem, a Chinese n-gram or word…).
    text: String,
    /// Its weight in the text.
    weight: f32,
    /// Whether an unknown term may be corrected as a typo.
    correctable: bool,
    /// From Latin letters or digits (names and titles inside Chinese text).
    latin: bool,
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
}

impl Index {
    /// Build the index of `entries`, with `synonyms` (groups of spellings;
    /// the first of each group is the one kept).
    pub(crate) fn build(
        entries: &[EntryText],
        synonyms: &[Vec<String>],
        tuning: Tuning,
    ) -> Result<Self, String> {
        // The bot's own synonyms come first: on the same spelling they win.
        let mut pairs: Vec<(String, String, bool)> = Vec::new();
        for group in synonyms {
            let mut it = group.iter().map(|s| normalize(s)).filter(|s| !s.is_empty());
            let Some(head) = it.next() else { continue };
            for other in it {
                if other != head {
                    pairs.push((other, head.clone(), false));
                }
            }
        }
        pairs.extend(
            BUILTIN_SYNONYMS
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned(), false))
                .chain(
                    LOANWORDS
                        .iter()
                        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned(), true)),
                ),
        );
        let folder = Folder::new(pairs)?;
        let mut index = Self {
            folder,
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
        let p = index.tuning.idf_pow;
        index.idf = df.iter().map(|&d| idf_of(d as f32).powf(p)).collect();
        index.oov_idf = idf_of(1.0).powf(p);

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
        let query = self.lookup(self.terms_of_norm(&norm), norm.chars().any(is_cjk));
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
        let mut out: Vec<(f32, Scored)> = scores
            .iter()
            .enumerate()
            .filter(|&(_, &s)| s > 0.0)
            .map(|(entry, &score)| (rank[entry], Scored { entry, score }))
            .collect();
        out.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(b.1.score.total_cmp(&a.1.score))
                .then(a.1.entry.cmp(&b.1.entry))
        });
        let mut out: Vec<Scored> = out.into_iter().map(|(_, s)| s).collect();
        self.decide(&mut out);
        out
    }

    /// The final score of each ranked entry (best first), the one number
    /// the threshold sees: the calibrated blend, moved by the entry's lead
    /// over the best other entry ([`Tuning::margin`]).
    fn decide(&self, ranked: &mut [Scored]) {
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
                let core = if self.tuning.core > 0.0 && (self.tuning.core_latin || !self.latin[t as usize]) {
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
            best,
        }
    }

    /// The query's evidence for every entry, and its IDF mass (all, and
    /// the part the index knows): for the calibration's analysis.
    #[cfg(test)]
    pub(crate) fn explain(&self, text: &str) -> (Evidence, f32, f32) {
        let norm = self.folder.fold(&normalize(text));
        let query = self.lookup(self.terms_of_norm(&norm), norm.chars().any(is_cjk));
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
        self.terms_of_norm(&self.folder.fold(&normalize(text)))
    }

    /// The terms of a normalised, folded text.
    fn terms_of_norm(&self, norm: &str) -> Vec<RawTerm> {
        let mut out = self.terms_of_norm_raw(norm);
        if self.tuning.stop_cjk != 1.0 {
            for t in out.iter_mut().filter(|t| !t.latin) {
                if CJK_STOP_WORDS.iter().any(|w| w.contains(t.text.as_str())) && t.text.chars().count() >= 2 {
                    t.weight *= self.tuning.stop_cjk;
                }
            }
        }
        if self.tuning.latin_in_chinese != 1.0 && norm.chars().any(is_cjk) {
            for t in out.iter_mut().filter(|t| t.latin) {
                t.weight *= self.tuning.latin_in_chinese;
            }
        }
        out
    }

    fn terms_of_norm_raw(&self, norm: &str) -> Vec<RawTerm> {
        let mut out = Vec::new();
        let segmented = words(norm);
        if self.tuning.latin_bigram > 0.0 {
            let latin: Vec<&str> = segmented.iter().copied().filter(|w| w.is_ascii()).collect();
            for pair in latin.windows(2) {
                out.push(RawTerm {
                    text: format!("{} {}", stem_en(pair[0]), stem_en(pair[1])),
                    weight: self.tuning.latin_bigram,
                    correctable: false,
                    latin: true,
                });
            }
        }
        // Two-character words: bigrams that are words weigh more than
        // bigrams across a word boundary.
        let pairs: std::collections::HashSet<&str> = segmented
            .iter()
            .copied()
            .filter(|w| w.chars().count() == 2 && w.chars().all(is_cjk))
            .collect();
        for &w in &segmented {
            if w.chars().all(is_cjk) {
                if w.chars().count() >= 3 {
                    out.push(RawTerm {
                        text: w.to_owned(),
                        weight: 1.0,
                        correctable: false,
                        latin: false,
                    });
                }
            } else if w.chars().any(is_cjk) {
                out.push(RawTerm {
                    text: w.to_owned(),
                    weight: 1.0,
                    correctable: false,
                    latin: false,
                });
            } else if !STOPWORDS.contains(&w) {
                out.push(RawTerm {
                    text: stem_en(w).into_owned(),
                    weight: 1.0,
                    correctable: w.len() >= 4 && w.chars().all(|c| c.is_ascii_lowercase()),
                    latin: true,
                });
                if self.tuning.latin_ngram > 0.0 && w.len() >= 4 && w.is_ascii() {
                    let padded: Vec<u8> = format!("^{w}$").into_bytes();
                    for g in padded.windows(4) {
                        out.push(RawTerm {
                            text: format!("#{}", String::from_utf8_lossy(g)),
                            weight: self.tuning.latin_ngram,
                            correctable: false,
                            latin: true,
                        });
                    }
                }
            }
        }
        if self.tuning.trigram > 0.0 {
            for g in cjk_ngrams(norm, 3) {
                if g.chars().count() == 3 {
                    out.push(RawTerm {
                        text: g,
                        weight: self.tuning.trigram,
                        correctable: false,
                        latin: false,
                    });
                }
            }
        }
        if self.tuning.skip_bigram > 0.0 {
            for g in cjk_ngrams(norm, 3) {
                let mut cs = g.chars();
                if let (Some(a), Some(_), Some(c)) = (cs.next(), cs.next(), cs.next()) {
                    out.push(RawTerm {
                        text: format!("{a}_{c}"),
                        weight: self.tuning.skip_bigram,
                        correctable: false,
                        latin: false,
                    });
                }
            }
        }
        for g in cjk_ngrams(norm, 1) {
            if !g.chars().all(|c| CJK_STOP_CHARS.contains(c)) {
                out.push(RawTerm {
                    text: g,
                    weight: self.tuning.unigram,
                    correctable: false,
                    latin: false,
                });
            }
        }
        for g in cjk_ngrams(norm, 2) {
            if g.chars().count() == 2 {
                let weight = if pairs.contains(g.as_str()) {
                    1.0
                } else {
                    self.tuning.cross_bigram
                };
                out.push(RawTerm {
                    text: g,
                    weight,
                    correctable: false,
                    latin: false,
                });
            }
        }
        out
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
    fn lookup(&self, raw: Vec<RawTerm>, chinese: bool) -> Vec<(Option<u32>, f32)> {
        let mut bag: Vec<(Option<u32>, f32)> = Vec::with_capacity(raw.len());
        for r in raw {
            // Unknown Latin words inside Chinese text are mostly names and
            // titles: weak evidence against a match.
            let unknown = if r.latin && chinese {
                r.weight * self.tuning.oov_latin_in_chinese
            } else if r.latin {
                r.weight
            } else if r.text.chars().count() == 2
                && r.text.chars().all(|c| self.vocab.contains_key(c.encode_utf8(&mut [0; 4]) as &str))
            {
                r.weight * self.tuning.oov_cjk * self.tuning.oov_bigram_known
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
}
