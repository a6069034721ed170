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

/// CJK unified ideographs (the basic block and extension A), every one a
/// letter: a fast path past the Unicode tables.
fn is_unified(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// The words of `normalized` (already [`super::normalize`]d): jieba
/// segments Chinese, English and digits split on anything that is not a
/// letter or digit. Punctuation and spaces are dropped.
pub fn words(normalized: &str) -> Vec<&str> {
    // A word and what ends it take two bytes at least: no regrowth.
    let mut out = Vec::with_capacity(normalized.len() / 2 + 1);
    if normalized.is_ascii() {
        // No Chinese to segment: what jieba would do, without its trie.
        out.extend(
            normalized
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|t| !t.is_empty()),
        );
        return out;
    }
    for token in jieba().cut(normalized, true) {
        let token = token.word.trim();
        if token.chars().all(is_unified) {
            // Ideographs are letters: the token is one word, as the split
            // below would find.
            if !token.is_empty() {
                out.push(token);
            }
        } else if token.chars().any(|c| c.is_alphanumeric()) {
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

/// Call `f` with every character `n`-gram of each Chinese run of
/// `normalized` (a run shorter than `n` yields itself), as slices of the
/// text: the allocation-free form of [`cjk_ngrams`] for hot paths.
pub fn for_each_cjk_ngram(normalized: &str, n: usize, mut f: impl FnMut(&str)) {
    let n = n.max(1);
    // The current run: its first byte and how many characters it has.
    let mut run: Option<(usize, usize)> = None;
    for (at, c) in normalized.char_indices() {
        if is_cjk(c) {
            match &mut run {
                Some((_, chars)) => {
                    // The `n` characters before this one: an n-gram that
                    // does not end the run.
                    if *chars >= n {
                        f(&normalized[back(normalized, at, n)..at]);
                    }
                    *chars += 1;
                }
                None => run = Some((at, 1)),
            }
        } else if let Some((start, chars)) = run.take() {
            end_run(normalized, n, start, chars, at, &mut f);
        }
    }
    if let Some((start, chars)) = run {
        end_run(normalized, n, start, chars, normalized.len(), &mut f);
    }
}

/// The last n-gram of a run of `chars` characters from `start` to `end`
/// (the whole run if it is not longer than `n`).
fn end_run(text: &str, n: usize, start: usize, chars: usize, end: usize, f: &mut impl FnMut(&str)) {
    if chars <= n {
        f(&text[start..end]);
    } else {
        f(&text[back(text, end, n)..end]);
    }
}

/// The byte offset `n` characters before `end` in `text`.
fn back(text: &str, end: usize, n: usize) -> usize {
    text[..end]
        .char_indices()
        .rev()
        .take(n)
        .last()
        .map_or(end, |(at, _)| at)
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
    fn ascii_words_are_what_jieba_would_give() {
        for text in ["use code vip-2024! ok", "abc123 x_y  z", "", "   "] {
            let mut slow = Vec::new();
            for token in jieba().cut(text, true) {
                let token = token.word.trim();
                slow.extend(
                    token
                        .split(|c: char| !c.is_alphanumeric())
                        .filter(|t| !t.is_empty()),
                );
            }
            assert_eq!(words(text), slow, "{text}");
        }
    }

    #[test]
    fn ngrams_cover_chinese_runs_only() {
        assert_eq!(cjk_ngrams("加v领福利", 2), ["加", "领福", "福利"]);
        assert_eq!(cjk_ngrams("hello 世界", 2), ["世界"]);
        assert!(cjk_ngrams("hello", 2).is_empty());
    }

    #[test]
    fn unified_ideographs_are_letters() {
        for c in ('\u{3400}'..='\u{4DBF}').chain('\u{4E00}'..='\u{9FFF}') {
            assert!(is_unified(c) && is_cjk(c) && c.is_alphanumeric(), "{c}");
        }
    }

    #[test]
    fn chinese_words_are_what_the_split_gives() {
        for text in [
            "怎么领取优惠券? use code vip-2024!",
            "加v领福利 abc123，好的。",
            "𠀀𠀁 豈 一",
        ] {
            let mut slow = Vec::new();
            for token in jieba().cut(text, true) {
                let token = token.word.trim();
                if token.chars().any(|c| c.is_alphanumeric()) {
                    slow.extend(
                        token
                            .split(|c: char| !c.is_alphanumeric())
                            .filter(|t| !t.is_empty()),
                    );
                }
            }
            assert_eq!(words(text), slow, "{text}");
        }
    }

    #[test]
    fn ngram_slices_equal_owned_ngrams() {
        for text in [
            "加v领福利",
            "hello 世界 ok 一",
            "",
            "长长的一段中文, 然后 English",
            "一二三四五六七八九十a一二x一",
            "𠀀𠀁𠀂豈更 a 加",
        ] {
            for n in 1..6 {
                let mut got = Vec::new();
                for_each_cjk_ngram(text, n, |g| got.push(g.to_owned()));
                assert_eq!(got, cjk_ngrams(text, n), "{text} {n}");
            }
        }
    }
}
