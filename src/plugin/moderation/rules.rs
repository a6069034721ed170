//! The detectors of the moderation rules. Stateless ones (words, patterns,
//! links, contacts, mentions) read a [`Folded`] message; the stateful ones
//! (flood, duplicates) keep short time windows in memory.
//!
//! Everything that can be compiled is compiled when the bot is built: one
//! Aho-Corasick automaton for every banned word, one `RegexSet` for every
//! pattern, and the link and contact recognisers below, shared by all bots.

use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use chrono::{DateTime, Utc};
use regex::{Regex, RegexSet};

use super::fold::Folded;

/// Why a message violates: the rule that caught it. Its [`Rule::reason`] is
/// what `delete` actions, the audit log and `report_to` show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A banned word.
    Word,
    /// A banned pattern.
    Pattern,
    /// A link to a domain that is not allowed.
    Link,
    /// A phone number, WeChat/QQ id or a contact solicitation.
    Contact,
    /// Too many messages from one member.
    Flood,
    /// The same text too often.
    Duplicate,
    /// Too many mentions.
    Mentions,
    /// The classifier (or the similarity check) says spam.
    Classifier,
    /// An admin reported it with `/spam`.
    Reported,
}

impl Rule {
    /// The reason shown with the action.
    pub fn reason(self) -> &'static str {
        match self {
            Rule::Word => "spam: banned word",
            Rule::Pattern => "spam: banned pattern",
            Rule::Link => "spam: link",
            Rule::Contact => "spam: contact",
            Rule::Flood => "spam: flood",
            Rule::Duplicate => "spam: duplicate",
            Rule::Mentions => "spam: mentions",
            Rule::Classifier => "spam: classifier",
            Rule::Reported => "spam: reported by an admin",
        }
    }
}

/// Banned words, matched in one pass over the skeleton.
#[derive(Debug)]
pub(crate) struct Words {
    automaton: AhoCorasick,
}

impl Words {
    /// Compile `words` (folded to skeletons, so that the spellings a member
    /// could use all match); `None` if no word is left.
    pub(crate) fn new(words: &[String]) -> Result<Option<Self>, String> {
        let skeletons: Vec<String> = words
            .iter()
            .map(|w| Folded::new(w).skeleton)
            .filter(|w| !w.is_empty())
            .collect();
        if skeletons.is_empty() {
            return Ok(None);
        }
        let automaton = AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&skeletons)
            .or_else(|_| AhoCorasick::new(&skeletons))
            .map_err(|e| e.to_string())?;
        Ok(Some(Self { automaton }))
    }

    /// Whether the message holds a banned word.
    pub(crate) fn matches(&self, text: &Folded) -> bool {
        self.automaton.is_match(&text.skeleton)
    }
}

/// Banned patterns, tried on the folded and on the normalised text.
#[derive(Debug)]
pub(crate) struct Patterns {
    set: RegexSet,
}

impl Patterns {
    /// Compile the patterns; the error names the index of a bad one.
    pub(crate) fn new(patterns: &[String]) -> Result<Option<Self>, (usize, String)> {
        if patterns.is_empty() {
            return Ok(None);
        }
        for (i, p) in patterns.iter().enumerate() {
            Regex::new(p).map_err(|e| (i, e.to_string()))?;
        }
        let set = RegexSet::new(patterns).map_err(|e| (0, e.to_string()))?;
        Ok(Some(Self { set }))
    }

    /// Whether a pattern is found.
    pub(crate) fn matches(&self, text: &Folded) -> bool {
        self.set.is_match(&text.folded) || (text.norm != text.folded && self.set.is_match(&text.norm))
    }
}

/// The links of a message and whether they are allowed.
#[derive(Debug, Default)]
pub(crate) struct Links {
    /// Allowed domains (lowercase, without a leading dot); subdomains of
    /// each are allowed too.
    pub allow: Vec<String>,
    /// Block every link, allowed domains included.
    pub block_all: bool,
}

impl Links {
    /// Whether the message holds a link this rule forbids.
    pub(crate) fn violates(&self, text: &Folded) -> bool {
        hosts(&text.folded).any(|host| self.block_all || !self.allowed(&host))
    }

    fn allowed(&self, host: &str) -> bool {
        self.allow.iter().any(|d| {
            host == d
                || host
                    .strip_suffix(d.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

/// Top-level domains a bare `name.tld` is recognised with (with a scheme or
/// `www.`, any domain is a link).
const TLDS: &str = "com|net|org|cn|io|me|ly|cc|xyz|top|vip|info|ru|co|gg|app|link|site|online|club|shop|ltd|tk|ml|ga|cf|uk|tv|pw|biz|live|fun|icu|ws|hk|tw|jp|kr|de|fr|su|one|pro|win|bet|cash|money|store|tech|cloud|asia|work|wang|ren|xin|fit|mobi|page|fyi";

fn link_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // Dots written as "。", "点", "(dot)", " dot ".
        let dot = r"(?:\.|。|点| ?\(dot\) ?| ?\[dot\] ?| dot )";
        let label = r"[a-z0-9][a-z0-9-]*";
        let pattern =
            format!(r"(?:https?://|www\.)[^\s/?#]+|{label}(?:{dot}{label})*{dot}(?:{TLDS})(?:[^a-z0-9-]|$)");
        // The pattern is a constant: it compiles.
        Regex::new(&pattern).unwrap_or_else(|_| Regex::new("$^").unwrap_or_else(|_| unreachable!()))
    })
}

/// The host names of the links in a folded text, dots restored.
pub(crate) fn hosts(folded: &str) -> impl Iterator<Item = String> + '_ {
    link_regex().find_iter(folded).map(|m| {
        let mut s = m.as_str();
        for scheme in ["https://", "http://"] {
            if let Some(rest) = s.strip_prefix(scheme) {
                s = rest;
            }
        }
        let host = s
            .replace(" (dot) ", ".")
            .replace(" [dot] ", ".")
            .replace("(dot)", ".")
            .replace("[dot]", ".")
            .replace(" dot ", ".")
            .replace(['。', '点'], ".");
        let host = host.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
        let host = host.strip_prefix("www.").unwrap_or(host);
        host.to_owned()
    })
}

/// Whether a folded text holds a link.
pub(crate) fn has_link(folded: &str) -> bool {
    may_link(folded) && link_regex().is_match(folded)
}

/// Whether a folded text could hold a link: every match of the link regex
/// has a scheme (`://`) or a dot in one of its spellings (`.`, `。`, `点`,
/// `dot`). Most messages have none, and one pass over the bytes rules out
/// the regex's walk.
fn may_link(folded: &str) -> bool {
    let b = folded.as_bytes();
    b.iter().enumerate().any(|(i, byte)| match byte {
        b'.' => true,
        b':' => b[i + 1..].starts_with(b"//"),
        b'd' => b[i + 1..].starts_with(b"ot"),
        // 。 and 点
        0xE3 => b[i + 1..].starts_with(&[0x80, 0x82]),
        0xE7 => b[i + 1..].starts_with(&[0x82, 0xB9]),
        _ => false,
    })
}

/// Whether a folded text could hold a solicitation: every match of its
/// regex starts with `+`, `加`, `添` or `➕`.
fn may_solicit(folded: &str) -> bool {
    let b = folded.as_bytes();
    b.iter().enumerate().any(|(i, byte)| match byte {
        b'+' => true,
        // 加
        0xE5 => b[i + 1..].starts_with(&[0x8A, 0xA0]),
        // 添
        0xE6 => b[i + 1..].starts_with(&[0xB7, 0xBB]),
        // ➕
        0xE2 => b[i + 1..].starts_with(&[0x9E, 0x95]),
        _ => false,
    })
}

/// Words that name a messenger account when an id follows them.
const CONTACT_KEYS: &[&str] = &[
    "vx", "v信", "wx", "weixin", "wechat", "微信", "薇信", "威信", "徽信", "维信", "卫信", "微芯", "v芯",
    "扣扣", "企鹅", "🐧", "q群", "qq群", "群号", "qq号", "qq", "tg", "telegram", "电报", "飞机", "whatsapp",
    "v", "q", "微",
];

fn solicitation_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?:加|\+|添加|加我|➕)\s*(?:vx|v信|v|微信|微|薇信|薇|威信|徽信|qq|q|扣扣|扣|企鹅|tg|飞机)(?:[^a-z]|$)",
        )
        .unwrap_or_else(|_| unreachable!())
    })
}

fn contact_keys() -> &'static AhoCorasick {
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| {
        AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(CONTACT_KEYS)
            .unwrap_or_else(|_| unreachable!())
    })
}

/// Chinese numerals spammers write phone numbers with.
fn digit_of(c: char) -> Option<char> {
    if c.is_ascii() {
        return c.is_ascii_digit().then_some(c);
    }
    Some(match c {
        '0'..='9' => c,
        '零' | '〇' => '0',
        '一' | '壹' | '幺' => '1',
        '二' | '贰' | '两' => '2',
        '三' | '叁' => '3',
        '四' | '肆' => '4',
        '五' | '伍' => '5',
        '六' | '陆' => '6',
        '七' | '柒' | '拐' => '7',
        '八' | '捌' => '8',
        '九' | '玖' | '勾' => '9',
        _ => return None,
    })
}

/// Whether a folded text holds a phone number: a Chinese mobile number
/// (11 digits from 1[3-9], separators and Chinese numerals allowed) or an
/// international one (`+` and 10 or more digits).
pub(crate) fn has_phone(folded: &str) -> bool {
    let mut run = String::new();
    let mut plus = false;
    let check = |run: &mut String, plus: bool| -> bool {
        let found = (run.len() == 11 && run.starts_with('1') && run.as_bytes()[1] >= b'3')
            || (plus && run.len() >= 10);
        run.clear();
        found
    };
    let mut prev_sep = false;
    for c in folded.chars() {
        if let Some(d) = digit_of(c) {
            // A Chinese numeral only counts inside a run that has digits or
            // other numerals: "一" alone is a word.
            run.push(d);
            prev_sep = false;
        } else if !run.is_empty() && matches!(c, ' ' | '-' | '.') && !prev_sep {
            prev_sep = true;
        } else {
            if check(&mut run, plus) {
                return true;
            }
            plus = c == '+';
            prev_sep = false;
        }
    }
    check(&mut run, plus)
}

/// Whether a folded text gives a messenger contact: a key word followed by
/// an id (5 or more letters and digits with at least one digit, or any
/// such id after a colon), or a "加v" / "+v" solicitation.
pub(crate) fn has_contact(folded: &str) -> bool {
    if may_solicit(folded) && solicitation_regex().is_match(folded) {
        return true;
    }
    for m in contact_keys().find_iter(folded) {
        // A Latin key must start a word: "vx" in "devx" is not a key; a
        // Chinese one may follow a letter ("V微信 abc123").
        let latin = folded[m.start()..].starts_with(|c: char| c.is_ascii_alphanumeric());
        let before = folded[..m.start()].chars().next_back();
        if latin && before.is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        let single = m.end() - m.start() == 1 || &folded[m.start()..m.end()] == "微";
        let rest = &folded[m.end()..];
        let mut colon = false;
        let mut chars = rest.chars().peekable();
        // Skip what may sit between the key and the id.
        while let Some(&c) = chars.peek() {
            if matches!(c, ' ' | ':' | '：' | '=' | '@' | '号' | '码' | '-' | '_') {
                colon |= matches!(c, ':' | '：' | '=');
                chars.next();
            } else {
                break;
            }
        }
        // The id: its length and its digits (ASCII, one byte a character).
        let (mut len, mut digits) = (0, 0);
        for c in chars {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                len += 1;
                digits += usize::from(c.is_ascii_digit());
            } else {
                break;
            }
        }
        let ok = len >= 5
            && if single {
                // "v 12345678", "q:abc123"; not "v hello".
                digits >= 5 || (colon && digits > 0)
            } else {
                digits > 0 || colon
            };
        if ok {
            return true;
        }
    }
    false
}

/// How many members a message mentions: `@name` tokens (an `@` at the
/// start of a word, followed by a name), not `a@b.c`.
pub(crate) fn mentions(original: &str) -> usize {
    let mut count = 0;
    let mut prev: Option<char> = None;
    let mut chars = original.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '@'
            && prev.is_none_or(|p| p.is_whitespace() || !p.is_alphanumeric())
            && chars.peek().is_some_and(|n| !n.is_whitespace() && *n != '@')
        {
            count += 1;
        }
        prev = Some(c);
    }
    count
}

/// A sliding window of occurrences per key: flood (per member) and
/// duplicates (per text). One queue of (time, key) for every key and a count
/// per key: no allocation per key, expired entries leave in O(1) amortised.
#[derive(Debug)]
pub(crate) struct Windows<K> {
    /// How long an occurrence counts, in nanoseconds.
    window: i128,
    /// Every occurrence within the window, oldest first; times as
    /// nanoseconds since the epoch ([`nanos`]), which compare exactly as
    /// the times do and subtract without calendar arithmetic.
    queue: VecDeque<(i128, K)>,
    /// Occurrences within the window per key (keys with none are removed).
    counts: KeyMap<K, usize>,
}

/// A map whose keys are hashes already (see [`KeyHasher`]).
pub(crate) type KeyMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// A time as nanoseconds since the epoch: exact over chrono's whole range.
fn nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

/// The hasher of [`Windows`]' keys: they are hashes already (FNV of ids or
/// texts), so a `u64` key is used as is (mixed once); other writes fold in
/// FNV-1a style.
#[derive(Debug, Default)]
pub(crate) struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl<K: std::hash::Hash + Eq + Copy> Windows<K> {
    /// An empty window of `window`.
    pub(crate) fn new(window: std::time::Duration) -> Self {
        Self {
            window: i128::try_from(window.as_nanos()).unwrap_or(i128::MAX),
            queue: VecDeque::new(),
            counts: KeyMap::default(),
        }
    }

    /// Record one occurrence of `key` at `now` and return how many there
    /// are within the window, this one included.
    pub(crate) fn hit(&mut self, key: K, now: DateTime<Utc>) -> usize {
        let now = nanos(now);
        while let Some((at, old)) = self.queue.front().copied() {
            if now - at < self.window {
                break;
            }
            self.queue.pop_front();
            if let Some(n) = self.counts.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    self.counts.remove(&old);
                }
            }
        }
        self.queue.push_back((now, key));
        let n = self.counts.entry(key).or_insert(0);
        *n += 1;
        *n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(text: &str) -> Folded {
        Folded::new(text)
    }

    #[test]
    fn words_match_through_evasions() {
        let words = Words::new(&["加微信".into(), "viagra".into(), "賭場".into()])
            .unwrap()
            .unwrap();
        for text in [
            "快来加微信",
            "加 微 信",
            "加\u{200B}微\u{200B}信",
            "Ｖｉａｇｒａ",
            "v.i.a.g.r.a",
            "vi4gr4 cheap",
            "viаgra", // Cyrillic а
            "新开赌场",
            "新開賭場",
        ] {
            assert!(words.matches(&f(text)), "{text}");
        }
        assert!(!words.matches(&f("微信支付可以吗")));
        assert!(Words::new(&[" ".into()]).unwrap().is_none());
    }

    #[test]
    fn patterns_are_checked_and_located() {
        let p = Patterns::new(&[r"\d{3}-\d{4}".into()]).unwrap().unwrap();
        assert!(p.matches(&f("call ５５５-１２３４")));
        assert_eq!(Patterns::new(&["ok".into(), "(".into()]).unwrap_err().0, 1);
    }

    #[test]
    fn links_in_every_disguise() {
        let links = Links {
            allow: vec!["example.com".into()],
            block_all: false,
        };
        for text in [
            "see https://spam.xyz/x",
            "join t.me/freecoins",
            "bit.ly/abc",
            "www.casino-royal.net",
            "casino．com",
            "casino。com",
            "casino点com",
            "casino點com",
            "casino (dot) com",
            "进群t.me/abc",
        ] {
            assert!(links.violates(&f(text)), "{text}");
        }
        for text in [
            "docs at https://example.com/a",
            "shop.example.com is ours",
            "hello. me too",
            "1.5 in total",
        ] {
            assert!(!links.violates(&f(text)), "{text}");
        }
        let all = Links {
            allow: Vec::new(),
            block_all: true,
        };
        assert!(all.violates(&f("https://example.com")));
    }

    #[test]
    fn contacts_and_their_spellings() {
        for text in [
            "加v",
            "+V领福利",
            "➕V",
            "vx: abc12345",
            "v信 wx_123456",
            "薇信 hello123",
            "威信号：lucky888",
            "扣扣 123456789",
            "q群 87654321",
            "详情加我微信",
            "🐧 1234567",
            "V微信hpp2212",
            "加微信 hpp2212",
        ] {
            let folded = f(text).folded;
            assert!(has_contact(&folded) || has_phone(&folded), "{text}");
        }
        assert!(has_phone(&f("电话 138-1234-5678").folded));
        assert!(has_phone(&f("幺三八一二三四五六七八").folded));
        assert!(has_phone(&f("call +44 7700 900123").folded));
        for text in [
            "v hello there",
            "微信支付可以吗",
            "我在qq上说过了",
            "devx 12345",
            "order 12345678",
            "一二三",
            "wechat tomorrow",
        ] {
            let folded = f(text).folded;
            assert!(!has_contact(&folded) && !has_phone(&folded), "{text}");
        }
    }

    #[test]
    fn prefilters_never_hide_a_match() {
        let parts = [
            "see",
            "https://spam.xyz/x",
            "t.me/a",
            "casino点com",
            "casino。com",
            "a (dot) com",
            "b [dot] net",
            "x dot org",
            "http://localhost",
            "www.a.b",
            "加v",
            "+V",
            "➕q",
            "添加微信",
            "加我qq",
            "vx: abc12345",
            "hello",
            "今天",
            "1.5",
            "点",
            "dot",
            "://",
            "+",
            "加",
            "。",
        ];
        let mut texts = Vec::new();
        for a in parts {
            texts.push(a.to_owned());
            for b in parts {
                texts.push(format!("{a}{b}"));
                texts.push(format!("{a} {b}"));
            }
        }
        for text in &texts {
            let folded = f(text).folded;
            if link_regex().is_match(&folded) {
                assert!(may_link(&folded), "{text}");
            }
            if solicitation_regex().is_match(&folded) {
                assert!(may_solicit(&folded), "{text}");
            }
            assert_eq!(has_link(&folded), link_regex().is_match(&folded), "{text}");
        }
        assert!(!may_link("hello there") && !may_solicit("今天几点开始"));
        // The byte sequences spelled out above.
        assert_eq!("。".as_bytes(), [0xE3, 0x80, 0x82]);
        assert_eq!("点".as_bytes(), [0xE7, 0x82, 0xB9]);
        assert_eq!("加".as_bytes(), [0xE5, 0x8A, 0xA0]);
        assert_eq!("添".as_bytes(), [0xE6, 0xB7, 0xBB]);
        assert_eq!("➕".as_bytes(), [0xE2, 0x9E, 0x95]);
        for sign in ["。", "点", "dot", "://", "."] {
            assert!(may_link(&format!("a{sign}b")), "{sign}");
        }
        for sign in ["加", "添", "+", "➕"] {
            assert!(may_solicit(&format!("a{sign}b")), "{sign}");
        }
    }

    #[test]
    fn mentions_count_at_tokens() {
        assert_eq!(mentions("@a @b hi @c"), 3);
        assert_eq!(mentions("mail me at a@b.c"), 0);
        assert_eq!(mentions("@"), 0);
    }

    #[test]
    fn windows_count_within_their_window() {
        let mut w = Windows::new(std::time::Duration::from_secs(10));
        let t0 = DateTime::from_timestamp(1_000, 0).unwrap();
        assert_eq!(w.hit("a", t0), 1);
        assert_eq!(w.hit("a", t0 + chrono::Duration::seconds(5)), 2);
        assert_eq!(w.hit("b", t0 + chrono::Duration::seconds(5)), 1);
        assert_eq!(w.hit("a", t0 + chrono::Duration::seconds(12)), 2);
        // Exactly the window apart: the older one has left.
        assert_eq!(w.hit("b", t0 + chrono::Duration::seconds(15)), 1);
        let mut fine = Windows::new(std::time::Duration::from_nanos(1_500));
        let t1 = DateTime::from_timestamp(-5, 999_999_999).unwrap();
        assert_eq!(fine.hit("c", t1), 1);
        assert_eq!(fine.hit("c", t1 + chrono::Duration::nanoseconds(1_499)), 2);
        assert_eq!(fine.hit("c", t1 + chrono::Duration::nanoseconds(1_500)), 2);
    }
}
