//! Evasion folding on top of [`crate::text::normalize`]: what a spammer
//! writes to slip past a filter is folded back to what it means, once per
//! message, and every rule reads the views of one [`Folded`].
//!
//! - homoglyphs (Cyrillic and Greek letters that look Latin, regional
//!   indicators, keycap digits) become Latin letters and digits;
//! - leetspeak inside a Latin word (`fr33 m0ney`) becomes letters, while
//!   plain numbers stay numbers (phone numbers must survive);
//! - traditional Chinese characters become simplified ones (a compact table
//!   of the common characters, [`TRAD_SIMP`]);
//! - the skeleton drops everything that is not a letter, digit or ideograph,
//!   so spaces and punctuation put between characters (`加 . 微 . 信`) do not
//!   split a banned word.

use std::sync::OnceLock;

use crate::text::normalize;

/// The views of one message that the rules match on. Built once per message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Folded {
    /// [`normalize`]d text: NFKC, invisibles removed, lowercase, spaces
    /// collapsed. Patterns are tried on it too, so a regex written for the
    /// plain text still matches.
    pub norm: String,
    /// `norm` with homoglyphs, leetspeak and traditional characters folded;
    /// spaces and punctuation kept (links, contacts and the classifier read it).
    pub folded: String,
    /// `folded` with everything but letters, digits and ideographs removed:
    /// banned words and duplicates match on it.
    pub skeleton: String,
    /// How many characters of `norm` the folding replaced or dropped: an
    /// evasion's trace (the classifier reads it).
    pub folds: usize,
}

impl Folded {
    /// Fold `text` (as written).
    pub fn new(text: &str) -> Self {
        let norm = normalize(text);
        let (folded, folds) = fold(&norm);
        let skeleton = skeleton(&folded);
        Self {
            norm,
            folded,
            skeleton,
            folds,
        }
    }
}

/// Fold an already normalised text: homoglyphs, traditional characters,
/// then leetspeak inside Latin words; with the number of characters
/// replaced or dropped.
pub(crate) fn fold(norm: &str) -> (String, usize) {
    let table = trad_simp();
    let mut out = String::with_capacity(norm.len());
    let mut folds = 0;
    for c in norm.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let to = match c {
            // The keycap mark of 1️⃣ (normalising already removed the
            // variation selector before it).
            '\u{20E3}' => None,
            _ => Some(homoglyph(c).unwrap_or_else(|| table.simplify(c))),
        };
        folds += usize::from(to != Some(c));
        out.extend(to);
    }
    let (out, leets) = leet(out);
    (out, folds + leets)
}

/// Keep letters, digits and ideographs only.
pub(crate) fn skeleton(folded: &str) -> String {
    let mut out = String::with_capacity(folded.len());
    out.extend(folded.chars().filter(|c| {
        c.is_ascii_alphanumeric()
            || crate::text::tokenize::is_cjk(*c)
            || (!c.is_ascii() && c.is_alphanumeric())
    }));
    out
}

/// The Latin letter or digit a look-alike stands for.
fn homoglyph(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic.
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'і' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        // Greek.
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        // Latin look-alikes NFKC keeps.
        'ı' => 'i',
        'ȷ' => 'j',
        'ℓ' => 'l',
        'ø' => 'o',
        'đ' => 'd',
        'ł' => 'l',
        // Heavy plus (➕V), and the like.
        '➕' | '﹢' | '✚' => '+',
        // Regional indicator symbols 🇦..🇿 are used as letters.
        '\u{1F1E6}'..='\u{1F1FF}' => char::from(b'a' + (c as u32 - 0x1F1E6) as u8),
        // Negative squared / circled letters NFKC leaves alone.
        '\u{1F150}'..='\u{1F169}' => char::from(b'a' + (c as u32 - 0x1F150) as u8),
        '\u{1F170}'..='\u{1F189}' => char::from(b'a' + (c as u32 - 0x1F170) as u8),
        '\u{1F130}'..='\u{1F149}' => char::from(b'a' + (c as u32 - 0x1F130) as u8),
        _ => return None,
    })
}

/// Map digits and symbols standing for letters inside Latin words: a run of
/// `[a-z0-9@$]` with at least two letters, at least one stand-in, and not
/// mostly digits. Returns the text and the number of bytes mapped.
fn leet(text: String) -> (String, usize) {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'@' || b == b'$';
    let is_stand_in = |b: u8| matches!(b, b'0' | b'1' | b'3' | b'4' | b'5' | b'7' | b'@' | b'$');
    if !text.bytes().any(is_stand_in) {
        return (text, 0);
    }
    let mut mapped = 0;
    let mut bytes = text.into_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !is_word(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_word(bytes[i]) {
            i += 1;
        }
        let run = &mut bytes[start..i];
        let letters = run.iter().filter(|b| b.is_ascii_alphabetic()).count();
        // A mention (@name) or an amount ($100) is not leetspeak; neither is
        // an id that is mostly digits (qq12345, order 12ab34).
        let digits = run.len() - letters;
        if letters < 2 || digits * 2 > run.len() || run[0] == b'@' || run[0] == b'$' {
            continue;
        }
        for b in run.iter_mut().filter(|b| is_stand_in(**b)) {
            *b = match *b {
                b'0' => b'o',
                b'1' => b'i',
                b'3' => b'e',
                b'4' | b'@' => b'a',
                b'5' | b'$' => b's',
                _ => b't',
            };
            mapped += 1;
        }
    }
    // Only ASCII bytes were replaced, by ASCII bytes: still UTF-8.
    (String::from_utf8(bytes).unwrap_or_default(), mapped)
}

/// Traditional characters and their simplified forms, as pairs. The common
/// characters of chat (and of spam: money, contact, gambling, adult ads);
/// not a full conversion table.
pub(crate) const TRAD_SIMP: &str = "\
國国們们個个來来時时這这為为會会說说對对發发點点還还錢钱賺赚網网號号碼码\
聯联繫系電电話话資资訊讯務务費费價价幣币現现換换兌兑與与歡欢樂乐員员單单\
從从問问開开關关門门見见車车長长東东紅红體体頭头張张學学業业經经過过後后\
們们讓让請请謝谢親亲愛爱無无這这裡里麼么嗎吗沒没幾几給给將将當当還还應应\
該该寶宝貝贝買买賣卖賭赌場场彩彩獎奖勵励贏赢輸输註注冊册優优惠惠領领紅红\
內内級级線线連连結结構构產产銀银標标準准備备選选擇择認认證证驗验碼码轉转\
帳账賬账戶户額额總总幫帮助助戲戏遊游戀恋聊聊妹妹約约炮炮視视頻频影影裸裸\
騙骗詐诈險险穩稳漲涨盤盘貸贷款款財财富富機机會会熱热門门專专區区鏈链圖图\
絡络飛飞籤签簽签禮礼贈赠送送鐘钟無无條条件件證证據据權权傳传達达運运營营\
邊边議议論论變变化化數数據据課课題题讀读寫写語语詞词愛爱歲岁誰谁讀读聽听\
覺觉記记憶忆識识講讲談谈試试詢询諮咨顧顾客客戶户減减歷历雙双麗丽灣湾廣广\
報报導导雜杂誌志絕绝對对實实際际種种類类邀邀約约請请進进廠厂貨货倉仓庫库\
隊队層层廳厅燈灯壓压紀纪錄录則则動动勞劳漢汉陽阳陰阴穌稣貓猫鳥鸟魚鱼龍龙\
馬马驢驴雞鸡鴨鸭豬猪風风雲云氣气飯饭麵面餓饿湯汤鹽盐醫医藥药療疗護护衛卫\
藝艺術术師师導导討讨厭厌氣气難难題题壞坏舊旧慣惯嚴严厲厉確确陣阵義义務务\
異异響响聲声鬧闹腦脑臉脸齒齿髮发頸颈膚肤們们萬万億亿兩两幾几億亿圓圆塊块\
薦荐擊击點点贊赞轉转評评蘋苹漿浆紙纸筆笔畫画書书館馆園园樹树葉叶華华藍蓝\
綠绿黃黄島岛鐵铁閱阅歸归臺台灣湾滬沪陸陆鄉乡縣县鎮镇區区團团黨党軍军節节\
處处頁页網网誤误錯错險险護护邏逻輯辑碼码屬属稱称狀状態态異异殺杀災灾壞坏\
勝胜敗败傷伤紅红灣湾廣广東东貴贵陝陕遼辽寧宁蘇苏嶺岭閩闽瀋沈韓韩漁渔釣钓\
蟲虫驚惊嚇吓殺杀盜盗竊窃搶抢偽伪假假衝冲擊击齊齐濟济須须隨随極极盡尽貼贴\
儲储蓄蓄鎖锁積积擁拥營营銷销競竞爭争購购訂订貨货運运輸输換换遞递郵邮寄寄\
";

/// [`TRAD_SIMP`] ready for lookups.
struct TradTable {
    /// The pairs, sorted by the traditional character.
    pairs: Vec<(char, char)>,
    /// One bit per character from [`BITMAP_START`]: set when it is a
    /// traditional character of `pairs`. Most characters of a message are
    /// not, and one bit says so without a search.
    bits: Vec<u64>,
}

/// The first character of [`TradTable::bits`] (CJK extension A and the
/// unified ideographs follow).
const BITMAP_START: u32 = 0x3400;
/// Characters covered by [`TradTable::bits`] (up to U+9FFF).
const BITMAP_LEN: usize = 0xA000 - BITMAP_START as usize;

impl TradTable {
    /// The simplified form of `c` (itself if the table has none).
    fn simplify(&self, c: char) -> char {
        let i = (c as u32).wrapping_sub(BITMAP_START) as usize;
        if i < BITMAP_LEN && self.bits[i / 64] >> (i % 64) & 1 == 0 {
            return c;
        }
        self.search(c)
    }

    fn search(&self, c: char) -> char {
        self.pairs
            .binary_search_by_key(&c, |(t, _)| *t)
            .map_or(c, |i| self.pairs[i].1)
    }
}

/// The table, built on first use.
fn trad_simp() -> &'static TradTable {
    static TABLE: OnceLock<TradTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let chars: Vec<char> = TRAD_SIMP.chars().filter(|c| !c.is_whitespace()).collect();
        let mut pairs: Vec<(char, char)> = chars
            .chunks_exact(2)
            .filter(|pair| pair[0] != pair[1])
            .map(|pair| (pair[0], pair[1]))
            .collect();
        pairs.sort_unstable();
        pairs.dedup_by_key(|p| p.0);
        let mut bits = vec![0u64; BITMAP_LEN.div_ceil(64)];
        for (t, _) in &pairs {
            let i = (*t as u32).wrapping_sub(BITMAP_START) as usize;
            if i < BITMAP_LEN {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        TradTable { pairs, bits }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homoglyphs_width_and_case_fold_to_latin() {
        // Cyrillic а, о, р, е among Latin letters; full-width; zero-width.
        assert_eq!(Folded::new("сhеар Ｐａｙ\u{200B}Раl").folded, "cheap paypal");
        assert_eq!(Folded::new("🇻🇽").folded, "vx");
        assert_eq!(Folded::new("➕V").folded, "+v");
    }

    #[test]
    fn leetspeak_folds_inside_words_only() {
        assert_eq!(Folded::new("fr33 m0ney").folded, "free money");
        assert_eq!(Folded::new("call 13812345678").folded, "call 13812345678");
        assert_eq!(Folded::new("@bob paid $100").folded, "@bob paid $100");
    }

    #[test]
    fn traditional_chinese_folds_to_simplified() {
        assert_eq!(Folded::new("加微信領獎").folded, "加微信领奖");
        assert_eq!(Folded::new("賺錢").skeleton, "赚钱");
    }

    #[test]
    fn folds_count_the_characters_replaced_or_dropped() {
        assert_eq!(Folded::new("free money 加微信").folds, 0);
        // Four Cyrillic letters (с, е, а, р), then three leet digits.
        assert_eq!(Folded::new("сhеар fr33 m0ney").folds, 7);
        // Two traditional characters.
        assert_eq!(Folded::new("加微信領獎").folds, 2);
        // A keycap's mark is dropped (normalising already removed the
        // variation selector).
        assert_eq!(Folded::new("1\u{FE0F}\u{20E3}号").folds, 1);
    }

    #[test]
    fn skeleton_drops_spaces_and_punctuation_between_characters() {
        assert_eq!(Folded::new("加 . 微 - 信").skeleton, "加微信");
        assert_eq!(Folded::new("V I A G R A!!").skeleton, "viagra");
    }

    #[test]
    fn the_table_pairs_distinct_characters() {
        let chars: Vec<char> = TRAD_SIMP.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(chars.len() % 2, 0, "pairs");
        for pair in chars.chunks_exact(2) {
            // Simplified characters never map further.
            assert!(
                trad_simp()
                    .pairs
                    .binary_search_by_key(&pair[1], |(t, _)| *t)
                    .is_err(),
                "{} maps on",
                pair[1]
            );
        }
    }

    #[test]
    fn the_bitmap_answers_as_the_search() {
        let table = trad_simp();
        for c in ('\u{3000}'..='\u{A0FF}').chain(['a', 'é', '🇻', '\u{20000}']) {
            assert_eq!(table.simplify(c), table.search(c), "{c}");
        }
    }
}
