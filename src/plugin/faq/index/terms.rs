//! The weighted terms of a normalised, folded text: English stems (with
//! word pairs and character 4-grams), Chinese character unigrams and
//! bigrams and jieba words, each weighted by how much it says about the
//! topic (see [`Tuning`]).

use std::collections::HashSet;

use super::Tuning;
use crate::text::tokenize::{cjk_ngrams, is_cjk, stem_en, words};

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
    "怎么",
    "怎样",
    "怎么样",
    "怎么办",
    "什么",
    "为什么",
    "如何",
    "可以",
    "可不可以",
    "能不能",
    "能否",
    "是不是",
    "有没有",
    "请问",
    "一下",
    "一个",
    "这个",
    "那个",
    "我们",
    "你们",
    "他们",
    "自己",
    "还是",
    "就是",
    "但是",
    "因为",
    "所以",
    "如果",
    "已经",
    "然后",
    "还有",
    "没有",
    "不能",
    "需要",
    "应该",
    "现在",
    "知道",
    "大家",
    "有人",
    "的话",
    "一直",
    "为啥",
    "干嘛",
    "为何",
    "回事",
    "情况",
    "一点",
];

/// A term of a text before it is looked up: its string, its weight, and
/// whether a typo correction may replace it.
pub(super) struct RawTerm {
    /// The term as indexed (a stem, a Chinese n-gram or word…).
    pub(super) text: String,
    /// Its weight in the text.
    pub(super) weight: f32,
    /// Whether an unknown term may be corrected as a typo.
    pub(super) correctable: bool,
    /// From Latin letters or digits (names and titles inside Chinese text).
    pub(super) latin: bool,
}

/// The terms of a normalised, folded text, with Chinese function words
/// and Latin terms inside Chinese text weighed down ([`Tuning::stop_cjk`],
/// [`Tuning::latin_in_chinese`]); terms that weigh nothing are left out.
pub(super) fn terms(tuning: &Tuning, norm: &str) -> Vec<RawTerm> {
    let mut out = raw_terms(tuning, norm);
    if tuning.stop_cjk != 1.0 {
        for t in out.iter_mut().filter(|t| !t.latin) {
            // The words and the bigrams inside them.
            if t.text.chars().count() >= 2 && CJK_STOP_WORDS.iter().any(|w| w.contains(t.text.as_str())) {
                t.weight *= tuning.stop_cjk;
            }
        }
    }
    if tuning.latin_in_chinese != 1.0 && norm.chars().any(is_cjk) {
        for t in out.iter_mut().filter(|t| t.latin) {
            t.weight *= tuning.latin_in_chinese;
        }
    }
    out.retain(|t| t.weight > 0.0);
    out
}

fn raw_terms(tuning: &Tuning, norm: &str) -> Vec<RawTerm> {
    let mut out = Vec::new();
    let segmented = words(norm);
    if tuning.latin_bigram > 0.0 {
        let latin: Vec<&str> = segmented.iter().copied().filter(|w| w.is_ascii()).collect();
        for pair in latin.windows(2) {
            out.push(RawTerm {
                text: format!("{} {}", stem_en(pair[0]), stem_en(pair[1])),
                weight: tuning.latin_bigram,
                correctable: false,
                latin: true,
            });
        }
    }
    // Two-character words: bigrams that are words weigh more than
    // bigrams across a word boundary.
    let pairs: HashSet<&str> = segmented
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
            if tuning.latin_ngram > 0.0 && w.len() >= 4 && w.is_ascii() {
                let padded: Vec<u8> = format!("^{w}$").into_bytes();
                for g in padded.windows(4) {
                    out.push(RawTerm {
                        text: format!("#{}", String::from_utf8_lossy(g)),
                        weight: tuning.latin_ngram,
                        correctable: false,
                        latin: true,
                    });
                }
            }
        }
    }
    if tuning.trigram > 0.0 {
        for g in cjk_ngrams(norm, 3) {
            if g.chars().count() == 3 {
                out.push(RawTerm {
                    text: g,
                    weight: tuning.trigram,
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
                weight: tuning.unigram,
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
                tuning.cross_bigram
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

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(terms: &[RawTerm], text: &str) -> Option<f32> {
        terms.iter().find(|t| t.text == text).map(|t| t.weight)
    }

    #[test]
    fn chinese_function_words_weigh_less_than_topic_words() {
        let tuning = Tuning::default();
        let terms = terms(&tuning, "怎么申请退款");
        let how = weight(&terms, "怎么").expect("怎么 is a term");
        let refund = weight(&terms, "退款").expect("退款 is a term");
        assert!((how - tuning.stop_cjk).abs() < 1e-6, "{how}");
        assert!((refund - 1.0).abs() < 1e-6, "{refund}");
    }

    #[test]
    fn latin_words_drop_out_of_chinese_text_only() {
        let tuning = Tuning::default();
        let mixed = terms(&tuning, "播放lee aaron的专辑");
        assert!(mixed.iter().all(|t| !t.latin), "names in Chinese text");
        assert!(weight(&mixed, "专辑").is_some());
        let english = terms(&tuning, "play lee aaron");
        assert!(weight(&english, "aaron").is_some(), "English keeps its words");
    }
}
