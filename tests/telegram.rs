//! The Telegram adapter end to end: the real daemon (`runtime::run`) against
//! the fake Bot API (tests/fakes/telegram.rs), with a bot using the
//! `autoreply` and `coupons` plugins.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::behaviour::{self, Member, Peer, Said};
use crate::fakes::telegram::{Call, FakeTelegram, TOKEN, ok_send_with};
use crate::util::{self, Running};

const GROUP: i64 = -1001234;

const BOT: &str = r#"
name: shop
adapters: [tg]
groups: ["*"]
locale: en
plugins:
  - use: autoreply
    rules:
      - match: {keywords: [refund]}
        reply: "Refunds take 3 days."
  - use: coupons
    pools:
      - id: ride
        title: Ride
        codes: [RIDE-001, RIDE-002]
        per_user: 1
    claim:
      keywords: [claim]
      deliver: group
"#;

fn polling_config(dir: &Path, fake: &FakeTelegram) {
    let config = format!(
        "storage: {{url: sqlite://state.db}}\nadapters:\n  tg: {{kind: telegram, token: \"{TOKEN}\", api_base: \"{}\", poll_timeout: 2s}}\n",
        fake.api_base()
    );
    util::write_files(dir, &[("config.yaml", &config), ("bots/shop.yaml", BOT)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_an_answer_and_a_claim_gets_a_code_over_long_polling() {
    let fake = FakeTelegram::start().await;
    fake.set_admins(GROUP, &[(1, "creator")]);
    let dir = tempfile::tempdir().unwrap();
    polling_config(dir.path(), &fake);
    let daemon = Running::start(dir.path()).await;

    let asked = fake.push_message(GROUP, 42, "Ann", "how do I get a refund?");
    let answer = fake.wait_for_text("Refunds take 3 days.").await;
    assert_eq!(answer.body["chat_id"], json!(GROUP));
    assert_eq!(answer.body["reply_parameters"]["message_id"], json!(asked));

    fake.push_message(GROUP, 42, "Ann", "claim");
    let code = fake.wait_for_text("RIDE-001").await;
    assert_eq!(code.body["chat_id"], json!(GROUP));
    daemon.stop().await;

    // Every update was confirmed (offset), and getUpdates asked for
    // chat_member updates explicitly.
    let polls = fake.calls_of("getUpdates");
    assert!(
        polls[0].body["allowed_updates"]
            .as_array()
            .unwrap()
            .contains(&json!("chat_member"))
    );
    assert!(fake.calls_of("deleteWebhook").len() == 1);
    assert!(
        fake.calls_of("getChatAdministrators")
            .iter()
            .any(|c| c.body["chat_id"] == json!(GROUP))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_retry_after_is_honoured_through_the_outbox() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    polling_config(dir.path(), &fake);
    let daemon = Running::start(dir.path()).await;

    fake.fail_next("sendMessage", 429, Some(2), None);
    fake.push_message(GROUP, 42, "Ann", "refund please");
    fake.wait_for_text("Refunds take 3 days.").await;
    daemon.stop().await;

    let sends = fake.calls_of("sendMessage");
    assert_eq!(sends.len(), 2, "one refused, one delivered: {sends:?}");
    assert_eq!(sends[0].status, 429);
    assert_eq!(sends[1].status, 200);
    assert!(
        sends[1].at.duration_since(sends[0].at) >= Duration::from_secs(2),
        "retried before retry_after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_5xx_and_a_restart_of_the_api_lose_no_event_and_no_action() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    polling_config(dir.path(), &fake);
    let daemon = Running::start(dir.path()).await;

    // getUpdates answers 502 twice, the first reply 500: both retried.
    fake.fail_next("getUpdates", 502, None, None);
    fake.fail_next("getUpdates", 502, None, None);
    fake.fail_next("sendMessage", 500, None, None);
    fake.push_message(GROUP, 42, "Ann", "refund?");
    fake.wait_for_text("Refunds take 3 days.").await;

    // The API goes away with a claim queued, and comes back.
    fake.stop().await;
    fake.push_message(GROUP, 43, "Bob", "claim");
    fake.restart().await;
    fake.wait_for_text("RIDE-001").await;

    // A claim while the API is down again, answered once it is back.
    fake.push_message(GROUP, 44, "Cy", "claim");
    fake.stop().await;
    fake.restart().await;
    fake.wait_for_text("RIDE-002").await;
    daemon.stop().await;

    let delivered = |text: &str| fake.calls().iter().filter(|c| ok_send_with(c, text)).count();
    assert_eq!(delivered("Refunds take 3 days."), 1);
    assert_eq!(delivered("RIDE-001"), 1);
    assert_eq!(delivered("RIDE-002"), 1);
    assert_eq!(fake.pending_updates(), 0, "every update confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_updates_need_the_secret_and_get_answered() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "storage: {{url: sqlite://state.db}}\nhttp: {{listen: 127.0.0.1:0}}\nadapters:\n  tg: {{kind: telegram, token: \"{TOKEN}\", api_base: \"{}\", mode: webhook, secret_token: s3cr3t, webhook_url: \"https://example.org/telegram/tg\"}}\n",
        fake.api_base()
    );
    util::write_files(dir.path(), &[("config.yaml", &config), ("bots/shop.yaml", BOT)]);
    let daemon = Running::start(dir.path()).await;
    let url = format!("http://{}/telegram/tg", daemon.http.expect("listening"));
    let update = json!({"update_id": 1, "message": {
        "message_id": 5, "date": 1_700_000_000,
        "chat": {"id": GROUP, "type": "supergroup"},
        "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
        "text": "refund?"}});
    let client = reqwest::Client::new();

    let refused = client.post(&url).json(&update).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = client
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", "nope")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let accepted = client
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cr3t")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    fake.wait_for_text("Refunds take 3 days.").await;
    daemon.stop().await;

    let set = fake.calls_of("setWebhook");
    assert_eq!(set[0].body["secret_token"], json!("s3cr3t"));
    assert!(fake.calls_of("getUpdates").is_empty());
    // Answered once: the refused posts produced nothing.
    assert_eq!(fake.calls_of("sendMessage").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_group_is_followed_for_sends() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    polling_config(dir.path(), &fake);
    let daemon = Running::start(dir.path()).await;

    fake.fail_next("sendMessage", 400, None, Some(-100999));
    fake.push_message(GROUP, 42, "Ann", "refund?");
    let answer = fake.wait_for_text("Refunds take 3 days.").await;
    assert_eq!(answer.body["chat_id"], json!(-100999));
    daemon.stop().await;
}

#[test]
fn webhook_paths_are_checked_when_config_loads() {
    let dir = tempfile::tempdir().unwrap();
    let config = "adapters:\n  a: {kind: telegram, token: t, mode: webhook, secret_token: s, path: /hook}\n  b: {kind: telegram, token: t, mode: webhook, secret_token: s, path: /hook}\n";
    util::write_files(dir.path(), &[("config.yaml", config)]);
    let errors = qunbot::config::load(
        &dir.path().join("config.yaml"),
        &qunbot::registry::Registry::builtin(),
    )
    .err()
    .unwrap();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|e| e.contains("add `http:")), "{text:?}");

    let with_http = format!("http: {{listen: 127.0.0.1:0}}\n{config}");
    util::write_files(dir.path(), &[("config.yaml", &with_http)]);
    let errors = qunbot::config::load(
        &dir.path().join("config.yaml"),
        &qunbot::registry::Registry::builtin(),
    )
    .err()
    .unwrap();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e.contains("which adapter `a` serves already")),
        "{text:?}"
    );

    let no_secret = "http: {}\nadapters:\n  a: {kind: telegram, token: t, mode: webhook}\n";
    util::write_files(dir.path(), &[("config.yaml", no_secret)]);
    let errors = qunbot::config::load(
        &dir.path().join("config.yaml"),
        &qunbot::registry::Registry::builtin(),
    )
    .err()
    .unwrap();
    assert!(errors[0].to_string().contains("secret_token"), "{errors:?}");
}

fn adapter(fake: &FakeTelegram, token: &str) -> qunbot::adapter::TelegramAdapter {
    let config: qunbot::adapter::TelegramConfig = serde_json::from_value(json!({
        "token": token, "api_base": fake.api_base(), "poll_timeout": "1s"
    }))
    .unwrap();
    qunbot::adapter::TelegramAdapter::new("tg".into(), config).unwrap()
}

#[tokio::test]
async fn moderation_actions_become_bot_api_calls_and_failures_outbox_decisions() {
    use qunbot::adapter::{Adapter, SendError};
    use qunbot::event::Action;

    let fake = FakeTelegram::start().await;
    let tg = adapter(&fake, TOKEN);
    let group = GROUP.to_string();
    let actions = [
        Action::Delete {
            group: group.as_str().into(),
            message: "55".into(),
        },
        Action::Mute {
            group: group.as_str().into(),
            user: "42".into(),
            seconds: 600,
        },
        Action::Unmute {
            group: group.as_str().into(),
            user: "42".into(),
        },
        Action::Kick {
            group: group.as_str().into(),
            user: "42".into(),
        },
        Action::Ban {
            group: group.as_str().into(),
            user: "43".into(),
        },
    ];
    for action in &actions {
        tg.execute(action).await.unwrap();
    }
    let methods: Vec<String> = fake.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        [
            "deleteMessage",
            "restrictChatMember",
            "restrictChatMember",
            "banChatMember",
            "unbanChatMember",
            "banChatMember"
        ]
    );
    let mute = &fake.calls_of("restrictChatMember")[0];
    assert_eq!(mute.body["permissions"]["can_send_messages"], json!(false));
    assert!(mute.body["until_date"].as_i64().unwrap() > 1_700_000_000);

    let send = Action::Send {
        to: qunbot::event::Target::Group(group.as_str().into()),
        text: "hi".into(),
    };
    fake.fail_next("sendMessage", 429, Some(5), None);
    assert!(matches!(tg.execute(&send).await, Err(SendError::RetryAfter(d)) if d == Duration::from_secs(5)));
    fake.fail_next("sendMessage", 502, None, None);
    assert!(matches!(tg.execute(&send).await, Err(SendError::Transient(_))));
    fake.fail_next("sendMessage", 403, None, None);
    let forbidden = tg.execute(&send).await.unwrap_err();
    assert!(matches!(forbidden, SendError::Permanent(_)), "{forbidden}");
    assert!(forbidden.to_string().contains("bot was kicked"), "{forbidden}");

    fake.stop().await;
    let down = tg.execute(&send).await.unwrap_err();
    assert!(matches!(down, SendError::Transient(_)), "{down}");
    assert!(!down.to_string().contains(TOKEN), "{down}");
}

#[tokio::test]
async fn a_refused_token_stops_the_adapter_without_showing_the_token() {
    use qunbot::adapter::{Adapter, SendError};

    let fake = FakeTelegram::start().await;
    let tg = adapter(&fake, "999:WRONG-token");
    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    let error = tokio::time::timeout(
        Duration::from_secs(30),
        tg.run(tx, tokio_util::sync::CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(error.to_string().contains("401"), "{error}");
    assert!(!error.to_string().contains("WRONG"), "{error}");
    let send = qunbot::event::Action::Send {
        to: qunbot::event::Target::Group("-1".into()),
        text: "x".into(),
    };
    let refused = tg.execute(&send).await.unwrap_err();
    assert!(matches!(refused, SendError::Permanent(_)), "{refused}");
    assert!(!refused.to_string().contains("WRONG"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_admins_get_admin_commands_and_bot_senders_are_ignored() {
    let fake = FakeTelegram::start().await;
    fake.set_admins(GROUP, &[(1, "creator"), (2, "administrator")]);
    let dir = tempfile::tempdir().unwrap();
    polling_config(dir.path(), &fake);
    let daemon = Running::start(dir.path()).await;

    // In one group events run in order: the member's /coupons and the bot's
    // refund question come before the admin's /coupons.
    fake.push_message(GROUP, 42, "Ann", "/coupons");
    fake.push_update(json!({"message": {
        "message_id": 9, "date": 1_700_000_000,
        "chat": {"id": GROUP, "type": "supergroup"},
        "from": {"id": 555, "is_bot": true, "first_name": "OtherBot"},
        "text": "refund?"}}));
    fake.push_message(GROUP, 2, "Mod", "/coupons");
    fake.wait_for_text("of 2 left").await;
    fake.push_message(GROUP, 42, "Ann", "refund?");
    fake.wait_for_text("Refunds take 3 days.").await;
    daemon.stop().await;

    let sends = fake.calls_of("sendMessage");
    assert_eq!(
        sends.len(),
        2,
        "only the admin's report and the member's answer: {sends:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_reported_twice_is_welcomed_once() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    polling_config(dir.path(), &fake);
    let welcome =
        "name: hello\nadapters: [tg]\nplugins:\n  - use: welcome\n    text: \"Welcome, {{user.name}}!\"\n";
    util::write_files(dir.path(), &[("bots/shop.yaml", welcome)]);
    let daemon = Running::start(dir.path()).await;

    let user = json!({"id": 50, "is_bot": false, "first_name": "Dee"});
    // Telegram reports a join both as a service message and, to admin
    // bots, as a chat_member update.
    fake.push_update(json!({"message": {"message_id": 70, "date": 1_700_000_000,
        "chat": {"id": GROUP, "type": "supergroup"}, "from": user, "new_chat_members": [user]}}));
    fake.push_update(
        json!({"chat_member": {"chat": {"id": GROUP, "type": "supergroup"},
        "from": user, "date": 1_700_000_001,
        "old_chat_member": {"status": "left", "user": user},
        "new_chat_member": {"status": "member", "user": user}}}),
    );
    // A later join of someone else is welcomed too, so the first is done.
    let eve = json!({"id": 51, "is_bot": false, "first_name": "Eve"});
    fake.push_update(
        json!({"chat_member": {"chat": {"id": GROUP, "type": "supergroup"},
        "from": eve, "date": 1_700_000_002,
        "old_chat_member": {"status": "left", "user": eve},
        "new_chat_member": {"status": "member", "user": eve}}}),
    );
    fake.wait_for_text("Welcome, Eve!").await;
    daemon.stop().await;

    let welcomes = fake
        .calls()
        .iter()
        .filter(|c| ok_send_with(c, "Welcome, Dee!"))
        .count();
    assert_eq!(welcomes, 1);
}

#[test]
fn a_webhook_path_the_listener_cannot_route_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        "http: {}\nadapters:\n  \"tg {x}\": {kind: telegram, token: t, mode: webhook, secret_token: s}\n";
    util::write_files(dir.path(), &[("config.yaml", config)]);
    let errors = qunbot::config::load(
        &dir.path().join("config.yaml"),
        &qunbot::registry::Registry::builtin(),
    )
    .err()
    .unwrap();
    assert!(
        errors[0].to_string().contains("would serve `/telegram/tg {x}`"),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_retried_while_the_api_is_down_is_delivered_once_after() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    polling_config(dir.path(), &fake);
    let daemon = Running::start(dir.path()).await;

    // The first attempt gets a 500; the API then goes away before the
    // outbox's retry (at least half a second later).
    fake.fail_next("sendMessage", 500, None, None);
    fake.push_message(GROUP, 42, "Ann", "refund?");
    fake.wait_until("the failed send", |calls| {
        calls.iter().any(|c| c.method == "sendMessage" && c.status == 500)
    })
    .await;
    fake.stop().await;

    // Wait until the outbox has also failed against the closed port.
    let store = qunbot::storage::open(&format!("sqlite://{}", dir.path().join("state.db").display()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pending = store.outbox_pending(&"tg".into(), 10).await.unwrap();
        if pending.first().is_some_and(|q| q.attempts >= 2) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no retry while down: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    fake.restart().await;
    fake.wait_for_text("Refunds take 3 days.").await;
    daemon.stop().await;
    let delivered = fake
        .calls()
        .iter()
        .filter(|c| ok_send_with(c, "Refunds take 3 days."))
        .count();
    assert_eq!(delivered, 1);
}

/// The Telegram fake as a peer of the shared behaviour suite.
struct TelegramPeer {
    fake: FakeTelegram,
}

impl TelegramPeer {
    fn user(member: Member) -> i64 {
        match member {
            Member::Ann => 42,
            Member::Bob => 43,
            Member::Cat => 44,
        }
    }

    fn ok_calls(&self, method: &str) -> Vec<Call> {
        self.fake
            .calls_of(method)
            .into_iter()
            .filter(|c| c.status == 200 && c.body["chat_id"] == json!(GROUP))
            .collect()
    }
}

#[async_trait]
impl Peer for TelegramPeer {
    fn adapter_config(&self) -> String {
        format!(
            "{{kind: telegram, token: \"{TOKEN}\", api_base: \"{}\", poll_timeout: 2s}}",
            self.fake.api_base()
        )
    }

    async fn post(&mut self, member: Member, text: &str) -> String {
        self.fake
            .push_message(GROUP, Self::user(member), &format!("{member:?}"), text)
            .to_string()
    }

    async fn said(&self) -> Vec<Said> {
        self.ok_calls("sendMessage")
            .into_iter()
            .map(|c| Said {
                text: c.body["text"].as_str().unwrap_or_default().to_owned(),
                reply_to: c.body["reply_parameters"]["message_id"]
                    .as_i64()
                    .map(|id| id.to_string()),
            })
            .collect()
    }

    async fn deleted(&self) -> Vec<String> {
        self.ok_calls("deleteMessage")
            .into_iter()
            .filter_map(|c| c.body["message_id"].as_i64().map(|id| id.to_string()))
            .collect()
    }

    async fn muted(&self) -> Vec<(Member, u64)> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        self.ok_calls("restrictChatMember")
            .into_iter()
            .filter(|c| c.body["permissions"]["can_send_messages"] == json!(false))
            .filter_map(|c| {
                let member = [Member::Ann, Member::Bob, Member::Cat]
                    .into_iter()
                    .find(|m| c.body["user_id"] == json!(Self::user(*m)))?;
                // until_date is absolute: round what is left up to the minute.
                let left = c.body["until_date"].as_i64()? - now;
                Some((member, (left.max(0) as u64).div_ceil(60) * 60))
            })
            .collect()
    }

    async fn go_down(&mut self) {
        self.fake.stop().await;
    }

    async fn come_back(&mut self) {
        self.fake.restart().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_behaviour_suite_passes_against_the_bot_api_fake() {
    let mut peer = TelegramPeer {
        fake: FakeTelegram::start().await,
    };
    behaviour::run(&mut peer).await;
}
