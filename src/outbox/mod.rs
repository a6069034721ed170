//! The outbox: a durable per-adapter queue between the bots' decisions and
//! the platforms, with a send governor that keeps bot accounts below the
//! rates that get them throttled or banned.
//!
//! - **Durability**: [`Outbox::enqueue`] returns once the actions are in the
//!   store; only then is the adapter's worker woken. A worker starts by
//!   reading what a previous run left. Delivery is at least once: a crash
//!   between the platform's answer and the store's update sends again.
//! - **Order**: per chat key ([`crate::event::Action::chat_key`]), messages
//!   go in queue order and moderation actions go in queue order; a failing
//!   action holds back only the later actions of its chat and kind. A
//!   moderation action may overtake messages of its chat that wait for the
//!   governor: spam must go within a second even behind a backlog of replies.
//! - **Governor** ([`RateLimits`]): sliding windows per account and per chat,
//!   a daily cap per UTC day (over it, messages wait for the next day; the
//!   count survives restarts in the store's key-value space), and a seeded
//!   random jitter. Only messages are governed; moderation actions are not.
//!   All waiting goes through the [`Clock`].
//! - **Failures** ([`SendError`](crate::adapter::SendError)):
//!   `RetryAfter(d)` makes the action wait `d`; for a message it also holds
//!   every message of the account for `d`, since the error does not say
//!   whether the platform meant the chat or the account, and asking again in
//!   other chats is what gets accounts banned (moderation keeps going).
//!   `Transient` retries with exponential back-off and jitter (1 s, 2 s, 4 s
//!   … at most 5 min), forever. `Permanent` is logged at error level with the
//!   action's name and moved to the store's dead letters
//!   ([`crate::storage::OutboxStore::outbox_dead`]).
//!
//! Layout: [`rate`] (limits and their syntax), `governor` (when may a message
//! go), `backoff` (waits after failures), `worker` (one adapter's loop).

mod backoff;
mod governor;
pub mod rate;
mod worker;

pub use rate::{Rate, RateLimits, RateParseError};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::adapter::Adapter;
use crate::clock::Clock;
use crate::event::{AdapterId, Outgoing};
use crate::storage::{Store, StoreResult};
use worker::{Wake, Worker};

/// The queue and its workers.
pub struct Outbox {
    /// Where actions wait; shared with the rest of the daemon.
    store: Arc<dyn Store>,
    /// Paces the workers; virtual in simulation and tests.
    clock: Arc<dyn Clock>,
    /// Seed of every worker's jitter (mixed with the adapter id).
    seed: u64,
    /// One entry per adapter, in the order added.
    adapters: Vec<AdapterEntry>,
    /// Set by the first [`Outbox::spawn`]: a second set of workers would
    /// deliver every action twice.
    spawned: AtomicBool,
}

/// An adapter with its limits and its worker's wake-up signal.
struct AdapterEntry {
    /// The connection the worker delivers through.
    adapter: Arc<dyn Adapter>,
    /// Its limits (the platform's, with config.yaml's overrides).
    limits: RateLimits,
    /// Rung by `enqueue`; shared with the worker.
    wake: Arc<Wake>,
}

impl Outbox {
    /// An outbox over `store`, timed by `clock`, with jitter seeded by `seed`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, seed: u64) -> Self {
        Self {
            store,
            clock,
            seed,
            adapters: Vec::new(),
            spawned: AtomicBool::new(false),
        }
    }

    /// Deliver through `adapter`, paced by `limits`. Adding an adapter with
    /// an id already added replaces it.
    pub fn add_adapter(&mut self, adapter: Arc<dyn Adapter>, limits: RateLimits) {
        let entry = AdapterEntry {
            adapter,
            limits,
            wake: Arc::new(Wake::new()),
        };
        match self
            .adapters
            .iter_mut()
            .find(|e| e.adapter.id() == entry.adapter.id())
        {
            Some(old) => {
                tracing::warn!(adapter = %entry.adapter.id(), "adapter added twice to the outbox; the last wins");
                *old = entry;
            }
            None => self.adapters.push(entry),
        }
    }

    /// Queue actions durably (in order, in one transaction), then wake the
    /// workers of their adapters. Actions for an adapter the outbox does not
    /// know stay queued until a run that has it.
    pub async fn enqueue(&self, items: &[Outgoing]) -> StoreResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.store.outbox_push(items).await?;
        let mut woken: Vec<&AdapterId> = Vec::new();
        for item in items {
            if woken.contains(&&item.adapter) {
                continue;
            }
            woken.push(&item.adapter);
            match self.adapters.iter().find(|e| *e.adapter.id() == item.adapter) {
                Some(entry) => entry.wake.wake(),
                None => {
                    tracing::warn!(adapter = %item.adapter, "queued for an adapter that is not configured; kept")
                }
            }
        }
        Ok(())
    }

    /// Wake `adapter`'s worker: actions were queued for it by another path
    /// (the store, with a coupon grant) and have committed.
    pub fn wake(&self, adapter: &AdapterId) {
        if let Some(entry) = self.adapters.iter().find(|e| e.adapter.id() == adapter) {
            entry.wake.wake();
        }
    }

    /// Whether no configured adapter has an action waiting.
    pub async fn is_idle(&self) -> StoreResult<bool> {
        for entry in &self.adapters {
            if !self.store.outbox_pending(entry.adapter.id(), 1).await?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Start one worker per adapter on `tracker`; they finish the action in
    /// flight and stop when `shutdown` fires. Only the first call starts
    /// workers.
    pub fn spawn(&self, tracker: &TaskTracker, shutdown: CancellationToken) {
        if self.spawned.swap(true, Ordering::AcqRel) {
            tracing::error!("outbox workers already started; not starting them twice");
            return;
        }
        for entry in &self.adapters {
            let worker = Worker::new(
                entry.adapter.clone(),
                entry.limits.clone(),
                self.store.clone(),
                self.clock.clone(),
                entry.wake.clone(),
                self.seed ^ fnv1a(entry.adapter.id().as_str()),
            );
            tracker.spawn(worker.run(shutdown.clone()));
        }
    }
}

/// A stable hash (FNV-1a), so each adapter's jitter stream depends on the
/// seed and its id only, on every platform and Rust version.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
