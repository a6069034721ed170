//! Unit tests of the `faq` plugin: manners, cooldowns, config errors.

use super::*;
use crate::plugin::testing::PluginHarness;

const KB: &str = r#"
entries:
  - id: coupon_use
    title: 怎么用券
    questions: ["优惠券怎么使用？", "领到的券在哪里用", "打车时怎么用券抵扣"]
    answer: "下单页点「优惠券」选券即可。"
  - id: refund_time
    questions: ["退款多久到账", "退款什么时候能到", "refund when"]
    answer: "原路退回，1-3 个工作日到账。"
  - id: password
    questions: ["How do I reset my password?", "I forgot my password"]
    answer: "Tap 'Forgot password' on the login page."
"#;

#[tokio::test]
async fn answers_a_paraphrase_as_a_reply_with_its_entry_as_reason() {
    let h = PluginHarness::new::<FaqConfig>(KB).await;
    let out = h.message("g1", "alice", "券怎么用啊").await;
    assert_eq!(out.replies(), vec!["下单页点「优惠券」选券即可。"]);
    assert_eq!(out.flow, Flow::Stop);
    let action = &out.actions[0];
    assert!(matches!(action.action, Action::Reply { .. }), "{action:?}");
    assert!(
        action
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("faq: coupon_use (")),
        "{action:?}"
    );
    assert_eq!(
        h.message("g1", "bob", "forgot my password, how to reset")
            .await
            .replies(),
        vec!["Tap 'Forgot password' on the login page."]
    );
}

#[tokio::test]
async fn stays_silent_below_the_threshold() {
    let h = PluginHarness::new::<FaqConfig>(KB).await;
    for text in [
        "今天天气真好",
        "有人一起吃午饭吗",
        "lol",
        "what time is the match tonight?",
    ] {
        let out = h.message("g1", "alice", text).await;
        assert!(out.is_empty(), "{text}: {:?}", out.replies());
        assert_eq!(out.flow, Flow::Continue);
    }
    let strict = PluginHarness::new::<FaqConfig>(&format!("{KB}threshold: 1.0\n")).await;
    assert!(
        strict.message("g1", "a", "券怎么用啊").await.is_empty(),
        "threshold is honoured"
    );
}

#[tokio::test]
async fn never_answers_bots() {
    let h = PluginHarness::new::<FaqConfig>(KB).await;
    let mut bot = crate::event::Sender::member("other-bot");
    bot.is_bot = true;
    assert!(h.message_as(Some("g1"), bot, "优惠券怎么使用？").await.is_empty());
}

#[tokio::test]
async fn only_questions_skips_statements() {
    let h = PluginHarness::new::<FaqConfig>(&format!("{KB}only_questions: true\ncooldown: 0s\n")).await;
    assert!(h.message("g1", "a", "退款到账了 谢谢").await.is_empty());
    assert_eq!(h.message("g1", "a", "退款多久能到账？").await.replies().len(), 1);
    let loose = PluginHarness::new::<FaqConfig>(&format!("{KB}cooldown: 0s\n")).await;
    assert_eq!(
        loose.message("g1", "a", "退款到账了 谢谢").await.replies().len(),
        1
    );
}

#[tokio::test]
async fn cooldown_is_per_entry_and_chat() {
    let h = PluginHarness::new::<FaqConfig>(KB).await;
    assert_eq!(h.message("g1", "a", "退款多久到账").await.replies().len(), 1);
    h.advance(30);
    assert!(
        h.message("g1", "b", "退款什么时候到账").await.is_empty(),
        "cooling in g1"
    );
    assert_eq!(
        h.message("g2", "b", "退款什么时候到账").await.replies().len(),
        1,
        "g2 is apart"
    );
    assert_eq!(
        h.message("g1", "b", "券怎么用").await.replies().len(),
        1,
        "other entry"
    );
    h.advance(31);
    assert_eq!(
        h.message("g1", "b", "退款多久到账").await.replies().len(),
        1,
        "over"
    );
}

#[tokio::test]
async fn faq_command_lists_topics() {
    let h = PluginHarness::new::<FaqConfig>(KB).await;
    let out = h.message("g1", "a", "/faq").await;
    assert_eq!(
        out.replies(),
        vec!["可以问我这些：\n• 怎么用券\n• 退款多久到账\n• How do I reset my password?"]
    );
}

#[tokio::test]
async fn entries_come_from_a_file_relative_to_the_bot() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kb.yaml"),
        "- id: hours\n  questions: [客服几点上班]\n  answer: 9:00-21:00\n",
    )
    .unwrap();
    let bot = crate::plugin::testing::test_bot();
    let options = Options::from_yaml(Path::new("bot.yaml"), "file: kb.yaml\n").unwrap();
    let cx = BuildCx {
        bot: &bot,
        base_dir: dir.path(),
        options: &options,
    };
    let faq = options.parse::<FaqConfig>().unwrap().build_faq(&cx).unwrap();
    assert_eq!(
        faq.best_match("客服几点上班呀").await.map(|m| m.id),
        Some("hours".into())
    );

    std::fs::write(
        dir.path().join("bad.yaml"),
        "- id: x\n  questions: [a]\n  answr: b\n",
    )
    .unwrap();
    let options = Options::from_yaml(Path::new("bot.yaml"), "file: bad.yaml\n").unwrap();
    let cx = BuildCx {
        options: &options,
        ..cx
    };
    let errors = options.parse::<FaqConfig>().unwrap().build_faq(&cx).unwrap_err();
    let shown = errors[0].to_string();
    assert!(shown.contains("bad.yaml:3:"), "{shown}");
}

#[test]
fn config_errors_are_located() {
    let errors = PluginHarness::build_errors::<FaqConfig>(
        "threshold: 1.5\nentries:\n  - {id: a, questions: [x], answer: y}\n  - {id: a, questions: [], answer: \" \"}\n",
    );
    let messages: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
    assert_eq!(errors.len(), 4, "{messages:?}");
    assert!(messages[0].contains("between 0 and 1"), "{messages:?}");
    assert!(messages[1].contains("duplicate entry id"), "{messages:?}");
    assert!(messages[2].contains("at least one question"), "{messages:?}");
    assert!(messages[3].contains("empty answer"), "{messages:?}");
    let none = PluginHarness::build_errors::<FaqConfig>("threshold: 0.5\n");
    assert!(none[0].message.contains("no entries"), "{none:?}");
}
