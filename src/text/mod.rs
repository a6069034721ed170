//! Text normalisation for matching: what a member sees as the same text
//! compares equal (full-width and half-width letters, case, invisible
//! characters, runs of spaces). The original text is kept for logs and
//! replies; only matching uses the normal form.

pub mod tokenize;

use unicode_normalization::UnicodeNormalization;

/// Characters that render as nothing and are used to split words past
/// filters: zero-width spaces and joiners, word joiner, BOM, soft hyphen,
/// and the like.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
    )
}

/// The normal form used for matching: NFKC (full-width → half-width,
/// compatibility forms folded), invisible characters removed, lowercase,
/// whitespace runs collapsed to one space, trimmed.
pub fn normalize(text: &str) -> String {
    if text.is_ascii() {
        // ASCII is its own NFKC and has no invisibles: case and spaces only.
        let mut out = String::with_capacity(text.len());
        let mut space = false;
        for b in text.bytes() {
            if b.is_ascii_whitespace() || b == 0x0B {
                space = !out.is_empty();
                continue;
            }
            if space {
                out.push(' ');
                space = false;
            }
            out.push(char::from(b.to_ascii_lowercase()));
        }
        return out;
    }
    // Most chat text is already in NFKC (plain ASCII, ideographs): ASCII and
    // unified ideographs are NFKC by themselves, and for other text the
    // quick check skips the decomposition work when it can.
    let normal = text.chars().all(|c| c.is_ascii() || is_plain_ideograph(c))
        || unicode_normalization::is_nfkc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes;
    if normal {
        return fold_case_and_space(text.chars(), text.len());
    }
    fold_case_and_space(text.nfkc(), text.len())
}

/// CJK unified ideographs (the basic block and extension A): NFKC leaves
/// them alone (no decomposition, combining class 0), and they are neither
/// invisible, nor spaces, nor cased. Only a fast path: the tables give the
/// same answers (tested).
fn is_plain_ideograph(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// Drop invisibles, lowercase, collapse whitespace runs, trim; `len` is
/// the text's length in bytes, about what the result needs.
fn fold_case_and_space(chars: impl Iterator<Item = char>, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut space = false;
    for c in chars {
        if c.is_ascii() {
            if c.is_ascii_whitespace() || c == '\u{0B}' {
                space = !out.is_empty();
                continue;
            }
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c.to_ascii_lowercase());
            continue;
        }
        if is_plain_ideograph(c) {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        let mut lower = c.to_lowercase();
        if lower.len() == 1 {
            out.push(lower.next().unwrap_or(c));
        } else {
            out.extend(lower);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_case_and_invisibles() {
        assert_eq!(normalize("ＨＥＬＬＯ　Ｗｏｒｌｄ"), "hello world");
        assert_eq!(normalize("领\u{200B}券"), "领券");
        assert_eq!(normalize("  a \t\n b  "), "a b");
        assert_eq!(normalize("ＶＸ：１２３"), "vx:123");
        assert_eq!(normalize("İstanbul ΣΑΣ 加微信"), "i\u{307}stanbul σασ 加微信");
    }

    /// The definition, without fast paths.
    fn reference(text: &str) -> String {
        let mut out = String::new();
        let mut space = false;
        for c in text.nfkc().filter(|c| !is_invisible(*c)) {
            if c.is_whitespace() {
                space = !out.is_empty();
                continue;
            }
            if space {
                out.push(' ');
                space = false;
            }
            out.extend(c.to_lowercase());
        }
        out
    }

    #[test]
    fn fast_paths_keep_the_definition() {
        for text in [
            "",
            "  Hello  World ",
            "大家好 今天 活动几点开始",
            "加V领福利，每天都有红包",
            "加\u{200B}微\u{FEFF}信 ＶＸ：ａｂｃ１２３",
            "İSTANBUL ΣΑΣ Straße ﬁne",
            "㐀㐁 一\u{3000}二\t三\u{0B}四",
            "豈 更 ① ㊙ ｶﾀｶﾅ 한국어",
            "e\u{301} café\u{0301}",
        ] {
            assert_eq!(normalize(text), reference(text), "{text:?}");
        }
    }

    #[test]
    fn plain_ideographs_are_what_the_tables_say() {
        for c in ('\u{3400}'..='\u{4DBF}').chain('\u{4E00}'..='\u{9FFF}') {
            assert!(is_plain_ideograph(c));
            assert_eq!(
                unicode_normalization::is_nfkc_quick(std::iter::once(c)),
                unicode_normalization::IsNormalized::Yes,
                "{c}"
            );
            assert!(!is_invisible(c) && !c.is_whitespace(), "{c}");
            assert!(c.to_lowercase().eq(std::iter::once(c)), "{c}");
        }
    }

    #[test]
    fn ascii_whitespace_is_what_unicode_says() {
        for b in 0..128u8 {
            let c = char::from(b);
            assert_eq!(c.is_ascii_whitespace() || b == 0x0B, c.is_whitespace(), "{b}");
            assert!(!is_invisible(c));
        }
    }
}
