//! Everything durable, behind one trait per concern so that no plugin writes
//! SQL of one backend.
//!
//! [`Store`] gathers the concerns; [`open`] picks the backend from the
//! `storage.url` of config.yaml. SQLite (embedded, WAL) is the default;
//! a PostgreSQL backend for several replicas implements the same traits.

mod sqlite;

pub use sqlite::SqliteStore;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::event::{AdapterId, GroupId, Outgoing};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend's own error (I/O, SQL, constraint).
    #[error("storage: {0}")]
    Backend(String),
    /// A stored value could not be decoded (a newer or corrupted row).
    #[error("storage: corrupt value: {0}")]
    Corrupt(String),
    /// `storage.url` names no known backend.
    #[error("storage: unsupported url {0:?} (use sqlite://PATH or sqlite::memory:)")]
    UnsupportedUrl(String),
}

/// A store result.
pub type StoreResult<T> = Result<T, StoreError>;

/// Cron slots that have fired, so a slot fires once across restarts and
/// replicas.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Record that `slot` of `bot`'s `job` fires now. Returns `true` if this
    /// call recorded it, `false` if it was already recorded (by an earlier
    /// run or another replica): only the caller that gets `true` fires it.
    async fn claim_slot(&self, bot: &str, job: &str, slot: DateTime<Utc>) -> StoreResult<bool>;

    /// The latest slot recorded for `bot`'s `job`.
    async fn last_slot(&self, bot: &str, job: &str) -> StoreResult<Option<DateTime<Utc>>>;
}

/// One queued action in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    /// Queue position; increasing in enqueue order.
    pub id: i64,
    /// The action and its provenance.
    pub item: Outgoing,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not to be tried before this time (backoff, retry-after).
    pub not_before: DateTime<Utc>,
}

/// An action the outbox gave up on (a permanent failure), kept so that
/// nothing leaves the queue silently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its queue position when it was queued ([`Queued::id`]).
    pub id: i64,
    /// The action and its provenance.
    pub item: Outgoing,
    /// Failed attempts, the last one included.
    pub attempts: u32,
    /// The platform's reason, as the adapter reported it.
    pub error: String,
    /// When the outbox gave up.
    pub at: DateTime<Utc>,
}

/// The durable queue of actions waiting for their adapter.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Append actions (in order) to their adapters' queues, in one transaction.
    async fn outbox_push(&self, items: &[Outgoing]) -> StoreResult<()>;

    /// Up to `limit` pending actions of `adapter`, oldest first.
    async fn outbox_pending(&self, adapter: &AdapterId, limit: usize) -> StoreResult<Vec<Queued>>;

    /// Up to `limit` pending actions of `adapter` queued after the one with
    /// id `after`, oldest first: the outbox pages through its queue with it.
    ///
    /// A backend must hand out ids so that once a row is visible, no row of
    /// the same adapter with a smaller id becomes visible later (SQLite's
    /// single writer guarantees it); otherwise a reader that paged past a
    /// gap would never see the late row.
    async fn outbox_pending_after(
        &self,
        adapter: &AdapterId,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<Queued>>;

    /// Remove a delivered (or permanently failed) action from the queue.
    async fn outbox_done(&self, id: i64) -> StoreResult<()>;

    /// Record a failed attempt; the action waits until `not_before`.
    async fn outbox_retry(&self, id: i64, attempts: u32, not_before: DateTime<Utc>) -> StoreResult<()>;

    /// Move an action that failed for good from the queue to the dead
    /// letters, in one transaction, with the failed attempts (the last one
    /// included), the reason and the time. An unknown id is not an error.
    async fn outbox_bury(&self, id: i64, attempts: u32, error: &str, at: DateTime<Utc>) -> StoreResult<()>;

    /// The dead letters of `adapter`, oldest first.
    async fn outbox_dead(&self, adapter: &AdapterId) -> StoreResult<Vec<DeadLetter>>;
}

/// Small named values of plugins (cooldowns, counters), namespaced per bot
/// and plugin by the caller.
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value under `key` in `namespace`.
    async fn kv_get(&self, namespace: &str, key: &str) -> StoreResult<Option<String>>;
    /// Set the value under `key` in `namespace`.
    async fn kv_put(&self, namespace: &str, key: &str, value: &str) -> StoreResult<()>;
    /// Remove the value under `key` in `namespace`.
    async fn kv_delete(&self, namespace: &str, key: &str) -> StoreResult<()>;
}

/// The groups each bot has seen, so "every group" has a meaning for posts.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Note that `bot` has seen `group` on `adapter` (idempotent).
    async fn note_group(&self, bot: &str, adapter: &AdapterId, group: &GroupId) -> StoreResult<()>;
    /// Every group `bot` has seen, in the order first seen.
    async fn groups(&self, bot: &str) -> StoreResult<Vec<(AdapterId, GroupId)>>;
}

/// Every durable concern of qunbot.
pub trait Store: ScheduleStore + OutboxStore + KvStore + GroupStore + Send + Sync {}

impl<T: ScheduleStore + OutboxStore + KvStore + GroupStore + Send + Sync> Store for T {}

/// Open the store named by `url`: `sqlite://PATH` (created with its folder if
/// missing) or `sqlite::memory:`. Migrations run before this returns.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(Arc::new(SqliteStore::open_in_memory()?));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        // Opening migrates and may wait on a lock: keep it off the runtime.
        let path = std::path::PathBuf::from(path);
        let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
            .await
            .map_err(|e| StoreError::Backend(format!("opening the database: {e}")))??;
        return Ok(Arc::new(store));
    }
    Err(StoreError::UnsupportedUrl(url.to_owned()))
}
