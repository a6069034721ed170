//! The DingTalk app robot end to end: signed callbacks into the real
//! daemon, answers through the fake Open API (tests/fakes/dingtalk.rs).
//! A robot cannot delete, mute or remove members, so the behaviour suite's
//! moderation steps do not apply; answers, claims and an outage do.

use std::time::Duration;

use serde_json::Value;

use crate::behaviour::{self, ANSWER, CLAIM, CODES, QUESTION};
use crate::fakes::dingtalk::{self, APP_KEY, APP_SECRET, FakeDingTalk};
use crate::util::{self, Running};

const CONVERSATION: &str = "cidGroup==";

/// Post a callback as DingTalk does, signed with `secret`; the status.
async fn call(url: &str, body: &Value, secret: &str) -> u16 {
    let timestamp = chrono::Utc::now().timestamp_millis();
    reqwest::Client::new()
        .post(url)
        .header("timestamp", timestamp.to_string())
        .header("sign", dingtalk::sign(secret, timestamp))
        .json(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn sent_ok(fake: &FakeDingTalk, text: &str) -> usize {
    for _ in 0..1500 {
        let n = fake
            .sent()
            .iter()
            .filter(|s| s.ok && s.text.contains(text))
            .count();
        if n > 0 {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the robot never said {text:?}: {:?}", fake.sent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_get_answers_and_codes_and_an_api_outage_loses_nothing() {
    let fake = FakeDingTalk::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "storage: {{url: sqlite://state.db}}\nhttp: {{listen: \"127.0.0.1:0\"}}\nadapters:\n  {}: {{kind: dingtalk, app_key: {APP_KEY}, app_secret: {APP_SECRET}, api_base: \"{}\"}}\n",
        behaviour::ADAPTER,
        fake.api_base()
    );
    util::write_files(
        dir.path(),
        &[("config.yaml", &config), ("bots/shop.yaml", behaviour::BOT)],
    );
    let daemon = Running::start(dir.path()).await;
    let url = format!("http://{}/dingtalk/{}", daemon.http.unwrap(), behaviour::ADAPTER);

    // A forged signature is refused, and the message never handled.
    let forged = fake.message(CONVERSATION, "staff-eve", QUESTION);
    assert_eq!(call(&url, &forged, "not-the-secret").await, 401);

    assert_eq!(
        call(
            &url,
            &fake.message(CONVERSATION, "staff-ann", QUESTION),
            APP_SECRET
        )
        .await,
        200
    );
    sent_ok(&fake, ANSWER).await;
    let claim = fake.message(CONVERSATION, "staff-bob", CLAIM);
    assert_eq!(call(&url, &claim, APP_SECRET).await, 200);
    // DingTalk delivers again when unsure: the repeat is dropped.
    assert_eq!(call(&url, &claim, APP_SECRET).await, 200);
    sent_ok(&fake, CODES[0]).await;

    // The API goes down; the claim's code waits in the outbox.
    fake.set_down(true);
    assert_eq!(
        call(&url, &fake.message(CONVERSATION, "staff-cat", CLAIM), APP_SECRET).await,
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    fake.set_down(false);
    sent_ok(&fake, CODES[1]).await;
    daemon.stop().await;

    let sent = fake.sent();
    let delivered = |text: &str| sent.iter().filter(|s| s.ok && s.text.contains(text)).count();
    assert_eq!(
        delivered(ANSWER),
        1,
        "the forged question was not answered: {sent:?}"
    );
    assert_eq!(
        delivered(CODES[0]),
        1,
        "a repeated callback claims once: {sent:?}"
    );
    assert_eq!(delivered(CODES[1]), 1);
    assert!(sent.iter().all(|s| s.conversation == CONVERSATION));
    assert!(sent.iter().any(|s| !s.ok), "the outage was felt: {sent:?}");
}
