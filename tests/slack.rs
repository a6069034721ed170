//! The Slack adapter end to end: the real daemon (`runtime::run`) against
//! the fake Slack (tests/fakes/slack.rs), over Socket Mode and the Events
//! API, with the behaviour suite's bot (faq, coupons, moderation); and the
//! adapter alone against the fake for what each Web API answer means.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use qunbot::adapter::{Adapter, SendError, SlackAdapter, SlackConfig};
use qunbot::event::{Action, EventKind, Target};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::behaviour::{self, ANSWER, CLAIM, CODES, Member, Peer, QUESTION, QUESTION_2, Said};
use crate::fakes::slack::{
    APP_TOKEN, BOT_TOKEN, BOT_USER, CHANNEL, Failure, FakeSlack, SIGNING_SECRET, USER_TOKEN, posted_with,
    unescape,
};
use crate::util::Running;

/// How events reach the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Socket,
    Events,
}

/// The Slack fake as a peer of the shared behaviour suite.
struct SlackPeer {
    fake: FakeSlack,
    via: Via,
}

impl SlackPeer {
    async fn start(via: Via) -> SlackPeer {
        SlackPeer {
            fake: FakeSlack::start().await,
            via,
        }
    }

    fn user(member: Member) -> &'static str {
        match member {
            Member::Ann => "UANN",
            Member::Bob => "UBOB",
            Member::Cat => "UCAT",
        }
    }
}

#[async_trait]
impl Peer for SlackPeer {
    fn adapter_config(&self) -> String {
        let mode = match self.via {
            Via::Socket => format!("mode: socket, app_token: \"{APP_TOKEN}\""),
            Via::Events => format!("mode: events, signing_secret: \"{SIGNING_SECRET}\""),
        };
        format!(
            "{{kind: slack, bot_token: \"{BOT_TOKEN}\", user_token: \"{USER_TOKEN}\", {mode}, api_base: \"{}\"}}",
            self.fake.api_base()
        )
    }

    fn extra_config(&self) -> String {
        match self.via {
            Via::Socket => String::new(),
            Via::Events => "http: {listen: \"127.0.0.1:0\"}\n".into(),
        }
    }

    fn can_mute(&self) -> bool {
        false
    }

    async fn daemon_started(&mut self, http: Option<SocketAddr>) {
        if self.via == Via::Events {
            let addr = http.expect("the events mode needs the listener");
            self.fake
                .deliver_to(format!("http://{addr}/slack/{}", behaviour::ADAPTER));
        }
    }

    async fn post(&mut self, member: Member, text: &str) -> String {
        self.fake.post_message(CHANNEL, Self::user(member), text, None)
    }

    async fn said(&self) -> Vec<Said> {
        self.fake
            .calls_of("chat.postMessage")
            .into_iter()
            .filter(|c| c.ok() && c.arg("channel") == Some(CHANNEL))
            .map(|c| Said {
                text: unescape(c.arg("text").unwrap_or_default()),
                reply_to: c.arg("thread_ts").map(str::to_owned),
            })
            .collect()
    }

    async fn deleted(&self) -> Vec<String> {
        self.fake
            .calls_of("chat.delete")
            .into_iter()
            .filter(|c| c.ok() && c.arg("channel") == Some(CHANNEL))
            .filter_map(|c| c.arg("ts").map(str::to_owned))
            .collect()
    }

    async fn muted(&self) -> Vec<(Member, u64)> {
        Vec::new()
    }

    async fn go_down(&mut self) {
        self.fake.stop().await;
    }

    async fn come_back(&mut self) {
        self.fake.restart().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_behaviour_suite_passes_over_socket_mode() {
    let mut peer = SlackPeer::start(Via::Socket).await;
    behaviour::run(&mut peer).await;
    // Every envelope was acknowledged in the end, each once.
    assert_eq!(peer.fake.pending(), 0);
    let acks = peer.fake.acks();
    let mut unique = acks.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), acks.len(), "{acks:?}");
    // Deletes of members' messages went with the admin's user token.
    assert!(
        peer.fake
            .calls_of("chat.delete")
            .iter()
            .all(|c| c.token == USER_TOKEN)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_behaviour_suite_passes_over_the_events_api() {
    let mut peer = SlackPeer::start(Via::Events).await;
    behaviour::run(&mut peer).await;
    assert_eq!(peer.fake.pending(), 0);
    // Slack held its deliveries while down: none failed, each went once.
    let deliveries = peer.fake.deliveries();
    assert!(
        deliveries.iter().all(|d| d.status == 200 && d.retry == 0),
        "{deliveries:?}"
    );
    let mut ids: Vec<_> = deliveries.iter().map(|d| d.event_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), deliveries.len());
}

/// Start the daemon with the behaviour suite's bot against `peer`.
async fn daemon(peer: &mut SlackPeer) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    behaviour::write_config(dir.path(), peer);
    let daemon = Running::start(dir.path()).await;
    peer.daemon_started(daemon.http).await;
    (daemon, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_whose_ack_was_lost_is_redelivered_and_handled_once() {
    let mut peer = SlackPeer::start(Via::Socket).await;
    let (daemon, _dir) = daemon(&mut peer).await;
    let fake = &peer.fake;
    fake.wait_until("a Socket Mode connection", |f| f.connections().len() == 1)
        .await;

    // The ack of the question is lost: Slack still owes the envelope.
    fake.lose_acks(1);
    let asked = fake.post_message(CHANNEL, "UANN", QUESTION, None);
    let answer = fake.wait_for_text(ANSWER).await;
    assert_eq!(answer.arg("thread_ts"), Some(asked.as_str()));
    assert_eq!(fake.pending(), 1);

    // Slack refreshes the connection: the envelope goes out again (with
    // retry_attempt 1) on the new one, and is acknowledged but not answered
    // twice.
    fake.disconnect("refresh_requested");
    fake.wait_until("the redelivered envelope acknowledged", |f| f.pending() == 0)
        .await;
    fake.post_message(CHANNEL, "UBOB", CLAIM, None);
    fake.wait_for_text(CODES[0]).await;
    daemon.stop().await;
    let answers = fake.calls().iter().filter(|c| posted_with(c, ANSWER)).count();
    assert_eq!(answers, 1);
    // The new connection opened before the old one closed.
    fake.wait_until("the first connection closed", |f| f.connections()[0].1.is_some())
        .await;
    let connections = fake.connections();
    assert!(connections.len() >= 2, "{connections:?}");
    let (_, first_closed) = connections[0];
    let (second_opened, _) = connections[1];
    assert!(second_opened <= first_closed.unwrap(), "{connections:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_message_in_a_thread_goes_to_the_thread() {
    let mut peer = SlackPeer::start(Via::Socket).await;
    let (daemon, _dir) = daemon(&mut peer).await;
    let fake = &peer.fake;
    let parent = fake.post_message(CHANNEL, "UBOB", "hello all", None);
    let asked = fake.post_message(CHANNEL, "UANN", QUESTION_2, Some(&parent));
    let answer = fake.wait_for_text(behaviour::ANSWER_2).await;
    daemon.stop().await;
    // Slack threads are one level deep: the answer goes to the parent.
    assert_ne!(asked, parent);
    assert_eq!(answer.arg("thread_ts"), Some(parent.as_str()));
    assert_eq!(answer.arg("channel"), Some(CHANNEL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_posts_wait_for_retry_after_and_go_out_once() {
    let mut peer = SlackPeer::start(Via::Socket).await;
    let (daemon, _dir) = daemon(&mut peer).await;
    let fake = &peer.fake;
    // First an HTTP 429 asking for 2 s, then Slack's `ratelimited` body.
    fake.fail_next("chat.postMessage", Failure::Status(429, Some(2)));
    fake.fail_next("chat.postMessage", Failure::Error("ratelimited"));
    fake.post_message(CHANNEL, "UANN", QUESTION, None);
    fake.wait_for_text(ANSWER).await;
    daemon.stop().await;
    let posts = fake.calls_of("chat.postMessage");
    assert_eq!(posts.len(), 3, "{posts:?}");
    assert_eq!(posts[0].status, 429);
    assert_eq!(posts[1].error.as_deref(), Some("ratelimited"));
    assert!(posts[2].ok());
    assert!(
        posts[1].at - posts[0].at >= Duration::from_secs(2),
        "Retry-After honoured: {:?}",
        posts[1].at - posts[0].at
    );
}

/// Post `body` to the daemon's Events API route, signed at `timestamp`
/// (or with `signature` instead); the status.
async fn post_event(
    url: &str,
    body: &str,
    timestamp: i64,
    signature: Option<&str>,
    retry: Option<u32>,
) -> u16 {
    let (stamp, good) = FakeSlack::sign(body, timestamp);
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", stamp)
        .header("x-slack-signature", signature.unwrap_or(&good))
        .body(body.to_owned());
    if let Some(n) = retry {
        request = request.header("x-slack-retry-num", n.to_string());
    }
    request.send().await.unwrap().status().as_u16()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn message_callback(event_id: &str, ts: &str, text: &str) -> String {
    json!({
        "token": "x", "team_id": "T0TEST", "api_app_id": "A0TEST", "type": "event_callback",
        "event_id": event_id, "event_time": 1_700_000_000,
        "event": {"type": "message", "channel": CHANNEL, "channel_type": "channel", "user": "UANN",
                  "text": text, "ts": ts, "event_ts": ts},
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_api_refuses_bad_signatures_and_stale_requests_and_hands_retries_over_once() {
    let mut peer = SlackPeer::start(Via::Events).await;
    let dir = tempfile::tempdir().unwrap();
    behaviour::write_config(dir.path(), &peer);
    let daemon = Running::start(dir.path()).await;
    let url = format!("http://{}/slack/{}", daemon.http.unwrap(), behaviour::ADAPTER);
    let fake = &mut peer.fake;

    // The handshake Slack sends when the request URL is set.
    let challenge = json!({"token": "x", "type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}).to_string();
    let (stamp, signature) = FakeSlack::sign(&challenge, now());
    let response = reqwest::Client::new()
        .post(&url)
        .header("x-slack-request-timestamp", stamp)
        .header("x-slack-signature", signature)
        .body(challenge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    // A wrong signature and a replayed (ten minutes old) request: 401.
    let forged = message_callback("EvFORGED", "1700000001.000001", QUESTION);
    let wrong = "v0=0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(post_event(&url, &forged, now(), Some(wrong), None).await, 401);
    let stale = message_callback("EvSTALE", "1700000001.000002", QUESTION);
    assert_eq!(post_event(&url, &stale, now() - 600, None, None).await, 401);
    // The body signed, then changed: 401.
    let (stamp, signature) = FakeSlack::sign(&forged, now());
    let changed = forged.replace(QUESTION, CLAIM);
    assert_eq!(
        post_event(&url, &changed, stamp.parse().unwrap(), Some(&signature), None).await,
        401
    );

    // Signed JSON of a shape qunbot cannot read is taken (200, or Slack
    // would retry it) and skipped; a body that is not JSON is a 400.
    let odd = json!({"type": "event_callback", "event_id": "EvODD", "event": {"type": "message", "text": QUESTION}}).to_string();
    assert_eq!(post_event(&url, &odd, now(), None, None).await, 200);
    assert_eq!(post_event(&url, "not json", now(), None, None).await, 400);

    // A good one, then Slack's retry of it: both 200, answered once.
    let good = message_callback("EvGOOD", "1700000001.000003", QUESTION);
    assert_eq!(post_event(&url, &good, now(), None, None).await, 200);
    assert_eq!(post_event(&url, &good, now(), None, Some(1)).await, 200);
    fake.wait_for_text(ANSWER).await;
    // A later message proves the retry was handled before it.
    let later = message_callback("EvLATER", "1700000001.000004", CLAIM);
    assert_eq!(post_event(&url, &later, now(), None, None).await, 200);
    fake.wait_for_text(CODES[0]).await;
    daemon.stop().await;

    let posts: Vec<_> = fake
        .calls_of("chat.postMessage")
        .into_iter()
        .filter(|c| c.ok())
        .collect();
    assert_eq!(posts.len(), 2, "only the good question and the claim: {posts:?}");
    assert_eq!(posts[0].arg("thread_ts"), Some("1700000001.000003"));
}

/// A Slack adapter (not in a daemon) against `fake`.
fn adapter(fake: &FakeSlack, extra: serde_json::Value) -> SlackAdapter {
    let mut config = json!({
        "bot_token": BOT_TOKEN, "mode": "socket", "app_token": APP_TOKEN, "api_base": fake.api_base(),
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let config: SlackConfig = serde_json::from_value(config).unwrap();
    SlackAdapter::new("sl".into(), config).unwrap()
}

#[tokio::test]
async fn web_api_answers_map_to_what_the_outbox_does() {
    let fake = FakeSlack::start().await;
    let send = Action::Send {
        to: Target::Group(CHANNEL.into()),
        text: "hi".into(),
    };
    let bot_only = adapter(&fake, json!({}));
    assert!(
        !bot_only.capabilities().delete,
        "a bot token deletes only its own messages"
    );
    assert!(!bot_only.capabilities().mute && !bot_only.capabilities().ban);
    bot_only.execute(&send).await.unwrap();

    fake.fail_next("chat.postMessage", Failure::Status(429, Some(7)));
    assert!(
        matches!(bot_only.execute(&send).await, Err(SendError::RetryAfter(d)) if d == Duration::from_secs(7))
    );
    fake.fail_next("chat.postMessage", Failure::Error("ratelimited"));
    assert!(matches!(
        bot_only.execute(&send).await,
        Err(SendError::RetryAfter(_))
    ));
    fake.fail_next("chat.postMessage", Failure::Status(503, None));
    assert!(matches!(
        bot_only.execute(&send).await,
        Err(SendError::Transient(_))
    ));
    fake.fail_next("chat.postMessage", Failure::Error("internal_error"));
    assert!(matches!(
        bot_only.execute(&send).await,
        Err(SendError::Transient(_))
    ));
    for error in ["not_in_channel", "channel_not_found"] {
        fake.fail_next("chat.postMessage", Failure::Error(error));
        assert!(matches!(bot_only.execute(&send).await, Err(SendError::Permanent(e)) if e.contains(error)));
    }
    let elsewhere = Action::Send {
        to: Target::Group("CNOWHERE".into()),
        text: "hi".into(),
    };
    assert!(matches!(
        bot_only.execute(&elsewhere).await,
        Err(SendError::Permanent(_))
    ));

    // A member's message: the bot token cannot delete it, the admin's can.
    let ts = fake.post_message(CHANNEL, "UCAT", "spam", None);
    let delete = Action::Delete {
        group: CHANNEL.into(),
        message: ts.as_str().into(),
    };
    assert!(
        matches!(bot_only.execute(&delete).await, Err(SendError::Permanent(e)) if e.contains("cant_delete_message"))
    );
    let with_admin = adapter(&fake, json!({"user_token": USER_TOKEN}));
    assert!(with_admin.capabilities().delete);
    with_admin.execute(&delete).await.unwrap();
    assert!(
        matches!(with_admin.execute(&delete).await, Err(SendError::Permanent(e)) if e.contains("message_not_found"))
    );

    // Kicks, direct messages; no mute.
    let kick = Action::Kick {
        group: CHANNEL.into(),
        user: "UCAT".into(),
    };
    with_admin.execute(&kick).await.unwrap();
    let kick_call = fake.calls_of("conversations.kick").pop().unwrap();
    assert_eq!(
        (kick_call.arg("channel"), kick_call.arg("user")),
        (Some(CHANNEL), Some("UCAT"))
    );
    assert_eq!(kick_call.token, BOT_TOKEN);
    let dm = Action::Send {
        to: Target::User("UBOB".into()),
        text: "your code".into(),
    };
    with_admin.execute(&dm).await.unwrap();
    with_admin.execute(&dm).await.unwrap();
    assert_eq!(
        fake.calls_of("conversations.open").len(),
        1,
        "the DM channel is remembered"
    );
    let dm_posts: Vec<_> = fake
        .calls_of("chat.postMessage")
        .into_iter()
        .filter(|c| c.arg("channel") == Some("DUBOB"))
        .collect();
    assert_eq!(dm_posts.len(), 2);
    let mute = Action::Mute {
        group: CHANNEL.into(),
        user: "UCAT".into(),
        seconds: 60,
    };
    assert!(matches!(
        with_admin.execute(&mute).await,
        Err(SendError::Permanent(_))
    ));

    // A revoked token is final.
    let revoked = adapter(&fake, json!({"bot_token": "xoxb-revoked"}));
    assert!(
        matches!(revoked.execute(&send).await, Err(SendError::Permanent(e)) if e.contains("invalid_auth"))
    );
}

#[tokio::test]
async fn refused_tokens_stop_the_adapter_with_a_clear_error() {
    let fake = FakeSlack::start().await;
    let (events, _rx) = mpsc::channel(8);
    let bad_bot = adapter(&fake, json!({"bot_token": "xoxb-revoked"}));
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        bad_bot.run(events.clone(), CancellationToken::new()),
    )
    .await
    .expect("stops at once")
    .unwrap_err();
    assert!(error.to_string().contains("bot token"), "{error}");
    assert!(
        !error.to_string().contains("revoked"),
        "no token in errors: {error}"
    );

    let bad_app = adapter(&fake, json!({"app_token": "xapp-1-wrong"}));
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        bad_app.run(events, CancellationToken::new()),
    )
    .await
    .expect("stops at once")
    .unwrap_err();
    assert!(error.to_string().contains("app token"), "{error}");
}

#[tokio::test]
async fn socket_mode_gives_joins_and_skips_the_bots_own_messages() {
    let fake = FakeSlack::start().await;
    let adapter = Arc::new(adapter(&fake, json!({})));
    let (events, mut rx) = mpsc::channel(8);
    let stop = CancellationToken::new();
    let running = tokio::spawn({
        let (adapter, stop) = (adapter.clone(), stop.clone());
        async move { adapter.run(events, stop).await }
    });
    fake.member_joined(CHANNEL, "UADMIN");
    fake.post_message(CHANNEL, BOT_USER, "my own post", None);
    fake.post_message(CHANNEL, "UADMIN", "hello", None);
    let joined = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(&joined.kind, EventKind::Join { chat, member }
        if chat.group.as_ref().map(|g| g.as_str()) == Some(CHANNEL) && member.id.as_str() == "UADMIN"));
    let message = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let (_, sender, text) = message.member_message().unwrap();
    assert_eq!(text.text, "hello", "the bot's own message gave no event");
    // users.info: the name and the workspace admin role.
    assert_eq!(sender.name, "Ada");
    assert!(sender.role.is_admin());
    fake.wait_until("every envelope acknowledged", |f| f.pending() == 0)
        .await;
    stop.cancel();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_events_api_window_is_read_from_the_adapters_clock() {
    let fake = FakeSlack::start().await;
    // The daemon's clock says 2020; Slack signs with its own time.
    let then = chrono::DateTime::from_timestamp(1_600_000_000, 0).unwrap();
    let clock = Arc::new(qunbot::clock::VirtualClock::new(then));
    let adapter = adapter(
        &fake,
        json!({"mode": "events", "signing_secret": SIGNING_SECRET, "app_token": null}),
    )
    .with_clock(clock.clone());
    let mut router = axum::Router::new();
    for route in adapter.routes() {
        router = router.route(&route.path, route.handler);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slack/sl", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let body = message_callback("EvCLOCK", "1600000000.000001", "hi");
    assert_eq!(
        post_event(&url, &body, 1_600_000_000 - 200, None, None).await,
        200
    );
    assert_eq!(
        post_event(&url, &body, now(), None, None).await,
        401,
        "the wall clock is not the daemon's"
    );
    clock.advance(Duration::from_secs(600));
    assert_eq!(
        post_event(&url, &body, 1_600_000_000 - 200, None, None).await,
        401,
        "now ten minutes old"
    );
}
