//! The Discord adapter end to end: the real daemon (`runtime::run`) against
//! the fake Discord (tests/fakes/discord.rs): the shared behaviour suite,
//! gateway resumes (op 7, dropped connections, missing heartbeat ACKs),
//! invalid sessions, rate limits, refused tokens and intents, and roles.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::behaviour::{self, ANSWER, Member, Peer, QUESTION, Said};
use crate::fakes::discord::{self, CHANNEL, FakeDiscord, MOD_ROLE, OWNER, TOKEN, content};
use crate::util::Running;
use qunbot::adapter::{Adapter, DiscordAdapter, DiscordConfig};

/// The fake Discord as a peer of the shared behaviour suite.
struct DiscordPeer {
    fake: FakeDiscord,
}

fn user(member: Member) -> &'static str {
    match member {
        Member::Ann => "42",
        Member::Bob => "43",
        Member::Cat => "44",
    }
}

#[async_trait]
impl Peer for DiscordPeer {
    fn adapter_config(&self) -> String {
        self.fake.adapter_config(TOKEN)
    }

    async fn post(&mut self, member: Member, text: &str) -> String {
        self.fake.post(user(member), &format!("{member:?}"), text)
    }

    async fn said(&self) -> Vec<Said> {
        self.fake
            .ok_calls("create_message")
            .into_iter()
            .filter(|c| c.path == format!("/channels/{CHANNEL}/messages"))
            .map(|c| Said {
                text: content(&c).to_owned(),
                reply_to: c.body["message_reference"]["message_id"]
                    .as_str()
                    .map(str::to_owned),
            })
            .collect()
    }

    async fn deleted(&self) -> Vec<String> {
        self.fake
            .ok_calls("delete_message")
            .into_iter()
            .filter_map(|c| c.path.rsplit('/').next().map(str::to_owned))
            .collect()
    }

    async fn muted(&self) -> Vec<(Member, u64)> {
        let now = chrono::Utc::now();
        self.fake
            .ok_calls("modify_member")
            .into_iter()
            .filter_map(|c| {
                let until = c.body["communication_disabled_until"].as_str()?;
                let until = chrono::DateTime::parse_from_rfc3339(until).ok()?;
                let member = [Member::Ann, Member::Bob, Member::Cat]
                    .into_iter()
                    .find(|m| c.path.ends_with(&format!("/members/{}", user(*m))))?;
                // The end is absolute: round what is left up to the minute.
                let left = (until.with_timezone(&chrono::Utc) - now).num_seconds();
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
async fn the_behaviour_suite_passes_against_the_discord_fake() {
    let mut peer = DiscordPeer {
        fake: FakeDiscord::start().await,
    };
    behaviour::run(&mut peer).await;
    // The outage was bridged by resuming the session, not a new one (the
    // REST calls may get through before the gateway reconnects: wait).
    peer.fake
        .wait_until("the session resumed", |f| f.gateway_counts().1 >= 1)
        .await;
    let (identifies, ..) = peer.fake.gateway_counts();
    assert_eq!(identifies, 1);
}

/// Start the daemon with the behaviour suite's bot on `fake`.
async fn daemon(dir: &Path, fake: FakeDiscord) -> (Running, FakeDiscord) {
    let peer = DiscordPeer { fake };
    behaviour::write_config(dir, &peer);
    let running = Running::start(dir).await;
    (running, peer.fake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_opcode_and_dropped_connections_resume_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (running, fake) = daemon(dir.path(), FakeDiscord::start().await).await;
    let asked = fake.post("42", "Ann", QUESTION);
    let answer = fake.wait_for_text(ANSWER).await;
    assert_eq!(answer.body["message_reference"]["message_id"], json!(asked));

    // A claim the live connection does not deliver (as if the connection
    // died with it in flight), then op 7: the bot reconnects to
    // resume_gateway_url, resumes, and the replay brings the claim.
    fake.hold_dispatches(true);
    fake.post("43", "Bob", "claim");
    fake.send_frame(json!({"op": 7, "d": null}));
    fake.wait_until("the first resume", |f| f.gateway_counts().1 >= 1)
        .await;
    fake.hold_dispatches(false);
    fake.wait_for_text("RIDE-001").await;

    // A close with an ordinary code: resume again.
    fake.close_with(4000);
    fake.wait_until("the second resume", |f| f.gateway_counts().1 >= 2)
        .await;
    fake.post("44", "Cat", "claim");
    fake.wait_for_text("RIDE-002").await;
    running.stop().await;

    let (identifies, resumes, refused, at_resume_url, _) = fake.gateway_counts();
    assert_eq!(identifies, 1, "never a new session");
    assert!(resumes >= 2, "resumed after op 7 and the close: {resumes}");
    assert_eq!(refused, 0);
    assert!(at_resume_url >= 2, "resumes go to resume_gateway_url");
    // Each said once: replayed events are not handled twice.
    for code in ["RIDE-001", "RIDE-002", ANSWER] {
        let n = fake
            .ok_calls("create_message")
            .iter()
            .filter(|c| content(c).contains(code))
            .count();
        assert_eq!(n, 1, "{code}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_session_starts_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let (running, fake) = daemon(dir.path(), FakeDiscord::start().await).await;
    fake.wait_until("the first session", |f| f.gateway_counts().0 == 1)
        .await;
    fake.send_frame(json!({"op": 9, "d": false}));
    fake.wait_until("a second Identify", |f| f.gateway_counts().0 == 2)
        .await;
    fake.post("42", "Ann", QUESTION);
    fake.wait_for_text(ANSWER).await;
    running.stop().await;
    assert_eq!(fake.gateway_counts().1, 0, "no resume of an invalid session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_heartbeat_ack_reconnects_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (running, fake) = daemon(dir.path(), FakeDiscord::start_with(200).await).await;
    fake.wait_until("heartbeats", |f| f.gateway_counts().4 >= 2).await;
    fake.ack_heartbeats(false);
    fake.wait_until("a resume", |f| f.gateway_counts().1 >= 1).await;
    fake.ack_heartbeats(true);
    fake.post("42", "Ann", QUESTION);
    fake.wait_for_text(ANSWER).await;
    running.stop().await;
    assert_eq!(fake.gateway_counts().0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_bucket_waits_and_a_global_429_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let (running, fake) = daemon(dir.path(), FakeDiscord::start().await).await;
    fake.set_bucket(1, Duration::from_secs(2));
    fake.post("42", "Ann", QUESTION);
    fake.post("43", "Bob", "claim");
    fake.wait_for_text("RIDE-001").await;
    let sends: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.route == "create_message")
        .collect();
    assert_eq!(
        sends.len(),
        2,
        "the bucket's headers were honoured: no 429 ({sends:?})"
    );
    assert!(
        sends[1].at - sends[0].at >= Duration::from_millis(1500),
        "waited for the reset"
    );

    fake.set_bucket(50, Duration::from_secs(1));
    tokio::time::sleep(Duration::from_secs(2)).await;
    fake.fail_next("create_message", 429, 1.5, true);
    fake.post("44", "Cat", "claim");
    fake.wait_for_text("RIDE-002").await;
    running.stop().await;
    let tries: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.route == "create_message" && content(c).contains("RIDE-002") || c.status == 429)
        .collect();
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert_eq!(tries[0].status, 429);
    assert!(
        tries[1].at - tries[0].at >= Duration::from_millis(1500),
        "waited retry_after"
    );
}

fn adapter(fake: &FakeDiscord, token: &str, gateway: bool) -> DiscordAdapter {
    let mut options = json!({"token": token, "api_base": fake.api_base()});
    if gateway {
        options["gateway_url"] = json!(
            fake.api_base()
                .replace("http://", "ws://")
                .replace("/api/v10", "/gateway")
        );
    }
    let config: DiscordConfig = serde_json::from_value(options).unwrap();
    DiscordAdapter::new("dc".into(), config).unwrap()
}

async fn run_until_error(adapter: &DiscordAdapter) -> String {
    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    tokio::time::timeout(
        Duration::from_secs(30),
        adapter.run(tx, tokio_util::sync::CancellationToken::new()),
    )
    .await
    .expect("the adapter stops")
    .unwrap_err()
    .to_string()
}

/// Everything logged on this thread while the guard lives, as text.
fn capture_logs() -> (
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    #[derive(Clone)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer(Default::default());
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (buffer.0, tracing::subscriber::set_default(subscriber))
}

// One thread (the default test runtime), so the thread's log subscriber
// sees everything the adapter logs.
#[tokio::test]
async fn a_refused_token_stops_the_adapter_without_showing_the_token() {
    let (logs, _guard) = capture_logs();
    let fake = FakeDiscord::start().await;
    // Asking for the gateway URL: 401.
    let error = run_until_error(&adapter(&fake, "WRONG-secret", false)).await;
    assert!(error.contains("401"), "{error}");
    assert!(!error.contains("WRONG"), "{error}");
    // Identify on a configured gateway: close 4004.
    let error = run_until_error(&adapter(&fake, "WRONG-secret", true)).await;
    assert!(error.contains("4004"), "{error}");
    assert!(!error.contains("WRONG"), "{error}");
    // Actions: permanent, and no token either.
    let send = qunbot::event::Action::Send {
        to: qunbot::event::Target::Group(CHANNEL.into()),
        text: "x".into(),
    };
    let refused = adapter(&fake, "WRONG-secret", false)
        .execute(&send)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, qunbot::adapter::SendError::Permanent(_)),
        "{refused}"
    );
    assert!(!refused.to_string().contains("WRONG"), "{refused}");
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("WebSocket connected"), "the run was logged: {logs}");
    assert!(!logs.contains("WRONG"), "{logs}");
}

#[tokio::test]
async fn privileged_intents_not_enabled_stop_the_adapter_saying_which() {
    let fake = FakeDiscord::start().await;
    fake.disable_privileged_intents();
    let error = run_until_error(&adapter(&fake, TOKEN, true)).await;
    assert!(error.contains("4014"), "{error}");
    assert!(
        error.contains("MESSAGE CONTENT INTENT") && error.contains("SERVER MEMBERS INTENT"),
        "{error}"
    );
}

#[tokio::test]
async fn rest_errors_map_to_outbox_decisions() {
    use qunbot::adapter::SendError;
    use qunbot::event::Action;

    let fake = FakeDiscord::start().await;
    let dc = adapter(&fake, TOKEN, false);
    let mute = Action::Mute {
        group: CHANNEL.into(),
        user: "44".into(),
        seconds: 60,
    };
    // The channel's guild is asked for once, then known.
    dc.execute(&mute).await.unwrap();
    dc.execute(&mute).await.unwrap();
    assert_eq!(fake.ok_calls("get_channel").len(), 1);
    assert_eq!(fake.ok_calls("modify_member")[0].path, "/guilds/100/members/44");

    fake.fail_next("modify_member", 403, 0.0, false);
    let forbidden = dc.execute(&mute).await.unwrap_err();
    assert!(
        matches!(&forbidden, SendError::Permanent(m) if m.contains("Missing Permissions")),
        "{forbidden}"
    );
    fake.fail_next("ban", 502, 0.0, false);
    let ban = Action::Ban {
        group: CHANNEL.into(),
        user: "44".into(),
    };
    assert!(matches!(dc.execute(&ban).await, Err(SendError::Transient(_))));
    dc.execute(&ban).await.unwrap();
    fake.fail_next("kick", 429, 2.5, false);
    let kick = Action::Kick {
        group: CHANNEL.into(),
        user: "44".into(),
    };
    assert!(
        matches!(dc.execute(&kick).await, Err(SendError::RetryAfter(d)) if d == Duration::from_millis(2500))
    );
    // A message already gone counts as deleted.
    fake.fail_next("delete_message", 404, 0.0, false);
    let delete = Action::Delete {
        group: CHANNEL.into(),
        message: "9".into(),
    };
    dc.execute(&delete).await.unwrap();
    // A direct message opens the DM channel once.
    let dm = Action::Send {
        to: qunbot::event::Target::User("42".into()),
        text: "your code".into(),
    };
    dc.execute(&dm).await.unwrap();
    dc.execute(&dm).await.unwrap();
    assert_eq!(fake.ok_calls("open_dm").len(), 1);
    assert_eq!(
        fake.ok_calls("create_message")
            .iter()
            .filter(|c| c.path == "/channels/dm-42/messages")
            .count(),
        2
    );

    // A global 429 holds every route: the next call is not even sent.
    fake.fail_next("create_message", 429, 2.0, true);
    assert!(matches!(dc.execute(&dm).await, Err(SendError::RetryAfter(d)) if d == Duration::from_secs(2)));
    let before = fake.calls().len();
    let waited = dc.execute(&delete).await.unwrap_err();
    assert!(
        matches!(waited, SendError::RetryAfter(d) if d > Duration::from_millis(1500)),
        "{waited}"
    );
    assert_eq!(
        fake.calls().len(),
        before,
        "nothing sent while the global limit holds"
    );

    // An empty bucket (from the headers) holds its route and major id only.
    tokio::time::sleep(Duration::from_secs(2)).await;
    fake.set_bucket(1, Duration::from_secs(5));
    dc.execute(&kick).await.unwrap();
    let before = fake.calls().len();
    assert!(matches!(dc.execute(&kick).await, Err(SendError::RetryAfter(d)) if d > Duration::from_secs(3)));
    assert_eq!(fake.calls().len(), before, "not sent into an empty bucket");
    dc.execute(&delete).await.unwrap();

    fake.stop().await;
    assert!(matches!(dc.execute(&dm).await, Err(SendError::Transient(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_and_moderator_roles_get_admin_commands_and_bots_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (running, fake) = daemon(dir.path(), FakeDiscord::start().await).await;
    // In order in one channel: a member's /coupons (ignored), another
    // bot's question (ignored), the moderator's /coupons (answered).
    fake.post("42", "Ann", "/coupons");
    fake.dispatch(
        "MESSAGE_CREATE",
        json!({"id": "9", "channel_id": CHANNEL, "guild_id": discord::GUILD, "type": 0,
            "author": {"id": "555", "username": "otherbot", "bot": true},
            "content": QUESTION, "timestamp": chrono::Utc::now().to_rfc3339()}),
    );
    fake.post_as("2", "Mod", &[MOD_ROLE], "/coupons", None);
    fake.wait_for_text("of 2 left").await;
    fake.post(OWNER, "Owner", "/coupons");
    fake.wait_until("the owner's report", |f| {
        f.ok_calls("create_message")
            .iter()
            .filter(|c| content(c).contains("of 2 left"))
            .count()
            == 2
    })
    .await;
    fake.post("42", "Ann", QUESTION);
    fake.wait_for_text(ANSWER).await;
    running.stop().await;
    let sends = fake.ok_calls("create_message");
    assert_eq!(sends.len(), 3, "two reports and the member's answer: {sends:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_are_welcomed_in_the_system_channel() {
    let fake = FakeDiscord::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "storage: {{url: sqlite://state.db}}\nadapters:\n  dc: {}\n",
        fake.adapter_config(TOKEN)
    );
    let bot = "name: greeter\nadapters: [dc]\ngroups: [\"*\"]\nplugins:\n  - use: welcome\n    text: \"Welcome, {{user.name}}!\"\n";
    crate::util::write_files(
        dir.path(),
        &[("config.yaml", &config), ("bots/greeter.yaml", bot)],
    );
    let running = Running::start(dir.path()).await;
    fake.dispatch(
        "GUILD_MEMBER_ADD",
        json!({"guild_id": discord::GUILD, "user": {"id": "50", "username": "dee", "global_name": "Dee"},
            "roles": [], "nick": null, "joined_at": chrono::Utc::now().to_rfc3339(), "deaf": false, "mute": false}),
    );
    let welcome = fake.wait_for_text("Welcome, Dee!").await;
    running.stop().await;
    assert_eq!(
        welcome.path,
        format!("/channels/{}/messages", discord::SYSTEM_CHANNEL)
    );
}
