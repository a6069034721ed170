//! The OneBot v11 adapter (QQ through NapCat, Lagrange, LLOneBot and other
//! implementations), forward WebSocket mode.
//!
//! - `config.rs`: [`OneBotConfig`], the `kind: onebot` options.
//! - `convert.rs`: event frames → events, actions → action frames,
//!   responses → outcomes (pure).
//!
//! The adapter connects to the implementation's `ws_url` (the shared
//! [`crate::adapter::ws`] reconnect loop) and keeps one socket: events are
//! pushed on it, and actions are sent on it as `{"action", "params",
//! "echo"}` frames whose response (same `echo`) is awaited with a timeout.
//! While disconnected, or when the socket drops before the answer, an
//! action fails as transient and the outbox retries it after reconnecting.

mod config;
mod convert;

pub use config::OneBotConfig;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::http::Backoff;
use super::ws::{self, WsMessage, WsStream};
use super::{Adapter, Capabilities, EventSink, SendError};
use crate::error::BoxError;
use crate::event::{Action, AdapterId};

/// Action frames queued for the socket's writer.
const OUTGOING_QUEUE: usize = 64;

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
        Self {
            id,
            config,
            outgoing: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            next_echo: AtomicU64::new(1),
        }
    }

    /// One connection: hand over pushed events, route responses to their
    /// actions, write queued action frames; until the socket closes or
    /// shutdown. Actions still waiting when it ends fail as transient.
    async fn session(
        &self,
        stream: WsStream,
        events: &EventSink,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        use futures_util::{SinkExt, StreamExt};
        let (mut sink, mut source) = stream.split();
        let (tx, mut rx) = mpsc::channel::<String>(OUTGOING_QUEUE);
        *self.outgoing.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        let result = loop {
            tokio::select! {
                frame = source.next() => match frame {
                    None => break Ok(()),
                    Some(Err(error)) => break Err(ws::describe(&error)),
                    Some(Ok(WsMessage::Text(text))) => {
                        if !self.received(text.as_str(), events).await {
                            break Ok(());
                        }
                    }
                    Some(Ok(WsMessage::Close(_))) => break Ok(()),
                    Some(Ok(_)) => {}
                },
                frame = rx.recv() => {
                    let Some(frame) = frame else { break Ok(()) };
                    if let Err(error) = sink.send(WsMessage::text(frame)).await {
                        break Err(ws::describe(&error));
                    }
                }
                () = shutdown.cancelled() => {
                    let _ = sink.send(WsMessage::Close(None)).await;
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

#[async_trait]
impl Adapter for OneBotAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let Some(url) = self.config.ws_url.as_deref() else {
            return Err("onebot: reverse WebSocket mode is not supported yet".into());
        };
        let token = self.config.access_token.as_deref();
        let name = self.id.to_string();
        ws::reconnect_loop(&name, url, token, Backoff::default(), &shutdown, |stream| {
            self.session(stream, &events, &shutdown)
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
