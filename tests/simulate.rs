//! Transcript cases: every folder in tests/transcripts/ holds a config
//! (config.yaml, bots/), an input.jsonl and the expected.jsonl output.

use crate::util;

async fn check_case(name: &str) {
    let dir = util::transcripts().join(name);
    let input = std::fs::read_to_string(dir.join("input.jsonl")).unwrap();
    let expected = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap();
    let got = util::simulate(&dir, &input).await;
    let (got_lines, want_lines): (Vec<_>, Vec<_>) = (got.lines().collect(), expected.lines().collect());
    assert_eq!(
        got_lines, want_lines,
        "case {name}: output differs\n--- got ---\n{got}"
    );
}

#[tokio::test]
async fn autoreply_keywords_exact_regex_and_cooldowns() {
    check_case("autoreply").await;
}

#[tokio::test]
async fn welcome_greets_joins_in_served_groups() {
    check_case("welcome").await;
}

#[tokio::test]
async fn cron_slots_cross_a_day_boundary_in_shanghai_time() {
    check_case("cron_day_boundary").await;
}

/// A Chinese FAQ read from a file: paraphrases, chat spellings (咋, 卷) and a
/// listed synonym answer; chatter stays silent; cooldown per entry and
/// group; `/faq`; a direct message is answered directly.
#[tokio::test]
async fn faq_chinese_answers_stays_silent_and_cools_down() {
    check_case("faq_zh").await;
}

/// An English FAQ with `only_questions`: a typo still matches, statements
/// and chatter stay silent, a per-entry `cooldown: 0s` overrides the bot's.
#[tokio::test]
async fn faq_english_only_questions_and_cooldowns() {
    check_case("faq_en").await;
}

#[tokio::test]
async fn every_case_folder_is_tested() {
    let mut names: Vec<String> = std::fs::read_dir(util::transcripts())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["autoreply", "cron_day_boundary", "faq_en", "faq_zh", "welcome"],
        "add a test for each new case"
    );
}

#[tokio::test]
async fn replay_is_byte_for_byte_deterministic() {
    for name in ["autoreply", "cron_day_boundary", "faq_en", "faq_zh", "welcome"] {
        let dir = util::transcripts().join(name);
        let input = std::fs::read_to_string(dir.join("input.jsonl")).unwrap();
        let a = util::simulate(&dir, &input).await;
        let b = util::simulate(&dir, &input).await;
        assert!(!a.is_empty());
        assert_eq!(a, b, "case {name}");
    }
}

#[tokio::test]
async fn until_fires_slots_after_the_last_line() {
    let dir = util::transcripts().join("cron_day_boundary");
    let input = r#"{"at":"2026-11-29T22:00:00+08:00","kind":"tick"}"#;
    let mut out = Vec::new();
    let options = qunbot::simulate::SimOptions {
        until: Some("2026-11-29T23:30:00+08:00".parse().unwrap()),
        ..Default::default()
    };
    qunbot::simulate::run(util::load(&dir), input, &options, &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("晚安 g1"), "{out}");
}
