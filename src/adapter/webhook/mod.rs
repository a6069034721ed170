//! The generic webhook adapter, for platforms without a bot API of their
//! own (bridges for Alipay or Xiaohongshu groups, in-house apps).
//!
//! - `config.rs`: [`WebhookConfig`], the `kind: webhook` options.
//! - `convert.rs`: the JSON wire format and HMAC-SHA256 signatures.
//!
//! Events arrive as signed JSON on `POST /hooks/ADAPTER_ID` (the daemon's
//! HTTP listener), answered 204 once queued; actions leave as signed JSON
//! POSTs to `url`, their failures mapped by [`crate::adapter::http`].

mod config;
mod convert;

pub use config::{Capability, WebhookConfig};

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::http::{self, Failure};
use super::{Adapter, Capabilities, EventSink, Route, SendError};
use crate::clock::{Clock, SystemClock};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Event};

/// Events queued between the listener and the receive loop.
const QUEUE: usize = 256;

/// A bridged platform.
pub struct WebhookAdapter {
    /// Its id from config.yaml.
    id: AdapterId,
    /// Its options (the secret among them: never logged).
    config: WebhookConfig,
    /// The shared client.
    client: reqwest::Client,
    /// Stamps events that carry no time.
    clock: Arc<dyn Clock>,
    /// Events from the listener to `run`.
    queue_tx: mpsc::Sender<Event>,
    /// The receiving half, taken by `run`.
    queue_rx: Mutex<Option<mpsc::Receiver<Event>>>,
}

impl std::fmt::Debug for WebhookAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAdapter")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl WebhookAdapter {
    /// A not yet running adapter for `config`.
    pub fn new(id: AdapterId, config: WebhookConfig) -> Result<Self, BoxError> {
        let (queue_tx, queue_rx) = mpsc::channel(QUEUE);
        Ok(Self {
            id,
            config,
            client: http::client()?,
            clock: Arc::new(SystemClock),
            queue_tx,
            queue_rx: Mutex::new(Some(queue_rx)),
        })
    }

    /// The path events arrive on.
    pub fn path(&self) -> String {
        self.config
            .path
            .clone()
            .unwrap_or_else(|| format!("/hooks/{}", self.id))
    }
}

#[async_trait]
impl Adapter for WebhookAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    fn capabilities(&self) -> Capabilities {
        self.config.capabilities()
    }

    /// Hand over what the listener queues; on shutdown close the queue (the
    /// listener then answers 503 and the bridge sends again) and hand over
    /// what it still holds.
    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let taken = self.queue_rx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(queue) = taken else {
            return Err("webhook adapter is already running".into());
        };
        http::relay(queue, events, shutdown).await;
        Ok(())
    }

    fn routes(&self) -> Vec<Route> {
        let secret: Arc<[u8]> = Arc::from(self.config.secret.as_bytes());
        let queue = self.queue_tx.clone();
        let clock = self.clock.clone();
        let id = self.id.clone();
        let handler = axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| async move {
            let signature = headers
                .get(convert::SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !convert::verify(&secret, &body, signature) {
                return (StatusCode::UNAUTHORIZED, "bad signature".to_owned());
            }
            let event = serde_json::from_slice::<convert::Incoming>(&body)
                .map_err(|e| e.to_string())
                .and_then(|incoming| incoming.into_event(&id, clock.now()));
            let event = match event {
                Ok(event) => event,
                Err(error) => return (StatusCode::BAD_REQUEST, error),
            };
            match queue.send(event).await {
                Ok(()) => (StatusCode::NO_CONTENT, String::new()),
                Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "stopping".to_owned()),
            }
        });
        vec![Route {
            path: self.path(),
            handler,
        }]
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let body = convert::outgoing(&self.id, action);
        let signature = convert::sign(self.config.secret.as_bytes(), &body);
        let response = self
            .client
            .post(&self.config.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(convert::SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| http::send_error(Failure::Transport(&e)))?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(http::status_error(response).await)
    }
}
