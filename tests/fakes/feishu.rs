//! The Feishu Open Platform as an app bot meets it: the Open API calls the
//! adapter makes (tenant token, messages, replies, recalls, removing chat
//! members), and event subscription callbacks pushed to the daemon,
//! encrypted with the Encrypt Key and signed as Feishu does, delivered
//! again until answered 200.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

pub const APP_ID: &str = "cli_test";
pub const APP_SECRET: &str = "app-secret-xyz";
pub const VERIFICATION_TOKEN: &str = "verification-token";
pub const ENCRYPT_KEY: &str = "encrypt-key-123";
const TENANT_TOKEN: &str = "t-tenant-token";

/// One Open API call the fake answered.
#[derive(Clone, Debug)]
pub struct Call {
    /// `send`, `reply`, `recall` or `remove_members`.
    pub api: &'static str,
    /// The message or chat in the path, or the `receive_id`.
    pub target: String,
    pub body: Value,
    /// Whether it was answered with success.
    pub ok: bool,
}

struct Shared {
    calls: Mutex<Vec<Call>>,
    down: AtomicBool,
}

/// The fake platform.
pub struct FakeFeishu {
    shared: Arc<Shared>,
    addr: SocketAddr,
    /// Callbacks not yet answered 200, oldest first.
    pending: Arc<Mutex<VecDeque<Value>>>,
    callback_url: Arc<Mutex<Option<String>>>,
    next_id: AtomicU64,
}

impl FakeFeishu {
    pub async fn start() -> FakeFeishu {
        let shared = Arc::new(Shared {
            calls: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
        });
        let app = axum::Router::new()
            .route("/open-apis/auth/v3/tenant_access_token/internal", post(token))
            .route("/open-apis/im/v1/messages", post(send))
            .route("/open-apis/im/v1/messages/{id}/reply", post(reply))
            .route("/open-apis/im/v1/messages/{id}", delete(recall))
            .route("/open-apis/im/v1/chats/{chat}/members", delete(remove_members))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let fake = FakeFeishu {
            shared,
            addr,
            pending: Arc::new(Mutex::new(VecDeque::new())),
            callback_url: Arc::new(Mutex::new(None)),
            next_id: AtomicU64::new(1),
        };
        fake.deliver_in_background();
        fake
    }

    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where events go (the daemon's route).
    pub fn subscribe(&self, url: String) {
        *self.callback_url.lock().unwrap() = Some(url);
    }

    /// The API answers 503 and events wait, or everything works again.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// A member's text message in `chat`; returns its message id.
    pub fn push_message(&self, chat: &str, open_id: &str, text: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        let message_id = format!("om_{n}");
        self.push(json!({
            "schema": "2.0",
            "header": {"event_id": format!("ev_{n}"), "event_type": "im.message.receive_v1",
                       "create_time": "1700000000000", "token": VERIFICATION_TOKEN, "app_id": APP_ID},
            "event": {
                "sender": {"sender_id": {"open_id": open_id}, "sender_type": "user"},
                "message": {"message_id": message_id, "chat_id": chat, "chat_type": "group",
                            "message_type": "text", "content": json!({"text": text}).to_string()}
            }
        }));
        message_id
    }

    /// Queue a callback body (plain JSON; encrypted on delivery).
    pub fn push(&self, body: Value) {
        self.pending.lock().unwrap().push_back(body);
    }

    /// Feishu's delivery: each callback in order, again until answered 200;
    /// nothing while down.
    fn deliver_in_background(&self) {
        let pending = self.pending.clone();
        let url = self.callback_url.clone();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut nonce = 0u64;
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let Some(target) = url.lock().unwrap().clone() else {
                    continue;
                };
                if shared.down.load(Ordering::SeqCst) {
                    continue;
                }
                let Some(next) = pending.lock().unwrap().front().cloned() else {
                    continue;
                };
                nonce += 1;
                let (body, headers) = seal(&next, nonce);
                let mut request = client.post(&target).header("content-type", "application/json");
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                if let Ok(r) = request.body(body).send().await
                    && r.status() == 200
                {
                    pending.lock().unwrap().pop_front();
                }
            }
        });
    }
}

/// Encrypt and sign a callback as Feishu does: the body and its headers.
pub fn seal(payload: &Value, nonce: u64) -> (String, Vec<(&'static str, String)>) {
    let key = Sha256::digest(ENCRYPT_KEY.as_bytes());
    let iv = [nonce as u8; 16];
    let cipher = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &iv).unwrap();
    let plain = payload.to_string().into_bytes();
    let mut buffer = vec![0u8; plain.len() + 16];
    let encrypted = cipher
        .encrypt_padded_b2b_mut::<Pkcs7>(&plain, &mut buffer)
        .unwrap()
        .to_vec();
    let raw = [iv.to_vec(), encrypted].concat();
    let body = json!({"encrypt": base64::engine::general_purpose::STANDARD.encode(raw)}).to_string();
    let timestamp = "1700000000".to_owned();
    let nonce = format!("nonce-{nonce}");
    let mut hasher = Sha256::new();
    hasher.update(timestamp.as_bytes());
    hasher.update(nonce.as_bytes());
    hasher.update(ENCRYPT_KEY.as_bytes());
    hasher.update(body.as_bytes());
    let signature: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (
        body,
        vec![
            ("x-lark-request-timestamp", timestamp),
            ("x-lark-request-nonce", nonce),
            ("x-lark-signature", signature),
        ],
    )
}

type Answer = (StatusCode, Json<Value>);

impl Shared {
    /// The common checks of an API call: up, and the tenant token.
    fn check(&self, headers: &HeaderMap) -> Result<(), Answer> {
        if self.down.load(Ordering::SeqCst) {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"code": 1, "msg": "unavailable"})),
            ));
        }
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {TENANT_TOKEN}")) {
            return Err((
                StatusCode::BAD_REQUEST,
                Json(json!({"code": 99991663, "msg": "Invalid access token for authorization."})),
            ));
        }
        Ok(())
    }

    fn record(&self, api: &'static str, target: &str, body: Value, ok: bool) {
        self.calls.lock().unwrap().push(Call {
            api,
            target: target.to_owned(),
            body,
            ok,
        });
    }

    fn call(&self, headers: &HeaderMap, api: &'static str, target: &str, body: Value) -> Answer {
        match self.check(headers) {
            Err(answer) => {
                self.record(api, target, body, false);
                answer
            }
            Ok(()) => {
                self.record(api, target, body, true);
                (
                    StatusCode::OK,
                    Json(json!({"code": 0, "msg": "success", "data": {}})),
                )
            }
        }
    }
}

async fn token(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Answer {
    if shared.down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": 1, "msg": "unavailable"})),
        );
    }
    if body["app_id"] != APP_ID || body["app_secret"] != APP_SECRET {
        return (
            StatusCode::OK,
            Json(json!({"code": 10014, "msg": "app secret invalid"})),
        );
    }
    (
        StatusCode::OK,
        Json(json!({"code": 0, "msg": "ok", "tenant_access_token": TENANT_TOKEN, "expire": 7200})),
    )
}

async fn send(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let target = body["receive_id"].as_str().unwrap_or_default().to_owned();
    let kind = query.get("receive_id_type").map(String::as_str);
    if !matches!(kind, Some("chat_id" | "open_id")) || body["msg_type"] != "text" {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": 230001, "msg": "invalid param"})),
        );
    }
    shared.call(&headers, "send", &target, body)
}

async fn reply(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    shared.call(&headers, "reply", &id, body)
}

async fn recall(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap) -> Answer {
    shared.call(&headers, "recall", &id, Value::Null)
}

async fn remove_members(
    State(shared): State<Arc<Shared>>,
    Path(chat): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    shared.call(&headers, "remove_members", &chat, body)
}
