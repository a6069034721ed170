//! The DingTalk app robot adapter (企业内部应用机器人).
//!
//! - `config.rs`: [`DingTalkConfig`], the `kind: dingtalk` options.
//! - `convert.rs`: callback signatures, callbacks → events, sends → Open
//!   API requests (pure).
//!
//! DingTalk calls the daemon (`POST /dingtalk/ADAPTER_ID`) with each
//! message that @-mentions the robot in a group, and each direct message,
//! signed with the app secret (`timestamp` and `sign` headers). Answers go
//! out through the Open API (`/v1.0/robot/groupMessages/send`) with an
//! access token fetched and renewed before it expires. A robot can post
//! and send direct messages; it cannot quote, recall members' messages,
//! mute or remove members, so moderation there can only report.

mod config;
mod convert;

pub use config::DingTalkConfig;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::http::{self, Failure};
use super::recent::Recent;
use super::{Adapter, Capabilities, EventSink, Route, SendError};
use crate::clock::{Clock, SystemClock};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Event};
use crate::outbox::{Rate, RateLimits};

/// The Open API root, unless `api_base` says otherwise.
const API_BASE: &str = "https://api.dingtalk.com";

/// Events queued between the listener and the receive loop.
const QUEUE: usize = 256;

/// How many recent message ids are remembered to drop DingTalk's repeats.
const SEEN: usize = 4096;

/// Renew the access token this long before DingTalk says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);

/// A DingTalk app robot.
pub struct DingTalkAdapter {
    id: AdapterId,
    config: DingTalkConfig,
    api_base: String,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
    seen: Arc<Mutex<Recent>>,
    queue_tx: mpsc::Sender<Event>,
    queue_rx: Mutex<Option<mpsc::Receiver<Event>>>,
}

impl std::fmt::Debug for DingTalkAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DingTalkAdapter")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl DingTalkAdapter {
    /// A not yet running adapter for `config`.
    pub fn new(id: AdapterId, config: DingTalkConfig) -> Result<Self, BoxError> {
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
            seen: Arc::new(Mutex::new(Recent::new(SEEN))),
            queue_tx,
            queue_rx: Mutex::new(Some(queue_rx)),
        })
    }

    fn path(&self) -> String {
        self.config
            .path
            .clone()
            .unwrap_or_else(|| format!("/dingtalk/{}", self.id))
    }

    fn robot_code(&self) -> &str {
        self.config.robot_code.as_deref().unwrap_or(&self.config.app_key)
    }

    /// A valid access token, fetched when missing or near expiry.
    async fn access_token(&self) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        if let Some((token, renew)) = &*cached
            && Instant::now() < *renew
        {
            return Ok(token.clone());
        }
        let body = json!({"appKey": self.config.app_key, "appSecret": self.config.app_secret});
        let url = format!("{}/v1.0/oauth2/accessToken", self.api_base);
        let answer = self.send(self.client.post(url).json(&body)).await?;
        let token = answer["accessToken"]
            .as_str()
            .ok_or_else(|| SendError::Transient("no accessToken in the answer".into()))?
            .to_owned();
        let expire = Duration::from_secs(answer["expireIn"].as_u64().unwrap_or(7200));
        *cached = Some((
            token.clone(),
            Instant::now() + expire.saturating_sub(TOKEN_MARGIN),
        ));
        Ok(token)
    }

    /// Send `request`; the answer's JSON on success. DingTalk's v1.0 API
    /// answers errors with an HTTP status and `{"code", "message"}`.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, SendError> {
        let response = request
            .send()
            .await
            .map_err(|e| http::send_error(Failure::Transport(&e)))?;
        let status = response.status();
        let retry_after = http::retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        let code = answer["code"].as_str().unwrap_or_default();
        let description: String = answer["message"]
            .as_str()
            .unwrap_or(&text)
            .chars()
            .take(200)
            .collect();
        if code.contains("Throttling") {
            return Err(SendError::RetryAfter(
                retry_after.unwrap_or(Duration::from_secs(1)),
            ));
        }
        if status.as_u16() == 401 || code.contains("InvalidAuthentication") {
            *self.token.lock().await = None;
            return Err(SendError::Transient(format!(
                "HTTP {status} {code}: {description}"
            )));
        }
        Err(http::send_error(Failure::Status {
            status: status.as_u16(),
            retry_after,
            description: &format!("{code}: {description}"),
        }))
    }
}

#[async_trait]
impl Adapter for DingTalkAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    /// Posts and direct messages only: replies become posts, the rest is
    /// reported.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            send: true,
            reply: false,
            direct_message: true,
            delete: false,
            mute: false,
            kick: false,
            ban: false,
        }
    }

    /// 20 messages a minute into one group, as for the group robots.
    fn limits(&self) -> RateLimits {
        RateLimits::none().per_group(Rate::new(20, Duration::from_secs(60)))
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let taken = self.queue_rx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(queue) = taken else {
            return Err("dingtalk adapter is already running".into());
        };
        http::relay(queue, events, shutdown).await;
        Ok(())
    }

    fn routes(&self) -> Vec<Route> {
        let secret: Arc<str> = Arc::from(self.config.app_secret.as_str());
        let queue = self.queue_tx.clone();
        let clock = self.clock.clone();
        let id = self.id.clone();
        let seen = self.seen.clone();
        let handler = axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
            };
            if !convert::verify(&secret, header("timestamp"), header("sign"), clock.now()) {
                tracing::warn!(adapter = %id, "dingtalk callback with a bad or stale signature refused");
                return StatusCode::UNAUTHORIZED;
            }
            let Ok(body) = serde_json::from_slice::<Value>(&body) else {
                return StatusCode::BAD_REQUEST;
            };
            let Some(event) = convert::event(&id, &body, clock.now()) else {
                return StatusCode::OK;
            };
            let msg_id = body["msgId"].as_str().unwrap_or_default().to_owned();
            if seen.lock().unwrap_or_else(|e| e.into_inner()).contains(&msg_id) {
                return StatusCode::OK;
            }
            if queue.send(event).await.is_err() {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            seen.lock().unwrap_or_else(|e| e.into_inner()).insert(&msg_id);
            StatusCode::OK
        });
        vec![Route {
            path: self.path(),
            handler,
        }]
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let Some((path, body)) = convert::request(action, self.robot_code()) else {
            return Err(SendError::Permanent(format!(
                "a DingTalk robot cannot {}",
                action.name()
            )));
        };
        let token = self.access_token().await?;
        let request = self
            .client
            .post(format!("{}{path}", self.api_base))
            .header("x-acs-dingtalk-access-token", token)
            .json(&body);
        self.send(request).await.map(|_| ())
    }
}
