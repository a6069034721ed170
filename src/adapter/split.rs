//! Cutting long texts into the chunks a platform accepts in one message.

/// `text` in chunks of at most `max` characters, cut after the last line
/// break in a chunk's second half when there is one.
pub fn split(text: &str, max: usize) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max {
        let hard = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let half = rest.char_indices().nth(max / 2).map_or(0, |(i, _)| i);
        let cut = rest[half..hard].rfind('\n').map_or(hard, |i| half + i + 1);
        chunks.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    chunks.push(rest);
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_cut_at_a_late_line_break_or_hard() {
        assert_eq!(split("abc", 5), ["abc"]);
        assert_eq!(split("abcdefg", 3), ["abc", "def", "g"]);
        // A line break in the first half is too early to cut at.
        assert_eq!(split("ab\ncdefgh", 6), ["ab\ncde", "fgh"]);
        assert_eq!(split("abcd\nefgh", 6), ["abcd\n", "efgh"]);
        assert_eq!(split("领券领券领券", 4), ["领券领券", "领券"]);
    }
}
