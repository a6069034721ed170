//! The embedded SQLite backend: one file in WAL mode (or memory, for
//! simulation), served by one thread that commits operations in batches.
//!
//! - Threading: the connection lives on a dedicated thread ([`writer`]);
//!   async methods send it a job and await the answer, so SQLite never
//!   blocks a Tokio worker and no lock is held across `.await`.
//! - Durability: `synchronous = FULL`, so a commit that has answered survives
//!   a power cut (coupons are money). Its cost, one fsync per commit, is
//!   shared by every operation of a batch (group commit).
//! - Schema: numbered steps in [`migrations`], run at open.
//! - Times: unix milliseconds, UTC (see [`migrations`]).

mod coupons;
mod migrations;
mod moderation;
mod writer;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{ClaimOutcome, Claimant, CouponStore, Deliver, Grant, PoolCounts, PoolSpec};
use super::{DeadLetter, GroupStore, KvStore, OutboxStore, Queued, ScheduleStore, StoreError, StoreResult};
use crate::event::{AdapterId, GroupId, Outgoing};
use writer::{Writer, backend};

/// How long a statement waits for another process's write lock (a second
/// qunbot on the same file, a backup tool) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite, in a file (WAL) or in memory.
#[derive(Debug)]
pub struct SqliteStore {
    /// The thread that owns the connection; every operation goes through it.
    writer: Writer,
    /// In-memory copies of the opened coupon pools (see [`coupons`]).
    coupons: std::sync::Arc<coupons::Ledgers>,
}

impl SqliteStore {
    /// Open (creating it and its folder if missing) the database file at
    /// `path` and migrate it. Blocks while migrating: call it at start-up or
    /// from `spawn_blocking`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", parent.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
        // Before anything that locks: a second process opening the same file
        // at the same moment must wait, not fail.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        let mode = wal_mode(&conn)
            .map_err(|e| StoreError::Backend(format!("{}: journal mode: {e}", path.display())))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "{}: could not switch to WAL journal mode (got {mode})",
                path.display()
            )));
        }
        Self::start(conn, &path.display().to_string())
    }

    /// A fresh in-memory database, forgotten when the store is dropped.
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory().map_err(backend)?;
        Self::start(conn, ":memory:")
    }

    /// Set the pragmas every connection needs, migrate, and hand the
    /// connection to its thread.
    fn start(conn: Connection, name: &str) -> StoreResult<Self> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .map_err(|e| StoreError::Backend(format!("{name}: pragmas: {e}")))?;
        migrations::migrate(&conn).map_err(|e| StoreError::Backend(format!("{name}: migrating: {e}")))?;
        Ok(Self {
            writer: Writer::start(conn, name)?,
            coupons: std::sync::Arc::default(),
        })
    }
}

/// Switch to WAL. Two processes creating the same file at once can find it
/// locked without SQLite calling the busy handler, so retry for a while
/// (start-up only; this runs on a blocking thread).
fn wal_mode(conn: &Connection) -> rusqlite::Result<String> {
    let mut waited = Duration::ZERO;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && waited < BUSY_TIMEOUT =>
            {
                let pause = Duration::from_millis(10);
                std::thread::sleep(pause);
                waited += pause;
            }
            other => return other,
        }
    }
}

/// Outbox rows of `items`: (adapter, the action as JSON, not-before ms).
pub(super) type OutboxRow = (String, String, i64);

/// Encode `items` as outbox rows.
fn outbox_rows(items: &[Outgoing]) -> StoreResult<Vec<OutboxRow>> {
    items
        .iter()
        .map(|item| {
            let json = serde_json::to_string(item)
                .map_err(|e| StoreError::Backend(format!("encoding an action: {e}")))?;
            Ok((item.adapter.0.clone(), json, millis(item.at)))
        })
        .collect()
}

/// Append rows to the outbox, in order, inside the caller's transaction.
fn insert_outbox(conn: &Connection, rows: &[OutboxRow]) -> StoreResult<()> {
    let mut st = conn
        .prepare_cached("INSERT INTO outbox (adapter, item, not_before_ms) VALUES (?1, ?2, ?3)")
        .map_err(backend)?;
    for (adapter, json, at) in rows {
        st.execute(params![adapter, json, at]).map_err(backend)?;
    }
    Ok(())
}

/// A time as stored: unix milliseconds.
fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored time back; out-of-range values are corrupt rows.
fn time(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("time {ms} ms")))
}

/// A stored `Outgoing` back from its JSON.
fn outgoing(json: &str) -> StoreResult<Outgoing> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("outbox item: {e}")))
}

/// A count as stored (SQLite integers are signed).
fn count(n: u32) -> i64 {
    i64::from(n)
}

/// A stored count back.
fn attempts(n: i64) -> StoreResult<u32> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("attempts {n}")))
}

/// A row limit for SQL (`-1` is "no limit" in SQLite).
fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(-1)
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn claim_slot(&self, bot: &str, job: &str, slot: DateTime<Utc>) -> StoreResult<bool> {
        let (bot, job) = (bot.to_owned(), job.to_owned());
        self.writer
            .call(move |conn| {
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO schedule_slots (bot, job, slot_ms) VALUES (?1, ?2, ?3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .and_then(|mut st| st.execute(params![bot, job, millis(slot)]))
                    .map_err(backend)?;
                Ok(inserted == 1)
            })
            .await
    }

    async fn last_slot(&self, bot: &str, job: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let (bot, job) = (bot.to_owned(), job.to_owned());
        self.writer
            .call(move |conn| {
                let ms: Option<i64> = conn
                    .query_row(
                        "SELECT max(slot_ms) FROM schedule_slots WHERE bot = ?1 AND job = ?2",
                        params![bot, job],
                        |row| row.get(0),
                    )
                    .map_err(backend)?;
                ms.map(time).transpose()
            })
            .await
    }
}

/// Rows of `outbox` as [`Queued`].
fn queued_rows(conn: &Connection, adapter: &str, after: i64, max: usize) -> StoreResult<Vec<Queued>> {
    let mut st = conn
        .prepare_cached(
            "SELECT id, item, attempts, not_before_ms FROM outbox \
             WHERE adapter = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )
        .map_err(backend)?;
    let rows = st
        .query_map(params![adapter, after, limit(max)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, item, n, not_before) = row.map_err(backend)?;
        out.push(Queued {
            id,
            item: outgoing(&item)?,
            attempts: attempts(n)?,
            not_before: time(not_before)?,
        });
    }
    Ok(out)
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn outbox_push(&self, items: &[Outgoing]) -> StoreResult<()> {
        // Encode on the caller's side: the database thread only does SQL.
        let rows = outbox_rows(items)?;
        self.writer.call(move |conn| insert_outbox(conn, &rows)).await
    }

    async fn outbox_pending(&self, adapter: &AdapterId, limit: usize) -> StoreResult<Vec<Queued>> {
        self.outbox_pending_after(adapter, 0, limit).await
    }

    async fn outbox_pending_after(
        &self,
        adapter: &AdapterId,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<Queued>> {
        let adapter = adapter.0.clone();
        self.writer
            .call(move |conn| queued_rows(conn, &adapter, after, limit))
            .await
    }

    async fn outbox_done(&self, id: i64) -> StoreResult<()> {
        self.writer
            .call(move |conn| {
                conn.prepare_cached("DELETE FROM outbox WHERE id = ?1")
                    .and_then(|mut st| st.execute([id]))
                    .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn outbox_retry(&self, id: i64, n: u32, not_before: DateTime<Utc>) -> StoreResult<()> {
        self.writer
            .call(move |conn| {
                conn.prepare_cached("UPDATE outbox SET attempts = ?2, not_before_ms = ?3 WHERE id = ?1")
                    .and_then(|mut st| st.execute(params![id, count(n), millis(not_before)]))
                    .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn outbox_bury(&self, id: i64, n: u32, error: &str, at: DateTime<Utc>) -> StoreResult<()> {
        let error = error.to_owned();
        self.writer
            .call(move |conn| {
                // Both statements run in the job's savepoint: moved, or not at all.
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO outbox_dead (id, adapter, item, attempts, error, dead_ms) \
                     SELECT id, adapter, item, ?2, ?3, ?4 FROM outbox WHERE id = ?1",
                )
                .and_then(|mut st| st.execute(params![id, count(n), error, millis(at)]))
                .map_err(backend)?;
                conn.prepare_cached("DELETE FROM outbox WHERE id = ?1")
                    .and_then(|mut st| st.execute([id]))
                    .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn outbox_dead(&self, adapter: &AdapterId) -> StoreResult<Vec<DeadLetter>> {
        let adapter = adapter.0.clone();
        self.writer
            .call(move |conn| {
                let mut st = conn
                    .prepare_cached(
                        "SELECT id, item, attempts, error, dead_ms FROM outbox_dead \
                         WHERE adapter = ?1 ORDER BY id",
                    )
                    .map_err(backend)?;
                let rows = st
                    .query_map([adapter], |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, i64>(4)?,
                        ))
                    })
                    .map_err(backend)?;
                let mut out = Vec::new();
                for row in rows {
                    let (id, item, n, error, at) = row.map_err(backend)?;
                    out.push(DeadLetter {
                        id,
                        item: outgoing(&item)?,
                        attempts: attempts(n)?,
                        error,
                        at: time(at)?,
                    });
                }
                Ok(out)
            })
            .await
    }
}

#[async_trait]
impl KvStore for SqliteStore {
    async fn kv_get(&self, namespace: &str, key: &str) -> StoreResult<Option<String>> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.writer
            .call(move |conn| {
                conn.prepare_cached("SELECT value FROM kv WHERE namespace = ?1 AND key = ?2")
                    .and_then(|mut st| st.query_row(params![namespace, key], |row| row.get(0)).optional())
                    .map_err(backend)
            })
            .await
    }

    async fn kv_put(&self, namespace: &str, key: &str, value: &str) -> StoreResult<()> {
        let (namespace, key, value) = (namespace.to_owned(), key.to_owned(), value.to_owned());
        self.writer
            .call(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO kv (namespace, key, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
                )
                .and_then(|mut st| st.execute(params![namespace, key, value]))
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn kv_delete(&self, namespace: &str, key: &str) -> StoreResult<()> {
        let (namespace, key) = (namespace.to_owned(), key.to_owned());
        self.writer
            .call(move |conn| {
                conn.prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")
                    .and_then(|mut st| st.execute(params![namespace, key]))
                    .map_err(backend)?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl GroupStore for SqliteStore {
    async fn note_group(&self, bot: &str, adapter: &AdapterId, group: &GroupId) -> StoreResult<()> {
        let (bot, adapter, group) = (bot.to_owned(), adapter.0.clone(), group.0.clone());
        self.writer
            .call(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO groups (bot, adapter, group_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                )
                .and_then(|mut st| st.execute(params![bot, adapter, group]))
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn groups(&self, bot: &str) -> StoreResult<Vec<(AdapterId, GroupId)>> {
        let bot = bot.to_owned();
        self.writer
            .call(move |conn| {
                let mut st = conn
                    .prepare_cached("SELECT adapter, group_id FROM groups WHERE bot = ?1 ORDER BY seq")
                    .map_err(backend)?;
                let rows = st
                    .query_map([bot], |row| {
                        Ok((
                            AdapterId(row.get::<_, String>(0)?),
                            GroupId(row.get::<_, String>(1)?),
                        ))
                    })
                    .map_err(backend)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(backend)
            })
            .await
    }
}

#[async_trait]
impl CouponStore for SqliteStore {
    async fn open_pool(&self, spec: PoolSpec) -> StoreResult<PoolCounts> {
        self.coupons.open(&self.writer, spec).await
    }

    async fn claim(
        &self,
        bot: &str,
        pool: &str,
        who: Claimant,
        at: DateTime<Utc>,
        deliver: Deliver,
    ) -> StoreResult<ClaimOutcome> {
        self.coupons
            .claim(&self.writer, bot, pool, who, at, deliver)
            .await
    }

    async fn pools(&self, bot: &str) -> StoreResult<Vec<(String, PoolCounts)>> {
        Ok(self.coupons.pools(bot))
    }

    async fn pool_counts(&self, bot: &str, pool: &str) -> StoreResult<Option<PoolCounts>> {
        Ok(self.coupons.counts(bot, pool))
    }

    async fn grants(&self, bot: &str) -> StoreResult<Vec<Grant>> {
        self.coupons.grants(&self.writer, bot).await
    }

    async fn flush(&self) -> StoreResult<()> {
        self.writer.call(|_| Ok(())).await
    }
}
