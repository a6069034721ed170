//! A fake Slack (axum) that speaks the real wire formats:
//!
//! - the Web API: `POST /api/<method>`, form-encoded or JSON arguments, the
//!   token as `Authorization: Bearer`; answers `{"ok": true, …}` or
//!   `{"ok": false, "error": "…"}` with HTTP 200, and HTTP 429 with
//!   `Retry-After` when told to rate-limit. Tokens are checked per method
//!   (the app-level token only opens connections; a bot token deletes only
//!   the bot's messages, an admin's user token any member's).
//! - Socket Mode: `apps.connections.open` hands out a `ws://` URL with a
//!   one-use ticket; a connection gets `hello`, then every envelope not yet
//!   acknowledged (again, with `retry_attempt` counted up) and the new ones.
//!   It can be told to send `disconnect`, and closes that connection once
//!   the client has opened another (or after 10 s).
//! - the Events API: members' events are posted to the daemon, signed with
//!   the signing secret; a delivery not answered 2xx is retried with
//!   `X-Slack-Retry-Num`, as Slack does (sooner here).
//!
//! State lives outside the server, so a test can stop it (sockets closed,
//! connections refused, deliveries held) and restart it on the same port.

mod events;
mod socket;
mod web_api;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The bot token the fake accepts.
pub const BOT_TOKEN: &str = "xoxb-1111-2222-TESTBOTSECRET";
/// The app-level token that opens Socket Mode connections.
pub const APP_TOKEN: &str = "xapp-1-A111-3333-TESTAPPSECRET";
/// A workspace admin's user token (deletes members' messages).
pub const USER_TOKEN: &str = "xoxp-1111-4444-TESTADMINSECRET";
/// The app's signing secret (Events API).
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// The bot's own user id.
pub const BOT_USER: &str = "UQUNBOT";
/// The test channel.
pub const CHANNEL: &str = "C0TESTCHAN";

/// One Web API call the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method.
    pub method: String,
    /// The bearer token it carried.
    pub token: String,
    /// Its arguments, as a JSON object of strings.
    pub args: Value,
    /// The HTTP status answered.
    pub status: u16,
    /// `error` of an `ok: false` answer.
    pub error: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

impl Call {
    /// Answered `ok: true`.
    pub fn ok(&self) -> bool {
        self.status == 200 && self.error.is_none()
    }

    /// A string argument.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args[key].as_str()
    }
}

/// A scripted failure of the next call of a method.
#[derive(Clone, Debug)]
pub enum Failure {
    /// An HTTP status (429 with `Retry-After` seconds, 5xx).
    Status(u16, Option<u64>),
    /// HTTP 200 with `{"ok": false, "error": …}`.
    Error(&'static str),
}

/// An event not yet acknowledged (Socket Mode) or delivered (Events API).
#[derive(Clone, Debug)]
struct Pending {
    envelope_id: String,
    event_id: String,
    payload: Value,
    /// Times sent so far.
    sent: u32,
}

/// One Events API delivery attempt.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The event.
    pub event_id: String,
    /// `X-Slack-Retry-Num` (0 for the first attempt).
    pub retry: u32,
    /// The daemon's answer (0: no answer).
    pub status: u16,
}

/// A Socket Mode connection.
#[derive(Debug)]
struct Connection {
    /// Frames to send on it; `None` once closed.
    tx: Option<mpsc::UnboundedSender<Value>>,
    opened: Instant,
    closed: Option<Instant>,
}

impl Connection {
    /// Its sender, if the connection is open (a handshake the client gave
    /// up on, or a server stopping mid-upgrade, leaves a closed one).
    fn live(&self) -> Option<mpsc::UnboundedSender<Value>> {
        self.tx.clone().filter(|tx| !tx.is_closed())
    }
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    failures: HashMap<String, VecDeque<Failure>>,
    /// Socket Mode envelopes or Events API deliveries still owed.
    pending: Vec<Pending>,
    acks: Vec<String>,
    /// Acks to ignore (as if lost on the way), so the envelopes stay owed.
    lose_acks: usize,
    deliveries: Vec<Delivery>,
    connections: Vec<Connection>,
    tickets: Vec<u64>,
    next: u64,
    /// (channel, ts) → author, for chat.delete's checks.
    messages: HashMap<(String, String), String>,
    users: HashMap<String, Value>,
    /// Where Events API deliveries go (Events mode), once set.
    events_url: Option<String>,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Wakes waiters (new calls), connections (new envelopes) and the
    /// delivery task.
    changed: Notify,
    /// Cancelled while the server is stopping.
    alive: Mutex<CancellationToken>,
    addr: SocketAddr,
}

/// A running (or stopped) fake.
pub struct FakeSlack {
    shared: Arc<Shared>,
    server: Mutex<Option<JoinHandle<()>>>,
    deliverer: Mutex<Option<JoinHandle<()>>>,
}

impl FakeSlack {
    /// Start on an ephemeral loopback port.
    pub async fn start() -> FakeSlack {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = FakeSlack {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    next: 100,
                    ..Inner::default()
                }),
                changed: Notify::new(),
                alive: Mutex::new(CancellationToken::new()),
                addr,
            }),
            server: Mutex::new(None),
            deliverer: Mutex::new(None),
        };
        for (id, name, admin) in [
            ("UANN", "Ann", false),
            ("UBOB", "Bob", false),
            ("UCAT", "Cat", false),
            ("UADMIN", "Ada", true),
        ] {
            fake.set_user(id, name, admin);
        }
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: TcpListener) {
        let alive = CancellationToken::new();
        *self.shared.alive.lock().unwrap() = alive.clone();
        let app = axum::Router::new()
            .route("/api/{method}", post(web_api::web_api))
            .route("/socket", get(socket::socket))
            .with_state(self.shared.clone());
        let handle = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { alive.cancelled().await })
                .await
                .unwrap();
        });
        *self.server.lock().unwrap() = Some(handle);
    }

    /// `api_base` for the adapter.
    pub fn api_base(&self) -> String {
        format!("http://{}/api", self.shared.addr)
    }

    /// Slack goes away: sockets close, the Web API refuses connections,
    /// Events API deliveries wait. State is kept.
    pub async fn stop(&self) {
        self.shared.alive.lock().unwrap().cancel();
        let handle = self.server.lock().unwrap().take();
        if let Some(handle) = handle {
            handle.await.unwrap();
        }
    }

    /// Serve again on the same port.
    pub async fn restart(&self) {
        let listener = TcpListener::bind(self.shared.addr).await.unwrap();
        self.serve(listener);
        self.shared.changed.notify_waiters();
    }

    /// Add (or replace) a workspace user.
    pub fn set_user(&self, id: &str, name: &str, admin: bool) {
        let user = json!({
            "id": id, "team_id": "T0TEST", "name": name.to_lowercase(), "real_name": name,
            "is_admin": admin, "is_owner": false, "is_primary_owner": false, "is_bot": false,
            "profile": {"display_name": name, "real_name": name},
        });
        self.shared
            .inner
            .lock()
            .unwrap()
            .users
            .insert(id.to_owned(), user);
    }

    /// Make the next call of `method` fail.
    pub fn fail_next(&self, method: &str, failure: Failure) {
        self.shared
            .inner
            .lock()
            .unwrap()
            .failures
            .entry(method.to_owned())
            .or_default()
            .push_back(failure);
    }

    /// Events API mode: deliver events to `url` (the daemon's route), from
    /// now on, retrying until answered 2xx.
    pub fn deliver_to(&self, url: String) {
        self.shared.inner.lock().unwrap().events_url = Some(url);
        let shared = self.shared.clone();
        let task = tokio::spawn(events::deliver_loop(shared));
        if let Some(old) = self.deliverer.lock().unwrap().replace(task) {
            old.abort();
        }
    }

    /// `user` posts `text` in `channel` (optionally in the thread of
    /// `thread_ts`); returns the message's ts.
    pub fn post_message(&self, channel: &str, user: &str, text: &str, thread_ts: Option<&str>) -> String {
        let ts = {
            let mut inner = self.shared.inner.lock().unwrap();
            let ts = next_ts(&mut inner);
            inner
                .messages
                .insert((channel.to_owned(), ts.clone()), user.to_owned());
            ts
        };
        let mut event = json!({
            "type": "message", "channel": channel, "user": user, "text": escape(text),
            "ts": ts, "event_ts": ts, "team": "T0TEST",
            "channel_type": if channel.starts_with('D') { "im" } else { "channel" },
        });
        if let Some(thread) = thread_ts {
            event["thread_ts"] = json!(thread);
        }
        self.push_event(event);
        ts
    }

    /// `user` joins `channel` (`member_joined_channel`).
    pub fn member_joined(&self, channel: &str, user: &str) {
        self.push_event(json!({
            "type": "member_joined_channel", "user": user, "channel": channel,
            "channel_type": "C", "team": "T0TEST", "event_ts": "1.0",
        }));
    }

    /// Queue an event for delivery (an envelope in Socket Mode, a request in
    /// Events mode); returns its event id.
    pub fn push_event(&self, event: Value) -> String {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.next += 1;
        let n = inner.next;
        let event_id = format!("Ev{n:08}");
        let payload = json!({
            "token": "legacy-verification-token", "team_id": "T0TEST", "api_app_id": "A0TEST",
            "event": event, "type": "event_callback", "event_id": event_id,
            "event_time": 1_700_000_000 + n, "authorizations": [{"team_id": "T0TEST", "user_id": BOT_USER, "is_bot": true}],
        });
        let pending = Pending {
            envelope_id: format!("env-{n}"),
            event_id: event_id.clone(),
            payload,
            sent: 0,
        };
        inner.pending.push(pending);
        // Socket Mode: send it on the newest open connection.
        let newest = inner.connections.iter().rev().find_map(Connection::live);
        if let Some(tx) = newest {
            let last = inner.pending.len() - 1;
            let frame = envelope(&mut inner.pending[last]);
            let _ = tx.send(frame);
        }
        drop(inner);
        self.shared.changed.notify_waiters();
        event_id
    }

    /// Ignore the next `n` acks, as if they were lost: the envelopes stay
    /// owed and go out again on the next connection.
    pub fn lose_acks(&self, n: usize) {
        self.shared.inner.lock().unwrap().lose_acks = n;
    }

    /// Send `disconnect` with `reason` on every open connection.
    pub fn disconnect(&self, reason: &str) {
        let inner = self.shared.inner.lock().unwrap();
        for connection in &inner.connections {
            if let Some(tx) = &connection.tx {
                let _ = tx.send(
                    json!({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-test"}}),
                );
            }
        }
    }

    /// Every Web API call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.inner.lock().unwrap().calls.clone()
    }

    /// Calls of `method` so far.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// Envelope ids acknowledged, in order.
    pub fn acks(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().acks.clone()
    }

    /// Events not yet acknowledged or delivered.
    pub fn pending(&self) -> usize {
        self.shared.inner.lock().unwrap().pending.len()
    }

    /// Events API delivery attempts, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.inner.lock().unwrap().deliveries.clone()
    }

    /// Socket Mode connections so far: (opened, closed).
    pub fn connections(&self) -> Vec<(Instant, Option<Instant>)> {
        self.shared
            .inner
            .lock()
            .unwrap()
            .connections
            .iter()
            .map(|c| (c.opened, c.closed))
            .collect()
    }

    /// Wait (at most 30 s) until `done` holds.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&FakeSlack) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.shared.changed.notified();
            if done(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() && !done(self) {
                let calls: Vec<String> = self
                    .calls()
                    .iter()
                    .map(|c| format!("{} {} {} {:?}", c.status, c.method, c.args, c.error))
                    .collect();
                panic!("timed out waiting for {what}; calls: {calls:#?}");
            }
        }
    }

    /// Wait until a successful chat.postMessage contains `text`; returns it.
    pub async fn wait_for_text(&self, text: &str) -> Call {
        let found = |f: &FakeSlack| f.calls().into_iter().find(|c| posted_with(c, text));
        self.wait_until(&format!("a message with {text:?}"), |f| found(f).is_some())
            .await;
        found(self).unwrap()
    }

    /// Sign `body` as Slack does at Unix time `timestamp`: the
    /// `X-Slack-Request-Timestamp` and `X-Slack-Signature` values.
    pub fn sign(body: &str, timestamp: i64) -> (String, String) {
        let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
        mac.update(format!("v0:{timestamp}:{body}").as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (timestamp.to_string(), format!("v0={hex}"))
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        if let Some(task) = self.deliverer.lock().unwrap().take() {
            task.abort();
        }
    }
}

/// Whether `c` is a successful chat.postMessage containing `text`.
pub fn posted_with(c: &Call, text: &str) -> bool {
    c.method == "chat.postMessage" && c.ok() && c.arg("text").is_some_and(|t| unescape(t).contains(text))
}

/// mrkdwn's escapes, as Slack applies them to members' text.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Undo [`escape`].
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The next message ts: Unix seconds, a dot, six digits.
fn next_ts(inner: &mut Inner) -> String {
    inner.next += 1;
    format!("1700000000.{:06}", inner.next)
}

/// The Socket Mode envelope of `pending`, counting the send.
fn envelope(pending: &mut Pending) -> Value {
    let frame = json!({
        "envelope_id": pending.envelope_id, "type": "events_api", "payload": pending.payload,
        "accepts_response_payload": false, "retry_attempt": pending.sent,
        "retry_reason": if pending.sent == 0 { "" } else { "timeout" },
    });
    pending.sent += 1;
    frame
}
