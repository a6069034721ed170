//! The Feishu/Lark app bot adapter.
//!
//! - `config.rs`: [`FeishuConfig`], the `kind: feishu` options.
//! - `crypto.rs`: event decryption (Encrypt Key) and signature checks.
//! - `convert.rs`: callbacks → events, actions → Open API requests (pure).
//!
//! Events arrive by event subscription on the daemon's HTTP listener
//! (`POST /feishu/ADAPTER_ID`): signed and encrypted when an Encrypt Key is
//! set, always carrying the Verification Token, answered 200 once queued
//! (Feishu delivers again otherwise; repeats are dropped by `event_id`).
//! Actions use the Open API with a tenant access token, fetched and renewed
//! before it expires.

mod config;
mod convert;
mod crypto;

pub use config::FeishuConfig;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::convert::Callback;
use super::http::{self, Failure};
use super::recent::Recent;
use super::{Adapter, Capabilities, EventSink, Route, SendError};
use crate::clock::{Clock, SystemClock};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Event};
use crate::outbox::{Rate, RateLimits};

/// The Open API root, unless `api_base` says otherwise.
const API_BASE: &str = "https://open.feishu.cn";

/// Events queued between the listener and the receive loop.
const QUEUE: usize = 256;

/// How many recent `event_id`s are remembered to drop Feishu's repeats.
const SEEN_EVENTS: usize = 4096;

/// Renew the tenant token this long before Feishu says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

/// Open API codes: rate limited.
const THROTTLED: [i64; 1] = [99991400];
/// Open API codes: the tenant token is invalid or expired (fetch a new one).
const STALE_TOKEN: [i64; 3] = [99991661, 99991663, 99991668];

/// A Feishu/Lark app bot.
pub struct FeishuAdapter {
    id: AdapterId,
    config: FeishuConfig,
    api_base: String,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// The tenant access token and when to renew it.
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
    /// Recent event ids, oldest first.
    seen: Arc<Mutex<Recent>>,
    queue_tx: mpsc::Sender<Event>,
    queue_rx: Mutex<Option<mpsc::Receiver<Event>>>,
}

impl std::fmt::Debug for FeishuAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeishuAdapter")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl FeishuAdapter {
    /// A not yet running adapter for `config`.
    pub fn new(id: AdapterId, config: FeishuConfig) -> Result<Self, BoxError> {
        let (queue_tx, queue_rx) = mpsc::channel(QUEUE);
        let api_base = config
            .api_base
            .clone()
            .unwrap_or_else(|| API_BASE.to_owned())
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            id,
            config,
            api_base,
            client: http::client()?,
            clock: Arc::new(SystemClock),
            token: tokio::sync::Mutex::new(None),
            seen: Arc::new(Mutex::new(Recent::new(SEEN_EVENTS))),
            queue_tx,
            queue_rx: Mutex::new(Some(queue_rx)),
        })
    }

    fn path(&self) -> String {
        self.config
            .path
            .clone()
            .unwrap_or_else(|| format!("/feishu/{}", self.id))
    }

    /// A valid tenant access token, fetched when missing or near expiry.
    async fn tenant_token(&self) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        if let Some((token, renew)) = &*cached
            && Instant::now() < *renew
        {
            return Ok(token.clone());
        }
        let body = json!({"app_id": self.config.app_id, "app_secret": self.config.app_secret});
        let url = format!("{}/open-apis/auth/v3/tenant_access_token/internal", self.api_base);
        let answer = self.send(self.client.post(url).json(&body)).await?;
        let token = answer["tenant_access_token"]
            .as_str()
            .ok_or_else(|| SendError::Transient("no tenant_access_token in the answer".into()))?
            .to_owned();
        let expire = Duration::from_secs(answer["expire"].as_u64().unwrap_or(7200));
        *cached = Some((
            token.clone(),
            Instant::now() + expire.saturating_sub(TOKEN_MARGIN),
        ));
        Ok(token)
    }

    /// Send `request`; the answer's JSON when its `code` is 0.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, SendError> {
        let response = request
            .send()
            .await
            .map_err(|e| http::send_error(Failure::Transport(&e)))?;
        let status = response.status();
        let reset = response
            .headers()
            .get("x-ogw-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let retry_after = http::retry_after(response.headers()).or(reset);
        let text = response.text().await.unwrap_or_default();
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = answer["code"].as_i64();
        let description: String = answer["msg"]
            .as_str()
            .unwrap_or(&text)
            .chars()
            .take(200)
            .collect();
        match code {
            Some(0) if status.is_success() => Ok(answer),
            Some(code) if THROTTLED.contains(&code) => Err(SendError::RetryAfter(
                retry_after.unwrap_or(Duration::from_secs(1)),
            )),
            Some(code) if STALE_TOKEN.contains(&code) => {
                *self.token.lock().await = None;
                Err(SendError::Transient(format!("error {code}: {description}")))
            }
            Some(code)
                if status.is_success() || (400..500).contains(&status.as_u16()) && status.as_u16() != 429 =>
            {
                Err(SendError::Permanent(format!("error {code}: {description}")))
            }
            _ => Err(http::send_error(Failure::Status {
                status: status.as_u16(),
                retry_after,
                description: &description,
            })),
        }
    }
}

#[async_trait]
impl Adapter for FeishuAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    /// No mutes or bans in the Open API: mutes become the runtime's own.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mute: false,
            ban: false,
            ..Capabilities::ALL
        }
    }

    /// 50 requests a second per app, 5 a second into one chat.
    fn limits(&self) -> RateLimits {
        RateLimits::none()
            .per_account(Rate::new(50, Duration::from_secs(1)))
            .per_group(Rate::new(5, Duration::from_secs(1)))
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let taken = self.queue_rx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(queue) = taken else {
            return Err("feishu adapter is already running".into());
        };
        http::relay(queue, events, shutdown).await;
        Ok(())
    }

    fn routes(&self) -> Vec<Route> {
        let config = Arc::new(self.config.clone());
        let queue = self.queue_tx.clone();
        let clock = self.clock.clone();
        let id = self.id.clone();
        let seen = self.seen.clone();
        let handler = axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| async move {
            let payload = match open(&config, &headers, &body) {
                Ok(payload) => payload,
                Err((status, why)) => {
                    tracing::warn!(adapter = %id, why, "feishu callback refused");
                    return (status, axum::Json(json!({"msg": why})));
                }
            };
            let callback = match convert::callback(&id, &config.verification_token, &payload, clock.now()) {
                Ok(callback) => callback,
                Err(why) => return (StatusCode::UNAUTHORIZED, axum::Json(json!({"msg": why}))),
            };
            let (event_id, events) = match callback {
                Callback::Challenge(challenge) => {
                    return (StatusCode::OK, axum::Json(json!({"challenge": challenge})));
                }
                Callback::Events(event_id, events) => (event_id, events),
            };
            if seen.lock().unwrap_or_else(|e| e.into_inner()).contains(&event_id) {
                return (StatusCode::OK, axum::Json(json!({})));
            }
            for event in events {
                if queue.send(event).await.is_err() {
                    // Stopping: Feishu delivers the event again later.
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(json!({"msg": "stopping"})),
                    );
                }
            }
            seen.lock().unwrap_or_else(|e| e.into_inner()).insert(&event_id);
            (StatusCode::OK, axum::Json(json!({})))
        });
        vec![Route {
            path: self.path(),
            handler,
        }]
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let Some(request) = convert::request(action) else {
            return Err(SendError::Permanent(format!(
                "Feishu has no {} for bots",
                action.name()
            )));
        };
        let token = self.tenant_token().await?;
        let mut builder = self
            .client
            .request(request.method, format!("{}{}", self.api_base, request.path))
            .bearer_auth(token);
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        self.send(builder).await.map(|_| ())
    }
}

/// Check and decrypt a callback: its JSON, or the status to refuse it with.
fn open(
    config: &FeishuConfig,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, (StatusCode, &'static str)> {
    let json: Value = serde_json::from_slice(body).map_err(|_| (StatusCode::BAD_REQUEST, "not JSON"))?;
    let Some(key) = &config.encrypt_key else {
        return Ok(json);
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let signature = header("x-lark-signature");
    // Feishu signs every event; only the URL check, sent before the
    // subscription is saved, may come unsigned.
    let signed = !signature.is_empty()
        && crypto::verify(
            key,
            header("x-lark-request-timestamp"),
            header("x-lark-request-nonce"),
            body,
            signature,
        );
    let encrypted = json["encrypt"]
        .as_str()
        .ok_or((StatusCode::BAD_REQUEST, "not encrypted"))?;
    let plain = crypto::decrypt(key, encrypted).ok_or((StatusCode::UNAUTHORIZED, "does not decrypt"))?;
    let payload: Value = serde_json::from_slice(&plain)
        .map_err(|_| (StatusCode::BAD_REQUEST, "decrypted body is not JSON"))?;
    if !signed && payload["type"] != "url_verification" {
        return Err((StatusCode::UNAUTHORIZED, "bad signature"));
    }
    Ok(payload)
}
