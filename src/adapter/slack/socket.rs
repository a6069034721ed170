//! Socket Mode: the daemon asks `apps.connections.open` (with the app-level
//! token) for a `wss://` URL, connects, and receives events as envelopes:
//! `{"envelope_id", "type": "events_api", "payload", "retry_attempt", …}`.
//!
//! An envelope is acknowledged (`{"envelope_id"}`) only after its event is
//! handed to the bots; Slack delivers unacknowledged envelopes again (on
//! this or a later connection), and the adapter hands each `event_id` over
//! once. A `disconnect` message (`warning`, `refresh_requested`,
//! `link_disabled`) is followed by opening a new connection before the old
//! one is closed; a lost connection is reconnected by the shared loop
//! ([`crate::adapter::ws`]) with a fresh URL each time.

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::SlackAdapter;
use super::api::Kind;
use super::convert::Payload;
use crate::adapter::EventSink;
use crate::adapter::http::Backoff;
use crate::adapter::ws::{self, DialError, WsMessage, WsStream};
use crate::error::BoxError;

/// After this long without a frame the connection is pinged, and after
/// twice as long taken as lost (a socket gone without closing).
const IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// A Socket Mode message.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Frame {
    /// The connection is ready.
    Hello,
    /// Slack will close this connection: open another.
    Disconnect {
        /// `warning`, `refresh_requested`, `link_disabled`, …
        #[serde(default)]
        reason: String,
    },
    /// An Events API event.
    EventsApi {
        /// What to acknowledge.
        envelope_id: String,
        /// The event callback (boxed: the other variants are small).
        payload: Box<Payload>,
        /// How often Slack has sent it before.
        #[serde(default)]
        retry_attempt: u32,
    },
    /// Slash commands, interactivity: acknowledged, not handled.
    #[serde(other)]
    Other,
}

/// How one connection ended.
enum End {
    /// Slack asked for a new connection.
    Refresh(String),
    /// Shut down (or nobody receives events any more).
    Stopped,
}

/// Just the envelope id of a frame, to acknowledge frames qunbot does not read.
#[derive(Deserialize)]
struct EnvelopeId {
    #[serde(default)]
    envelope_id: Option<String>,
}

impl SlackAdapter {
    /// Socket Mode: learn the bot's id, then keep a connection until
    /// shutdown.
    pub(super) async fn socket(
        &self,
        events: EventSink,
        shutdown: CancellationToken,
    ) -> Result<(), BoxError> {
        if !self.learn_own_id(&shutdown).await? {
            return Ok(());
        }
        let name = self.id.to_string();
        ws::reconnect_loop_with(
            &name,
            || self.dial(),
            Backoff::default(),
            &shutdown,
            |stream| self.session(stream, &events, &shutdown),
        )
        .await
    }

    /// A fresh URL from `apps.connections.open`, connected.
    async fn dial(&self) -> Result<WsStream, DialError> {
        let token = self.config.app_token.as_deref().unwrap_or_default();
        let body = match self.api.call("apps.connections.open", token, &[]).await {
            Ok(body) => body,
            Err(error) if error.kind() == Kind::Auth => {
                return Err(DialError::Fatal(
                    format!("Slack refused the app token: {error}").into(),
                ));
            }
            Err(error) => return Err(DialError::Retry(error.to_string())),
        };
        let Some(url) = body["url"].as_str() else {
            return Err(DialError::Retry("apps.connections.open gave no url".into()));
        };
        ws::connect(url, None)
            .await
            .map_err(|e| DialError::Retry(e.to_string()))
    }

    /// Serve connections from `stream` on: on a `disconnect` message a new
    /// one is dialled and replaces it. Returns when a connection is lost
    /// (the loop reconnects) or on shutdown.
    async fn session(
        &self,
        mut stream: WsStream,
        events: &EventSink,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        loop {
            match self.connection(&mut stream, events, shutdown).await? {
                End::Stopped => {
                    let _ = stream.close(None).await;
                    return Ok(());
                }
                End::Refresh(reason) => {
                    tracing::info!(adapter = %self.id, %reason, "Slack asks for a new connection");
                    let fresh = match self.dial().await {
                        Ok(fresh) => fresh,
                        Err(DialError::Retry(error)) => return Err(error),
                        Err(DialError::Fatal(error)) => return Err(error.to_string()),
                    };
                    let _ = stream.close(None).await;
                    stream = fresh;
                }
            }
        }
    }

    /// One connection, until Slack asks for another, it is lost (an error)
    /// or shutdown.
    async fn connection(
        &self,
        stream: &mut WsStream,
        events: &EventSink,
        shutdown: &CancellationToken,
    ) -> Result<End, String> {
        let mut heard = Instant::now();
        let mut pinged = false;
        loop {
            let quiet_until = heard + if pinged { IDLE * 2 } else { IDLE };
            let frame = tokio::select! {
                frame = stream.next() => frame,
                () = tokio::time::sleep_until(quiet_until) => {
                    if pinged {
                        return Err(format!("nothing heard for {:?}; taking the connection as lost", IDLE * 2));
                    }
                    pinged = true;
                    stream.send(WsMessage::Ping(Default::default())).await.map_err(|e| ws::describe(&e))?;
                    continue;
                }
                () = shutdown.cancelled() => return Ok(End::Stopped),
            };
            heard = Instant::now();
            pinged = false;
            let text = match frame {
                None | Some(Ok(WsMessage::Close(_))) => return Err("Slack closed the connection".into()),
                Some(Err(error)) => return Err(ws::describe(&error)),
                Some(Ok(WsMessage::Text(text))) => text,
                Some(Ok(_)) => continue,
            };
            let ack = match serde_json::from_str::<Frame>(text.as_str()) {
                Ok(Frame::Hello) => {
                    tracing::debug!(adapter = %self.id, "Socket Mode hello");
                    None
                }
                Ok(Frame::Disconnect { reason }) => return Ok(End::Refresh(reason)),
                Ok(Frame::EventsApi {
                    envelope_id,
                    payload,
                    retry_attempt,
                }) => {
                    if retry_attempt > 0 {
                        tracing::debug!(adapter = %self.id, retry_attempt, "Slack sends an envelope again");
                    }
                    if let Payload::EventCallback { event_id, event } = *payload {
                        if !self.deliver(&event_id, &event, events).await {
                            return Ok(End::Stopped);
                        }
                    }
                    Some(envelope_id)
                }
                Ok(Frame::Other) | Err(_) => {
                    let id = serde_json::from_str::<EnvelopeId>(text.as_str())
                        .ok()
                        .and_then(|e| e.envelope_id);
                    if id.is_none() {
                        tracing::warn!(adapter = %self.id, "a Socket Mode message qunbot cannot read; skipped");
                    }
                    id
                }
            };
            if let Some(envelope_id) = ack {
                let frame = json!({ "envelope_id": envelope_id }).to_string();
                stream
                    .send(WsMessage::text(frame))
                    .await
                    .map_err(|e| ws::describe(&e))?;
            }
        }
    }
}
