//! The WebSocket transports: one connection at a time, forward (the
//! shared [`crate::adapter::ws`] reconnect loop) or reverse (sockets the
//! implementation opens on the daemon's listener). Events are pushed on
//! the socket; actions are sent on it with an `echo` whose response is
//! awaited with a timeout. While disconnected, or when the socket drops
//! before the answer, an action fails as transient and the outbox retries
//! it after reconnecting.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::RawQuery;
use axum::extract::ws::{Message as AxumMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::Version;
use super::{OneBotAdapter, authorized};
use crate::adapter::ws::{self, WsMessage, WsStream};
use crate::adapter::{EventSink, Route, SendError};
use crate::error::BoxError;

/// Action frames queued for the socket's writer.
pub(super) const OUTGOING_QUEUE: usize = 64;

/// Reverse connections queued between the listener and `run`.
pub(super) const REVERSE_QUEUE: usize = 4;

/// After this long without a frame from the implementation (events,
/// heartbeats, answers, pongs) the adapter pings it; after twice this long
/// the connection is taken as lost (a peer gone without closing).
pub(super) const IDLE: Duration = Duration::from_secs(30);

/// A frame written to either kind of socket.
pub(super) enum Outgoing {
    /// An action frame (JSON).
    Text(String),
    /// A ping, when the connection has been quiet.
    Ping,
}

/// A frame read from either kind of socket.
pub(super) enum Incoming {
    /// A text frame (JSON).
    Text(String),
    /// The peer closed.
    Closed,
    /// Ping, pong, binary: ignored.
    Other,
    /// The socket failed (described without secrets).
    Failed(String),
}

/// The socket side of the adapter: the writer queue and the actions
/// awaiting answers.
pub(super) struct Socket {
    /// The connected socket's writer queue; `None` while disconnected.
    outgoing: Mutex<Option<mpsc::Sender<String>>>,
    /// Actions awaiting their response, by `echo`.
    pending: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    /// Reverse mode: sockets the listener accepted, to `run` (sending half).
    reverse_tx: mpsc::Sender<WebSocket>,
    /// The receiving half, taken by `run`.
    reverse_rx: Mutex<Option<mpsc::Receiver<WebSocket>>>,
}

impl Socket {
    /// No connection yet.
    pub(super) fn new() -> Self {
        let (reverse_tx, reverse_rx) = mpsc::channel(REVERSE_QUEUE);
        Self {
            outgoing: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            reverse_tx,
            reverse_rx: Mutex::new(Some(reverse_rx)),
        }
    }

    /// Send `frame` (carrying `echo`) and wait up to `timeout` for its
    /// response.
    pub(super) async fn call(
        &self,
        name: &str,
        echo: String,
        frame: String,
        timeout: Duration,
    ) -> Result<Value, SendError> {
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
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(SendError::Transient(format!(
                "no answer to {name} within {timeout:?}"
            ))),
            Ok(Err(_)) => Err(SendError::Transient(format!(
                "the OneBot connection closed before {name} was answered"
            ))),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Hand a response to the action waiting for its `echo`.
    fn answered(&self, frame: Value) {
        let echo = match &frame["echo"] {
            Value::String(s) => s.clone(),
            Value::Null => return,
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
    }
}

/// Removes an action's pending entry however its wait ends.
struct PendingGuard<'a> {
    /// The socket's pending map.
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
    /// Forward mode: keep a connection to `url` until shutdown.
    pub(super) async fn forward(&self, url: &str, events: EventSink, shutdown: CancellationToken) {
        let token = self.config.access_token.as_deref();
        let name = self.id.to_string();
        ws::reconnect_loop(&name, url, token, Default::default(), &shutdown, |stream| {
            self.forward_session(stream, &events, &shutdown)
        })
        .await;
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
    pub(super) async fn reverse(
        &self,
        events: EventSink,
        shutdown: CancellationToken,
    ) -> Result<(), BoxError> {
        let taken = self
            .socket
            .reverse_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
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

    /// The reverse-WebSocket route: the access token is checked on the
    /// upgrade; a v12 implementation names `12.IMPL` as the subprotocol,
    /// which is echoed (and one naming another version is refused).
    pub(super) fn reverse_route(&self, path: String) -> Route {
        let token: Arc<str> = Arc::from(self.config.access_token.clone().unwrap_or_default());
        let queue = self.socket.reverse_tx.clone();
        let prefix = match self.version {
            Version::V11 => "11.",
            Version::V12 => "12.",
        };
        let handler = axum::routing::get(
            move |headers: HeaderMap, query: RawQuery, upgrade: WebSocketUpgrade| async move {
                if !authorized(&token, &headers, query.0.as_deref()) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                if queue.is_closed() {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                let requested: Vec<String> = upgrade
                    .requested_protocols()
                    .filter_map(|p| p.to_str().ok())
                    .map(str::to_owned)
                    .collect();
                let upgrade = match requested.iter().find(|p| p.starts_with(prefix)) {
                    Some(protocol) => upgrade.protocols([protocol.clone()]),
                    None if requested.is_empty() => upgrade,
                    None => {
                        return (
                            StatusCode::BAD_REQUEST,
                            format!("this endpoint speaks OneBot {}", prefix.trim_end_matches('.')),
                        )
                            .into_response();
                    }
                };
                upgrade.on_upgrade(move |socket| async move {
                    // Stopping: the socket closes and the implementation reconnects later.
                    let _ = queue.send(socket).await;
                })
            },
        );
        Route { path, handler }
    }

    /// One connection: hand over pushed events, route responses to their
    /// actions, write queued action frames; until the socket closes or
    /// shutdown. Actions still waiting when it ends fail as transient.
    pub(super) async fn session<I, O>(
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
        *self.socket.outgoing.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
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
        *self.socket.outgoing.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // Dropping the senders wakes the waiting actions.
        self.socket
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        result
    }

    /// Handle one text frame; `false` once nobody receives events.
    async fn received(&self, text: &str, events: &EventSink) -> bool {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            tracing::warn!(adapter = %self.id, "a frame that is not JSON; skipped");
            return true;
        };
        // Events carry `post_type` (v11) or `type` (v12); answers neither.
        if frame.get("post_type").is_none() && frame.get("type").is_none() {
            self.socket.answered(frame);
            return true;
        }
        match self.event(&frame) {
            Some(event) => events.send(event).await.is_ok(),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::onebot::OneBotConfig;
    use serde_json::json;

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_pinged_then_taken_as_lost() {
        let config: OneBotConfig =
            serde_json::from_value(json!({"version": 11, "ws_url": "ws://127.0.0.1:1"})).unwrap();
        let adapter = OneBotAdapter::new("qq".into(), config).unwrap();
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
}
