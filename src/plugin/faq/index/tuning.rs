//! The scoring knobs of the index and the values that ship.

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
    /// Exponent of the share of an entry's questions that have a term, in
    /// entry coverage: terms most variants share are the entry's core, a
    /// name in one variant is incidental. 0 turns it off.
    pub(crate) core: f32,
    /// Weight of a Chinese character trigram; 0 turns them off.
    pub(crate) trigram: f32,
    /// Weight of a term reached through a typo correction.
    pub(crate) typo: f32,
    /// How much the best entry's lead over the runner-up adds to its
    /// score (and a trailing entry's gap takes off); 0 turns it off (the
    /// sweeps found no gain that held on the check halves).
    pub(crate) margin: f32,
    /// Weight of a Chinese term the index has never seen, relative to a
    /// known one: a paraphrase brings new words, so they count against a
    /// match, but less than missing known words.
    pub(crate) oov_cjk: f32,
    /// Weight of Latin terms in text with Chinese characters, in
    /// questions and messages alike: there they are mostly names and
    /// titles, which match by chance (common English words members mix in
    /// are folded to Chinese first, see `LOANWORDS`; product names belong
    /// in an entry's `keywords`).
    pub(crate) latin_in_chinese: f32,
    /// Weight of a Chinese function word (`CJK_STOP_WORDS` (see `terms`)) and of the
    /// bigrams inside it.
    pub(crate) stop_cjk: f32,
    /// Exponent of the lift of an entry whose own questions, held out,
    /// score less than the knowledge base's mean, when all of them still
    /// find it (see `lift`); 0 turns it off.
    pub(crate) lift: f32,
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
            trigram: 0.0,
            core: 1.0,
            margin: 0.0,
            oov_cjk: 0.5,
            latin_in_chinese: 0.0,
            stop_cjk: 0.3,
            lift: 1.0,
        }
    }
}
