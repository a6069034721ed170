//! The OneBot v11 adapter end to end: the real daemon (`runtime::run`)
//! connected over the forward WebSocket to the fake implementation
//! (tests/fakes/onebot.rs), with a bot using `autoreply`, `coupons` and
//! `welcome`; and the behaviour suite for every version and transport
//! (`OneBotPeer`). HTTP mode: tests/onebot_http.rs; v12: tests/onebot_v12.rs.

use std::net::SocketAddr;
use std::path::Path;

use async_trait::async_trait;
use serde_json::json;

use crate::behaviour::{self, Member, Peer, Said};
use crate::fakes::onebot::{FakeOneBot, SECRET, TOKEN, Transport, reply_of, text_of};
use crate::util::{self, Running};

pub const GROUP: i64 = 123_456;

pub const BOT: &str = r#"
name: shop
adapters: [qq]
groups: ["*"]
locale: en
plugins:
  - use: welcome
    text: "Welcome, {{user.id}}!"
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
"#;

fn config(dir: &Path, fake: &FakeOneBot, token: &str) {
    let config = format!(
        "storage: {{url: sqlite://state.db}}\nadapters:\n  qq: {{kind: onebot, version: 11, ws_url: \"{}\", access_token: \"{token}\", action_timeout: 3s}}\n",
        fake.ws_url()
    );
    util::write_files(dir, &[("config.yaml", &config), ("bots/shop.yaml", BOT)]);
}

pub fn text(message: &str) -> serde_json::Value {
    json!([{"type": "text", "data": {"text": message}}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_a_reply_a_claim_a_private_code_and_a_joiner_a_welcome() {
    let fake = FakeOneBot::start().await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &fake, TOKEN);
    let daemon = Running::start(dir.path()).await;

    let asked = fake.push_group_message(GROUP, 42, "member", text("how do I get a refund?"));
    let answer = fake
        .wait_for(|r| r.action == "send_group_msg" && text_of(&r.params["message"]) == "Refunds take 3 days.")
        .await;
    assert_eq!(answer.params["group_id"], json!(GROUP));
    assert_eq!(
        answer.params["message"][0],
        json!({"type": "reply", "data": {"id": asked.to_string()}})
    );

    // A string message (CQ codes) works as well.
    fake.push_group_message(GROUP, 43, "member", json!("[CQ:at,qq=10000] claim"));
    let code = fake
        .wait_for(|r| r.action == "send_private_msg" && text_of(&r.params["message"]).contains("RIDE-001"))
        .await;
    assert_eq!(code.params["user_id"], json!(43));

    fake.push_notice("group_increase", GROUP, 44);
    fake.wait_for(|r| r.action == "send_group_msg" && text_of(&r.params["message"]) == "Welcome, 44!")
        .await;
    daemon.stop().await;
    assert_eq!(fake.refused(), 0);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_action_reconnects_and_delivers_the_action_once() {
    let fake = FakeOneBot::start().await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &fake, TOKEN);
    let daemon = Running::start(dir.path()).await;

    // The implementation goes away on the reply, before answering it.
    fake.close_on_next("send_group_msg");
    fake.push_group_message(GROUP, 42, "member", text("refund?"));
    fake.wait_for(|r| {
        r.action == "send_group_msg" && text_of(&r.params["message"]) == "Refunds take 3 days."
    })
    .await;
    // Events pushed after the reconnect still arrive.
    fake.push_group_message(GROUP, 45, "member", text("claim"));
    fake.wait_for(|r| r.action == "send_private_msg").await;
    daemon.stop().await;

    assert!(fake.connections() >= 2, "reconnected");
    let replies: Vec<_> = fake
        .actions()
        .into_iter()
        .filter(|r| text_of(&r.params["message"]) == "Refunds take 3 days.")
        .collect();
    assert_eq!(
        replies.len(),
        2,
        "one lost with the connection, one answered: {replies:?}"
    );
    assert!(!replies[0].answered && replies[1].answered);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_access_token_is_refused_on_the_upgrade() {
    let fake = FakeOneBot::start().await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &fake, "wrong");
    let daemon = Running::start(dir.path()).await;
    let waited = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while fake.refused() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    daemon.stop().await;
    assert!(waited.is_ok(), "the daemon tried to connect");
    assert_eq!(fake.connections(), 0);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_mode_takes_the_implementations_connection_after_checking_its_token() {
    let fake = FakeOneBot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "storage: {{url: sqlite://state.db}}\nhttp: {{listen: 127.0.0.1:0}}\nadapters:\n  qq: {{kind: onebot, version: 11, path: /onebot/v11/ws, access_token: \"{TOKEN}\"}}\n"
    );
    util::write_files(dir.path(), &[("config.yaml", &config), ("bots/shop.yaml", BOT)]);
    let daemon = Running::start(dir.path()).await;
    let addr = daemon.http.unwrap();
    let url = format!("ws://{addr}/onebot/v11/ws");

    assert!(!fake.connect_reverse(&url, Some("wrong")).await);
    assert!(!fake.connect_reverse(&url, None).await);
    assert!(fake.connect_reverse(&url, Some(TOKEN)).await);

    let asked = fake.push_group_message(GROUP, 42, "member", text("refund?"));
    let answer = fake
        .wait_for(|r| r.action == "send_group_msg" && text_of(&r.params["message"]) == "Refunds take 3 days.")
        .await;
    assert_eq!(
        answer.params["message"][0]["data"]["id"],
        json!(asked.to_string())
    );

    // A second connection replaces the first (which the daemon closes).
    assert!(fake.connect_reverse(&url, Some(TOKEN)).await);
    let replaced = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while fake.closed() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(replaced.is_ok(), "the first connection is closed");
    fake.push_group_message(GROUP, 46, "member", text("refund again"));
    fake.wait_for(|r| {
        r.action == "send_group_msg" && r.params["message"][0]["data"]["id"] != json!(asked.to_string())
    })
    .await;

    // The implementation reconnects; the query form of the token works too.
    fake.close_on_next("send_private_msg");
    fake.push_group_message(GROUP, 43, "member", text("claim"));
    fake.wait_for_unanswered("send_private_msg").await;
    assert!(
        fake.connect_reverse(&format!("{url}?access_token={TOKEN}"), None)
            .await
    );
    fake.wait_for(|r| r.action == "send_private_msg").await;
    daemon.stop().await;
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_actions_become_action_frames_and_failures_outbox_decisions() {
    use qunbot::adapter::{Adapter, OneBotAdapter, OneBotConfig, SendError};
    use qunbot::event::{Action, Target};

    let fake = FakeOneBot::start().await;
    let config: OneBotConfig = serde_json::from_value(json!({
        "version": 11, "ws_url": fake.ws_url(), "access_token": TOKEN, "action_timeout": "1s"
    }))
    .unwrap();
    let qq = std::sync::Arc::new(OneBotAdapter::new("qq".into(), config).unwrap());
    let send = Action::Send {
        to: Target::Group(GROUP.to_string().into()),
        text: "hi".into(),
    };
    // Not connected yet: temporary.
    assert!(matches!(qq.execute(&send).await, Err(SendError::Transient(_))));

    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = {
        let (qq, shutdown) = (qq.clone(), shutdown.clone());
        tokio::spawn(async move { qq.run(tx, shutdown).await })
    };
    let connected = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while qq.execute(&send).await.is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(connected.is_ok(), "the adapter connects");

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
        qq.execute(action).await.unwrap();
    }
    let frames: Vec<(String, serde_json::Value)> = fake
        .actions()
        .into_iter()
        .filter(|r| r.action != "send_group_msg")
        .map(|r| (r.action, r.params))
        .collect();
    assert_eq!(
        frames,
        [
            ("delete_msg".into(), json!({"message_id": 55})),
            (
                "set_group_ban".into(),
                json!({"group_id": GROUP, "user_id": 42, "duration": 600})
            ),
            (
                "set_group_ban".into(),
                json!({"group_id": GROUP, "user_id": 42, "duration": 0})
            ),
            (
                "set_group_kick".into(),
                json!({"group_id": GROUP, "user_id": 42, "reject_add_request": false})
            ),
            (
                "set_group_kick".into(),
                json!({"group_id": GROUP, "user_id": 43, "reject_add_request": true})
            ),
        ]
    );

    fake.fail_next("send_group_msg", Some(1403));
    let refused = qq.execute(&send).await.unwrap_err();
    assert!(matches!(refused, SendError::Permanent(_)), "{refused}");
    fake.fail_next("send_group_msg", Some(1429));
    assert!(matches!(qq.execute(&send).await, Err(SendError::RetryAfter(_))));
    fake.fail_next("send_group_msg", Some(201));
    assert!(matches!(qq.execute(&send).await, Err(SendError::Transient(_))));
    // No answer within action_timeout.
    fake.fail_next("send_group_msg", None);
    let silent = qq.execute(&send).await.unwrap_err();
    assert!(matches!(silent, SendError::Transient(_)), "{silent}");
    assert!(!silent.to_string().contains(TOKEN), "{silent}");

    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), running)
        .await
        .expect("the adapter stops")
        .unwrap()
        .unwrap();
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_implementation_killed_and_restarted_mid_run_loses_no_event_and_no_action() {
    let mut fake = FakeOneBot::start().await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &fake, TOKEN);
    let daemon = Running::start(dir.path()).await;

    // The implementation dies as the answer is sent, and stays down while
    // the outbox retries it.
    fake.close_on_next("send_group_msg");
    fake.push_group_message(GROUP, 42, "member", text("refund?"));
    fake.wait_for_unanswered("send_group_msg").await;
    fake.kill().await;
    // An event that happens while it is down is pushed once it is back.
    fake.push_group_message(GROUP, 43, "member", text("claim"));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    fake.restart().await;

    fake.wait_for(|r| {
        r.action == "send_group_msg" && text_of(&r.params["message"]) == "Refunds take 3 days."
    })
    .await;
    fake.wait_for(|r| r.action == "send_private_msg" && text_of(&r.params["message"]).contains("RIDE-001"))
        .await;
    daemon.stop().await;

    let answered = |t: &str| {
        fake.actions()
            .iter()
            .filter(|r| r.answered && text_of(&r.params["message"]) == t)
            .count()
    };
    assert_eq!(answered("Refunds take 3 days."), 1);
    assert!(fake.connections() >= 2);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spam_message_is_deleted_and_its_sender_muted() {
    let fake = FakeOneBot::start().await;
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), &fake, TOKEN);
    let guard = "name: shop\nadapters: [qq]\nlocale: en\nplugins:\n  - use: moderation\n    rules:\n      banned_words: [viagra]\n    classifier: null\n    escalation: [{mute: 10m}]\n";
    util::write_files(dir.path(), &[("bots/shop.yaml", guard)]);
    let daemon = Running::start(dir.path()).await;

    let spam = fake.push_group_message(GROUP, 42, "member", text("cheap viagra here"));
    let deleted = fake.wait_for(|r| r.action == "delete_msg").await;
    assert_eq!(deleted.params, json!({"message_id": spam}));
    let muted = fake.wait_for(|r| r.action == "set_group_ban").await;
    assert_eq!(
        muted.params,
        json!({"group_id": GROUP, "user_id": 42, "duration": 600})
    );
    daemon.stop().await;
    fake.stop().await;
}

/// The fake as a behaviour-suite peer, for one version and transport.
pub struct OneBotPeer {
    /// The implementation.
    pub fake: FakeOneBot,
    /// `11` or `12`.
    version: u32,
    /// WebSocket or HTTP.
    transport: Transport,
}

impl OneBotPeer {
    /// A fresh fake of `version` over `transport`.
    pub async fn start(version: u32, transport: Transport) -> OneBotPeer {
        OneBotPeer {
            fake: FakeOneBot::start_with(version, transport).await,
            version,
            transport,
        }
    }

    fn user(member: Member) -> i64 {
        match member {
            Member::Ann => 42,
            Member::Bob => 43,
            Member::Cat => 44,
        }
    }

    /// Answered actions named `v11` or `v12` (by version) in the test group.
    fn answered(&self, v11: &str, v12: &str) -> Vec<serde_json::Value> {
        let name = if self.version == 12 { v12 } else { v11 };
        self.fake
            .actions()
            .into_iter()
            .filter(|r| r.answered && r.action == name)
            .map(|r| r.params)
            .collect()
    }
}

/// An id param (a v11 number or a v12 string) as a string.
fn id_string(value: &serde_json::Value) -> String {
    value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string())
}

#[async_trait]
impl Peer for OneBotPeer {
    fn adapter_config(&self) -> String {
        match self.transport {
            Transport::Ws => format!(
                "{{kind: onebot, version: {}, ws_url: \"{}\", access_token: \"{TOKEN}\", action_timeout: 3s}}",
                self.version,
                self.fake.ws_url()
            ),
            Transport::Http => {
                let secret = if self.version == 11 {
                    format!(", secret: \"{SECRET}\"")
                } else {
                    String::new()
                };
                format!(
                    "{{kind: onebot, version: {}, http_url: \"{}\", access_token: \"{TOKEN}\"{secret}, action_timeout: 3s}}",
                    self.version,
                    self.fake.http_url()
                )
            }
        }
    }

    fn extra_config(&self) -> String {
        match self.transport {
            Transport::Ws => String::new(),
            Transport::Http => "http: {listen: 127.0.0.1:0}\n".into(),
        }
    }

    fn can_mute(&self) -> bool {
        self.version == 11
    }

    async fn daemon_started(&mut self, http: Option<SocketAddr>) {
        if let (Transport::Http, Some(addr)) = (self.transport, http) {
            let credential = if self.version == 11 { SECRET } else { TOKEN };
            let url = format!("http://{addr}/onebot/{}", behaviour::ADAPTER);
            self.fake.set_webhook(&url, credential);
        }
    }

    async fn post(&mut self, member: Member, text: &str) -> String {
        self.fake
            .push_group_message(
                GROUP,
                Self::user(member),
                "member",
                json!([{"type": "text", "data": {"text": text}}]),
            )
            .to_string()
    }

    async fn said(&self) -> Vec<Said> {
        self.answered("send_group_msg", "send_message")
            .into_iter()
            .filter(|p| id_string(&p["group_id"]) == GROUP.to_string())
            .map(|p| Said {
                text: text_of(&p["message"]),
                reply_to: reply_of(&p["message"]),
            })
            .collect()
    }

    async fn deleted(&self) -> Vec<String> {
        self.answered("delete_msg", "delete_message")
            .iter()
            .map(|p| id_string(&p["message_id"]))
            .collect()
    }

    async fn muted(&self) -> Vec<(Member, u64)> {
        self.answered("set_group_ban", "set_group_ban")
            .iter()
            .filter_map(|p| {
                let member = [Member::Ann, Member::Bob, Member::Cat]
                    .into_iter()
                    .find(|m| p["user_id"] == json!(Self::user(*m)))?;
                let seconds = p["duration"].as_u64().filter(|d| *d > 0)?;
                Some((member, seconds))
            })
            .collect()
    }

    async fn go_down(&mut self) {
        self.fake.kill().await;
    }

    async fn come_back(&mut self) {
        self.fake.restart().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_behaviour_suite_passes_over_v11_forward_websocket() {
    let mut peer = OneBotPeer::start(11, Transport::Ws).await;
    behaviour::run(&mut peer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_behaviour_suite_passes_over_v11_http() {
    let mut peer = OneBotPeer::start(11, Transport::Http).await;
    behaviour::run(&mut peer).await;
    // Every event was signed and taken.
    assert!(
        peer.fake.pushes().iter().all(|s| *s == 204),
        "{:?}",
        peer.fake.pushes()
    );
}

/// v12 has no mute: this needs the runtime's soft-mute fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_behaviour_suite_passes_over_v12_forward_websocket() {
    let mut peer = OneBotPeer::start(12, Transport::Ws).await;
    behaviour::run(&mut peer).await;
}

/// v12 has no mute: this needs the runtime's soft-mute fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_behaviour_suite_passes_over_v12_http() {
    let mut peer = OneBotPeer::start(12, Transport::Http).await;
    behaviour::run(&mut peer).await;
}
