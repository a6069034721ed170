//! When the FAQ speaks at all: messages that read as questions, and the
//! `/faq` command.

/// Chinese words that make a message a question even without a question
/// mark ("券怎么用", "退款多久到账").
const ZH_QUESTION_WORDS: &[&str] = &[
    "吗",
    "呢",
    "怎么",
    "怎样",
    "如何",
    "为什么",
    "为何",
    "什么",
    "哪",
    "几",
    "多少",
    "多久",
    "多长",
    "是否",
    "能否",
    "可否",
    "有没有",
    "能不能",
    "可不可以",
    "会不会",
    "是不是",
    "行不行",
    "请问",
    "求问",
    "咋",
    "啥",
];

/// English words that open a question ("how do I…", "can I…").
const EN_QUESTION_OPENERS: &[&str] = &[
    "what", "whats", "what's", "how", "why", "when", "where", "who", "which", "whom", "whose", "can",
    "could", "do", "does", "did", "is", "are", "am", "was", "were", "will", "would", "should", "shall",
    "may", "might", "have", "has", "any", "anyone", "anybody", "pls", "please", "help",
];

/// Whether `text` reads as a question: a question mark anywhere, a Chinese
/// question word or particle, or an English sentence that opens with a
/// question word.
pub(crate) fn is_question(text: &str) -> bool {
    let norm = crate::text::normalize(text);
    if norm.contains('?') {
        return true;
    }
    if ZH_QUESTION_WORDS.iter().any(|w| norm.contains(w)) {
        return true;
    }
    norm.split(['.', '!', ',', ';', '\n', '。', '!', ','])
        .filter_map(|sentence| {
            sentence
                .split(|c: char| !(c.is_alphanumeric() || c == '\''))
                .find(|w| !w.is_empty())
        })
        .any(|first| EN_QUESTION_OPENERS.contains(&first))
}

/// Whether `text` is the `/faq` command (also `/faq@botname`, as Telegram
/// writes commands in groups).
pub(crate) fn is_faq_command(text: &str) -> bool {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("/faq") else {
        return false;
    };
    rest.is_empty() || rest.starts_with('@') || rest.starts_with(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_in_chinese_and_english() {
        for q in [
            "券怎么用",
            "退款多久到账",
            "能开发票吗",
            "客服电话是多少",
            "how do I reset my password",
            "Can I pay by card",
            "refund status?",
            "hi. where is my card",
            "优惠券在哪领？",
        ] {
            assert!(is_question(q), "{q}");
        }
    }

    #[test]
    fn statements_are_not_questions() {
        for s in [
            "谢谢客服",
            "我已经领到券了",
            "thanks, got it",
            "refund received",
            "好的",
        ] {
            assert!(!is_question(s), "{s}");
        }
    }

    #[test]
    fn the_command_and_its_bot_suffix() {
        assert!(is_faq_command("/faq"));
        assert!(is_faq_command(" /faq@qunbot "));
        assert!(!is_faq_command("/faqs"));
        assert!(!is_faq_command("faq"));
    }
}
