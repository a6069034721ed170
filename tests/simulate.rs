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

#[tokio::test]
async fn moderation_rules_and_evasions_delete_before_later_plugins() {
    check_case("moderation_rules").await;
}

#[tokio::test]
async fn moderation_ladder_forget_after_exemption_new_members_and_commands() {
    check_case("moderation_ladder").await;
}

#[tokio::test]
async fn moderation_dry_run_decides_but_acts_on_nothing() {
    check_case("moderation_dry_run").await;
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
        [
            "autoreply",
            "cron_day_boundary",
            "moderation_dry_run",
            "moderation_ladder",
            "moderation_rules",
            "welcome"
        ],
        "add a test for each new case"
    );
}

#[tokio::test]
async fn replay_is_byte_for_byte_deterministic() {
    for name in [
        "autoreply",
        "cron_day_boundary",
        "moderation_rules",
        "moderation_ladder",
        "welcome",
    ] {
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
