//! The OneBot adapter: v11 (QQ through NapCat, Lagrange, LLOneBot and
//! other implementations) and v12 (WeChat through ComWeChat, and other
//! v12 implementations), over a forward or a reverse WebSocket or HTTP.
//!
//! - `config.rs`: [`OneBotConfig`], the `kind: onebot` options, and the
//!   version and transport they select.
//! - `convert_v11.rs`, `convert_v12.rs`: event frames → events, actions →
//!   action requests, responses → outcomes (pure), one file per version;
//!   `convert.rs` what they share.
//! - `socket.rs`: the WebSocket transports (forward: the shared
//!   [`crate::adapter::ws`] reconnect loop; reverse: a route on the
//!   daemon's listener), actions matched to answers by `echo`.
//! - `http_api.rs`: the HTTP transport (actions POSTed, events received on
//!   a route, signatures and tokens checked).
//!
//! Whatever the transport, an action that gets no answer (disconnected,
//! timed out, refused connection, 5xx) fails as transient and the outbox
//! retries it; events are handed to the runtime as they arrive.

mod config;
mod convert;
mod convert_v11;
mod convert_v12;
mod http_api;
mod socket;

pub use config::OneBotConfig;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::Query;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::config::{Transport, Version};
use self::socket::Socket;
use super::sign::same;
use super::{Adapter, Capabilities, EventSink, Route, SendError, http};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Event};

/// Events queued between the HTTP event route and the receive loop.
const HTTP_QUEUE: usize = 256;

/// An action request's name and params, before transport details (`echo`,
/// `self`, the URL) are added.
#[derive(Clone, Debug, PartialEq)]
struct Call {
    /// The OneBot action, such as `send_group_msg` or `send_message`.
    action: &'static str,
    /// Its params.
    params: Value,
}

/// A OneBot account.
pub struct OneBotAdapter {
    /// Its id from config.yaml.
    id: AdapterId,
    /// Its options (the token and secret among them: never logged).
    config: OneBotConfig,
    /// The protocol version, parsed from the options.
    version: Version,
    /// The transport the options select.
    transport: Transport,
    /// The WebSocket transports' state.
    socket: Socket,
    /// The shared HTTP client (HTTP transport).
    client: reqwest::Client,
    /// Events from the HTTP route to `run` (sending half, receiving half
    /// taken by `run`).
    http_events: (mpsc::Sender<Event>, Mutex<Option<mpsc::Receiver<Event>>>),
    /// v12: the bot's `self` (`{platform, user_id}`) from the latest event,
    /// sent with actions so implementations serving several bots know
    /// which one acts. Shared with the HTTP route.
    own: Arc<Mutex<Option<Value>>>,
    /// The next `echo`.
    next_echo: AtomicU64,
}

impl std::fmt::Debug for OneBotAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneBotAdapter")
            .field("id", &self.id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Turns frames into events for one adapter; cheap to clone into routes.
#[derive(Clone)]
struct Converter {
    /// The adapter's id, stamped on events.
    id: AdapterId,
    /// Which shapes to read.
    version: Version,
    /// Where the v12 `self` is remembered.
    own: Arc<Mutex<Option<Value>>>,
}

impl Converter {
    /// The event `frame` stands for, if qunbot reads it; remembers v12's
    /// `self` and logs v12's `meta.connect`.
    fn event(&self, frame: &Value) -> Option<Event> {
        match self.version {
            Version::V11 => convert_v11::event(&self.id, frame),
            Version::V12 => {
                if frame["self"].is_object() {
                    *self.own.lock().unwrap_or_else(|e| e.into_inner()) = Some(frame["self"].clone());
                }
                if frame["type"] == "meta" && frame["detail_type"] == "connect" {
                    let version = &frame["version"];
                    tracing::info!(adapter = %self.id, implementation = %version["impl"],
                        onebot_version = %version["onebot_version"], "OneBot implementation connected");
                }
                convert_v12::event(&self.id, frame)
            }
        }
    }
}

impl OneBotAdapter {
    /// A not yet running adapter for `config` (checked: see
    /// `OneBotConfig::build`; an unknown version reads as v11).
    pub fn new(id: AdapterId, config: OneBotConfig) -> Result<Self, BoxError> {
        let (tx, rx) = mpsc::channel(HTTP_QUEUE);
        Ok(Self {
            version: config.version().unwrap_or(Version::V11),
            transport: config.transport(id.as_str()),
            socket: Socket::new(),
            client: http::client()?,
            http_events: (tx, Mutex::new(Some(rx))),
            own: Arc::new(Mutex::new(None)),
            next_echo: AtomicU64::new(1),
            id,
            config,
        })
    }

    /// Whether requests on the daemon's route must prove they come from
    /// the implementation (forward WebSockets serve no route).
    fn verifies_senders(&self) -> bool {
        let token = self.config.access_token.as_deref().is_some_and(|t| !t.is_empty());
        match (&self.transport, self.version) {
            (Transport::Forward { .. }, _) => true,
            (Transport::Http { .. }, Version::V11) => self.config.secret.is_some(),
            _ => token,
        }
    }

    /// The frame converter of this adapter.
    fn converter(&self) -> Converter {
        Converter {
            id: self.id.clone(),
            version: self.version,
            own: self.own.clone(),
        }
    }

    /// The event `frame` stands for, if qunbot reads it.
    fn event(&self, frame: &Value) -> Option<Event> {
        self.converter().event(frame)
    }

    /// The action request for `action` in this version's shapes.
    fn call(&self, action: &Action) -> Result<Call, SendError> {
        match self.version {
            Version::V11 => Ok(convert_v11::call(action)),
            Version::V12 => convert_v12::call(action),
        }
    }

    /// An action request body (v12 HTTP; WebSockets add the `echo`), naming the
    /// bot (`self`) once an event has told which one it is.
    fn request(&self, call: &Call, echo: Option<&str>) -> Value {
        let mut body = json!({"action": call.action, "params": call.params});
        if let Some(echo) = echo {
            body["echo"] = json!(echo);
        }
        if self.version == Version::V12 {
            if let Some(own) = self.own.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                body["self"] = own;
            }
        }
        body
    }

    /// What a response means, by this version's retcodes.
    fn outcome(&self, response: &Value) -> Result<(), SendError> {
        match self.version {
            Version::V11 => convert_v11::outcome(response),
            Version::V12 => convert_v12::outcome(response),
        }
    }
}

/// Whether a request from the implementation carries the access token, as
/// `Authorization: Bearer TOKEN` (or `Token TOKEN`) or the `access_token`
/// query parameter. Without a configured token every request passes.
fn authorized(token: &str, headers: &HeaderMap, query: Option<&str>) -> bool {
    if token.is_empty() {
        return true;
    }
    let from_header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("Token ")))
        .map(str::trim);
    if from_header.is_some_and(|given| same(given.as_bytes(), token.as_bytes())) {
        return true;
    }
    let from_query = query.and_then(|q| {
        Query::<HashMap<String, String>>::try_from_uri(&format!("/?{q}").parse().ok()?)
            .ok()
            .and_then(|Query(map)| map.get("access_token").cloned())
    });
    from_query.is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

#[async_trait]
impl Adapter for OneBotAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    /// v11 (QQ) can do everything; v12's core standard has no member
    /// management, so mutes and removals fall back in the runtime.
    fn capabilities(&self) -> Capabilities {
        match self.version {
            Version::V11 => Capabilities::ALL,
            Version::V12 => Capabilities {
                mute: false,
                kick: false,
                ban: false,
                ..Capabilities::ALL
            },
        }
    }

    fn routes(&self) -> Vec<Route> {
        match &self.transport {
            Transport::Forward { .. } => Vec::new(),
            Transport::Reverse { path } => vec![self.reverse_route(path.clone())],
            Transport::Http { path, .. } => vec![self.event_route(path.clone())],
        }
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        if !self.verifies_senders() {
            tracing::warn!(adapter = %self.id,
                "anyone who can reach the OneBot route can post events: set access_token (or secret for v11 HTTP)");
        }
        match &self.transport {
            Transport::Forward { url } => {
                self.forward(url, events, shutdown).await;
                Ok(())
            }
            Transport::Reverse { .. } => self.reverse(events, shutdown).await,
            Transport::Http { .. } => {
                let taken = self
                    .http_events
                    .1
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                let Some(queue) = taken else {
                    return Err("onebot adapter is already running".into());
                };
                http::relay(queue, events, shutdown).await;
                Ok(())
            }
        }
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let call = self.call(action)?;
        let response = match &self.transport {
            Transport::Http { url, .. } => self.post(url, &call).await?,
            Transport::Forward { .. } | Transport::Reverse { .. } => {
                let echo = self.next_echo.fetch_add(1, Ordering::Relaxed).to_string();
                let frame = self.request(&call, Some(&echo)).to_string();
                self.socket
                    .call(call.action, echo, frame, self.config.action_timeout.0)
                    .await?
            }
        };
        self.outcome(&response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_taken_from_the_header_or_the_query() {
        let mut headers = HeaderMap::new();
        assert!(authorized("", &headers, None));
        assert!(!authorized("s3cret", &headers, None));
        assert!(authorized("s3cret", &headers, Some("access_token=s3cret")));
        assert!(!authorized("s3cret", &headers, Some("access_token=s3cre")));
        headers.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(authorized("s3cret", &headers, None));
        headers.insert("authorization", "Bearer other".parse().unwrap());
        assert!(!authorized("s3cret", &headers, None));
    }

    #[test]
    fn debug_output_shows_no_token_or_secret() {
        let config: OneBotConfig = serde_json::from_value(json!({
            "version": 11, "http_url": "http://127.0.0.1:3000", "access_token": "TOPSECRET",
            "secret": "SIGNSECRET"
        }))
        .unwrap();
        let adapter = OneBotAdapter::new("qq".into(), config).unwrap();
        let text = format!("{adapter:?}");
        assert!(
            !text.contains("TOPSECRET") && !text.contains("SIGNSECRET"),
            "{text}"
        );
    }

    #[test]
    fn routes_without_a_secret_or_token_are_flagged() {
        let adapter = |options: Value| {
            let config: OneBotConfig = serde_json::from_value(options).unwrap();
            OneBotAdapter::new("qq".into(), config).unwrap()
        };
        let http = "http://127.0.0.1:1";
        assert!(!adapter(json!({"version": 11, "http_url": http, "access_token": "t"})).verifies_senders());
        assert!(adapter(json!({"version": 11, "http_url": http, "secret": "s"})).verifies_senders());
        assert!(!adapter(json!({"version": 12, "http_url": http, "secret": "s"})).verifies_senders());
        assert!(adapter(json!({"version": 12, "path": "/ob", "access_token": "t"})).verifies_senders());
        assert!(adapter(json!({"version": 12, "ws_url": "ws://127.0.0.1:1"})).verifies_senders());
    }

    #[test]
    fn v12_names_its_bot_once_an_event_did_and_cannot_mute() {
        let config: OneBotConfig =
            serde_json::from_value(json!({"version": 12, "ws_url": "ws://127.0.0.1:1"})).unwrap();
        let adapter = OneBotAdapter::new("wx".into(), config).unwrap();
        assert!(!adapter.capabilities().mute && adapter.capabilities().delete);
        let call = Call {
            action: "send_message",
            params: json!({}),
        };
        assert_eq!(adapter.request(&call, Some("1")).get("self"), None);
        let own = json!({"platform": "wechat", "user_id": "wxid_bot"});
        adapter.event(&json!({"type": "meta", "detail_type": "heartbeat", "self": own}));
        assert_eq!(adapter.request(&call, Some("1"))["self"], own);
    }
}
