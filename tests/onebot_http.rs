//! The OneBot adapter's HTTP transport against the fake: events POSTed to
//! the daemon's route are refused without a valid v11 signature or v12
//! token (and not handled), and actions POSTed to the implementation map
//! its refusals, retcodes and outages to what the outbox does.

use std::time::Duration;

use qunbot::adapter::{Adapter, OneBotAdapter, OneBotConfig, SendError};
use qunbot::event::{Action, Target};
use serde_json::json;

use crate::fakes::onebot::{FakeOneBot, SECRET, TOKEN, Transport, text_of};
use crate::onebot::{BOT, GROUP, text};
use crate::util::{self, Running};

/// The daemon with one OneBot adapter `qq` over HTTP to `fake`.
async fn daemon(fake: &FakeOneBot, version: u32, extra: &str) -> (tempfile::TempDir, Running, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "storage: {{url: sqlite://state.db}}\nhttp: {{listen: 127.0.0.1:0}}\nadapters:\n  qq: {{kind: onebot, version: {version}, http_url: \"{}\", access_token: \"{TOKEN}\"{extra}, action_timeout: 2s}}\n",
        fake.http_url()
    );
    util::write_files(dir.path(), &[("config.yaml", &config), ("bots/shop.yaml", BOT)]);
    let daemon = Running::start(dir.path()).await;
    let url = format!("http://{}/onebot/qq", daemon.http.unwrap());
    (dir, daemon, url)
}

/// Wait (at most 10 s) until the fake has had `n` event POSTs answered.
async fn pushed(fake: &FakeOneBot, n: usize) -> Vec<u16> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let pushes = fake.pushes();
            if pushes.len() >= n {
                return pushes;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the events are posted")
}

fn replies(fake: &FakeOneBot, action: &str) -> usize {
    fake.actions()
        .iter()
        .filter(|r| r.action == action && text_of(&r.params["message"]) == "Refunds take 3 days.")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v11_events_with_a_wrong_or_missing_signature_are_refused_and_not_handled() {
    let fake = FakeOneBot::start_with(11, Transport::Http).await;
    let (_dir, daemon, url) = daemon(&fake, 11, &format!(", secret: \"{SECRET}\"")).await;

    // Signed with another secret: 401, and the question is never answered.
    fake.set_webhook(&url, "not-the-secret");
    fake.push_group_message(GROUP, 42, "member", text("refund?"));
    assert_eq!(pushed(&fake, 1).await, [401]);
    // Unsigned, or signed with another algorithm: 401 as well.
    let client = reqwest::Client::new();
    let body = json!({"post_type": "message"}).to_string();
    let unsigned = client.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let sha256 = client
        .post(&url)
        .header("x-signature", "sha256=00")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(sha256.status(), 401);

    // Signed right: taken (204) and answered, with a reply segment.
    fake.set_webhook(&url, SECRET);
    let asked = fake.push_group_message(GROUP, 43, "member", text("refund again?"));
    let answer = fake
        .wait_for(|r| r.action == "send_group_msg" && text_of(&r.params["message"]) == "Refunds take 3 days.")
        .await;
    assert_eq!(
        answer.params["message"][0],
        json!({"type": "reply", "data": {"id": asked.to_string()}})
    );
    daemon.stop().await;
    assert_eq!(fake.pushes(), [401, 204]);
    assert_eq!(
        replies(&fake, "send_group_msg"),
        1,
        "the refused event was not handled"
    );
    assert_eq!(fake.refused(), 0, "actions carry the access token");
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v12_events_need_the_access_token_and_version_12() {
    let fake = FakeOneBot::start_with(12, Transport::Http).await;
    let (_dir, daemon, url) = daemon(&fake, 12, "").await;

    fake.set_webhook(&url, "wrong-token");
    fake.push_group_message(GROUP, 42, "member", text("refund?"));
    assert_eq!(pushed(&fake, 1).await, [401]);
    // The right token for another version: refused too.
    let wrong_version = reqwest::Client::new()
        .post(&url)
        .bearer_auth(TOKEN)
        .header("x-onebot-version", "11")
        .body(json!({"type": "message"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_version.status(), 400);

    fake.set_webhook(&url, TOKEN);
    let asked = fake.push_group_message(GROUP, 43, "member", text("refund again?"));
    let answer = fake
        .wait_for(|r| r.action == "send_message" && text_of(&r.params["message"]) == "Refunds take 3 days.")
        .await;
    assert_eq!(answer.params["detail_type"], "group");
    assert_eq!(answer.params["group_id"], json!(GROUP.to_string()));
    assert_eq!(
        answer.params["message"][0],
        json!({"type": "reply", "data": {"message_id": asked.to_string()}})
    );
    // A claim is answered by a private message to the member.
    fake.push_group_message(GROUP, 44, "member", text("claim"));
    let code = fake
        .wait_for(|r| r.action == "send_message" && text_of(&r.params["message"]).contains("RIDE-001"))
        .await;
    assert_eq!(
        (code.params["detail_type"].clone(), code.params["user_id"].clone()),
        (json!("private"), json!("44"))
    );
    daemon.stop().await;
    assert_eq!(fake.pushes(), [401, 204, 204]);
    assert_eq!(
        replies(&fake, "send_message"),
        1,
        "the refused event was not handled"
    );
    fake.stop().await;
}

fn adapter(fake: &FakeOneBot, version: u32, token: &str) -> OneBotAdapter {
    let config: OneBotConfig = serde_json::from_value(json!({
        "version": version, "http_url": fake.http_url(), "access_token": token, "action_timeout": "1s"
    }))
    .unwrap();
    OneBotAdapter::new("qq".into(), config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v11_http_actions_map_refusals_retcodes_and_outages() {
    let mut fake = FakeOneBot::start_with(11, Transport::Http).await;
    let send = Action::Send {
        to: Target::Group(GROUP.to_string().into()),
        text: "hi".into(),
    };
    // A wrong token: 403, permanent (and the error names no token).
    let refused = adapter(&fake, 11, "wrong").execute(&send).await.unwrap_err();
    assert!(matches!(refused, SendError::Permanent(_)), "{refused}");
    assert!(!refused.to_string().contains("wrong"), "{refused}");
    assert_eq!(fake.refused(), 1);

    let qq = adapter(&fake, 11, TOKEN);
    qq.execute(&send).await.unwrap();
    let mute = Action::Mute {
        group: GROUP.to_string().as_str().into(),
        user: "42".into(),
        seconds: 600,
    };
    qq.execute(&mute).await.unwrap();
    let frames: Vec<_> = fake.actions().into_iter().map(|r| (r.action, r.params)).collect();
    assert_eq!(
        frames,
        [
            (
                "send_group_msg".to_owned(),
                json!({"group_id": GROUP, "message": [{"type": "text", "data": {"text": "hi"}}]})
            ),
            (
                "set_group_ban".to_owned(),
                json!({"group_id": GROUP, "user_id": 42, "duration": 600})
            ),
        ]
    );

    fake.fail_next("send_group_msg", Some(1403));
    assert!(matches!(qq.execute(&send).await, Err(SendError::Permanent(_))));
    fake.fail_next("send_group_msg", Some(1429));
    assert!(matches!(qq.execute(&send).await, Err(SendError::RetryAfter(_))));
    // 503 from a restarting implementation, then no answer at all.
    fake.close_on_next("send_group_msg");
    assert!(matches!(qq.execute(&send).await, Err(SendError::Transient(_))));
    fake.fail_next("send_group_msg", None);
    assert!(matches!(qq.execute(&send).await, Err(SendError::Transient(_))));
    fake.kill().await;
    assert!(matches!(qq.execute(&send).await, Err(SendError::Transient(_))));
    fake.restart().await;
    qq.execute(&send).await.unwrap();
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v12_http_actions_map_retcode_ranges() {
    let fake = FakeOneBot::start_with(12, Transport::Http).await;
    let dm = Action::Send {
        to: Target::User("42".into()),
        text: "hi".into(),
    };
    let refused = adapter(&fake, 12, "wrong").execute(&dm).await;
    assert!(matches!(refused, Err(SendError::Permanent(_))));

    let wx = adapter(&fake, 12, TOKEN);
    let send = Action::Send {
        to: Target::Group(GROUP.to_string().into()),
        text: "hi".into(),
    };
    wx.execute(&send).await.unwrap();
    wx.execute(&Action::Delete {
        group: GROUP.to_string().as_str().into(),
        message: "1001".into(),
    })
    .await
    .unwrap();
    assert!(fake.actions().iter().all(|r| r.answered), "{:?}", fake.actions());
    // v12 has no mute: refused before anything is sent.
    let mute = wx
        .execute(&Action::Mute {
            group: GROUP.to_string().as_str().into(),
            user: "42".into(),
            seconds: 60,
        })
        .await;
    assert!(matches!(mute, Err(SendError::Permanent(_))));
    assert_eq!(fake.actions().len(), 2);

    for (retcode, permanent) in [(10_003, true), (35_001, true), (20_002, false), (34_001, false)] {
        fake.fail_next("send_message", Some(retcode));
        let outcome = wx.execute(&send).await.unwrap_err();
        assert_eq!(
            matches!(outcome, SendError::Permanent(_)),
            permanent,
            "{retcode}: {outcome}"
        );
    }
    fake.fail_next("send_message", Some(36_000));
    assert!(matches!(wx.execute(&send).await, Err(SendError::RetryAfter(_))));
    fake.stop().await;
}

#[test]
fn bad_onebot_options_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let config = "\
http: {listen: 127.0.0.1:0}
adapters:
  qq:
    kind: onebot
    version: 13
    http_url: ftp://127.0.0.1
    path: onebot
  wx:
    kind: onebot
    version: 12
    ws_url: ws://127.0.0.1:1
    secret: x
  tls:
    kind: onebot
    version: 11
    ws_url: wss://qq.example.com/ws
  bad:
    kind: onebot
    version: 11
    ws_url: http://127.0.0.1:3001
";
    util::write_files(dir.path(), &[("config.yaml", config)]);
    let prefix = format!("{}/", dir.path().display());
    let errors: Vec<String> = qunbot::config::load(
        &dir.path().join("config.yaml"),
        &qunbot::registry::Registry::builtin(),
    )
    .err()
    .expect("errors")
    .iter()
    .map(|e| e.to_string().replacen(&prefix, "", 1))
    .collect();
    let expected = [
        "config.yaml:5:14: OneBot version must be 11 or 12",
        "config.yaml:6:15: http_url must start with http:// or https://",
        "config.yaml:7:11: path must start with /",
        "config.yaml:12:13: secret signs v11 HTTP events only",
        "config.yaml:20:13: ws_url must start with ws:// or wss://",
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:?}");
    for (error, expected) in errors.iter().zip(expected) {
        assert!(error.starts_with(expected), "{errors:?}");
    }
}
