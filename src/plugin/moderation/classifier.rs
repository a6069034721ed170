//! The spam classifier: a logistic-regression model over hashed features of
//! a message, plus a similarity check against known spam.
//!
//! - Features ([`features`]): jieba words (the shared tokenizer, so Chinese is
//!   segmented properly and English split into words), word bigrams, Chinese
//!   character 1- to 3-grams, character 3-grams of the skeleton (they survive
//!   spaced-out and decorated spellings), the Chinese words of the skeleton
//!   when separators cut them apart, each emoji, symbol and punctuation
//!   mark, the text's [`shape`] (runs of ideographs, letters, digits and
//!   symbols), how many characters the evasion folding changed, and a few
//!   signals the rules compute anyway (a link, a contact, a phone number,
//!   digit runs, masked digits, shouting, currency). Each is hashed into a
//!   fixed table of weights ([`DIM`]), so the model's size does not grow
//!   with its vocabulary.
//! - Training ([`Model::train`]): AdaGrad on the logistic loss, a few passes
//!   in a fixed pseudo-random order: deterministic, and well under a second
//!   for tens of thousands of samples. Admins' `/spam` and `/ham` update the
//!   model online ([`Model::learn`]), and are learned again the same way
//!   over the model trained at each start, so that they still stand.
//! - Similarity ([`SpamIndex`]): one-permutation MinHash signatures of the
//!   skeleton's 3-grams in an LSH table; a message at least [`SIMILAR`]
//!   alike to a known spam message is spam (a reported template comes back
//!   with another phone number), unless the model is sure it is ham.

use super::fold::Folded;
use crate::text::tokenize;

/// log2 of the number of weights.
const DIM_BITS: u32 = 20;
/// The number of weights (about a million: 4 MB, plus 4 MB of AdaGrad state).
pub(crate) const DIM: usize = 1 << DIM_BITS;

/// Facts the rules found in a message, shared with the classifier so that
/// nothing is detected twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signals {
    /// A link (allowed or not).
    pub link: bool,
    /// A contact (WeChat/QQ id, a "加v" solicitation).
    pub contact: bool,
    /// A phone number.
    pub phone: bool,
    /// Most letters of the text as written are capitals ([`shouts`]).
    pub shout: bool,
}

/// The hashed features of a message, without repeats.
pub(crate) type Features = Vec<u32>;

/// FNV-1a of `bytes` under namespace `ns`, reduced to a weight index.
fn hash(ns: u8, bytes: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(ns).wrapping_mul(0x100_0000_01b3);
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    // Fold the high bits in: FNV's low bits alone mix poorly.
    ((h ^ (h >> 29) ^ (h >> 47)) & (DIM as u64 - 1)) as u32
}

/// 64-bit hashes of the character 3-grams of a skeleton, digits folded to
/// one class: computed once per message, read by the features and by the
/// similarity check.
pub(crate) fn trigrams(skeleton: &str) -> Vec<u64> {
    let mut out = Vec::with_capacity(skeleton.len());
    let mut last = ['\0'; 3];
    let mut seen = 0;
    for c in skeleton.chars() {
        let c = if c.is_ascii_digit() { '0' } else { c };
        last = [last[1], last[2], c];
        seen += 1;
        if seen >= 3 {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for ch in last {
                h = (h ^ u64::from(u32::from(ch))).wrapping_mul(0x100_0000_01b3);
            }
            out.push(h);
        }
    }
    out
}

/// A weight index from a 64-bit hash.
fn reduce(h: u64) -> u32 {
    let h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h ^ (h >> 29) ^ (h >> 47)) & (DIM as u64 - 1)) as u32
}

/// The features of a folded message whose skeleton has the 3-grams `tri`.
pub(crate) fn features(text: &Folded, signals: Signals, tri: &[u64]) -> Features {
    let folded = text.folded.as_str();
    // At most: a word and a bigram per two bytes, two Chinese n-grams and a
    // skeleton word per ideograph (three bytes), the 3-grams, two shape
    // features per run, a mark per byte, and the signals: no regrowth.
    let mut out: Vec<u32> = Vec::with_capacity(4 * folded.len() + tri.len() + 16);
    let words = tokenize::words(folded);
    // The bigram hash of the word before (hashed once per word).
    let mut prev: Option<u32> = None;
    for w in &words {
        // Numbers are folded by length: the value says nothing, the shape does.
        if w.bytes().all(|b| b.is_ascii_digit()) {
            out.push(hash(1, &[w.len().min(12) as u8]));
            prev = None;
            continue;
        }
        out.push(hash(2, w.as_bytes()));
        let this = hash(3, w.as_bytes());
        if let Some(p) = prev {
            out.push(reduce(u64::from(p) << 32 | u64::from(this)));
        }
        prev = Some(this);
    }
    // Trigrams come from the skeleton below.
    for n in 1..=2u8 {
        tokenize::for_each_cjk_ngram(folded, usize::from(n), |g| out.push(hash(3 + n, g.as_bytes())));
    }
    let cjk = !folded.is_ascii() && folded.chars().any(tokenize::is_cjk);
    // Chinese words that spaces or punctuation cut apart (`加 . 微 . 信`),
    // whole again in the skeleton; only when more than one byte was dropped,
    // or they would (nearly) repeat the words above.
    if cjk && text.skeleton.len() + 1 < folded.len() {
        for w in tokenize::words(&text.skeleton) {
            if w.chars().any(tokenize::is_cjk) {
                out.push(hash(16, w.as_bytes()));
            }
        }
    }
    // Character 3-grams of the skeleton, digits folded to one class.
    out.extend(tri.iter().map(|t| reduce(t ^ 7)));
    // The shape, and each mark (which words and the skeleton drop).
    shape(folded, &mut out);
    // Evasion: how many characters the folding replaced or dropped.
    out.push(hash(15, &[text.folds.min(4) as u8]));
    // Signals.
    let mut flag = |name: &[u8], on: bool| {
        if on {
            out.push(hash(8, name));
        }
    };
    flag(b"link", signals.link);
    flag(b"contact", signals.contact);
    flag(b"phone", signals.phone);
    flag(b"shout", signals.shout);
    // "xxx" found from its x's (memchr), without a substring searcher.
    let masked = folded
        .match_indices('x')
        .any(|(i, _)| folded.as_bytes()[i..].starts_with(b"xxx"));
    flag(b"masked", masked);
    // The currency signs start with these bytes: most texts have none.
    let maybe_currency = folded.bytes().any(|b| matches!(b, b'$' | 0xC2 | 0xE2 | 0xEF));
    flag(
        b"currency",
        maybe_currency && folded.chars().any(|c| matches!(c, '£' | '$' | '€' | '¥' | '￥')),
    );
    let digits = folded.bytes().filter(u8::is_ascii_digit).count();
    flag(b"digits5", digits >= 5);
    flag(b"digits10", digits >= 10);
    let chars = text.skeleton.chars().count();
    out.push(hash(
        9,
        &[match chars {
            0..=4 => 0,
            5..=12 => 1,
            13..=30 => 2,
            31..=80 => 3,
            _ => 4,
        }],
    ));
    out.push(hash(10, b"bias"));
    // A bias per script: Chinese and Latin chats have their own base rates.
    out.push(hash(11, if cjk { b"cjk" } else { b"lat" }));
    dedup(&mut out);
    out
}

/// Drop repeated features in place, the first of each kept: an
/// open-addressed table on the stack, cheaper than sorting (features are
/// hashes, so their low bits spread); long texts are sorted instead.
fn dedup(out: &mut Vec<u32>) {
    const SLOTS: usize = 512;
    if out.len() > SLOTS / 2 {
        out.sort_unstable();
        out.dedup();
        return;
    }
    // No feature is u32::MAX (they are below DIM): it marks a free slot.
    let mut table = [u32::MAX; SLOTS];
    let mut kept = 0;
    for i in 0..out.len() {
        let f = out[i];
        let mut slot = f as usize & (SLOTS - 1);
        loop {
            if table[slot] == f {
                break;
            }
            if table[slot] == u32::MAX {
                table[slot] = f;
                out[kept] = f;
                kept += 1;
                break;
            }
            slot = (slot + 1) & (SLOTS - 1);
        }
    }
    out.truncate(kept);
}

/// The kind of a character in a message's [`shape`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Space,
    Ideograph,
    Latin,
    Digit,
    /// ASCII punctuation.
    Punct,
    /// Letters of other scripts (kana, runes, …).
    Letter,
    /// Emoji and other symbols.
    Symbol,
}

fn kind(c: char) -> Kind {
    if c.is_ascii() {
        return match c {
            'a'..='z' | 'A'..='Z' => Kind::Latin,
            '0'..='9' => Kind::Digit,
            c if c.is_ascii_whitespace() => Kind::Space,
            _ => Kind::Punct,
        };
    }
    if tokenize::is_cjk(c) {
        Kind::Ideograph
    } else if c.is_numeric() {
        Kind::Digit
    } else if c.is_alphabetic() {
        Kind::Letter
    } else if c.is_whitespace() {
        Kind::Space
    } else {
        Kind::Symbol
    }
}

/// The shape features of a folded text: its runs of one [`Kind`] with their
/// lengths bucketed (`L3 D3` for a room code like `kuc235`), each run and
/// each pair of neighbouring runs, and the first eight kinds in order.
/// What spam looks like ("熙 FTA675 ☎☎☎", a name and a number) carries over
/// to texts whose words were never seen. Besides, in the same pass, each
/// mark itself: every emoji, symbol (☎, ✔) and punctuation mark.
fn shape(folded: &str, out: &mut Vec<u32>) {
    // A run's token: its kind and its length bucket, in one byte.
    let token = |k: Kind, n: usize| -> u8 {
        let bucket = match n {
            1 => 0,
            2..=3 => 1,
            4..=6 => 2,
            7..=10 => 3,
            _ => 4,
        };
        (k as u8) << 3 | bucket
    };
    let mut kinds = [0u8; 8];
    let mut count = 0;
    let mut prev: Option<u8> = None;
    let mut run: Option<(Kind, usize)> = None;
    let mut emit = |k: Kind, n: usize, out: &mut Vec<u32>| {
        if k == Kind::Space {
            return;
        }
        let t = token(k, n);
        out.push(hash(12, &[t]));
        if let Some(p) = prev {
            out.push(hash(13, &[p, t]));
        }
        prev = Some(t);
        if count < kinds.len() {
            kinds[count] = k as u8;
            count += 1;
        }
    };
    for c in folded.chars() {
        let k = kind(c);
        if matches!(k, Kind::Symbol | Kind::Punct) {
            let mut buf = [0u8; 4];
            out.push(hash(17, c.encode_utf8(&mut buf).as_bytes()));
        }
        run = match run {
            Some((r, n)) if r == k => Some((r, n + 1)),
            Some((r, n)) => {
                emit(r, n, out);
                Some((k, 1))
            }
            None => Some((k, 1)),
        };
    }
    if let Some((r, n)) = run {
        emit(r, n, out);
    }
    out.push(hash(14, &kinds[..count]));
}

/// Whether the original text shouts (SMS spam does): most letters capitals.
pub(crate) fn shouts(original: &str) -> bool {
    let (mut upper, mut letters) = (0, 0);
    for c in original.chars().filter(char::is_ascii_alphabetic) {
        letters += 1;
        upper += usize::from(c.is_ascii_uppercase());
    }
    letters >= 12 && upper * 2 > letters
}

/// A trained model.
#[derive(Clone)]
pub struct Model {
    /// One weight per hashed feature.
    weights: Vec<f32>,
    /// AdaGrad's sum of squared gradients per weight, kept for online updates.
    grads: Vec<f32>,
    /// Each feature's value when present: its naive-Bayes log-count ratio
    /// (spam vs ham) in the training samples, so that the regression starts
    /// from what naive Bayes knows (NBSVM, Wang & Manning 2012); 1 for
    /// features never seen in training and for the bias.
    values: Vec<f32>,
    /// `weights * values`, the only array scoring reads (one cache miss per
    /// feature, not two).
    effective: Vec<f32>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nonzero = self.weights.iter().filter(|w| **w != 0.0).count();
        f.debug_struct("Model").field("nonzero", &nonzero).finish()
    }
}

/// AdaGrad's learning rate.
const RATE: f32 = 0.3;
/// Training passes over the samples.
const EPOCHS: usize = 8;
/// Weight of a ham sample's loss relative to spam's: a wrongly deleted
/// member costs more than a missed ad.
const HAM_WEIGHT: f32 = 3.0;

impl Model {
    /// A model that knows nothing (every message scores 0.5).
    pub fn empty() -> Self {
        Self {
            weights: vec![0.0; DIM],
            grads: vec![0.0; DIM],
            values: vec![1.0; DIM],
            effective: vec![0.0; DIM],
        }
    }

    /// Train a fresh model on labelled samples (`true`: spam).
    pub fn train(samples: &[(Features, bool)]) -> Self {
        let mut model = Self::empty();
        model.set_values(samples);
        let mut order: Vec<usize> = (0..samples.len()).collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..EPOCHS {
            // Fisher-Yates with xorshift: a fixed order per run.
            for i in (1..order.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let j = (seed % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            for &i in &order {
                let (x, y) = &samples[i];
                model.step(x, *y, 1.0);
            }
        }
        model
    }

    /// Set each feature's value to its smoothed naive-Bayes log-count ratio
    /// in `samples` (documents containing it, spam vs ham).
    fn set_values(&mut self, samples: &[(Features, bool)]) {
        let (mut spam_n, mut ham_n) = (0f32, 0f32);
        let mut spam_c = vec![0f32; DIM];
        let mut ham_c = vec![0f32; DIM];
        for (x, spam) in samples {
            let counts = if *spam {
                spam_n += 1.0;
                &mut spam_c
            } else {
                ham_n += 1.0;
                &mut ham_c
            };
            for i in x {
                counts[*i as usize] += 1.0;
            }
        }
        // Tuned on held-out halves of labelled chat: 2 beats 0.5 and 1.
        const ALPHA: f32 = 2.0;
        for i in 0..DIM {
            if spam_c[i] + ham_c[i] > 0.0 {
                self.values[i] = ((spam_c[i] + ALPHA) / (spam_n + 2.0 * ALPHA)).ln()
                    - ((ham_c[i] + ALPHA) / (ham_n + 2.0 * ALPHA)).ln();
            }
        }
        // The biases stay plain switches.
        self.values[hash(10, b"bias") as usize] = 1.0;
        self.values[hash(11, b"cjk") as usize] = 1.0;
        self.values[hash(11, b"lat") as usize] = 1.0;
    }

    /// The probability that a message with features `x` is spam.
    pub fn score(&self, x: &[u32]) -> f32 {
        sigmoid(self.margin(x))
    }

    fn margin(&self, x: &[u32]) -> f32 {
        let scale = 1.0 / (x.len().max(1) as f32).sqrt();
        x.iter().map(|i| self.effective[*i as usize]).sum::<f32>() * scale
    }

    /// One AdaGrad step on one sample.
    fn step(&mut self, x: &[u32], spam: bool, boost: f32) {
        let p = sigmoid(self.margin(x));
        let y = if spam { 1.0 } else { 0.0 };
        let weight = if spam { 1.0 } else { HAM_WEIGHT };
        let scale = 1.0 / (x.len().max(1) as f32).sqrt();
        let g = (p - y) * weight * boost * scale;
        for &i in x {
            let i = i as usize;
            let gi = g * self.values[i];
            self.grads[i] += gi * gi;
            self.weights[i] -= RATE * gi / (self.grads[i].sqrt() + 1e-6);
            self.effective[i] = self.weights[i] * self.values[i];
        }
    }

    /// Learn one reported sample online: step until the model agrees with
    /// the report by a margin (above 0.9, or below `SURE_HAM`, so that an
    /// admin's ham passes the similarity check too). A model trained on
    /// many samples moves in smaller steps, hence up to 100.
    pub fn learn(&mut self, x: &[u32], spam: bool) {
        for _ in 0..100 {
            let p = self.score(x);
            if (spam && p > 0.9) || (!spam && p < super::config::SURE_HAM) {
                break;
            }
            self.step(x, spam, 4.0);
        }
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Estimated Jaccard similarity at or above which a message counts as a
/// copy of known spam.
pub(crate) const SIMILAR: f32 = 0.8;
/// MinHash bins per signature (a power of two: a hash's top bits pick one).
const HASHES: usize = 16;
const _: () = assert!(HASHES.is_power_of_two());
/// LSH bands (of `HASHES / BANDS` rows each).
const BANDS: usize = 4;
/// Skeletons shorter than this (in characters) are not compared: short
/// texts are alike by chance.
const MIN_CHARS: usize = 12;

/// A MinHash signature.
type Signature = [u32; HASHES];

/// Known spam, found by similarity in about constant time.
#[derive(Debug, Default, Clone)]
pub(crate) struct SpamIndex {
    /// Every known spam signature.
    signatures: Vec<Signature>,
    /// (band, band hash) → signatures sharing it; foldhash, since every
    /// message the model lets through looks up each band.
    buckets: foldhash::HashMap<(u8, u64), Vec<u32>>,
}

impl SpamIndex {
    /// Add a spam message, by its skeleton's [`trigrams`].
    pub(crate) fn add(&mut self, tri: &[u64]) {
        let Some(sig) = signature(tri) else { return };
        if self.signatures.contains(&sig) {
            return;
        }
        let id = self.signatures.len() as u32;
        for (band, key) in bands(&sig) {
            self.buckets.entry((band, key)).or_default().push(id);
        }
        self.signatures.push(sig);
    }

    /// Whether `text` is at least [`SIMILAR`] alike to a known spam message.
    pub(crate) fn matches(&self, tri: &[u64]) -> bool {
        if self.signatures.is_empty() {
            return false;
        }
        let Some(sig) = signature(tri) else { return false };
        bands(&sig).any(|(band, key)| {
            self.buckets.get(&(band, key)).is_some_and(|ids| {
                ids.iter().any(|id| {
                    let other = &self.signatures[*id as usize];
                    let same = sig.iter().zip(other).filter(|(a, b)| a == b).count();
                    same as f32 / HASHES as f32 >= SIMILAR
                })
            })
        })
    }
}

fn signature(tri: &[u64]) -> Option<Signature> {
    if tri.len() + 2 < MIN_CHARS {
        return None;
    }
    // One-permutation MinHash: each 3-gram is hashed once, its top bits
    // pick a bin and the bin keeps the least of the rest. Sixteen bins
    // cost one hash per 3-gram instead of sixteen.
    let mut bins = [EMPTY; HASHES];
    for &t in tri {
        let h = mix(t);
        let bin = (h >> (64 - HASHES.trailing_zeros())) as usize;
        bins[bin] = bins[bin].min(h as u32);
    }
    // Optimal densification (Shrivastava 2017): an empty bin borrows the
    // value of a bin picked by its own sequence of hashes, so two texts
    // borrow alike and the share of equal bins still estimates Jaccard.
    // At least one bin is full (`tri` is not empty). The picks find one
    // within a few tries; after 64 misses (under 2% of searches even with
    // a single full bin) the next full bin to the right is taken, so the
    // search is bounded.
    let mut sig = bins;
    for (j, slot) in sig.iter_mut().enumerate() {
        if *slot != EMPTY {
            continue;
        }
        let picked = (0..64u64)
            .map(|attempt| mix((j as u64) << 32 | attempt) as usize % HASHES)
            .chain((1..HASHES).map(|step| (j + step) % HASHES))
            .find(|&k| bins[k] != EMPTY);
        if let Some(k) = picked {
            *slot = bins[k];
        }
    }
    Some(sig)
}

/// A bin that no 3-gram fell into (a 3-gram's value of `u32::MAX` is taken
/// as one that did not: a one-in-four-billion blur).
const EMPTY: u32 = u32::MAX;

/// The splitmix64 finaliser: every input bit moves every output bit.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn bands(sig: &Signature) -> impl Iterator<Item = (u8, u64)> + '_ {
    let rows = HASHES / BANDS;
    (0..BANDS).map(move |b| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for v in &sig[b * rows..(b + 1) * rows] {
            h = (h ^ u64::from(*v)).wrapping_mul(0x100_0000_01b3);
        }
        (b as u8, h)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(text: &str) -> Features {
        let f = Folded::new(text);
        features(&f, Signals::default(), &trigrams(&f.skeleton))
    }

    fn tri(text: &str) -> Vec<u64> {
        trigrams(&Folded::new(text).skeleton)
    }

    #[test]
    fn features_are_unique_and_in_range() {
        let f = x("加微信领福利 free money free money 13812345678");
        let mut sorted = f.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), f.len(), "no repeats");
        assert!(f.iter().all(|i| (*i as usize) < DIM));
        // Evasions land on the same skeleton n-grams.
        let a = x("加微信");
        let b = x("加 . 微 . 信");
        assert!(a.iter().filter(|i| b.contains(i)).count() >= 3, "{a:?} {b:?}");
    }

    #[test]
    fn words_cut_apart_are_whole_in_the_skeleton() {
        let joined = hash(16, "加微信".as_bytes());
        assert!(x("加 . 微 . 信").contains(&joined));
        assert!(x("加 微 信").contains(&joined));
        // Nothing (or one space) dropped: the skeleton's words would
        // (nearly) repeat the words.
        assert!(!x("加微信").contains(&joined));
        assert!(!x("加 微信").contains(&joined));
        // Latin text keeps its words apart.
        assert!(!x("free . money").contains(&hash(16, b"freemoney")));
    }

    #[test]
    fn each_mark_is_a_feature() {
        let mark = |m: &str| hash(17, m.as_bytes());
        let f = x("福利☎️ 8折!");
        for m in ["☎", "!"] {
            assert!(f.contains(&mark(m)), "{m}");
        }
        assert!(!f.contains(&mark("💰")));
        assert!(x("福利💰 8折").contains(&mark("💰")));
    }

    #[test]
    fn dedup_keeps_one_of_each_by_table_and_by_sorting() {
        // Short lists go through the table (colliding slots included: 7,
        // 519 and 1031 share slot 7), long ones are sorted.
        for n in [10u32, 80, 1000] {
            let mut v: Vec<u32> = (0..n).flat_map(|i| [i * 512 + 7, i % 13, i * 512 + 7]).collect();
            let mut want = v.clone();
            want.sort_unstable();
            want.dedup();
            dedup(&mut v);
            let mut got = v.clone();
            got.sort_unstable();
            assert_eq!(got.len(), v.len(), "no repeats left ({n})");
            assert_eq!(got, want, "nothing lost ({n})");
        }
    }

    #[test]
    fn a_trained_model_separates_and_learns_online() {
        let spam = [
            "加微信领福利",
            "兼职日结加vx",
            "free bitcoin click now",
            "win cash prize now",
        ];
        let ham = [
            "今天吃什么",
            "明天开会吗",
            "see you at lunch",
            "thanks for the help",
        ];
        let mut samples = Vec::new();
        for s in spam {
            samples.push((x(s), true));
        }
        for h in ham {
            samples.push((x(h), false));
        }
        let mut model = Model::train(&samples);
        assert!(model.score(&x("加微信领取福利")) > 0.5);
        assert!(model.score(&x("今天开会吗")) < 0.5);
        let novel = x("cheap watches replica");
        assert!(model.score(&novel) < 0.9);
        model.learn(&novel, true);
        assert!(model.score(&novel) > 0.9);
        model.learn(&novel, false);
        assert!(model.score(&novel) < 0.1);
    }

    #[test]
    fn similarity_finds_templates_with_another_number() {
        let mut index = SpamIndex::default();
        index.add(&tri(
            "高薪兼职日结工资，有意者联系扣扣 12345678 详聊，名额有限先到先得",
        ));
        assert!(index.matches(&tri(
            "高薪兼职日结工资!有意者联系扣扣 98765432 详聊，名额有限先到先得"
        )));
        assert!(!index.matches(&tri("今天的会议改到下午三点，请大家准时参加")));
        assert!(!index.matches(&tri("短句")), "too short to compare");
    }

    #[test]
    fn signatures_estimate_jaccard_similarity() {
        // Pseudo-random texts over 40 ideographs, each against a copy with
        // some characters replaced: the share of equal bins must track the
        // true Jaccard similarity of the 3-gram sets, short texts included.
        let mut seed: u64 = 7;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut error, mut pairs) = (0.0f32, 0);
        for len in [12usize, 20, 40, 80] {
            for changed in 0..len / 3 {
                let a: Vec<char> = (0..len)
                    .map(|_| char::from_u32(0x4E00 + (next() % 40) as u32).unwrap())
                    .collect();
                let mut b = a.clone();
                for _ in 0..changed {
                    b[next() as usize % len] = char::from_u32(0x4F00 + (next() % 40) as u32).unwrap();
                }
                let (ta, tb) = (
                    tri(&a.iter().collect::<String>()),
                    tri(&b.iter().collect::<String>()),
                );
                let set = |t: &[u64]| t.iter().copied().collect::<std::collections::HashSet<u64>>();
                let (sa, sb) = (set(&ta), set(&tb));
                let jaccard = sa.intersection(&sb).count() as f32 / sa.union(&sb).count() as f32;
                let (ga, gb) = (signature(&ta).unwrap(), signature(&tb).unwrap());
                let same = ga.iter().zip(&gb).filter(|(x, y)| x == y).count() as f32 / HASHES as f32;
                error += (same - jaccard).abs();
                pairs += 1;
            }
        }
        let mean = error / pairs as f32;
        assert!(mean < 0.12, "mean error {mean} over {pairs} pairs");
    }

    #[test]
    fn currency_signs_are_flagged() {
        let currency = hash(8, b"currency");
        for text in ["£5 now", "$5 now", "€5 now", "¥5 now", "￥5 now", "只要¥5"] {
            assert!(x(text).contains(&currency), "{text}");
        }
        for text in ["5 yuan now", "五块钱", "…… ok"] {
            assert!(!x(text).contains(&currency), "{text}");
        }
        let masked = hash(8, b"masked");
        assert!(x("call 138xxxx5678").contains(&masked));
        assert!(!x("xx x box").contains(&masked));
    }
}
