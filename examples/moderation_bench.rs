//! Writes the `qunbot bench pipeline` workload of the moderation issue into
//! a folder: config.yaml, a bot with 2,000 banned words, 50 patterns,
//! links, contacts, flood, duplicates and the classifier, and a
//! 100,000-message transcript. A second argument sets the number of
//! messages; `--autoreply` puts an autoreply plugin behind moderation.
//!
//! ```sh
//! cargo run --release --example moderation_bench -- /tmp/modbench
//! target/release/qunbot bench pipeline --config /tmp/modbench/config.yaml \
//!     --transcript /tmp/modbench/transcript.jsonl
//! ```
//!
//! The content is generated from a fixed seed, so every run writes the same
//! files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::PathBuf;

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const EN: &[&str] = &[
    "hello", "thanks", "when", "does", "the", "event", "start", "coupon", "code", "works", "for", "me",
    "see", "you", "tomorrow", "lunch", "order", "shipped", "yet", "great", "idea", "refund", "arrived",
    "who", "won", "match", "late", "again", "sorry", "please", "share", "link", "docs", "meeting", "moved",
];
const ZH: &[&str] = &[
    "大家好",
    "今天",
    "活动",
    "几点",
    "开始",
    "优惠券",
    "怎么",
    "用",
    "谢谢",
    "群主",
    "明天",
    "下雨",
    "午饭",
    "一起",
    "发货",
    "退款",
    "到账",
    "客服",
    "电话",
    "打不通",
    "价格",
    "划算",
    "晚安",
    "收到",
    "好的",
    "问题",
    "管理员",
    "比赛",
    "直播",
    "链接",
    "会议",
];
const SPAM: &[&str] = &[
    "加V领福利，每天都有红包",
    "高薪兼职日结，有意加微信 abc12345",
    "free bitcoin, double your money at https://coin-double.xyz",
    "澳门线上赌场，注册就送彩金 t.me/casino888",
    "Earn $500 a day from home, message me now",
    "收U出U，汇率最高，联系 13812345678",
];

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let autoreply = all.iter().any(|a| a == "--autoreply");
    let mut args = all.into_iter().filter(|a| a != "--autoreply");
    let dir = PathBuf::from(
        args.next()
            .expect("usage: moderation_bench DIR [MESSAGES] [--autoreply]"),
    );
    let messages: usize = args.next().map_or(100_000, |n| n.parse().expect("a number"));
    std::fs::create_dir_all(dir.join("bots")).unwrap();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);

    std::fs::write(
        dir.join("config.yaml"),
        "timezone: Asia/Shanghai\nstorage: {url: \"sqlite::memory:\"}\nadapters:\n  console: {kind: console}\n",
    )
    .unwrap();

    // 2,000 banned words: invented tokens, Latin and Chinese.
    let syllables = ["ka", "zu", "mi", "ro", "te", "xo", "qi", "ban", "lor", "vex"];
    let hanzi = ["赌", "彩", "博", "骗", "贷", "裸", "约", "刷", "代", "票"];
    let mut words = String::new();
    for i in 0..2_000 {
        let w = if i % 2 == 0 {
            format!(
                "{}{}{}{}",
                syllables[i % 10],
                syllables[(i / 10) % 10],
                syllables[(i / 100) % 10],
                i / 1000
            )
        } else {
            format!(
                "{}{}{}",
                hanzi[i % 10],
                hanzi[(i / 10) % 10],
                hanzi[(i / 100) % 10]
            )
        };
        writeln!(words, "{w}").unwrap();
    }
    std::fs::write(dir.join("bots/banned_words.txt"), &words).unwrap();
    let mut patterns = String::new();
    for i in 0..50 {
        writeln!(patterns, "      - \"promo{i:02}\\\\s*code\\\\s*\\\\d{{4}}\"").unwrap();
    }
    let bot = format!(
        "name: guard\nadapters: [console]\nplugins:\n  - use: moderation\n    rules:\n      banned_words_file: banned_words.txt\n      banned_patterns:\n{patterns}      links: {{allow_domains: [example.com]}}\n      contacts: true\n      flood: {{messages: 10, window: 10s}}\n      duplicates: {{count: 3, window: 1m}}\n    escalation: [warn, {{mute: 10m}}, kick]\n{}",
        if autoreply {
            "  - use: autoreply\n    rules:\n      - match: {keywords: [coupon, 优惠券]}\n        reply: \"see the pinned message\"\n"
        } else {
            ""
        }
    );
    std::fs::write(dir.join("bots/guard.yaml"), bot).unwrap();

    let start = chrono::DateTime::parse_from_rfc3339("2026-11-24T08:00:00+08:00").unwrap();
    let mut out = String::with_capacity(messages * 120);
    for i in 0..messages {
        let at = start + chrono::Duration::milliseconds(i as i64 * 20);
        let group = rng.below(50);
        let user = rng.below(5_000);
        let roll = rng.below(100);
        let text = if roll < 5 {
            rng.pick(SPAM).to_owned()
        } else if roll < 7 {
            // A banned word inside chat.
            let w = words.lines().nth(rng.below(2_000)).unwrap();
            format!("{} {w} {}", rng.pick(EN), rng.pick(EN))
        } else if roll < 50 {
            let n = 3 + rng.below(10);
            (0..n).map(|_| rng.pick(EN)).collect::<Vec<_>>().join(" ")
        } else {
            let n = 2 + rng.below(8);
            (0..n).map(|_| rng.pick(ZH)).collect::<String>()
        };
        let line = serde_json::json!({
            "at": at.to_rfc3339(),
            "kind": "message",
            "group": format!("g{group}"),
            "user": format!("u{user}"),
            "text": text,
        });
        writeln!(out, "{line}").unwrap();
    }
    std::fs::write(dir.join("transcript.jsonl"), out).unwrap();
    eprintln!("wrote {} ({messages} messages)", dir.display());
}
