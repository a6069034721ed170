//! A fake Discord (axum) speaking the documented wire format: the REST API
//! v10 under `/api/v10` (`Authorization: Bot TOKEN`, errors
//! `{"message","code"}`, rate-limit headers, 429 bodies
//! `{"message","retry_after","global"}`) and the gateway at `/gateway`
//! (Hello, Identify checked for token and intents, READY with a
//! `resume_gateway_url` at `/resume`, GUILD_CREATE, dispatches with
//! sequence numbers, heartbeat ACKs, Resume replaying what was missed,
//! op 9 for a session it does not know, close 4004 for a bad token and
//! 4014 for privileged intents not enabled).
//!
//! One guild ([`GUILD`], owned by [`OWNER`]) with a text channel
//! ([`CHANNEL`]), a system channel ([`SYSTEM_CHANNEL`]) and a moderator
//! role ([`MOD_ROLE`], Manage Messages). State lives outside the server,
//! so a test can stop it (connections dropped, then refused) and restart
//! it on the same port; events posted meanwhile wait in the session's log.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The bot token the fake accepts.
pub const TOKEN: &str = "MTIzNDU2.fake-discord.SECRET-token";
/// The bot's own user id.
pub const BOT_ID: &str = "777";
/// The guild.
pub const GUILD: &str = "100";
/// Its text channel, where members talk.
pub const CHANNEL: &str = "200";
/// Its system channel (joins).
pub const SYSTEM_CHANNEL: &str = "201";
/// The guild's owner.
pub const OWNER: &str = "1";
/// A role with Manage Messages.
pub const MOD_ROLE: &str = "300";

/// Intents Discord treats as privileged (GUILD_MEMBERS, MESSAGE_CONTENT).
const PRIVILEGED: u64 = (1 << 1) | (1 << 15);

/// One REST call the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    /// The route's name: `create_message`, `delete_message`,
    /// `modify_member`, `kick`, `ban`, `open_dm`, `get_channel`,
    /// `gateway_bot`.
    pub route: String,
    /// The path below `/api/v10`.
    pub path: String,
    /// The JSON body (`null` if none).
    pub body: Value,
    /// The status the fake answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

/// A scripted REST failure.
#[derive(Clone, Debug)]
struct Failure {
    status: u16,
    body: Value,
    global: bool,
}

/// Something to do to the live gateway connection.
#[derive(Debug)]
enum Control {
    /// Send this frame.
    Frame(Value),
    /// Close with this code.
    Close(u16),
}

#[derive(Default)]
struct Inner {
    /// The current session's id (after Identify).
    session: Option<String>,
    /// The session's dispatches, with `s` set.
    log: Vec<Value>,
    /// Dispatches posted before any session.
    pending: Vec<(String, Value)>,
    /// Sessions started.
    identifies: usize,
    /// Resumes accepted.
    resumes: usize,
    /// Resumes refused (op 9).
    refused_resumes: usize,
    /// Connections on `/resume`.
    resume_url_connections: usize,
    /// Heartbeats received.
    heartbeats: usize,
    /// Whether heartbeats are ACKed.
    no_acks: bool,
    /// Whether new dispatches wait (for the next Resume's replay).
    hold: bool,
    /// Whether the application has the privileged intents enabled.
    privileged_disabled: bool,
    /// Which connection is live (newer ones replace older ones).
    generation: u64,
    /// Controls for the live connection.
    controls: VecDeque<Control>,
    next_id: u64,
    calls: Vec<Call>,
    failures: HashMap<String, VecDeque<Failure>>,
    /// Bucket size and window per route and major id.
    bucket: (u64, Duration),
    buckets: HashMap<String, (u64, Instant)>,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Wakes connections (new dispatches, controls) and waiters.
    changed: Notify,
    /// Cancelled while the server is stopping.
    alive: Mutex<CancellationToken>,
    /// Milliseconds between heartbeats, told in Hello.
    heartbeat_interval: u64,
    addr: SocketAddr,
}

/// A running (or stopped) fake Discord.
pub struct FakeDiscord {
    shared: Arc<Shared>,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl FakeDiscord {
    /// Start on an ephemeral loopback port, asking for heartbeats every 2 s.
    pub async fn start() -> FakeDiscord {
        Self::start_with(2000).await
    }

    /// Start asking for heartbeats every `heartbeat_ms`.
    pub async fn start_with(heartbeat_ms: u64) -> FakeDiscord {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = FakeDiscord {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    next_id: 5000,
                    bucket: (50, Duration::from_secs(1)),
                    ..Inner::default()
                }),
                changed: Notify::new(),
                alive: Mutex::new(CancellationToken::new()),
                heartbeat_interval: heartbeat_ms,
                addr,
            }),
            server: Mutex::new(None),
        };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: TcpListener) {
        let alive = CancellationToken::new();
        *self.shared.alive.lock().unwrap() = alive.clone();
        let app = axum::Router::new()
            .route("/gateway", axum::routing::get(gateway))
            .route("/resume", axum::routing::get(resume_gateway))
            .fallback(rest)
            .with_state(self.shared.clone());
        let handle = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { alive.cancelled().await })
                .await
                .unwrap();
        });
        *self.server.lock().unwrap() = Some(handle);
    }

    /// The adapter's options for this fake.
    pub fn adapter_config(&self, token: &str) -> String {
        format!(
            "{{kind: discord, token: \"{token}\", api_base: \"{}\"}}",
            self.api_base()
        )
    }

    /// `api_base` for the adapter.
    pub fn api_base(&self) -> String {
        format!("http://{}/api/v10", self.shared.addr)
    }

    /// Stop serving: gateway connections drop (no close frame), REST
    /// connections are refused. State is kept.
    pub async fn stop(&self) {
        {
            // Under `inner`'s lock: a connection reads the log under it too,
            // so nothing dispatched after this reaches an old connection.
            let _inner = self.shared.inner.lock().unwrap();
            self.shared.alive.lock().unwrap().cancel();
        }
        let handle = self.server.lock().unwrap().take();
        if let Some(handle) = handle {
            let abort = handle.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), handle)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Serve again on the same port.
    pub async fn restart(&self) {
        let listener = TcpListener::bind(self.shared.addr).await.unwrap();
        self.serve(listener);
    }

    fn next_id(inner: &mut Inner) -> String {
        inner.next_id += 1;
        inner.next_id.to_string()
    }

    /// Dispatch `t` with `d` to the bot (now, or when it resumes).
    pub fn dispatch(&self, t: &str, d: Value) {
        let mut inner = self.shared.inner.lock().unwrap();
        dispatch(&mut inner, t, d);
        drop(inner);
        self.shared.changed.notify_waiters();
    }

    /// `user` (named `name`, with `roles`) writes `text` in [`CHANNEL`],
    /// replying to `reply_to` if given; returns the message id.
    pub fn post_as(
        &self,
        user: &str,
        name: &str,
        roles: &[&str],
        text: &str,
        reply_to: Option<&str>,
    ) -> String {
        let id = Self::next_id(&mut self.shared.inner.lock().unwrap());
        let mut d = json!({
            "id": id, "channel_id": CHANNEL, "guild_id": GUILD, "type": if reply_to.is_some() { 19 } else { 0 },
            "author": {"id": user, "username": name.to_lowercase(), "global_name": name, "discriminator": "0"},
            "member": {"roles": roles, "nick": null, "joined_at": "2026-01-01T00:00:00.000000+00:00"},
            "content": text, "timestamp": chrono::Utc::now().to_rfc3339(),
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "tts": false,
        });
        if let Some(r) = reply_to {
            d["message_reference"] = json!({"message_id": r, "channel_id": CHANNEL, "guild_id": GUILD});
        }
        self.dispatch("MESSAGE_CREATE", d);
        id
    }

    /// A member writes `text`; returns the message id.
    pub fn post(&self, user: &str, name: &str, text: &str) -> String {
        self.post_as(user, name, &[], text, None)
    }

    /// Send `frame` on the live gateway connection.
    pub fn send_frame(&self, frame: Value) {
        self.control(Control::Frame(frame));
    }

    /// Close the live gateway connection with `code`.
    pub fn close_with(&self, code: u16) {
        self.control(Control::Close(code));
    }

    fn control(&self, control: Control) {
        self.shared.inner.lock().unwrap().controls.push_back(control);
        self.shared.changed.notify_waiters();
    }

    /// Hold new dispatches back from the live connection (`true`): they
    /// reach the bot only when it resumes, as events missed in a
    /// disconnect do; or let them flow again.
    pub fn hold_dispatches(&self, hold: bool) {
        self.shared.inner.lock().unwrap().hold = hold;
        self.shared.changed.notify_waiters();
    }

    /// Stop ACKing heartbeats (`false`) or ACK them again.
    pub fn ack_heartbeats(&self, ack: bool) {
        self.shared.inner.lock().unwrap().no_acks = !ack;
    }

    /// Refuse privileged intents (close 4014), as for an application
    /// without them enabled.
    pub fn disable_privileged_intents(&self) {
        self.shared.inner.lock().unwrap().privileged_disabled = true;
    }

    /// Every route's bucket holds `limit` calls per `window`.
    pub fn set_bucket(&self, limit: u64, window: Duration) {
        self.shared.inner.lock().unwrap().bucket = (limit, window);
    }

    /// Answer the next call of `route` with `status` (and Discord's body
    /// for it); for 429, `retry_after` seconds and whether it is global.
    pub fn fail_next(&self, route: &str, status: u16, retry_after: f64, global: bool) {
        let body = match status {
            429 => {
                json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global})
            }
            401 => json!({"message": "401: Unauthorized", "code": 0}),
            403 => json!({"message": "Missing Permissions", "code": 50013}),
            404 => json!({"message": "Unknown Message", "code": 10008}),
            _ => Value::Null,
        };
        self.shared
            .inner
            .lock()
            .unwrap()
            .failures
            .entry(route.into())
            .or_default()
            .push_back(Failure { status, body, global });
    }

    /// Every REST call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.inner.lock().unwrap().calls.clone()
    }

    /// The calls of `route` answered with a 2xx.
    pub fn ok_calls(&self, route: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.route == route && (200..300).contains(&c.status))
            .collect()
    }

    /// (identifies, accepted resumes, refused resumes, connections at the
    /// resume URL, heartbeats received).
    pub fn gateway_counts(&self) -> (usize, usize, usize, usize, usize) {
        let i = self.shared.inner.lock().unwrap();
        (
            i.identifies,
            i.resumes,
            i.refused_resumes,
            i.resume_url_connections,
            i.heartbeats,
        )
    }

    /// Wait (at most 20 s) until `done` holds for the fake's counters and calls.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&FakeDiscord) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; calls: {:?}",
                self.calls()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait for a message from the bot containing `text`.
    pub async fn wait_for_text(&self, text: &str) -> Call {
        self.wait_until(&format!("the bot to say {text:?}"), |f| {
            f.ok_calls("create_message")
                .iter()
                .any(|c| content(c).contains(text))
        })
        .await;
        self.ok_calls("create_message")
            .into_iter()
            .find(|c| content(c).contains(text))
            .unwrap()
    }
}

/// A create-message call's text.
pub fn content(c: &Call) -> &str {
    c.body["content"].as_str().unwrap_or_default()
}

/// Append a dispatch to the session's log, or hold it until one exists.
fn dispatch(inner: &mut Inner, t: &str, d: Value) {
    if inner.session.is_none() {
        inner.pending.push((t.to_owned(), d));
        return;
    }
    let s = inner.log.len() as u64 + 1;
    inner.log.push(json!({"op": 0, "s": s, "t": t, "d": d}));
}

fn guild_create() -> Value {
    json!({
        "id": GUILD, "name": "Shop", "owner_id": OWNER, "system_channel_id": SYSTEM_CHANNEL,
        "unavailable": false, "member_count": 4,
        "roles": [
            {"id": GUILD, "name": "@everyone", "permissions": "1024", "position": 0},
            {"id": MOD_ROLE, "name": "Mod", "permissions": "8192", "position": 1}
        ],
        "channels": [
            {"id": CHANNEL, "type": 0, "name": "general"},
            {"id": SYSTEM_CHANNEL, "type": 0, "name": "welcome"}
        ],
        "threads": [], "members": [],
    })
}

#[derive(serde::Deserialize)]
struct GatewayQuery {
    v: Option<String>,
    encoding: Option<String>,
}

async fn gateway(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<GatewayQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade_checked(shared, q, upgrade, false)
}

async fn resume_gateway(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<GatewayQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade_checked(shared, q, upgrade, true)
}

fn upgrade_checked(
    shared: Arc<Shared>,
    q: GatewayQuery,
    upgrade: WebSocketUpgrade,
    resume_url: bool,
) -> Response {
    if q.v.as_deref() != Some("10") || q.encoding.as_deref() != Some("json") {
        return (StatusCode::BAD_REQUEST, "v=10&encoding=json expected").into_response();
    }
    if resume_url {
        shared.inner.lock().unwrap().resume_url_connections += 1;
    }
    upgrade.on_upgrade(move |socket| connection(socket, shared))
}

/// One gateway connection.
async fn connection(mut ws: WebSocket, shared: Arc<Shared>) {
    let alive = shared.alive.lock().unwrap().clone();
    let generation = {
        let mut inner = shared.inner.lock().unwrap();
        inner.generation += 1;
        inner.controls.clear();
        inner.generation
    };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": shared.heartbeat_interval}});
    if ws.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    // Identify or Resume first.
    let first = tokio::select! {
        f = tokio::time::timeout(Duration::from_secs(10), ws.recv()) => f,
        () = alive.cancelled() => return,
    };
    let Ok(Some(Ok(Message::Text(first)))) = first else {
        return;
    };
    let first: Value = serde_json::from_str(first.as_str()).unwrap();
    let d = &first["d"];
    if d["token"] != json!(TOKEN) {
        let _ = close(&mut ws, 4004, "Authentication failed.").await;
        return;
    }
    let mut sent = 0usize;
    match first["op"].as_u64() {
        Some(2) => {
            let intents = d["intents"].as_u64().unwrap_or(0);
            let disallowed = shared.inner.lock().unwrap().privileged_disabled && intents & PRIVILEGED != 0;
            if disallowed {
                let _ = close(&mut ws, 4014, "Disallowed intent(s).").await;
                return;
            }
            let mut inner = shared.inner.lock().unwrap();
            inner.identifies += 1;
            inner.session = Some(format!("session-{}", inner.identifies));
            inner.log.clear();
            let ready = json!({
                "v": 10, "session_id": inner.session.clone(), "session_type": "normal",
                "resume_gateway_url": format!("ws://{}/resume", shared.addr),
                "user": {"id": BOT_ID, "username": "qunbot", "bot": true, "discriminator": "0"},
                "guilds": [{"id": GUILD, "unavailable": true}], "application": {"id": BOT_ID, "flags": 0},
            });
            dispatch(&mut inner, "READY", ready);
            dispatch(&mut inner, "GUILD_CREATE", guild_create());
            for (t, d) in std::mem::take(&mut inner.pending) {
                dispatch(&mut inner, &t, d);
            }
        }
        Some(6) => {
            let known = {
                let mut inner = shared.inner.lock().unwrap();
                let known = inner.session.is_some() && d["session_id"] == json!(inner.session);
                if !known {
                    inner.refused_resumes += 1;
                }
                known
            };
            if !known {
                let _ = ws
                    .send(Message::text(json!({"op": 9, "d": false}).to_string()))
                    .await;
                // Discord closes soon after; the client reconnects.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return;
            }
            sent = d["seq"].as_u64().unwrap_or(0) as usize;
            // RESUMED follows the replayed events.
            let missed: Vec<Value> = {
                let mut inner = shared.inner.lock().unwrap();
                inner.resumes += 1;
                inner.log[sent.min(inner.log.len())..].to_vec()
            };
            for frame in missed {
                if ws.send(Message::text(frame.to_string())).await.is_err() {
                    return;
                }
                sent += 1;
            }
            let mut inner = shared.inner.lock().unwrap();
            dispatch(&mut inner, "RESUMED", json!({}));
        }
        _ => {
            let _ = close(&mut ws, 4003, "Not authenticated.").await;
            return;
        }
    }
    loop {
        let changed = shared.changed.notified();
        let (frames, controls, replaced) = {
            let mut inner = shared.inner.lock().unwrap();
            if alive.is_cancelled() {
                // The outage began: this connection is gone.
                return;
            }
            let frames: Vec<Value> = if inner.hold {
                Vec::new()
            } else {
                inner.log[sent.min(inner.log.len())..].to_vec()
            };
            let controls: Vec<Control> = inner.controls.drain(..).collect();
            (frames, controls, inner.generation != generation)
        };
        if replaced {
            return;
        }
        for frame in frames {
            if ws.send(Message::text(frame.to_string())).await.is_err() {
                return;
            }
            sent += 1;
        }
        for control in controls {
            match control {
                Control::Frame(frame) => {
                    if ws.send(Message::text(frame.to_string())).await.is_err() {
                        return;
                    }
                }
                Control::Close(code) => {
                    let _ = close(&mut ws, code, "closed by the test").await;
                    return;
                }
            }
        }
        tokio::select! {
            biased;
            // Gone without a close frame, as in an outage.
            () = alive.cancelled() => return,
            frame = ws.recv() => {
                let Some(Ok(frame)) = frame else { return };
                let Message::Text(text) = frame else {
                    if matches!(frame, Message::Close(_)) { return }
                    continue;
                };
                let frame: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                if frame["op"] == json!(1) {
                    let ack = {
                        let mut inner = shared.inner.lock().unwrap();
                        inner.heartbeats += 1;
                        !inner.no_acks
                    };
                    if ack && ws.send(Message::text(json!({"op": 11}).to_string())).await.is_err() {
                        return;
                    }
                }
            }
            () = changed => {}
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

async fn close(ws: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), axum::Error> {
    ws.send(Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    })))
    .await
}

/// The REST API: record, check the token, apply scripted failures and
/// buckets, answer.
async fn rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().strip_prefix("/api/v10").unwrap_or("").to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (route, major) = match (&method, parts.as_slice()) {
        (&Method::GET, ["gateway", "bot"]) => ("gateway_bot", ""),
        (&Method::POST, ["channels", c, "messages"]) => ("create_message", *c),
        (&Method::DELETE, ["channels", c, "messages", _]) => ("delete_message", *c),
        (&Method::GET, ["channels", c]) => ("get_channel", *c),
        (&Method::PATCH, ["guilds", g, "members", _]) => ("modify_member", *g),
        (&Method::DELETE, ["guilds", g, "members", _]) => ("kick", *g),
        (&Method::PUT, ["guilds", g, "bans", _]) => ("ban", *g),
        (&Method::POST, ["users", "@me", "channels"]) => ("open_dm", ""),
        _ => ("unknown", ""),
    };
    let mut inner = shared.inner.lock().unwrap();
    let (status, response) = answer(&mut inner, &shared, route, major, &parts, &headers, &body);
    inner.calls.push(Call {
        route: route.into(),
        path: path.clone(),
        body,
        status: status.as_u16(),
        at: Instant::now(),
    });
    drop(inner);
    shared.changed.notify_waiters();
    response
}

fn json_response(
    status: StatusCode,
    body: Value,
    headers: Vec<(&'static str, String)>,
) -> (StatusCode, Response) {
    let mut response = if body.is_null() && status == StatusCode::NO_CONTENT {
        status.into_response()
    } else if body.is_null() {
        (status, "upstream error").into_response()
    } else {
        (status, axum::Json(body)).into_response()
    };
    for (name, value) in headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    (status, response)
}

fn answer(
    inner: &mut Inner,
    shared: &Shared,
    route: &str,
    major: &str,
    parts: &[&str],
    headers: &HeaderMap,
    body: &Value,
) -> (StatusCode, Response) {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bot {TOKEN}")) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": "401: Unauthorized", "code": 0}),
            vec![],
        );
    }
    if route == "unknown" {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"message": "404: Not Found", "code": 0}),
            vec![],
        );
    }
    if let Some(f) = inner.failures.get_mut(route).and_then(VecDeque::pop_front) {
        let status = StatusCode::from_u16(f.status).unwrap();
        let mut extra = vec![];
        if f.status == 429 {
            let wait = f.body["retry_after"].as_f64().unwrap_or(1.0);
            extra.push(("retry-after", (wait.ceil() as u64).to_string()));
            extra.push((
                "x-ratelimit-scope",
                if f.global { "global" } else { "user" }.to_string(),
            ));
            if f.global {
                extra.push(("x-ratelimit-global", "true".to_string()));
            }
        }
        return json_response(status, f.body, extra);
    }
    // The route's bucket.
    let (limit, window) = inner.bucket;
    let key = format!("{route}:{major}");
    let now = Instant::now();
    let entry = inner.buckets.entry(key).or_insert((limit, now + window));
    if entry.1 <= now {
        *entry = (limit, now + window);
    }
    let reset_after = entry.1.saturating_duration_since(now).as_secs_f64();
    let limit_headers = |remaining: u64| {
        vec![
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset-after", format!("{reset_after:.3}")),
            ("x-ratelimit-bucket", format!("bucket-{route}")),
        ]
    };
    if entry.0 == 0 {
        let mut h = limit_headers(0);
        h.push(("x-ratelimit-scope", "user".into()));
        h.push(("retry-after", (reset_after.ceil() as u64).to_string()));
        return json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"message": "You are being rate limited.", "retry_after": reset_after, "global": false}),
            h,
        );
    }
    entry.0 -= 1;
    let h = limit_headers(entry.0);
    match route {
        "gateway_bot" => json_response(
            StatusCode::OK,
            json!({"url": format!("ws://{}/gateway", shared.addr), "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}}),
            h,
        ),
        "create_message" => {
            let id = FakeDiscord::next_id(inner);
            let message = json!({
                "id": id, "channel_id": parts[1], "guild_id": GUILD, "type": if body.get("message_reference").is_some() { 19 } else { 0 },
                "author": {"id": BOT_ID, "username": "qunbot", "bot": true},
                "content": body["content"], "timestamp": chrono::Utc::now().to_rfc3339(),
                "message_reference": body.get("message_reference"),
            });
            // The gateway echoes the bot's own messages.
            dispatch(inner, "MESSAGE_CREATE", message.clone());
            json_response(StatusCode::OK, message, h)
        }
        "get_channel" => {
            if [CHANNEL, SYSTEM_CHANNEL].contains(&parts[1]) {
                json_response(
                    StatusCode::OK,
                    json!({"id": parts[1], "type": 0, "guild_id": GUILD}),
                    h,
                )
            } else {
                json_response(
                    StatusCode::NOT_FOUND,
                    json!({"message": "Unknown Channel", "code": 10003}),
                    h,
                )
            }
        }
        "open_dm" => json_response(
            StatusCode::OK,
            json!({"id": format!("dm-{}", body["recipient_id"].as_str().unwrap_or("")), "type": 1}),
            h,
        ),
        "modify_member" => json_response(
            StatusCode::OK,
            json!({"user": {"id": parts[3]}, "roles": [],
            "communication_disabled_until": body["communication_disabled_until"]}),
            h,
        ),
        _ => json_response(StatusCode::NO_CONTENT, Value::Null, h),
    }
}
