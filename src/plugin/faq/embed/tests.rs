//! Unit tests of the blend, with a fake vector source whose vectors are
//! chosen by hand; the real model is tested in tests/faq_embed.rs.

use std::sync::Mutex;

use super::*;
use crate::plugin::faq::{FaqConfig, Flow};
use crate::plugin::testing::PluginHarness;

/// Vectors by keyword: a text's vector counts which of `axes` it contains
/// (in lower case),
/// so "refund" texts and "coupon" texts point different ways.
#[derive(Debug)]
struct Fake {
    /// One axis per word.
    axes: Vec<&'static str>,
    /// Every batch asked for.
    calls: Mutex<Vec<Vec<String>>>,
    /// Fail every call.
    fail: bool,
}

impl Fake {
    fn new(axes: &[&'static str]) -> Arc<Self> {
        Arc::new(Self {
            axes: axes.to_vec(),
            calls: Mutex::new(Vec::new()),
            fail: false,
        })
    }
}

#[async_trait]
impl VectorSource for Fake {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.calls.lock().unwrap().push(texts.to_vec());
        if self.fail {
            return Err(EmbedError::Invalid("down".into()));
        }
        Ok(texts
            .iter()
            .map(|t| {
                let t = t.to_lowercase();
                self.axes
                    .iter()
                    .map(|a| if t.contains(a) { 1.0 } else { 0.0 })
                    .collect()
            })
            .collect())
    }
}

const SCALE: Scale = Scale {
    floor: 0.0,
    full: 1.0,
};

/// Two entries: a refund one whose questions point two ways, and a coupon
/// one.
fn entries() -> Vec<EntryText> {
    let entry = |questions: &[&str], answer: &str| EntryText {
        questions: questions.iter().map(|q| (*q).to_owned()).collect(),
        answer: answer.to_owned(),
        keywords: Vec::new(),
    };
    vec![
        entry(&["how do I get my money back", "refund status"], "5 days"),
        entry(&["where is my coupon"], "in your wallet"),
    ]
}

#[test]
fn scale_maps_floor_to_zero_and_full_to_one() {
    let s = Scale {
        floor: 0.3,
        full: 0.9,
    };
    assert_eq!(s.map(0.1), 0.0);
    assert_eq!(s.map(0.3), 0.0);
    assert!((s.map(0.6) - 0.5).abs() < 1e-6);
    assert_eq!(s.map(0.95), 1.0);
}

#[test]
fn normalize_and_dot_give_the_cosine() {
    let mut a = vec![3.0, 4.0];
    normalize(&mut a);
    assert_eq!(a, vec![0.6, 0.8]);
    let mut zero = vec![0.0, 0.0];
    normalize(&mut zero);
    assert_eq!(zero, vec![0.0, 0.0]);
    assert!((dot(&a, &[0.0, 1.0]) - 0.8).abs() < 1e-6);
}

#[test]
fn dot_sums_every_component_in_both_precisions() {
    // 19 components: two and a bit chunks of eight lanes, four and a bit of four.
    let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
    let b: Vec<f32> = (0..19).map(|i| (i % 3) as f32).collect();
    let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    assert_eq!(dot(&a, &b), want);
    assert_eq!(dot(&[], &[]), 0.0);
    let (a64, b64): (Vec<f64>, Vec<f64>) = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (f64::from(*x), f64::from(*y)))
        .unzip();
    assert_eq!(dot_in_lanes::<f64, 4>(&a64, &b64), f64::from(want));
}

#[test]
fn an_entrys_centre_is_the_unit_mean_of_its_questions() {
    let c = centres(3, [(0, vec![1.0, 0.0]), (0, vec![0.0, 1.0]), (2, vec![0.6, 0.8])]);
    let h = std::f32::consts::FRAC_1_SQRT_2;
    assert!((c[0][0] - h).abs() < 1e-6 && (c[0][1] - h).abs() < 1e-6, "{c:?}");
    assert!(c[1].is_empty(), "no questions, no centre: {c:?}");
    assert_eq!(c[2], vec![0.6, 0.8]);
}

#[tokio::test]
async fn blend_ranks_a_paraphrase_the_lexical_index_missed() {
    let fake = Fake::new(&["money", "refund", "coupon"]);
    let semantic = Semantic::new(fake.clone(), &entries(), 0.5, SCALE, false);
    // Lexically nothing matched; semantically entry 0's first question is
    // the same direction, its second orthogonal: the entry's centre lies
    // between them, at 45° from the message, which the gate passes in
    // part (floor 0, full 1); the head gives the entry most of its
    // probability.
    let ranked = semantic.blend("I want my money back", Vec::new()).await;
    assert_eq!(ranked.first().map(|s| s.entry), Some(0), "{ranked:?}");
    let cos45 = std::f32::consts::FRAC_1_SQRT_2;
    assert!(
        ranked[0].score > 0.5 * 0.5 * cos45 && ranked[0].score < 0.5 * cos45,
        "w · p · gate(cos 45°), p above one half: {ranked:?}"
    );
    assert_eq!(ranked.len(), 1, "entry 1 is orthogonal: {ranked:?}");
    // The blend adds (1 − w) of the lexical score.
    let lexical = vec![
        Scored {
            entry: 1,
            score: 0.4,
            order: 0.4,
        },
        Scored {
            entry: 0,
            score: 0.2,
            order: 0.2,
        },
    ];
    let ranked = semantic.blend("coupon", lexical).await;
    assert_eq!(ranked[0].entry, 1);
    let prepared = semantic.prepared().await.unwrap();
    let sem = semantic_scores(&[0.0, 0.0, 1.0], &prepared, SCALE);
    assert!(sem[1] > 0.5 && sem[0] == 0.0, "{sem:?}");
    assert!(
        (ranked[0].score - (0.5 * sem[1] + 0.5 * 0.4)).abs() < 1e-6,
        "{ranked:?}"
    );
    assert!((ranked[1].score - 0.5 * 0.2).abs() < 1e-6, "{ranked:?}");
    // The knowledge base was embedded once: one batch of its three
    // questions, its two answers and the chatter, then one text per
    // message.
    let calls = fake.calls.lock().unwrap();
    assert_eq!(calls.len(), 3, "{calls:?}");
    let chatter = head::BACKGROUND_EN
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_eq!(calls[0].len(), 3 + 2 + chatter);
    assert_eq!(
        calls[0][..5],
        [
            "how do I get my money back",
            "refund status",
            "where is my coupon",
            "5 days",
            "in your wallet"
        ]
    );
    assert_eq!(calls[1], vec!["I want my money back".to_owned()]);
}

#[tokio::test]
async fn chatter_near_an_entry_goes_to_the_none_class() {
    // The chatter lines ("good morning", "thanks") have an axis of their
    // own; a message along it stays away from both entries, though the gate
    // would let it through (floor −1).
    let fake = Fake::new(&["money", "refund", "coupon", "morning", "thank"]);
    let open = Scale {
        floor: -1.0,
        full: -0.5,
    };
    let semantic = Semantic::new(fake, &entries(), 1.0, open, false);
    let prepared = semantic.prepared().await.unwrap();
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let chatter = semantic_scores(&[0.0, 0.0, 0.0, h, h], &prepared, open);
    assert!(chatter.iter().all(|s| *s < 0.2), "{chatter:?}");
    let refund = semantic_scores(&[0.0, 1.0, 0.0, 0.0, 0.0], &prepared, open);
    assert!(refund[0] > 0.6, "{refund:?}");
}

#[tokio::test]
async fn blend_keeps_the_lexical_order_where_the_model_says_nothing() {
    let fake = Fake::new(&["money", "refund", "coupon"]);
    let semantic = Semantic::new(fake, &entries(), 0.5, SCALE, false);
    // The index ranks entry 1 first on its core terms, though entry 0
    // scores higher; the message is orthogonal to both entries.
    let lexical = vec![
        Scored {
            entry: 1,
            score: 0.3,
            order: 0.6,
        },
        Scored {
            entry: 0,
            score: 0.4,
            order: 0.2,
        },
    ];
    let ranked = semantic.blend("hello there", lexical).await;
    assert_eq!(
        ranked.iter().map(|s| s.entry).collect::<Vec<_>>(),
        vec![1, 0],
        "{ranked:?}"
    );
    assert!((ranked[0].score - 0.15).abs() < 1e-6 && (ranked[0].order - 0.3).abs() < 1e-6);
}

#[tokio::test]
async fn chinese_messages_skip_an_english_model() {
    let fake = Fake::new(&["money", "退款"]);
    let lexical = vec![Scored {
        entry: 1,
        score: 0.3,
        order: 0.3,
    }];
    let english = Semantic::new(fake.clone(), &entries(), 0.5, SCALE, false);
    assert_eq!(english.blend("退款到哪了", lexical.clone()).await, lexical);
    assert!(fake.calls.lock().unwrap().is_empty(), "no vectors asked for");
    // English names in a Chinese sentence do not make it English.
    assert_eq!(english.coverage("播放Taylor Swift的Love Story"), 0.0);
    assert_eq!(english.coverage("refund 退"), 0.0);
    assert_eq!(english.coverage("where's my refund, order 12?"), 1.0);
    assert_eq!(english.coverage("🙂!"), 0.0);
    let multilingual = Semantic::new(fake.clone(), &entries(), 0.5, SCALE, true);
    assert_eq!(multilingual.coverage("退款到哪了"), 1.0);
    assert_ne!(multilingual.blend("退款到哪了", lexical.clone()).await, lexical);
}

#[tokio::test]
async fn a_failing_source_leaves_the_lexical_ranking_and_is_retried() {
    let fake = Arc::new(Fake {
        axes: vec!["money"],
        calls: Mutex::new(Vec::new()),
        fail: true,
    });
    let semantic = Semantic::new(fake.clone(), &entries(), 0.5, SCALE, false);
    assert!(semantic.prepare().await.is_err());
    let lexical = vec![Scored {
        entry: 0,
        score: 0.25,
        order: 0.25,
    }];
    assert_eq!(semantic.blend("money please", lexical.clone()).await, lexical);
    assert_eq!(semantic.blend("money please", lexical.clone()).await, lexical);
    assert_eq!(
        fake.calls.lock().unwrap().len(),
        3,
        "the knowledge base is tried again at each message"
    );
}

#[tokio::test]
async fn config_errors_name_the_embedding_keys() {
    let bad = [
        ("embedding: {}\n", "embedding", "needs `model_dir`"),
        (
            "embedding: {model_dir: m, base_url: \"http://x\", model: e}\n",
            "embedding.base_url",
            "not both",
        ),
        (
            "embedding: {base_url: \"ftp://x\", model: e}\n",
            "embedding.base_url",
            "http://",
        ),
        (
            "embedding: {base_url: \"http://x\"}\n",
            "embedding.base_url",
            "needs `model`",
        ),
        (
            "embedding: {base_url: \"http://x\", model: e, weight: 2}\n",
            "embedding.weight",
            "between 0 and 1",
        ),
        (
            "embedding: {base_url: \"http://x\", model: e, floor: 0.9, full: 0.5}\n",
            "embedding.full",
            "floor < full",
        ),
    ];
    for (yaml, key, message) in bad {
        let text = format!("entries: [{{id: a, questions: [q], answer: x}}]\n{yaml}");
        let options = Options::from_yaml(Path::new("bot.yaml"), &text).unwrap();
        let config: FaqConfig = options.parse().unwrap();
        let bot = crate::plugin::testing::test_bot();
        let cx = crate::plugin::BuildCx {
            bot: &bot,
            base_dir: Path::new("."),
            options: &options,
        };
        let errors = config.build_faq(&cx).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{yaml}: {shown:?}");
        let at = options.error_at(key, "").to_string();
        let place = at.trim_end_matches(": ");
        assert!(
            shown[0].starts_with(place),
            "{yaml}: {shown:?} should be at {place}"
        );
        assert!(shown[0].contains(message), "{yaml}: {shown:?}");
    }
}

#[cfg(not(feature = "embedding"))]
#[tokio::test]
async fn model_dir_without_the_feature_says_how_to_build() {
    let text = "entries: [{id: a, questions: [q], answer: x}]\nembedding:\n  model_dir: models/minilm\n";
    let options = Options::from_yaml(Path::new("bot.yaml"), text).unwrap();
    let config: FaqConfig = options.parse().unwrap();
    let bot = crate::plugin::testing::test_bot();
    let cx = crate::plugin::BuildCx {
        bot: &bot,
        base_dir: Path::new("."),
        options: &options,
    };
    let errors = config.build_faq(&cx).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "bot.yaml:3:14: this build lacks the `embedding` feature; build with `--features embedding`"
    );
}

#[cfg(feature = "embedding")]
#[tokio::test]
async fn a_missing_model_dir_is_a_config_error() {
    let text = "entries: [{id: a, questions: [q], answer: x}]\nembedding:\n  model_dir: no/such/dir\n";
    let options = Options::from_yaml(Path::new("bot.yaml"), text).unwrap();
    let config: FaqConfig = options.parse().unwrap();
    let bot = crate::plugin::testing::test_bot();
    let cx = crate::plugin::BuildCx {
        bot: &bot,
        base_dir: Path::new("/nonexistent"),
        options: &options,
    };
    let errors = config.build_faq(&cx).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "bot.yaml:3:14: no model folder at /nonexistent/no/such/dir"
    );
}

/// The harness builds and starts the plugin like the daemon does; an
/// unreachable endpoint neither fails the start nor silences the lexical
/// answer.
#[tokio::test]
async fn an_unreachable_endpoint_still_answers_lexically() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let yaml = format!(
        "entries:\n  - {{id: hours, questions: [客服几点上班, when does support open], answer: 9-21}}\n\
         embedding: {{base_url: \"http://{addr}/v1\", model: e, timeout: 2s}}\n"
    );
    let h = PluginHarness::new::<FaqConfig>(&yaml).await;
    let out = h.message("g1", "alice", "when does support open?").await;
    assert_eq!(out.replies(), vec!["9-21"]);
    assert_eq!(out.flow, Flow::Stop);
}
