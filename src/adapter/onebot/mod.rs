//! The OneBot v11 adapter (QQ through NapCat, Lagrange, LLOneBot and other
//! implementations), over a forward or a reverse WebSocket.
//!
//! - `config.rs`: [`OneBotConfig`], the `kind: onebot` options.
//! - `convert.rs`: event frames → events, actions → action frames,
//!   responses → outcomes (pure).
//!
//! The adapter connects to the implementation's `ws_url` (the shared
//! [`crate::adapter::ws`] reconnect loop), or, in reverse mode, serves
//! `path` on the daemon's HTTP listener (access token checked on the
//! upgrade) and takes the sockets the implementation opens there, one at a
//! time. Either way one socket carries everything: events are
//! pushed on it, and actions are sent on it as `{"action", "params",
//! "echo"}` frames whose response (same `echo`) is awaited with a timeout.
//! While disconnected, or when the socket drops before the answer, an
//! action fails as transient and the outbox retries it after reconnecting.

mod config;
mod convert;

pub use config::OneBotConfig;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::{Message as AxumMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::http::Backoff;
use super::ws::{self, WsMessage, WsStream};
use super::{Adapter, Capabilities, EventSink, Route, SendError};
use crate::error::BoxError;
use crate::event::{Action, AdapterId};

/// Action frames queued for the socket's writer.
const OUTGOING_QUEUE: usize = 64;

/// Reverse connections queued between the listener and `run`.
const REVERSE_QUEUE: usize = 4;

/// After this long without a frame from the implementation (events,
/// heartbeats, answers, pongs) the adapter pings it; after twice this long
/// the connection is taken as lost (a peer gone without closing).
const IDLE: Duration = Duration::from_secs(30);

/// A frame written to either kind of socket.
enum Outgoing {
    /// An action frame (JSON).
    Text(String),
    /// A ping, when the connection has been quiet.
    Ping,
}

/// A frame read from either kind of socket.
enum Incoming {
    /// A text frame (JSON).
    Text(String),
    /// The peer closed.
    Closed,
    /// Ping, pong, binary: ignored.
    Other,
    /// The socket failed (described without secrets).
    Failed(String),
}

/// A OneBot v11 account.
pub struct OneBotAdapter {
    /// Its id from config.yaml.
    id: AdapterId,
    /// Its options.
    config: OneBotConfig,
    /// The connected socket's writer queue; `None` while disconnected.
    outgoing: Mutex<Option<mpsc::Sender<String>>>,
    /// Actions awaiting their response, by `echo`.
    pending: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// The next `echo`.
    next_echo: AtomicU64,
    /// Reverse mode: sockets the listener accepted, to `run` (sending half).
    reverse_tx: mpsc::Sender<WebSocket>,
    /// The receiving half, taken by `run`.
    reverse_rx: Mutex<Option<mpsc::Receiver<WebSocket>>>,
}

impl std::fmt::Debug for OneBotAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneBotAdapter")
            .field("id", &self.id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Removes an action's pending entry however its wait ends.
struct PendingGuard<'a> {
    /// The adapter's pending map.
    pending: &'a Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// The action's echo.
    echo: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.echo);
    }
}

impl OneBotAdapter {
    /// A not yet running adapter for `config`.
    pub fn new(id: AdapterId, config: OneBotConfig) -> Self {
        let (reverse_tx, reverse_rx) = mpsc::channel(REVERSE_QUEUE);
        Self {
            reverse_tx,
            reverse_rx: Mutex::new(Some(reverse_rx)),
            id,
            config,
            outgoing: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            next_echo: AtomicU64::new(1),
        }
    }

    /// One forward-WebSocket connection (see [`OneBotAdapter::session`]).
    async fn forward_session(
        &self,
        stream: WsStream,
        events: &EventSink,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let (sink, source) = stream.split();
        let source = source.map(|frame| match frame {
            Ok(WsMessage::Text(text)) => Incoming::Text(text.as_str().to_owned()),
            Ok(WsMessage::Close(_)) => Incoming::Closed,
            Ok(_) => Incoming::Other,
            Err(error) => Incoming::Failed(ws::describe(&error)),
        });
        let sink = sink.sink_map_err(|e| ws::describe(&e)).with(|frame: Outgoing| {
            std::future::ready(Ok::<_, String>(match frame {
                Outgoing::Text(text) => WsMessage::text(text),
                Outgoing::Ping => WsMessage::Ping(Default::default()),
            }))
        });
        self.session(source, sink, events, shutdown).await
    }

    /// Reverse mode: serve the connections the implementation opens on the
    /// listener's route, one at a time, until shutdown. A new connection
    /// replaces the current one (the implementation reconnected; the old
    /// socket may be dead without having said so).
    async fn reverse(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let taken = self.reverse_rx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut connections) = taken else {
            return Err("onebot adapter is already running".into());
        };
        let mut newer: Option<WebSocket> = None;
        loop {
            let socket = match newer.take() {
                Some(socket) => socket,
                None => tokio::select! {
                    socket = connections.recv() => match socket {
                        Some(socket) => socket,
                        None => return Ok(()),
                    },
                    () = shutdown.cancelled() => return Ok(()),
                },
            };
            tracing::info!(adapter = %self.id, "reverse WebSocket connected");
            let (sink, source) = socket.split();
            let source = source.map(|frame| match frame {
                Ok(AxumMessage::Text(text)) => Incoming::Text(text.as_str().to_owned()),
                Ok(AxumMessage::Close(_)) => Incoming::Closed,
                Ok(_) => Incoming::Other,
                Err(error) => Incoming::Failed(format!("WebSocket error: {error}")),
            });
            let sink = sink
                .sink_map_err(|e| format!("WebSocket error: {e}"))
                .with(|frame: Outgoing| {
                    std::future::ready(Ok::<_, String>(match frame {
                        Outgoing::Text(text) => AxumMessage::text(text),
                        Outgoing::Ping => AxumMessage::Ping(Default::default()),
                    }))
                });
            let stop = shutdown.child_token();
            let session = self.session(source, sink, &events, &stop);
            tokio::pin!(session);
            let outcome = tokio::select! {
                outcome = &mut session => outcome,
                Some(socket) = connections.recv() => {
                    tracing::info!(adapter = %self.id, "a new reverse WebSocket replaces the current one");
                    newer = Some(socket);
                    stop.cancel();
                    session.await
                }
            };
            match outcome {
                Ok(()) => tracing::info!(adapter = %self.id, "reverse WebSocket closed"),
                Err(error) => tracing::warn!(adapter = %self.id, %error, "reverse WebSocket lost"),
            }
        }
    }

    /// One connection: hand over pushed events, route responses to their
    /// actions, write queued action frames; until the socket closes or
    /// shutdown. Actions still waiting when it ends fail as transient.
    async fn session<I, O>(
        &self,
        mut source: I,
        mut sink: O,
        events: &EventSink,
        shutdown: &CancellationToken,
    ) -> Result<(), String>
    where
        I: futures_util::Stream<Item = Incoming> + Unpin,
        O: futures_util::Sink<Outgoing, Error = String> + Unpin,
    {
        let (tx, mut rx) = mpsc::channel::<String>(OUTGOING_QUEUE);
        *self.outgoing.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        let mut heard = Instant::now();
        let mut pinged = false;
        let result = loop {
            let quiet_until = heard + if pinged { IDLE * 2 } else { IDLE };
            tokio::select! {
                frame = source.next() => {
                    heard = Instant::now();
                    pinged = false;
                    match frame {
                    None | Some(Incoming::Closed) => break Ok(()),
                    Some(Incoming::Failed(error)) => break Err(error),
                    Some(Incoming::Text(text)) => {
                        if !self.received(&text, events).await {
                            break Ok(());
                        }
                    }
                    Some(Incoming::Other) => {}
                    }
                },
                frame = rx.recv() => {
                    let Some(frame) = frame else { break Ok(()) };
                    if let Err(error) = sink.send(Outgoing::Text(frame)).await {
                        break Err(error);
                    }
                }
                () = tokio::time::sleep_until(quiet_until) => {
                    if pinged {
                        break Err(format!("nothing heard for {:?}; taking the connection as lost", IDLE * 2));
                    }
                    pinged = true;
                    if let Err(error) = sink.send(Outgoing::Ping).await {
                        break Err(error);
                    }
                }
                () = shutdown.cancelled() => {
                    let _ = sink.close().await;
                    break Ok(());
                }
            }
        };
        *self.outgoing.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // Dropping the senders wakes the waiting actions.
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
        result
    }

    /// Handle one text frame; `false` once nobody receives events.
    async fn received(&self, text: &str, events: &EventSink) -> bool {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            tracing::warn!(adapter = %self.id, "a frame that is not JSON; skipped");
            return true;
        };
        if frame.get("post_type").is_none() {
            // A response: route it by echo.
            let echo = match &frame["echo"] {
                Value::String(s) => s.clone(),
                Value::Null => return true,
                other => other.to_string(),
            };
            let waiter = self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&echo);
            if let Some(waiter) = waiter {
                let _ = waiter.send(frame);
            }
            return true;
        }
        match convert::event(&self.id, &frame) {
            Some(event) => events.send(event).await.is_ok(),
            None => true,
        }
    }
}

/// Whether an upgrade request carries the access token, as
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

/// Compare secrets in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[async_trait]
impl Adapter for OneBotAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn routes(&self) -> Vec<Route> {
        let Some(path) = self.config.path.clone() else {
            return Vec::new();
        };
        let token: Arc<str> = Arc::from(self.config.access_token.clone().unwrap_or_default());
        let queue = self.reverse_tx.clone();
        let handler = axum::routing::get(
            move |headers: HeaderMap, query: RawQuery, upgrade: WebSocketUpgrade| async move {
                if !authorized(&token, &headers, query.0.as_deref()) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                if queue.is_closed() {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                upgrade.on_upgrade(move |socket| async move {
                    // Stopping: the socket closes and the implementation reconnects later.
                    let _ = queue.send(socket).await;
                })
            },
        );
        vec![Route { path, handler }]
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let Some(url) = self.config.ws_url.as_deref() else {
            return self.reverse(events, shutdown).await;
        };
        let token = self.config.access_token.as_deref();
        let name = self.id.to_string();
        ws::reconnect_loop(&name, url, token, Backoff::default(), &shutdown, |stream| {
            self.forward_session(stream, &events, &shutdown)
        })
        .await;
        Ok(())
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let call = convert::call(action);
        let echo = self.next_echo.fetch_add(1, Ordering::Relaxed).to_string();
        let frame = json!({"action": call.action, "params": call.params, "echo": echo}).to_string();
        let writer = self.outgoing.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(writer) = writer else {
            return Err(SendError::Transient(
                "not connected to the OneBot implementation".into(),
            ));
        };
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(echo.clone(), tx);
        let _guard = PendingGuard {
            pending: &self.pending,
            echo,
        };
        if writer.send(frame).await.is_err() {
            return Err(SendError::Transient("the OneBot connection closed".into()));
        }
        match tokio::time::timeout(self.config.action_timeout.0, rx).await {
            Err(_) => Err(SendError::Transient(format!(
                "no answer to {} within {:?}",
                call.action, self.config.action_timeout.0
            ))),
            Ok(Err(_)) => Err(SendError::Transient(format!(
                "the OneBot connection closed before {} was answered",
                call.action
            ))),
            Ok(Ok(response)) => convert::outcome(&response),
        }
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

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_pinged_then_taken_as_lost() {
        let config: OneBotConfig =
            serde_json::from_value(json!({"version": 11, "ws_url": "ws://127.0.0.1:1"})).unwrap();
        let adapter = OneBotAdapter::new("qq".into(), config);
        let (events, _rx) = mpsc::channel(1);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        let sink = futures_util::sink::unfold((), move |(), frame: Outgoing| {
            let log = log.clone();
            async move {
                log.lock()
                    .unwrap()
                    .push((Instant::now(), matches!(frame, Outgoing::Ping)));
                Ok::<_, String>(())
            }
        });
        let start = Instant::now();
        let source = futures_util::stream::pending::<Incoming>();
        let outcome = adapter
            .session(source, Box::pin(sink), &events, &CancellationToken::new())
            .await;
        assert!(outcome.is_err());
        assert_eq!(start.elapsed(), IDLE * 2);
        assert_eq!(*sent.lock().unwrap(), [(start + IDLE, true)]);
    }

    #[test]
    fn debug_output_shows_no_token() {
        let config: OneBotConfig = serde_json::from_value(json!({
            "version": 11, "ws_url": "ws://127.0.0.1:3001", "access_token": "TOPSECRET"
        }))
        .unwrap();
        let adapter = OneBotAdapter::new("qq".into(), config);
        let text = format!("{adapter:?}");
        assert!(!text.contains("TOPSECRET"), "{text}");
    }
}
