//! The Matrix adapter (client-server API).
//!
//! - `config.rs`: [`MatrixConfig`], the `kind: matrix` options.
//! - `client.rs`: the API client (bearer token, error bodies, encoding).
//! - `convert.rs`: sync JSON → events, and the room state it needs (pure).
//! - `actions.rs`: actions → API calls (transaction ids, power-level mutes).
//! - `mutes.rs`: timed mutes kept in the store and lifted when due.
//!
//! Events arrive by `/sync` long polling. Its `since` token is stored (in
//! the daemon's key-values) only after the answer's events are handed to
//! the daemon, so a restart neither loses nor repeats events; on the very
//! first start the history is skipped (only the initial state is read).
//! Invites are accepted when `auto_join` is on. Actions are sent with
//! transaction ids derived from their outbox entry, so a retried send the
//! homeserver already took is not posted twice.

mod actions;
mod client;
mod config;
mod convert;
mod mutes;

pub use config::MatrixConfig;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::client::{ApiError, Client, Request};
use self::convert::{RawEvent, RoomState, SyncResponse};
use self::mutes::Mutes;
use super::http::Backoff;
use super::{Adapter, Capabilities, DeliveryKey, EventSink, SendError, Services};
use crate::clock::Clock;
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Event};
use crate::outbox::{Rate, RateLimits};
use crate::storage::Store;

/// Timeline events per room in one sync answer (more are read back from
/// `/messages`).
const TIMELINE_LIMIT: u32 = 100;

/// Pages of [`TIMELINE_LIMIT`] events read back after a limited sync.
const GAP_PAGES: usize = 20;

/// The power-levels content key where qunbot notes when its mutes end
/// (`{user: Unix ms}`), so moderators (and other tools) can see it.
pub const MUTED_UNTIL: &str = "org.qunbot.muted_until";

/// After a failed unmute, the wait before the next try.
const UNMUTE_RETRY: Duration = Duration::from_secs(30);

/// A Matrix bot account.
pub struct MatrixAdapter {
    /// Its id from config.yaml.
    id: AdapterId,
    /// Its options.
    config: MatrixConfig,
    /// The API client.
    client: Client,
    /// The daemon's store, clock and the mutes kept there; set by `attach`.
    attached: OnceLock<Attached>,
    /// The bot's own user id (from config or `/whoami`).
    me: OnceLock<String>,
    /// Known state per room id, kept from sync and fetched when missing.
    rooms: Mutex<HashMap<String, RoomState>>,
    /// Rooms invited to whose join failed; tried again on every sync.
    invites: Mutex<BTreeSet<String>>,
    /// Wakes the mute timer when a mute is added.
    mute_added: Notify,
    /// Numbers transaction ids of actions not from the outbox.
    txn: AtomicU64,
}

/// What `attach` hands over.
struct Attached {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mutes: Mutes,
}

impl std::fmt::Debug for MatrixAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixAdapter")
            .field("id", &self.id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// `/account/whoami`.
#[derive(Deserialize)]
struct WhoAmI {
    user_id: String,
}

impl MatrixAdapter {
    /// A not yet running adapter for `config`.
    pub fn new(id: AdapterId, config: MatrixConfig) -> Result<Self, BoxError> {
        let client = Client::new(&config.homeserver, &config.access_token)?;
        let me = OnceLock::new();
        if let Some(user) = &config.user_id {
            let _ = me.set(user.clone());
        }
        Ok(Self {
            id,
            config,
            client,
            attached: OnceLock::new(),
            me,
            rooms: Mutex::new(HashMap::new()),
            invites: Mutex::new(BTreeSet::new()),
            mute_added: Notify::new(),
            txn: AtomicU64::new(0),
        })
    }

    fn attached(&self) -> Result<&Attached, BoxError> {
        self.attached
            .get()
            .ok_or_else(|| "the matrix adapter runs only inside the daemon (no store attached)".into())
    }

    /// The store key of the sync token.
    fn since_key(&self) -> String {
        format!("{}/since", self.id)
    }

    /// Learn the bot's user id from `/whoami` unless configured.
    async fn whoami(&self, shutdown: &CancellationToken) -> Result<bool, BoxError> {
        let mut backoff = Backoff::default();
        while self.me.get().is_none() {
            let answer = tokio::select! {
                answer = self.client.call::<WhoAmI>(Request::new("whoami", Method::GET, vec!["account", "whoami"])) => answer,
                () = shutdown.cancelled() => return Ok(false),
            };
            match answer {
                Ok(who) => {
                    let _ = self.me.set(who.user_id);
                }
                Err(error) if error.is_unauthorized() => return Err(refused(&error)),
                Err(error) => {
                    tracing::warn!(adapter = %self.id, %error, retry_in = ?backoff.peek(), "whoami failed; retrying");
                    if !backoff.wait(shutdown).await {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// `/sync` until shutdown, storing `since` after each answer's events
    /// are handed over.
    async fn sync(&self, events: &EventSink, shutdown: &CancellationToken) -> Result<(), BoxError> {
        let attached = self.attached()?;
        let mut since = match attached.store.kv_get(mutes::NAMESPACE, &self.since_key()).await {
            Ok(since) => since,
            Err(error) => return Err(format!("cannot read the sync token: {error}").into()),
        };
        let wait = self.config.sync_timeout.0;
        let mut backoff = Backoff::default();
        loop {
            let first = since.is_none();
            let mut request = Request::new("sync", Method::GET, vec!["sync"]);
            let limit = if first { 1 } else { TIMELINE_LIMIT };
            request.query.push(("filter", convert::sync_filter(limit)));
            let poll = if first { Duration::ZERO } else { wait };
            request.query.push(("timeout", poll.as_millis().to_string()));
            if let Some(token) = &since {
                request.query.push(("since", token.clone()));
            }
            request.timeout = Some(poll + Duration::from_secs(15));
            let answer = tokio::select! {
                answer = self.client.call::<SyncResponse>(request) => answer,
                () = shutdown.cancelled() => return Ok(()),
            };
            match answer {
                Ok(answer) => {
                    backoff.reset();
                    let next = answer.next_batch.clone();
                    if !self.deliver(answer, since.as_deref(), events).await {
                        return Ok(());
                    }
                    if let Err(error) = attached
                        .store
                        .kv_put(mutes::NAMESPACE, &self.since_key(), &next)
                        .await
                    {
                        tracing::warn!(adapter = %self.id, %error, "could not store the sync token; a restart may repeat events");
                    }
                    since = Some(next);
                    self.join_invites().await;
                }
                Err(error) if error.is_unauthorized() => return Err(refused(&error)),
                Err(error) => {
                    tracing::warn!(adapter = %self.id, %error, retry_in = ?backoff.peek(), "sync failed; retrying");
                    if !backoff.wait(shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Read one sync answer: note invites, keep room state, and hand over
    /// the timeline's events (none from the first sync: no history replay).
    /// `false` once nobody receives events any more.
    async fn deliver(&self, answer: SyncResponse, since: Option<&str>, events: &EventSink) -> bool {
        let first = since.is_none();
        if self.config.auto_join {
            self.invites
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(answer.rooms.invite.into_keys());
        }
        let me = self.me.get().cloned().unwrap_or_default();
        for (room, joined) in answer.rooms.join {
            let (mut known, mut timeline) = (joined.state.events, joined.timeline.events);
            if joined.timeline.limited && !first {
                if let (Some(from), Some(to)) = (&joined.timeline.prev_batch, since) {
                    let (members, mut older) = self.gap(&room, from, to).await;
                    known.extend(members);
                    older.append(&mut timeline);
                    timeline = older;
                }
            }
            let has_state = |e: &RawEvent| {
                e.state_key.as_deref() == Some("")
                    && matches!(e.kind.as_str(), "m.room.power_levels" | "m.room.create")
            };
            let complete = known.iter().chain(&timeline).filter(|e| has_state(e)).count() >= 2;
            if !first && !complete && !self.room_loaded(&room) {
                self.load_room(&room).await;
            }
            let mut out: Vec<Event> = Vec::new();
            {
                let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
                let state = rooms.entry(room.clone()).or_default();
                for event in &known {
                    state.apply(event);
                }
                if first || complete {
                    state.loaded = true;
                }
                for event in &timeline {
                    state.apply(event);
                    if first || event.sender == me || event.state_key.as_deref() == Some(me.as_str()) {
                        continue;
                    }
                    out.extend(convert::timeline_event(&self.id, &room, event, state));
                }
            }
            for event in out {
                if events.send(event).await.is_err() {
                    return false;
                }
            }
        }
        true
    }

    /// The events of `room` a limited sync left out, between the last
    /// sync (`to`) and the timeline's start (`from`), oldest first, with
    /// the members' state the pages came with; at most [`GAP_PAGES`] pages
    /// (a failure or more is logged: those are skipped).
    async fn gap(&self, room: &str, from: &str, to: &str) -> (Vec<RawEvent>, Vec<RawEvent>) {
        let (mut older, mut members) = (Vec::new(), Vec::new());
        let mut from = from.to_owned();
        for _ in 0..GAP_PAGES {
            let mut request = Request::new("messages", Method::GET, vec!["rooms", room, "messages"]);
            request.query = vec![
                ("dir", "b".into()),
                ("from", from.clone()),
                ("to", to.to_owned()),
                ("limit", TIMELINE_LIMIT.to_string()),
                ("filter", convert::gap_filter()),
            ];
            match self.client.call::<convert::Page>(request).await {
                Ok(page) => {
                    let done = page.chunk.is_empty() || page.end.is_none();
                    older.extend(page.chunk);
                    members.extend(page.state);
                    match page.end {
                        Some(end) if !done => from = end,
                        _ => {
                            older.reverse();
                            return (members, older);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(adapter = %self.id, %room, %error, "could not read the events a sync left out; they are skipped");
                    older.reverse();
                    return (members, older);
                }
            }
        }
        tracing::warn!(adapter = %self.id, %room, pages = GAP_PAGES, "more events left out by a sync than qunbot reads back; the oldest are skipped");
        older.reverse();
        (members, older)
    }

    fn room_loaded(&self, room: &str) -> bool {
        self.rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(room)
            .is_some_and(|s| s.loaded)
    }

    /// Fetch a room's power levels and creation event (after a restart the
    /// sync only sends changes). A failure leaves everyone a member until
    /// the next try.
    async fn load_room(&self, room: &str) {
        let mut fetched = Vec::new();
        for kind in ["m.room.create", "m.room.power_levels"] {
            // Whole events (`format=event`): from room version 12 only the
            // event's sender names the creator.
            let mut request = Request::new("state", Method::GET, vec!["rooms", room, "state", kind, ""]);
            request.query.push(("format", "event".into()));
            match self.client.call::<RawEvent>(request).await {
                Ok(event) => fetched.push(event),
                Err(error) if error.errcode() == Some("M_NOT_FOUND") => {}
                Err(error) => {
                    tracing::warn!(adapter = %self.id, %room, %error,
                        "could not read the room's power levels; its members count as members until the next try");
                    return;
                }
            }
        }
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let state = rooms.entry(room.to_owned()).or_default();
        for event in &fetched {
            state.apply(event);
        }
        state.loaded = true;
    }

    /// Join the rooms the bot is invited to; failures are tried after the
    /// next sync.
    async fn join_invites(&self) {
        let pending: Vec<String> = self
            .invites
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        for room in pending {
            let request = Request::new("join", Method::POST, vec!["join", &room]).body(json!({}));
            let answer = self.client.call::<Value>(request).await;
            let done = match answer {
                Ok(_) => {
                    tracing::info!(adapter = %self.id, %room, "joined the room on invite");
                    true
                }
                Err(error) => match error.send_error() {
                    SendError::Permanent(_) => {
                        tracing::warn!(adapter = %self.id, %room, %error, "could not join the room; invite dropped");
                        true
                    }
                    _ => {
                        tracing::warn!(adapter = %self.id, %room, %error, "could not join the room yet; retrying");
                        false
                    }
                },
            };
            if done {
                self.invites
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&room);
            }
        }
    }

    /// Lift mutes as they fall due, until shutdown.
    async fn unmute_due(&self, shutdown: &CancellationToken) {
        let Ok(attached) = self.attached() else { return };
        loop {
            let next = match attached.mutes.next().await {
                Ok(next) => next,
                Err(error) => {
                    tracing::warn!(adapter = %self.id, %error, "could not read pending mutes; retrying");
                    let retry = attached.clock.now() + chrono::Duration::seconds(5);
                    tokio::select! {
                        () = attached.clock.sleep_until(retry) => continue,
                        () = shutdown.cancelled() => return,
                    }
                }
            };
            let Some(muted) = next else {
                tokio::select! {
                    () = self.mute_added.notified() => continue,
                    () = shutdown.cancelled() => return,
                }
            };
            if muted.until > attached.clock.now() {
                tokio::select! {
                    () = attached.clock.sleep_until(muted.until) => {}
                    () = self.mute_added.notified() => {}
                    () = shutdown.cancelled() => return,
                }
                continue;
            }
            let outcome = self.lift(&muted.room, &muted.user, muted.restore).await;
            let stored = match outcome {
                Ok(()) | Err(SendError::Permanent(_)) => {
                    if let Err(SendError::Permanent(error)) = &outcome {
                        tracing::warn!(adapter = %self.id, room = %muted.room, user = %muted.user, %error, "could not lift a mute; given up");
                    }
                    attached.mutes.take(&muted.room, &muted.user).await.map(|_| ())
                }
                Err(error) => {
                    let wait = match error {
                        SendError::RetryAfter(wait) => wait,
                        _ => UNMUTE_RETRY,
                    };
                    tracing::warn!(adapter = %self.id, room = %muted.room, %error, ?wait, "could not lift a mute yet; retrying");
                    let later = attached.clock.now()
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(30));
                    attached.mutes.postpone(&muted.room, &muted.user, later).await
                }
            };
            if let Err(error) = stored {
                tracing::warn!(adapter = %self.id, %error, "could not update pending mutes");
            }
        }
    }
}

/// The error that stops the adapter when the token is refused (the
/// server's words, never the token).
fn refused(error: &ApiError) -> BoxError {
    format!("the homeserver refused the access token ({error}); get a new token (docs/adapters.md, Matrix)")
        .into()
}

#[async_trait]
impl Adapter for MatrixAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    /// Everything but direct messages.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            direct_message: false,
            ..Capabilities::ALL
        }
    }

    /// Synapse's default `rc_message` (0.2 messages a second, bursts of
    /// 10): 10 in any 50 s per account. Homeservers set their own; a
    /// stricter one answers `M_LIMIT_EXCEEDED`, which is waited out.
    fn limits(&self) -> RateLimits {
        RateLimits::none().per_account(Rate::new(10, Duration::from_secs(50)))
    }

    fn attach(&self, services: &Services) {
        let _ = self.attached.set(Attached {
            store: services.store.clone(),
            clock: services.clock.clone(),
            mutes: Mutes::new(services.store.clone(), self.id.as_str()),
        });
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        self.attached()?;
        if !self.whoami(&shutdown).await? {
            return Ok(());
        }
        // The timer stops with the sync loop (a refused token stops both).
        let timers = shutdown.child_token();
        let (synced, ()) = tokio::join!(
            async {
                let result = self.sync(&events, &shutdown).await;
                timers.cancel();
                result
            },
            self.unmute_due(&timers)
        );
        synced
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let n = self.txn.fetch_add(1, Ordering::Relaxed);
        let txn = format!("qunbot.x{}.{n}", Utc::now().timestamp_millis());
        self.act(action, &txn).await
    }

    async fn execute_queued(&self, key: DeliveryKey, action: &Action) -> Result<(), SendError> {
        self.act(action, &format!("qunbot.{key}")).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_token() {
        let config: MatrixConfig = serde_json::from_value(json!({
            "homeserver": "http://127.0.0.1:1", "access_token": "TOPSECRET"
        }))
        .unwrap();
        assert!(!format!("{config:?}").contains("TOPSECRET"));
        let adapter = MatrixAdapter::new("mx".into(), config).unwrap();
        assert!(!format!("{adapter:?}").contains("TOPSECRET"));
    }
}
