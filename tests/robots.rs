//! The WeCom, Feishu and DingTalk group robots end to end: the real daemon
//! on a virtual clock posts a bot's promotions through the three robot
//! adapters to the fake endpoints (tests/fakes/robots.rs), which check
//! credentials and signatures as the platforms do.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use qunbot::clock::VirtualClock;

use crate::fakes::robots::{FakeRobots, Post};
use crate::util::{self, Running};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A bot posting `posts` promotions at noon to every group of its robots.
fn promotions(posts: usize) -> String {
    let mut bot = String::from(
        "name: promo\nadapters: [wecom, feishu, dingtalk]\ngroups: [\"*\"]\nplugins:\n  - use: promotions\n    posts:\n",
    );
    for i in 0..posts {
        bot.push_str(&format!(
            "      - {{id: p{i}, cron: \"0 0 12 * * *\", text: \"午间福利 {i}\"}}\n"
        ));
    }
    bot
}

fn config(dir: &Path, fake: &FakeRobots, dingtalk_secret: &str, posts: usize) {
    let base = fake.api_base();
    let config = format!(
        "timezone: Asia/Shanghai\nstorage: {{url: \"sqlite://state.db\"}}\nadapters:\n  \
         wecom: {{kind: wecom_robot, api_base: \"{base}\", robots: {{shop: {{key: wecom-shop}}}}}}\n  \
         feishu: {{kind: feishu_robot, api_base: \"{base}\", format: markdown, robots: {{shop: {{hook: fs-shop, secret: fs-secret}}}}}}\n  \
         dingtalk: {{kind: dingtalk_robot, api_base: \"{base}\", robots: {{sh: {{access_token: dd-sh, secret: \"{dingtalk_secret}\"}}, bj: {{access_token: dd-bj}}}}}}\n"
    );
    util::write_files(
        dir,
        &[("config.yaml", &config), ("bots/promo.yaml", &promotions(posts))],
    );
}

/// Move `clock` in `step`s until the fake has accepted `n` messages.
async fn advance_until_accepted(
    clock: &VirtualClock,
    fake: &FakeRobots,
    n: usize,
    step: Duration,
) -> Vec<Post> {
    for _ in 0..2000 {
        let accepted = fake.accepted();
        if accepted.len() >= n {
            return accepted;
        }
        clock.advance(step);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("only {} of {n} messages arrived", fake.accepted().len());
}

/// The shortest time any `count` consecutive arrivals took.
fn tightest(times: &[DateTime<Utc>], count: usize) -> chrono::Duration {
    times
        .windows(count)
        .map(|w| w[count - 1] - w[0])
        .min()
        .unwrap_or(chrono::Duration::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_reaches_every_robot_signed_and_paced_at_its_platforms_limit() {
    let clock = VirtualClock::new(at("2026-11-24T11:59:50+08:00"));
    let fake = FakeRobots::start(clock.clone(), &[("fs-shop", "fs-secret"), ("dd-sh", "SECdd")]).await;
    let dir = tempfile::tempdir().unwrap();
    let posts = 25;
    config(dir.path(), &fake, "SECdd", posts);
    let daemon = Running::start_on(dir.path(), Arc::new(clock.clone())).await;

    // Four robots (no `groups:` in the post: the robots are the groups).
    let step = Duration::from_millis(200);
    let accepted = advance_until_accepted(&clock, &fake, 4 * posts, step).await;
    daemon.stop().await;

    // Nothing was refused: every signature checked out.
    assert!(
        fake.answered().iter().all(|(_, _, code)| *code == 0),
        "{:?}",
        fake.answered()
    );
    let mut by_robot: BTreeMap<(&str, String), Vec<&Post>> = BTreeMap::new();
    for post in &accepted {
        by_robot
            .entry((post.platform, post.robot.clone()))
            .or_default()
            .push(post);
    }
    let robots: Vec<_> = by_robot.keys().cloned().collect();
    assert_eq!(
        robots,
        [
            ("dingtalk", "dd-bj".to_owned()),
            ("dingtalk", "dd-sh".to_owned()),
            ("feishu", "fs-shop".to_owned()),
            ("wecom", "wecom-shop".to_owned()),
        ]
    );
    for ((platform, robot), posts_seen) in &by_robot {
        let mut texts: Vec<String> = posts_seen
            .iter()
            .map(|p| match *platform {
                "feishu" => p.body["card"]["elements"][0]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                _ => p.body["text"]["content"].as_str().unwrap().to_owned(),
            })
            .collect();
        texts.sort();
        let mut expected: Vec<String> = (0..posts).map(|i| format!("午间福利 {i}")).collect();
        expected.sort();
        assert_eq!(texts, expected, "{platform} {robot}: each post once");

        // The fake reads the clock when a post arrives, which can be one
        // step after the outbox let it go: allow that one step.
        let times: Vec<_> = posts_seen.iter().map(|p| p.at).collect();
        let slack = chrono::Duration::from_std(step).unwrap();
        match *platform {
            // 20 a minute per robot: any 21 posts span a minute.
            "wecom" | "dingtalk" => assert!(
                tightest(&times, 21) >= chrono::Duration::seconds(60) - slack,
                "{robot}: 21 posts within {:?}",
                tightest(&times, 21)
            ),
            // 5 a second per bot.
            _ => assert!(
                tightest(&times, 6) >= chrono::Duration::seconds(1) - slack,
                "{robot}: 6 posts within {:?}",
                tightest(&times, 6)
            ),
        }
    }
    assert_eq!(
        by_robot[&("feishu", "fs-shop".to_owned())][0].body["msg_type"],
        "interactive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_robot_waits_out_the_penalty_and_a_bad_signature_is_not_retried() {
    let clock = VirtualClock::new(at("2026-11-24T11:59:50+08:00"));
    let fake = FakeRobots::start(clock.clone(), &[("fs-shop", "fs-secret"), ("dd-sh", "SECdd")]).await;
    // dd-sh's secret is wrong, so DingTalk refuses it (310000); the first
    // valid DingTalk post, dd-bj's, is throttled (130101).
    fake.throttle("dingtalk", &[130101]);
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &fake, "SECwrong", 1);
    let daemon = Running::start_on(dir.path(), Arc::new(clock.clone())).await;

    // wecom, feishu, dd-bj: three accepted in the end.
    let accepted = advance_until_accepted(&clock, &fake, 3, Duration::from_secs(30)).await;
    // Time for any retry of the refused one to show.
    for _ in 0..60 {
        clock.advance(Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    daemon.stop().await;

    let answered = fake.answered();
    let refused: Vec<_> = answered.iter().filter(|(_, _, c)| *c == 310000).collect();
    assert_eq!(
        refused.len(),
        1,
        "a bad signature goes to the dead letters, never retried: {answered:?}"
    );
    assert_eq!(refused[0].1, "dd-sh");
    let throttled: Vec<_> = answered.iter().filter(|(_, _, c)| *c == 130101).collect();
    assert_eq!(throttled.len(), 1);
    assert_eq!(throttled[0].1, "dd-bj");
    // DingTalk throttles for 10 minutes: the retry waited them out.
    let bj = accepted
        .iter()
        .find(|p| p.robot == "dd-bj")
        .expect("dd-bj posted");
    assert!(
        bj.at >= at("2026-11-24T12:10:00+08:00"),
        "waited out the throttle: {}",
        bj.at
    );
}
