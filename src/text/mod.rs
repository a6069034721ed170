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
    // Most chat text is already in NFKC (plain ASCII, ideographs): the quick
    // check skips the decomposition work for it.
    if unicode_normalization::is_nfkc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes {
        return fold_case_and_space(text.chars());
    }
    fold_case_and_space(text.nfkc())
}

/// Drop invisibles, lowercase, collapse whitespace runs, trim.
fn fold_case_and_space(chars: impl Iterator<Item = char>) -> String {
    let mut out = String::with_capacity(chars.size_hint().0);
    let mut space = false;
    for c in chars.filter(|c| !is_invisible(*c)) {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
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
    }
}
