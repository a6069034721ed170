//! One adapter's delivery loop: reads its queue from the store, picks the
//! next action the order rules and the governor allow, carries it out, and
//! records the outcome in the store.
//!
//! Order: the queue is split into lanes, one per chat key and kind (message
//! or moderation). A lane delivers in queue order and its failing head
//! blocks only that lane. Moderation lanes are never held by the governor,
//! and a ready moderation action goes before ready messages, so a backlog
//! of rate-limited replies cannot keep spam up.
//!
//! One action is in flight at a time: the account's limits are sequential
//! anyway, and shutdown only has to wait for that one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::governor::{Governor, later};
use super::rate::RateLimits;
use crate::adapter::{Adapter, DeliveryKey, SendError};
use crate::clock::Clock;
use crate::storage::{Queued, Store, StoreError};

/// Rows read from the store per query while filling the lanes.
const PAGE: usize = 512;

/// Wait after a store error before trying again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// The store namespace of the outbox's own values (daily counts).
const KV_NAMESPACE: &str = "outbox";

/// The signal from `enqueue` to a worker that its queue grew.
#[derive(Debug)]
pub(super) struct Wake {
    /// Set by every wake and taken by the worker before it reads the store,
    /// so a wake while the worker is busy is not lost.
    dirty: AtomicBool,
    /// Wakes the worker when it is waiting.
    notify: Notify,
}

impl Wake {
    /// A signal that is already set: a new worker first reads what a
    /// previous run left.
    pub(super) fn new() -> Self {
        Self {
            dirty: AtomicBool::new(true),
            notify: Notify::new(),
        }
    }

    /// Tell the worker to read its queue again.
    pub(super) fn wake(&self) {
        self.dirty.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    fn take(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }
}

/// One queued action as the worker tracks it.
#[derive(Debug)]
struct Pending {
    /// The stored row; `attempts` and `not_before` are kept up to date.
    row: Queued,
    /// The action's chat key, for the per-group limits.
    chat: String,
    /// Whether it is a message (governed) or a moderation action.
    message: bool,
    /// Its random extra delay, drawn once when it was read so that waiting
    /// does not redraw it (and runs stay reproducible).
    jitter: Duration,
}

/// A lane: one chat key and kind (`true` for messages).
type LaneKey = (String, bool);

/// What the worker does next.
enum Next {
    /// Carry out the head of this lane now.
    Run(LaneKey),
    /// Nothing may go before this time.
    At(DateTime<Utc>),
    /// The queue is empty.
    Idle,
}

/// One adapter's worker and its state.
pub(super) struct Worker {
    /// Where actions go.
    adapter: Arc<dyn Adapter>,
    /// The queue (and dead letters, and the daily count).
    store: Arc<dyn Store>,
    /// All waiting goes through it, so tests run on virtual time.
    clock: Arc<dyn Clock>,
    /// Rung by `enqueue`.
    wake: Arc<Wake>,
    /// When messages may go.
    governor: Governor,
    /// Waits after transient failures.
    backoff: Backoff,
    /// Jitter of sends and back-offs; seeded, so runs are reproducible.
    rng: StdRng,
    /// Pending actions by lane; a `BTreeMap` so that iteration, and with it
    /// every choice and random draw, is the same on every run.
    lanes: BTreeMap<LaneKey, VecDeque<Pending>>,
    /// The highest queue id read so far; the next read starts after it.
    loaded_to: i64,
}

impl Worker {
    /// A worker for `adapter` paced by `limits`, its jitter seeded by `seed`.
    pub(super) fn new(
        adapter: Arc<dyn Adapter>,
        limits: RateLimits,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        wake: Arc<Wake>,
        seed: u64,
    ) -> Self {
        Self {
            adapter,
            store,
            clock,
            wake,
            governor: Governor::new(limits),
            backoff: Backoff::default(),
            rng: StdRng::seed_from_u64(seed),
            lanes: BTreeMap::new(),
            loaded_to: 0,
        }
    }

    /// Deliver until `shutdown` fires; the action in flight is finished and
    /// its outcome stored first. What is left stays in the store.
    pub(super) async fn run(mut self, shutdown: CancellationToken) {
        self.restore_day().await;
        let (clock, wake) = (self.clock.clone(), self.wake.clone());
        while !shutdown.is_cancelled() {
            if wake.take() {
                if let Err(error) = self.fill().await {
                    tracing::error!(adapter = %self.adapter.id(), %error, "could not read the outbox; retrying");
                    wake.wake();
                    let retry = later(clock.now(), STORE_RETRY);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = clock.sleep_until(retry) => {}
                    }
                    continue;
                }
            }
            match self.next(clock.now()) {
                Next::Run(lane) => self.attempt(lane).await,
                Next::At(at) => tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = wake.notify.notified() => {}
                    () = clock.sleep_until(at) => {}
                },
                Next::Idle => tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = wake.notify.notified() => {}
                },
            }
        }
        let left: usize = self.lanes.values().map(VecDeque::len).sum();
        tracing::info!(adapter = %self.adapter.id(), left, "outbox worker stopped; undelivered actions stay queued");
    }

    /// Read the rows queued since the last read into their lanes.
    async fn fill(&mut self) -> Result<(), StoreError> {
        loop {
            let rows = self
                .store
                .outbox_pending_after(self.adapter.id(), self.loaded_to, PAGE)
                .await?;
            let full = rows.len() == PAGE;
            for row in rows {
                self.loaded_to = self.loaded_to.max(row.id);
                let action = &row.item.action;
                let (chat, message) = (action.chat_key(), action.is_message());
                let jitter = if message {
                    self.draw_jitter()
                } else {
                    Duration::ZERO
                };
                self.lanes
                    .entry((chat.clone(), message))
                    .or_default()
                    .push_back(Pending {
                        row,
                        chat,
                        message,
                        jitter,
                    });
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn draw_jitter(&mut self) -> Duration {
        let bound = u64::try_from(self.governor.jitter().as_millis()).unwrap_or(u64::MAX);
        if bound == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.rng.random_range(0..=bound))
    }

    /// The lane to serve now, or when to look again.
    fn next(&self, now: DateTime<Utc>) -> Next {
        // Ready lanes: moderation before messages, then queue order.
        let mut ready: Option<(bool, i64, &LaneKey)> = None;
        let mut earliest: Option<DateTime<Utc>> = None;
        for (key, lane) in &self.lanes {
            let Some(head) = lane.front() else { continue };
            let at = self.ready_at(head, now);
            if at <= now {
                let rank = (head.message, head.row.id, key);
                if ready.as_ref().is_none_or(|r| (rank.0, rank.1) < (r.0, r.1)) {
                    ready = Some(rank);
                }
            } else {
                earliest = Some(earliest.map_or(at, |e| e.min(at)));
            }
        }
        match (ready, earliest) {
            (Some((_, _, key)), _) => Next::Run(key.clone()),
            (None, Some(at)) => Next::At(at),
            (None, None) => Next::Idle,
        }
    }

    /// When `head` may be tried: after its back-off, and for a message also
    /// when the governor allows it, plus its jitter.
    fn ready_at(&self, head: &Pending, now: DateTime<Utc>) -> DateTime<Utc> {
        if !head.message {
            return head.row.not_before;
        }
        let allowed = self.governor.allowed_at(&head.chat, now);
        later(head.row.not_before.max(allowed), head.jitter)
    }

    /// Carry out the head of `key` and store the outcome.
    async fn attempt(&mut self, key: LaneKey) {
        let Some(lane) = self.lanes.get(&key) else { return };
        let Some(head) = lane.front() else { return };
        let (id, message, chat) = (head.row.id, head.message, head.chat.clone());
        let action = head.row.item.action.clone();
        let delivery = DeliveryKey {
            queue_id: id,
            decided_ms: head.row.item.at.timestamp_millis(),
        };
        if message {
            self.governor.record_attempt(&chat, self.clock.now());
        }
        let result = self.adapter.execute_queued(delivery, &action).await;
        let now = self.clock.now();
        let adapter = self.adapter.id().clone();
        match result {
            Ok(()) => {
                self.pop(&key);
                if message {
                    self.governor.record_delivery(now);
                    self.save_day().await;
                }
                if let Err(error) = self.store.outbox_done(id).await {
                    tracing::error!(%adapter, id, action = action.name(), %error,
                        "delivered but still queued; a restart may deliver it again");
                }
            }
            Err(SendError::RetryAfter(wait)) => {
                let until = later(now, wait);
                if message {
                    // A platform's "slow down" is about the account: hold
                    // every message, not just this chat's (see the module
                    // docs of `outbox`).
                    self.governor.pause(until);
                }
                tracing::warn!(%adapter, id, action = action.name(), ?wait, "platform asked to wait");
                self.retry(&key, until).await;
            }
            Err(SendError::Transient(error)) => {
                let attempts = self.head_attempts(&key).saturating_add(1);
                let wait = self.backoff.delay(attempts, &mut self.rng);
                tracing::warn!(%adapter, id, action = action.name(), attempts, ?wait, %error,
                    "temporary failure; retrying");
                self.retry(&key, later(now, wait)).await;
            }
            Err(SendError::Permanent(error)) => {
                let attempts = self.head_attempts(&key).saturating_add(1);
                tracing::error!(%adapter, id, action = action.name(), attempts, %error,
                    "permanent failure; moved to the dead letters");
                self.pop(&key);
                if let Err(store_error) = self.store.outbox_bury(id, attempts, &error, now).await {
                    tracing::error!(%adapter, id, error = %store_error,
                        "could not record the dead letter; it stays queued for the next start");
                }
            }
        }
    }

    fn head_attempts(&self, key: &LaneKey) -> u32 {
        self.lanes
            .get(key)
            .and_then(VecDeque::front)
            .map_or(0, |p| p.row.attempts)
    }

    /// Count a failed attempt of the head of `key`, which waits until `until`.
    async fn retry(&mut self, key: &LaneKey, until: DateTime<Utc>) {
        let Some(head) = self.lanes.get_mut(key).and_then(VecDeque::front_mut) else {
            return;
        };
        head.row.attempts = head.row.attempts.saturating_add(1);
        head.row.not_before = until;
        let (id, attempts) = (head.row.id, head.row.attempts);
        if let Err(error) = self.store.outbox_retry(id, attempts, until).await {
            // The lanes hold the truth for this run; only a restart would
            // retry it sooner.
            tracing::warn!(adapter = %self.adapter.id(), id, %error, "could not store a retry time");
        }
    }

    /// Drop the head of `key`, and the lane once empty.
    fn pop(&mut self, key: &LaneKey) {
        if let Some(lane) = self.lanes.get_mut(key) {
            lane.pop_front();
            if lane.is_empty() {
                self.lanes.remove(key);
            }
        }
    }

    /// The store key of this adapter's daily count.
    fn day_key(&self) -> String {
        format!("daily-sends/{}", self.adapter.id())
    }

    /// Read back today's count, so a restart does not reset the daily cap.
    async fn restore_day(&mut self) {
        match self.store.kv_get(KV_NAMESPACE, &self.day_key()).await {
            Ok(Some(value)) => match parse_day(&value) {
                Some((day, sent)) => self.governor.restore_day(day, sent),
                None => {
                    tracing::warn!(adapter = %self.adapter.id(), value, "unreadable daily count; ignored")
                }
            },
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(adapter = %self.adapter.id(), %error, "could not read the daily count")
            }
        }
    }

    /// Store the daily count (only when a cap needs it).
    async fn save_day(&self) {
        if !self.governor.has_daily_cap() {
            return;
        }
        let Some((day, sent)) = self.governor.day() else {
            return;
        };
        let value = format!("{day} {sent}");
        if let Err(error) = self.store.kv_put(KV_NAMESPACE, &self.day_key(), &value).await {
            tracing::warn!(adapter = %self.adapter.id(), %error, "could not store the daily count");
        }
    }
}

/// `"2026-11-24 17"` → the day and its count.
fn parse_day(value: &str) -> Option<(NaiveDate, u32)> {
    let (day, sent) = value.split_once(' ')?;
    Some((day.parse().ok()?, sent.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_counts_read_back() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(parse_day(&format!("{day} 17")), Some((day, 17)));
        assert_eq!(parse_day("yesterday 3"), None);
        assert_eq!(parse_day("2026-11-24"), None);
    }
}
