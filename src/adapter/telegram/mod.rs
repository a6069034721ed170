//! The Telegram Bot API adapter.
//!
//! - `config.rs`: [`TelegramConfig`], the `kind: telegram` options.
//! - `api.rs`: the Bot API client (token-redacting errors).
//! - `convert.rs`: updates → events, actions → API calls (pure).
//!
//! Updates arrive by long polling (getUpdates, confirmed by `offset` only
//! after their events are handed to the daemon) or by webhook (a route on the
//! daemon's HTTP listener, answered 200 only once the update is queued).
//! Failed actions return the shared [`crate::adapter::http`] mapping and
//! the outbox retries them; a group that became a supergroup
//! (`migrate_to_chat_id`) is followed for later sends.

mod api;
mod config;
mod convert;

pub use config::{Mode, TelegramConfig};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::api::{Api, ApiError};
use self::convert::{ALLOWED_UPDATES, Membership, Update};
use super::http::Backoff;
use super::sign::same;
use super::{Adapter, Capabilities, EventSink, Route, SendError};
use crate::clock::{Clock, SystemClock};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Event, Role};
use crate::outbox::{Rate, RateLimits};

/// The header Telegram sends the webhook's `secret_token` in.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// How long a group's administrator list is trusted.
const ADMINS_TTL: Duration = Duration::from_secs(600);

/// After a failed getChatAdministrators, how long until the next try.
const ADMINS_RETRY: Duration = Duration::from_secs(60);

/// Joins and leaves seen twice within this many seconds (a service message
/// and a `chat_member` update for one change) give one event.
const MEMBERSHIP_DEDUP_SECS: i64 = 60;

/// Webhook updates queued between the listener and the receive loop.
const WEBHOOK_QUEUE: usize = 256;

/// A Telegram bot account.
pub struct TelegramAdapter {
    /// Its id from config.yaml.
    id: AdapterId,
    /// Its options.
    config: TelegramConfig,
    /// The Bot API client.
    api: Api,
    /// Stamps mutes' `until_date`.
    clock: Arc<dyn Clock>,
    /// Groups that became supergroups: old chat id → new, for sends.
    migrated: Mutex<HashMap<i64, i64>>,
    /// Administrators per group, from getChatAdministrators and
    /// `chat_member` updates; read for every group message's sender role.
    admins: Mutex<HashMap<i64, Admins>>,
    /// Recent joins and leaves with their dates, to drop the second report
    /// of one change.
    recent: Mutex<VecDeque<(Membership, i64)>>,
    /// Webhook updates from the listener to `run` (the sending half).
    webhook_tx: mpsc::Sender<Update>,
    /// The receiving half, taken by `run`.
    webhook_rx: Mutex<Option<mpsc::Receiver<Update>>>,
}

/// One group's administrators.
#[derive(Debug)]
struct Admins {
    /// User id → role (admins and the owner only).
    roles: HashMap<i64, Role>,
    /// When to ask Telegram again.
    expires: Instant,
}

impl std::fmt::Debug for TelegramAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramAdapter")
            .field("id", &self.id)
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

/// Just the id of an update, read before the rest so a malformed update is
/// skipped and confirmed rather than blocking the queue.
#[derive(Deserialize)]
struct UpdateId {
    update_id: i64,
}

impl TelegramAdapter {
    /// A not yet running adapter for `config`.
    pub fn new(id: AdapterId, config: TelegramConfig) -> Result<Self, BoxError> {
        let api = Api::new(&config.api_base, &config.token)?;
        let (webhook_tx, webhook_rx) = mpsc::channel(WEBHOOK_QUEUE);
        Ok(Self {
            id,
            config,
            api,
            clock: Arc::new(SystemClock),
            migrated: Mutex::new(HashMap::new()),
            admins: Mutex::new(HashMap::new()),
            recent: Mutex::new(VecDeque::new()),
            webhook_tx,
            webhook_rx: Mutex::new(Some(webhook_rx)),
        })
    }

    /// The webhook's path on the listener.
    pub fn webhook_path(&self) -> String {
        self.config
            .path
            .clone()
            .unwrap_or_else(|| format!("/telegram/{}", self.id))
    }

    /// Long polling: getUpdates until shutdown, confirming updates by the
    /// next call's `offset` once their events are handed over.
    async fn poll(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let mut backoff = Backoff::default();
        // A webhook set earlier makes getUpdates fail with 409.
        if !self
            .call_until_ok("deleteWebhook", json!({}), &mut backoff, &shutdown)
            .await?
        {
            return Ok(());
        }
        let wait = self.config.poll_timeout.0;
        let mut offset: Option<i64> = None;
        loop {
            let body = json!({
                "offset": offset,
                "timeout": wait.as_secs(),
                "allowed_updates": ALLOWED_UPDATES,
            });
            let answer = tokio::select! {
                answer = self.api.call::<Vec<Value>>("getUpdates", &body, Some(wait + Duration::from_secs(10))) => answer,
                () = shutdown.cancelled() => return Ok(()),
            };
            match answer {
                Ok(updates) => {
                    backoff.reset();
                    for raw in updates {
                        let Ok(UpdateId { update_id }) = UpdateId::deserialize(&raw) else {
                            tracing::warn!(adapter = %self.id, "an update without update_id; skipped");
                            continue;
                        };
                        match serde_json::from_value::<Update>(raw) {
                            Ok(update) => {
                                if !self.deliver(update, &events).await {
                                    return Ok(());
                                }
                            }
                            Err(error) => {
                                tracing::warn!(adapter = %self.id, update_id, %error, "an update qunbot cannot read; skipped")
                            }
                        }
                        offset = Some(update_id + 1);
                    }
                }
                Err(error) if error.is_unauthorized() => {
                    return Err(format!("telegram refused the bot token: {error}").into());
                }
                Err(error) => {
                    tracing::warn!(adapter = %self.id, %error, retry_in = ?backoff.peek(), "getUpdates failed; retrying");
                    if !backoff.wait(&shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Webhook mode: register the webhook if a URL is configured, then hand
    /// over what the listener queues. On shutdown the queue is closed (the
    /// listener then answers 503, so Telegram sends again later) and what
    /// it holds is still handed over.
    async fn webhook(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let taken = self.webhook_rx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut queue) = taken else {
            return Err("telegram adapter is already running".into());
        };
        if let Some(url) = &self.config.webhook_url {
            let body = json!({
                "url": url,
                "secret_token": self.config.secret_token,
                "allowed_updates": ALLOWED_UPDATES,
            });
            let mut backoff = Backoff::default();
            if !self
                .call_until_ok("setWebhook", body, &mut backoff, &shutdown)
                .await?
            {
                return Ok(());
            }
        }
        loop {
            tokio::select! {
                update = queue.recv() => match update {
                    Some(update) => {
                        if !self.deliver(update, &events).await {
                            return Ok(());
                        }
                    }
                    None => return Ok(()),
                },
                () = shutdown.cancelled() => break,
            }
        }
        queue.close();
        while let Some(update) = queue.recv().await {
            if !self.deliver(update, &events).await {
                break;
            }
        }
        Ok(())
    }

    /// Call `method` until it succeeds; `Ok(false)` if shut down first, an
    /// error if the token is refused.
    async fn call_until_ok(
        &self,
        method: &str,
        body: Value,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
    ) -> Result<bool, BoxError> {
        loop {
            let answer = tokio::select! {
                answer = self.api.call::<Value>(method, &body, None) => answer,
                () = shutdown.cancelled() => return Ok(false),
            };
            match answer {
                Ok(_) => {
                    backoff.reset();
                    return Ok(true);
                }
                Err(error) if error.is_unauthorized() => {
                    return Err(format!("telegram refused the bot token: {error}").into());
                }
                Err(error) => {
                    tracing::warn!(adapter = %self.id, %error, retry_in = ?backoff.peek(), "call failed; retrying");
                    if !backoff.wait(shutdown).await {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Turn `update` into events and hand them over; `false` once nobody
    /// receives events any more.
    async fn deliver(&self, update: Update, events: &EventSink) -> bool {
        let mut out: Vec<(Event, Option<Membership>)> = Vec::new();
        if let Some(message) = &update.message {
            if let Some(to) = message.migrate_to_chat_id {
                tracing::info!(adapter = %self.id, from = message.chat.id, to, "group became a supergroup; following it");
                self.migrated
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(message.chat.id, to);
            }
            if message.chat.id < 0 {
                self.load_admins(message.chat.id).await;
            }
            out = convert::message_events(&self.id, message, |chat, user| self.role(chat, user));
        }
        if let Some(change) = &update.chat_member {
            self.note_role(
                change.chat.id,
                change.new_chat_member.user.id,
                &change.new_chat_member,
            );
            if let Some((event, membership)) = convert::member_event(&self.id, change) {
                out.push((event, Some(membership)));
            }
        }
        for (event, membership) in out {
            if let Some(m) = membership {
                if !self.first_report(m, event.at.timestamp()) {
                    continue;
                }
            }
            if events.send(event).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Whether this join or leave is news (not the second report of one
    /// change).
    fn first_report(&self, membership: Membership, date: i64) -> bool {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|(_, d)| (date - d).abs() <= MEMBERSHIP_DEDUP_SECS);
        if recent.iter().any(|(m, _)| *m == membership) {
            return false;
        }
        recent.push_back((membership, date));
        true
    }

    /// A member's role in a group, from the cache.
    fn role(&self, chat: i64, user: i64) -> Role {
        self.admins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&chat)
            .and_then(|a| a.roles.get(&user).copied())
            .unwrap_or(Role::Member)
    }

    /// Keep the cache in step with a `chat_member` update.
    fn note_role(&self, chat: i64, user: i64, member: &convert::ChatMember) {
        let mut admins = self.admins.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(group) = admins.get_mut(&chat) {
            match member.role() {
                Role::Member => group.roles.remove(&user),
                role => group.roles.insert(user, role),
            };
        }
    }

    /// Fetch a group's administrators unless the cache is fresh. A failure
    /// leaves everyone a member for a minute (logged), rather than holding
    /// up the group's messages.
    async fn load_admins(&self, chat: i64) {
        let now = Instant::now();
        let fresh = self
            .admins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&chat)
            .is_some_and(|a| a.expires > now);
        if fresh {
            return;
        }
        let answer = self
            .api
            .call::<Vec<convert::ChatMember>>("getChatAdministrators", &json!({"chat_id": chat}), None)
            .await;
        let admins = match answer {
            Ok(members) => Admins {
                roles: members.iter().map(|m| (m.user.id, m.role())).collect(),
                expires: now + ADMINS_TTL,
            },
            Err(error) => {
                tracing::warn!(adapter = %self.id, chat, %error, "could not read the group's administrators");
                Admins {
                    roles: HashMap::new(),
                    expires: now + ADMINS_RETRY,
                }
            }
        };
        self.admins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chat, admins);
    }

    /// The chat id to send to for group `id`, following migrations.
    fn chat_for(&self, id: &str) -> Value {
        let Ok(n) = id.parse::<i64>() else {
            return convert::chat_id(id);
        };
        let migrated = self.migrated.lock().unwrap_or_else(|e| e.into_inner());
        json!(migrated.get(&n).copied().unwrap_or(n))
    }

    /// What a failed call means to the outbox; a "group migrated" answer is
    /// remembered and retried at the new id.
    fn failed(&self, call: &convert::Call, error: &ApiError) -> SendError {
        if let (
            ApiError::Failed {
                migrate_to: Some(to), ..
            },
            Some(from),
        ) = (error, call.body["chat_id"].as_i64())
        {
            self.migrated
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(from, *to);
            return SendError::Transient(format!("group {from} is now supergroup {to}; sending there"));
        }
        error.send_error()
    }
}

#[async_trait]
impl Adapter for TelegramAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// Telegram's documented limits: about 30 messages a second overall, one
    /// a second in a chat and 20 a minute in a group.
    fn limits(&self) -> RateLimits {
        RateLimits::none()
            .per_account(Rate::new(30, Duration::from_secs(1)))
            .per_group(Rate::new(1, Duration::from_secs(1)))
            .per_group(Rate::new(20, Duration::from_secs(60)))
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        match self.config.mode {
            Mode::Polling => self.poll(events, shutdown).await,
            Mode::Webhook => self.webhook(events, shutdown).await,
        }
    }

    fn routes(&self) -> Vec<Route> {
        if self.config.mode != Mode::Webhook {
            return Vec::new();
        }
        let secret: Arc<str> = Arc::from(self.config.secret_token.clone().unwrap_or_default());
        let queue = self.webhook_tx.clone();
        let handler = axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| async move {
            let given = headers
                .get(SECRET_HEADER)
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            if secret.is_empty() || !same(given, secret.as_bytes()) {
                return StatusCode::UNAUTHORIZED;
            }
            let Ok(update) = serde_json::from_slice::<Update>(&body) else {
                return StatusCode::BAD_REQUEST;
            };
            match queue.send(update).await {
                Ok(()) => StatusCode::OK,
                // Stopping: Telegram keeps the update and sends it again.
                Err(_) => StatusCode::SERVICE_UNAVAILABLE,
            }
        });
        vec![Route {
            path: self.webhook_path(),
            handler,
        }]
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let now = self.clock.now();
        for call in convert::calls(action, now, |g| self.chat_for(g)) {
            if let Err(error) = self.api.call::<Value>(call.method, &call.body, None).await {
                return Err(self.failed(&call, &error));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_secrets() {
        let config: TelegramConfig = serde_json::from_value(json!({
            "token": "123:TOPSECRET", "mode": "webhook", "secret_token": "HOOKSECRET"
        }))
        .unwrap();
        let text = format!("{config:?}");
        assert!(
            !text.contains("TOPSECRET") && !text.contains("HOOKSECRET"),
            "{text}"
        );
        let adapter = TelegramAdapter::new("tg".into(), config).unwrap();
        let text = format!("{adapter:?}");
        assert!(!text.contains("TOPSECRET"), "{text}");
    }
}
