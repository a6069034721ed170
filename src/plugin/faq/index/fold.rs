//! Folding before tokenising: the bot's synonyms, common chat spellings
//! and English words mixed into Chinese, each replaced by one spelling in
//! questions and messages alike.

use aho_corasick::{AhoCorasick, MatchKind};

use crate::text::normalize;
use crate::text::tokenize::is_cjk;

/// Spellings group members type for a common word, folded before matching
/// (on top of the bot's own `synonyms`): typos of 券 and 账, and colloquial
/// question words.
const BUILTIN_SYNONYMS: &[(&str, &str)] = &[
    ("劵", "券"),
    ("优惠卷", "优惠券"),
    ("红包卷", "红包券"),
    ("打车卷", "打车券"),
    ("外卖卷", "外卖券"),
    ("帐号", "账号"),
    ("帐户", "账户"),
    ("在那里", "在哪里"),
    ("在那儿", "在哪里"),
    ("哪儿", "哪里"),
    ("咋", "怎么"),
    ("啥", "什么"),
    ("木有", "没有"),
    ("领卷", "领券"),
    ("用卷", "用券"),
    ("抢卷", "抢券"),
    ("的卷", "的券"),
    ("张卷", "张券"),
    ("卷包", "券包"),
    ("卷码", "券码"),
    ("到帐", "到账"),
    ("帐单", "账单"),
];

/// English words members mix into Chinese messages, folded to the Chinese
/// word only in text that has Chinese characters (an English knowledge base
/// keeps its own words).
const LOANWORDS: &[(&str, &str)] = &[
    ("coupon", "券"),
    ("coupons", "券"),
    ("voucher", "券"),
    ("refund", "退款"),
    ("refunds", "退款"),
    ("vip", "会员"),
    ("member", "会员"),
    ("membership", "会员"),
    ("invoice", "发票"),
    ("fapiao", "发票"),
    ("expired", "过期"),
    ("expire", "过期"),
    ("points", "积分"),
    ("order", "订单"),
    ("account", "账号"),
    ("password", "密码"),
    ("customer service", "客服"),
    ("kefu", "客服"),
    ("cancel", "取消"),
    ("login", "登录"),
    ("newbie", "新人"),
    ("bug", "故障"),
    ("code", "码"),
    ("sms", "短信"),
    ("redeem", "兑换"),
    ("discount", "优惠"),
    ("promo", "优惠"),
    ("cashback", "返现"),
    ("wallet", "钱包"),
    ("pay", "支付"),
    ("payment", "支付"),
    ("alipay", "支付宝"),
    ("wechat", "微信"),
    ("driver", "司机"),
    ("rider", "骑手"),
    ("delivery", "配送"),
    ("taxi", "打车"),
];

/// Folds synonyms into one spelling before tokenising.
#[derive(Debug)]
pub(super) struct Folder {
    /// Every spelling to replace, leftmost-longest.
    automaton: AhoCorasick,
    /// The replacement of each pattern.
    to: Vec<String>,
    /// Whether each pattern is Latin (replaced only as a whole word).
    latin: Vec<bool>,
    /// Whether each pattern applies only to text with Chinese characters.
    mixed_only: Vec<bool>,
}

impl Folder {
    /// The folder of a bot: its `synonyms` (groups of spellings, the first
    /// of each kept) first, so on the same spelling they win, then the
    /// built-in spellings and loanwords.
    pub(super) fn for_bot(synonyms: &[Vec<String>]) -> Result<Self, String> {
        // The bot's own synonyms come first: on the same spelling they win.
        let mut pairs: Vec<(String, String, bool)> = Vec::new();
        for group in synonyms {
            let mut it = group.iter().map(|s| normalize(s)).filter(|s| !s.is_empty());
            let Some(head) = it.next() else { continue };
            for other in it {
                if other != head {
                    pairs.push((other, head.clone(), false));
                }
            }
        }
        pairs.extend(
            BUILTIN_SYNONYMS
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned(), false))
                .chain(
                    LOANWORDS
                        .iter()
                        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned(), true)),
                ),
        );
        Self::new(pairs)
    }

    /// `pairs`: (spelling, replacement, only in text with Chinese).
    fn new(pairs: Vec<(String, String, bool)>) -> Result<Self, String> {
        let mut from = Vec::with_capacity(pairs.len());
        let mut to = Vec::with_capacity(pairs.len());
        let mut mixed_only = Vec::with_capacity(pairs.len());
        for (f, t, m) in pairs {
            from.push(f);
            to.push(t);
            mixed_only.push(m);
        }
        let latin = from.iter().map(|f| f.chars().all(|c| !is_cjk(c))).collect();
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&from)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            automaton,
            to,
            latin,
            mixed_only,
        })
    }

    pub(super) fn fold(&self, norm: &str) -> String {
        let mut out = String::with_capacity(norm.len());
        let mut last = 0;
        let chinese = norm.chars().any(is_cjk);
        for m in self.automaton.find_iter(norm) {
            let p = m.pattern().as_usize();
            if self.mixed_only[p] && !chinese {
                continue;
            }
            if self.latin[p] {
                let before = norm[..m.start()].chars().next_back();
                let after = norm[m.end()..].chars().next();
                // A Latin word ends at anything but a letter or digit, and
                // at a Chinese character: "的fapiao" and "vip有" hold whole
                // words, "vipx" and "café" do not.
                let joins = |c: char| c.is_alphanumeric() && !is_cjk(c);
                if before.is_some_and(joins) || after.is_some_and(joins) {
                    continue;
                }
            }
            out.push_str(&norm[last..m.start()]);
            out.push_str(&self.to[p]);
            last = m.end();
        }
        out.push_str(&norm[last..]);
        out
    }
}
