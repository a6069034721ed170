//! The outbox: a durable per-adapter queue between the bots' decisions and
//! the platforms, with a send governor (STUB: replaced by the full outbox).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::adapter::Adapter;
use crate::clock::Clock;
use crate::event::Outgoing;
use crate::storage::{Store, StoreResult};

/// At most `count` sends per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Sends allowed in the window.
    pub count: u32,
    /// The window.
    pub per: Duration,
}

/// How fast a platform lets one bot account send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Limits over all the account's sends.
    pub per_account: Vec<Rate>,
    /// Limits per group (or direct chat).
    pub per_group: Vec<Rate>,
    /// Most sends per day (UTC), if capped.
    pub daily_cap: Option<u32>,
    /// Random extra delay up to this, so sends do not look machine-timed.
    pub jitter: Duration,
}

/// The queue and its workers.
pub struct Outbox {
    store: Arc<dyn Store>,
    _clock: Arc<dyn Clock>,
}

impl Outbox {
    /// An outbox over `store`, timed by `clock`, with jitter seeded by `seed`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, seed: u64) -> Self {
        let _ = seed;
        Self { store, _clock: clock }
    }

    /// Deliver through `adapter`, paced by `limits`.
    pub fn add_adapter(&mut self, adapter: Arc<dyn Adapter>, limits: RateLimits) {
        let _ = (adapter, limits);
    }

    /// Queue actions durably; the workers deliver them.
    pub async fn enqueue(&self, items: &[Outgoing]) -> StoreResult<()> {
        self.store.outbox_push(items).await
    }

    /// Start one worker per adapter on `tracker`; they finish the action in
    /// flight and stop when `shutdown` fires.
    pub fn spawn(&self, tracker: &TaskTracker, shutdown: CancellationToken) {
        let _ = (tracker, shutdown);
    }
}
