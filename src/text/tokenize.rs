//! Tokens for statistics (the spam classifier, FAQ retrieval): words of the
//! normal form, with Chinese segmented by jieba, plus character n-grams of
//! Chinese runs, which survive segmentation errors and new words, and English
//! stems.

use std::sync::OnceLock;

use jieba_rs::Jieba;

/// The shared jieba segmenter: its dictionary loads once per process (tens
/// of milliseconds), on first use.
pub fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Whether `c` is a CJK ideograph (the Chinese runs jieba segments).
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{20000}'..='\u{2A6DF}'
        | '\u{F900}'..='\u{FAFF}')
}

/// The words of `normalized` (already [`super::normalize`]d): jieba
/// segments Chinese, English and digits split on anything that is not a
/// letter or digit. Punctuation and spaces are dropped.
pub fn words(normalized: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for token in jieba().cut(normalized, true) {
        let token = token.word.trim();
        if token.chars().any(|c| c.is_alphanumeric()) {
            // jieba keeps runs like "abc123" whole; split off punctuation
            // it left attached.
            out.extend(
                token
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|t| !t.is_empty()),
            );
        }
    }
    out
}

/// The English stem of `word` (lowercase, already normalised): Snowball's
/// English stemmer, so "refunds", "refunded" and "refunding" are one term.
/// Words with anything but ASCII letters come back unchanged.
pub fn stem_en(word: &str) -> std::borrow::Cow<'_, str> {
    static STEMMER: OnceLock<rust_stemmers::Stemmer> = OnceLock::new();
    if !word.chars().all(|c| c.is_ascii_lowercase()) {
        return std::borrow::Cow::Borrowed(word);
    }
    STEMMER
        .get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English))
        .stem(word)
}

/// Character `n`-grams of each Chinese run of `normalized` (a run shorter
/// than `n` yields itself).
pub fn cjk_ngrams(normalized: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = normalized.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !is_cjk(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_cjk(chars[i]) {
            i += 1;
        }
        let run = &chars[start..i];
        if run.len() <= n {
            out.push(run.iter().collect());
        } else {
            out.extend(run.windows(n).map(|w| w.iter().collect::<String>()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_segment_chinese_and_split_english() {
        let w = words("怎么领取优惠券? use code vip-2024!");
        assert!(w.contains(&"优惠券"), "{w:?}");
        assert!(
            w.contains(&"vip") && w.contains(&"2024") && w.contains(&"code"),
            "{w:?}"
        );
        assert!(!w.iter().any(|t| t.contains('?') || t.contains('!')), "{w:?}");
    }

    #[test]
    fn english_stems_fold_inflections_only_for_ascii_words() {
        assert_eq!(stem_en("refunds"), "refund");
        assert_eq!(stem_en("refunded"), stem_en("refunding"));
        assert_eq!(stem_en("优惠券"), "优惠券");
        assert_eq!(stem_en("v2"), "v2");
    }

    #[test]
    fn ngrams_cover_chinese_runs_only() {
        assert_eq!(cjk_ngrams("加v领福利", 2), ["加", "领福", "福利"]);
        assert_eq!(cjk_ngrams("hello 世界", 2), ["世界"]);
        assert!(cjk_ngrams("hello", 2).is_empty());
    }
}
