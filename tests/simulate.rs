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
async fn coupons_claims_limits_windows_and_live_pool_state_in_promotions() {
    check_case("coupons").await;
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

/// The new-member gate: muted and asked on joining; a wrong answer is
/// deleted, a full-width right one unmutes; a wrong answer by direct
/// message; the minute job kicks the member who never answered.
#[tokio::test]
async fn moderation_verify_mutes_asks_unmutes_and_kicks_on_timeout() {
    check_case("moderation_verify").await;
}

/// Ban lists and `ban_scope: bot`: a listed user is banned on joining, a
/// pinned one on writing (message deleted), in every group the bot knows;
/// a ladder ban extends to the other groups too.
#[tokio::test]
async fn moderation_ban_lists_and_bot_wide_bans() {
    check_case("moderation_banlist").await;
}

fn case_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(util::transcripts())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_case_folder_has_its_test() {
    let source = include_str!("simulate.rs");
    for name in case_names() {
        let call = format!("check_case(\"{name}\")");
        assert!(
            source.contains(&call),
            "tests/transcripts/{name} has no test: add one calling {call}"
        );
    }
}

#[tokio::test]
async fn replay_is_byte_for_byte_deterministic() {
    for name in case_names() {
        let dir = util::transcripts().join(&name);
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

#[tokio::test]
async fn missed_skip_and_once_across_a_restart_on_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    util::write_files(
        dir.path(),
        &[
            (
                "config.yaml",
                "timezone: Asia/Shanghai\nadapters:\n  console: {kind: console}\n",
            ),
            (
                "bots/promo.yaml",
                r#"
groups: [g1]
plugins:
  - use: promotions
    posts:
      - {id: skipper, cron: "0 30 11 * * *", text: "skip {{date}}", missed: skip}
      - {id: catcher, cron: "0 30 11 * * *", text: "once {{date}}", missed: once}
"#,
            ),
        ],
    );
    let options = qunbot::simulate::SimOptions {
        store: Some(format!("sqlite://{}", dir.path().join("state.db").display())),
        ..Default::default()
    };
    let run = |transcript: &'static str| {
        let options = options.clone();
        let dir = dir.path().to_owned();
        async move {
            let mut out = Vec::new();
            qunbot::simulate::run(util::load(&dir), transcript, &options, &mut out)
                .await
                .unwrap();
            String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    format!("{} {}", v["at"].as_str().unwrap(), v["text"].as_str().unwrap())
                })
                .collect::<Vec<_>>()
        }
    };
    let first = run(concat!(
        r#"{"at":"2026-11-24T11:00:00+08:00","kind":"tick"}"#,
        "\n",
        r#"{"at":"2026-11-24T11:45:00+08:00","kind":"tick"}"#
    ))
    .await;
    assert_eq!(
        first,
        [
            "2026-11-24T11:30:00+08:00 skip 2026-11-24",
            "2026-11-24T11:30:00+08:00 once 2026-11-24"
        ]
    );
    // Down over the 25th and 26th: `once` posts the latest missed slot at
    // start-up, `skip` forgets both; the 27th fires normally for both.
    let second = run(concat!(
        r#"{"at":"2026-11-27T09:00:00+08:00","kind":"tick"}"#,
        "\n",
        r#"{"at":"2026-11-27T11:45:00+08:00","kind":"tick"}"#
    ))
    .await;
    assert_eq!(
        second,
        [
            "2026-11-27T09:00:00+08:00 once 2026-11-26",
            "2026-11-27T11:30:00+08:00 skip 2026-11-27",
            "2026-11-27T11:30:00+08:00 once 2026-11-27",
        ]
    );
}
