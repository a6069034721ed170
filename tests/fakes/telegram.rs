//! A fake Telegram Bot API server (axum) that speaks the real wire format:
//! `POST /bot<token>/<method>` with JSON, answers `{"ok":true,"result":…}` or
//! `{"ok":false,"error_code":…,"description":…,"parameters":{…}}`.
//!
//! It keeps its state outside the server, so a test can stop it (in-flight
//! long polls answer 502, then connections are refused) and restart it on
//! the same port, as Telegram's front ends do during an incident. Every call
//! is recorded with the outcome the fake gave it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The bot token the fake accepts.
pub const TOKEN: &str = "123456:TEST-SECRET-token";

/// The fake bot's own user id.
pub const BOT_ID: i64 = 777;

/// One call the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    /// The method.
    pub method: String,
    /// Its JSON parameters.
    pub body: Value,
    /// The HTTP status the fake answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

/// A scripted failure.
#[derive(Clone, Debug)]
struct Failure {
    status: u16,
    retry_after: Option<u64>,
    migrate_to: Option<i64>,
}

#[derive(Default)]
struct Inner {
    /// Unconfirmed updates, oldest first.
    updates: Vec<Value>,
    next_update_id: i64,
    next_message_id: i64,
    calls: Vec<Call>,
    failures: HashMap<String, VecDeque<Failure>>,
    admins: HashMap<i64, Vec<Value>>,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Wakes long polls (new updates) and waiters (new calls).
    changed: Notify,
    /// Cancelled while the server is stopping; in-flight long polls end.
    alive: Mutex<CancellationToken>,
}

/// A running (or stopped) fake.
pub struct FakeTelegram {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl FakeTelegram {
    /// Start on an ephemeral loopback port.
    pub async fn start() -> FakeTelegram {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = FakeTelegram {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    next_update_id: 100,
                    next_message_id: 1000,
                    ..Inner::default()
                }),
                changed: Notify::new(),
                alive: Mutex::new(CancellationToken::new()),
            }),
            addr,
            server: Mutex::new(None),
        };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: TcpListener) {
        let alive = CancellationToken::new();
        *self.shared.alive.lock().unwrap() = alive.clone();
        let app = axum::Router::new()
            .route("/{bot}/{method}", post(handle))
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
        format!("http://{}", self.addr)
    }

    /// Stop serving: long polls in flight answer 502, new connections are
    /// refused. State (queued updates, calls) is kept.
    pub async fn stop(&self) {
        self.shared.alive.lock().unwrap().cancel();
        let handle = self.server.lock().unwrap().take();
        if let Some(handle) = handle {
            handle.await.unwrap();
        }
    }

    /// Serve again on the same port.
    pub async fn restart(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// Queue an update (its `update_id` is assigned); returns the id.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let mut inner = self.shared.inner.lock().unwrap();
        let id = inner.next_update_id;
        inner.next_update_id += 1;
        update["update_id"] = json!(id);
        inner.updates.push(update);
        drop(inner);
        self.shared.changed.notify_waiters();
        id
    }

    /// A member's text message in a supergroup; returns its message id.
    pub fn push_message(&self, chat: i64, user: i64, name: &str, text: &str) -> i64 {
        let id = {
            let mut inner = self.shared.inner.lock().unwrap();
            inner.next_message_id += 1;
            inner.next_message_id
        };
        self.push_update(json!({"message": {
            "message_id": id, "date": 1_700_000_000,
            "chat": {"id": chat, "type": "supergroup", "title": "Test group"},
            "from": {"id": user, "is_bot": false, "first_name": name},
            "text": text,
        }}));
        id
    }

    /// Make the next call of `method` fail with `status` (429 with
    /// `retry_after` seconds, 400 with `migrate_to_chat_id`, …).
    pub fn fail_next(&self, method: &str, status: u16, retry_after: Option<u64>, migrate_to: Option<i64>) {
        self.shared
            .inner
            .lock()
            .unwrap()
            .failures
            .entry(method.to_owned())
            .or_default()
            .push_back(Failure {
                status,
                retry_after,
                migrate_to,
            });
    }

    /// Set a group's administrators (`getChatAdministrators`).
    pub fn set_admins(&self, chat: i64, users: &[(i64, &str)]) {
        let members = users
            .iter()
            .map(|(id, status)| json!({"status": status, "user": {"id": id, "is_bot": false, "first_name": "Admin"}}))
            .collect();
        self.shared.inner.lock().unwrap().admins.insert(chat, members);
    }

    /// Every call so far (getUpdates included).
    pub fn calls(&self) -> Vec<Call> {
        self.shared.inner.lock().unwrap().calls.clone()
    }

    /// Calls of `method` so far.
    pub fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// Updates not yet confirmed by an offset.
    pub fn pending_updates(&self) -> usize {
        self.shared.inner.lock().unwrap().updates.len()
    }

    /// Wait (at most 30 s) until `done` holds for the calls, and return them.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.shared.changed.notified();
            let calls = self.calls();
            if done(&calls) {
                return calls;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {what}; calls: {:#?}", summary(&calls));
            }
        }
    }

    /// Wait until a successful sendMessage contains `text`; returns it.
    pub async fn wait_for_text(&self, text: &str) -> Call {
        let calls = self
            .wait_until(&format!("a message with {text:?}"), |calls| {
                calls.iter().any(|c| ok_send_with(c, text))
            })
            .await;
        calls.into_iter().find(|c| ok_send_with(c, text)).unwrap()
    }
}

/// Whether `c` is a successful sendMessage containing `text`.
pub fn ok_send_with(c: &Call, text: &str) -> bool {
    c.method == "sendMessage" && c.status == 200 && c.body["text"].as_str().is_some_and(|t| t.contains(text))
}

fn summary(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.method != "getUpdates")
        .map(|c| format!("{} {} {}", c.status, c.method, c.body))
        .collect()
}

fn error(status: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": status, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

fn ok(result: Value) -> Response {
    Json(json!({"ok": true, "result": result})).into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return error(400, "Bad Request: can't parse JSON", None),
        }
    };
    let (response, status) = answer(&shared, &bot, &method, &body).await;
    shared.inner.lock().unwrap().calls.push(Call {
        method,
        body,
        status,
        at: Instant::now(),
    });
    shared.changed.notify_waiters();
    response
}

async fn answer(shared: &Shared, bot: &str, method: &str, body: &Value) -> (Response, u16) {
    if bot.strip_prefix("bot") != Some(TOKEN) {
        return (error(401, "Unauthorized", None), 401);
    }
    let failure = shared
        .inner
        .lock()
        .unwrap()
        .failures
        .get_mut(method)
        .and_then(VecDeque::pop_front);
    if let Some(f) = failure {
        let description = match f.status {
            429 => format!("Too Many Requests: retry after {}", f.retry_after.unwrap_or(1)),
            403 => "Forbidden: bot was kicked from the supergroup chat".into(),
            400 if f.migrate_to.is_some() => {
                "Bad Request: group chat was upgraded to a supergroup chat".into()
            }
            s if s >= 500 => "Internal Server Error".into(),
            _ => "Bad Request".into(),
        };
        let parameters = match (f.retry_after, f.migrate_to) {
            (Some(r), _) => Some(json!({"retry_after": r})),
            (_, Some(m)) => Some(json!({"migrate_to_chat_id": m})),
            _ => None,
        };
        return (error(f.status, &description, parameters), f.status);
    }
    let result = match method {
        "getUpdates" => return get_updates(shared, body).await,
        "getMe" => json!({"id": BOT_ID, "is_bot": true, "first_name": "Test bot", "username": "test_bot"}),
        "sendMessage" => {
            let Some(chat) = body.get("chat_id").filter(|c| !c.is_null()) else {
                return (error(400, "Bad Request: chat_id is empty", None), 400);
            };
            let mut inner = shared.inner.lock().unwrap();
            inner.next_message_id += 1;
            json!({
                "message_id": inner.next_message_id, "date": 1_700_000_000,
                "chat": {"id": chat, "type": if chat.as_i64().is_some_and(|c| c < 0) { "supergroup" } else { "private" }},
                "from": {"id": BOT_ID, "is_bot": true, "first_name": "Test bot"},
                "text": body["text"],
            })
        }
        "deleteMessage" | "restrictChatMember" | "banChatMember" | "unbanChatMember" | "deleteWebhook"
        | "setWebhook" => json!(true),
        "getChatAdministrators" => {
            let chat = body["chat_id"].as_i64().unwrap_or_default();
            json!(
                shared
                    .inner
                    .lock()
                    .unwrap()
                    .admins
                    .get(&chat)
                    .cloned()
                    .unwrap_or_default()
            )
        }
        _ => return (error(404, "Not Found: method not found", None), 404),
    };
    (ok(result), 200)
}

/// getUpdates: confirm updates below `offset`, answer those at or above it
/// (up to `limit`), or wait up to `timeout` seconds for one.
async fn get_updates(shared: &Shared, body: &Value) -> (Response, u16) {
    let offset = body["offset"].as_i64();
    let limit = body["limit"].as_u64().unwrap_or(100) as usize;
    let timeout = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
    let alive = shared.alive.lock().unwrap().clone();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = shared.changed.notified();
        {
            let mut inner = shared.inner.lock().unwrap();
            if let Some(offset) = offset {
                inner
                    .updates
                    .retain(|u| u["update_id"].as_i64().unwrap_or_default() >= offset);
            }
            if !inner.updates.is_empty() || tokio::time::Instant::now() >= deadline {
                let batch: Vec<Value> = inner.updates.iter().take(limit).cloned().collect();
                return (ok(json!(batch)), 200);
            }
        }
        tokio::select! {
            _ = tokio::time::timeout_at(deadline, notified) => {}
            () = alive.cancelled() => {
                return ((StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response(), 502);
            }
        }
    }
}
