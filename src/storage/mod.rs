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

use crate::event::{AdapterId, GroupId, MessageId, Outgoing, UserId};

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

/// The codes of a coupon pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolCodes {
    /// Distinct codes, handed out in this order, each once.
    List(Vec<String>),
    /// One link handed to every claimant, up to the pool's total.
    Link(String),
}

/// A coupon pool as configured, for the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    /// The bot that owns the pool; pools are per bot.
    pub bot: String,
    /// The pool's id within the bot.
    pub pool: String,
    /// What is handed out.
    pub codes: PoolCodes,
    /// Most grants ever (for a list: at most the number of codes).
    pub total: u64,
    /// Most grants per member (one adapter's user id), across all groups.
    pub per_user: u32,
}

/// A pool's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolCounts {
    /// Most grants ever.
    pub total: u64,
    /// Grants so far.
    pub claimed: u64,
}

impl PoolCounts {
    /// Grants still possible.
    pub fn remaining(&self) -> u64 {
        self.total.saturating_sub(self.claimed)
    }
}

/// Who claims, and from where (kept with the grant for delivery and export).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claimant {
    /// The connection; the same user id on another platform is another person.
    pub adapter: AdapterId,
    /// The member.
    pub user: UserId,
    /// The group the claim was written in (`None`: a direct message).
    pub group: Option<GroupId>,
    /// The claiming message.
    pub message: Option<MessageId>,
}

/// One code granted to one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Ledger id, increasing with grant order.
    pub id: i64,
    /// The pool.
    pub pool: String,
    /// The code (or the pool's link).
    pub code: String,
    /// Who got it, and where they asked.
    pub claimant: Claimant,
    /// When it was granted.
    pub at: DateTime<Utc>,
}

/// What a claim came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// A new code; `queued` are the delivery actions, already in the outbox
    /// with the grant (they commit together or not at all).
    Granted {
        /// The grant.
        grant: Grant,
        /// The pool after it.
        counts: PoolCounts,
        /// The delivery, queued durably with the grant.
        queued: Vec<Outgoing>,
    },
    /// The member has reached `per_user`: these are their grants.
    Already(Vec<Grant>),
    /// Nothing left.
    SoldOut(PoolCounts),
}

/// Renders a grant's delivery actions; called once, before the grant is
/// written, so that the grant and its delivery are queued together.
pub type Deliver = Box<dyn FnOnce(&Grant, PoolCounts) -> Vec<Outgoing> + Send>;

/// The coupon ledger: codes granted exactly once, never past a pool's total
/// or a member's limit, and each grant's delivery queued with it.
#[async_trait]
pub trait CouponStore: Send + Sync {
    /// Register (or update the total of) a pool and load its state;
    /// idempotent. A pool must be opened before claims.
    async fn open_pool(&self, spec: PoolSpec) -> StoreResult<PoolCounts>;

    /// Claim a code from `bot`'s `pool` for `who` at `at`. On a grant, the
    /// ledger row, the pool's counter and the actions `deliver` renders are
    /// written in one transaction; nothing is sent before it commits. A
    /// backend may answer before the commit (group commit): a later
    /// [`CouponStore::flush`] returns after it.
    async fn claim(
        &self,
        bot: &str,
        pool: &str,
        who: Claimant,
        at: DateTime<Utc>,
        deliver: Deliver,
    ) -> StoreResult<ClaimOutcome>;

    /// The counters of every opened pool of `bot`, by pool id.
    async fn pools(&self, bot: &str) -> StoreResult<Vec<(String, PoolCounts)>>;

    /// A pool's counters, if it was opened.
    async fn pool_counts(&self, bot: &str, pool: &str) -> StoreResult<Option<PoolCounts>>;

    /// Every grant of `bot`, in grant order (committed ones).
    async fn grants(&self, bot: &str) -> StoreResult<Vec<Grant>>;

    /// Wait until everything accepted so far has committed.
    async fn flush(&self) -> StoreResult<()>;
}

/// One decision of the moderation plugin, for `qunbot audit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The bot whose plugin decided.
    pub bot: String,
    /// The connection of the group.
    pub adapter: AdapterId,
    /// The group.
    pub group: GroupId,
    /// The member the decision is about.
    pub user: UserId,
    /// The member's display name at the time, for people reading the log.
    pub user_name: String,
    /// The message that violated (absent for admin commands like `/unban`).
    pub message: Option<MessageId>,
    /// The message's text as written (not normalised).
    pub text: String,
    /// Why: the rule's reason (`spam: banned word`) or the admin command.
    pub rule: String,
    /// What was done: action names joined by `+` (`delete+mute 3600s`).
    pub action: String,
    /// Whether the plugin ran with `dry_run` (decided, nothing done).
    pub dry_run: bool,
    /// When it was decided.
    pub at: DateTime<Utc>,
}

/// A member's violations in one group, for the escalation ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Warns {
    /// Violations counted so far (since the last reset).
    pub count: u32,
    /// The last one; `forget_after` counts from here.
    pub last: DateTime<Utc>,
}

/// A labelled message the classifier learns from (`/spam`, `/ham`, or
/// `qunbot eval spam --train`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The text as written.
    pub text: String,
    /// Spam (`true`) or not.
    pub spam: bool,
    /// When it was learned.
    pub at: DateTime<Utc>,
    /// An admin's verdict (`/spam`, `/ham`), not a training file's: at
    /// start the model trains on every sample and then learns the admins'
    /// verdicts again, in order, so that each still stands.
    pub admin: bool,
}

/// What the moderation plugin keeps: the audit log, warn counts per member
/// and group, and the samples its classifier learned.
///
/// Writes that sit on the hot path ([`ModerationStore::audit_append`],
/// [`ModerationStore::set_warns`]) may return once the backend has accepted
/// them, before they commit; they commit in the order made, before any later
/// read of the same store answers.
#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Append a line to the audit log.
    async fn audit_append(&self, entry: AuditEntry) -> StoreResult<()>;

    /// The last `limit` lines of `bot`'s audit log, oldest first.
    async fn audit_log(&self, bot: &str, limit: usize) -> StoreResult<Vec<AuditEntry>>;

    /// A member's warn count in a group, if any.
    async fn warns(
        &self,
        bot: &str,
        adapter: &AdapterId,
        group: &GroupId,
        user: &UserId,
    ) -> StoreResult<Option<Warns>>;

    /// Set (or with `None`, clear) a member's warn count in a group.
    async fn set_warns(
        &self,
        bot: &str,
        adapter: &AdapterId,
        group: &GroupId,
        user: &UserId,
        warns: Option<Warns>,
    ) -> StoreResult<()>;

    /// Every warn count of `bot`, to load at start (so that deciding never
    /// waits on a read).
    async fn all_warns(&self, bot: &str) -> StoreResult<Vec<(AdapterId, GroupId, UserId, Warns)>>;

    /// Append `entry` to the audit log and, when given, set its member's
    /// warn count in its group, together (one write on the hot path).
    async fn record_decision(&self, entry: AuditEntry, warns: Option<Warns>) -> StoreResult<()>;

    /// Keep labelled samples for `bot`'s classifier, in one transaction.
    async fn add_samples(&self, bot: &str, samples: &[Sample]) -> StoreResult<()>;

    /// Every sample `bot`'s classifier learned, oldest first.
    async fn samples(&self, bot: &str) -> StoreResult<Vec<Sample>>;
}

/// Every durable concern of qunbot.
pub trait Store:
    ScheduleStore + OutboxStore + KvStore + GroupStore + CouponStore + ModerationStore + Send + Sync
{
}

impl<T> Store for T where
    T: ScheduleStore + OutboxStore + KvStore + GroupStore + CouponStore + ModerationStore + Send + Sync
{
}

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
