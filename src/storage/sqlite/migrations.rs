//! The schema, as numbered steps. The database records how many have run in
//! `PRAGMA user_version`; opening runs the rest, each in its own transaction.
//!
//! Steps are append-only: never edit a step that has shipped, add one.
//!
//! Times are stored as unix milliseconds (`INTEGER`, UTC): compact, ordered,
//! and the same in every backend. Sub-millisecond parts are dropped.

use rusqlite::Connection;

use super::writer::backend;
use crate::storage::{StoreError, StoreResult};

/// The steps; step `n` (from 1) brings the schema to version `n`.
const STEPS: &[&str] = &[
    // 1: the first schema.
    "
    -- Cron slots that fired; the primary key makes a slot fire once.
    CREATE TABLE schedule_slots (
        bot        TEXT    NOT NULL,
        job        TEXT    NOT NULL,
        slot_ms    INTEGER NOT NULL,
        PRIMARY KEY (bot, job, slot_ms)
    ) WITHOUT ROWID;

    -- Actions waiting for their adapter. AUTOINCREMENT: ids are never
    -- reused, so a queue position always grows with enqueue order.
    CREATE TABLE outbox (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        adapter        TEXT    NOT NULL,
        item           TEXT    NOT NULL, -- the Outgoing, as JSON
        attempts       INTEGER NOT NULL DEFAULT 0,
        not_before_ms  INTEGER NOT NULL
    );
    CREATE INDEX outbox_by_adapter ON outbox (adapter, id);

    -- Actions that failed for good: nothing leaves the queue silently.
    CREATE TABLE outbox_dead (
        id        INTEGER PRIMARY KEY, -- the id it had in outbox
        adapter   TEXT    NOT NULL,
        item      TEXT    NOT NULL,
        attempts  INTEGER NOT NULL,
        error     TEXT    NOT NULL,
        dead_ms   INTEGER NOT NULL
    );
    CREATE INDEX outbox_dead_by_adapter ON outbox_dead (adapter, id);

    -- Plugins' small named values.
    CREATE TABLE kv (
        namespace  TEXT NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID;

    -- Groups each bot has seen; seq keeps first-seen order.
    CREATE TABLE groups (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        bot       TEXT NOT NULL,
        adapter   TEXT NOT NULL,
        group_id  TEXT NOT NULL,
        UNIQUE (bot, adapter, group_id)
    );
    ",
    // 2: the coupon ledger.
    "
    -- One row per pool: the claimed counter guards `total` inside the
    -- database, whatever the process in front of it believes.
    CREATE TABLE coupon_pools (
        bot      TEXT    NOT NULL,
        pool     TEXT    NOT NULL,
        total    INTEGER NOT NULL,
        claimed  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (bot, pool)
    ) WITHOUT ROWID;

    -- One row per grant. seq is the code's place in the pool (or the
    -- claim's number, for link pools); a code pool never repeats a code.
    CREATE TABLE coupon_claims (
        id          INTEGER PRIMARY KEY,
        bot         TEXT    NOT NULL,
        pool        TEXT    NOT NULL,
        seq         INTEGER NOT NULL,
        code        TEXT    NOT NULL,
        is_link     INTEGER NOT NULL,
        adapter     TEXT    NOT NULL,
        user_id     TEXT    NOT NULL,
        group_id    TEXT,
        message_id  TEXT,
        claimed_ms  INTEGER NOT NULL,
        UNIQUE (bot, pool, seq)
    );
    CREATE UNIQUE INDEX coupon_claims_code ON coupon_claims (bot, pool, code) WHERE is_link = 0;
    CREATE INDEX coupon_claims_user ON coupon_claims (bot, pool, adapter, user_id);
    ",
    // 3: moderation: audit log, warn counts, learned classifier samples.
    "
    -- One row per moderation decision; id keeps the order decided.
    CREATE TABLE moderation_audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        bot         TEXT    NOT NULL,
        adapter     TEXT    NOT NULL,
        group_id    TEXT    NOT NULL,
        user_id     TEXT    NOT NULL,
        user_name   TEXT    NOT NULL,
        message_id  TEXT,
        text        TEXT    NOT NULL,
        rule        TEXT    NOT NULL,
        action      TEXT    NOT NULL,
        dry_run     INTEGER NOT NULL,
        at_ms       INTEGER NOT NULL
    );
    CREATE INDEX moderation_audit_by_bot ON moderation_audit (bot, id);

    -- A member's violations per group, for the escalation ladder.
    CREATE TABLE moderation_warns (
        bot       TEXT    NOT NULL,
        adapter   TEXT    NOT NULL,
        group_id  TEXT    NOT NULL,
        user_id   TEXT    NOT NULL,
        count     INTEGER NOT NULL,
        last_ms   INTEGER NOT NULL,
        PRIMARY KEY (bot, adapter, group_id, user_id)
    ) WITHOUT ROWID;

    -- What the classifier learned (/spam, /ham), replayed at start.
    CREATE TABLE moderation_samples (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        bot    TEXT    NOT NULL,
        text   TEXT    NOT NULL,
        spam   INTEGER NOT NULL,
        at_ms  INTEGER NOT NULL
    );
    CREATE INDEX moderation_samples_by_bot ON moderation_samples (bot, id);
    ",
    // 4: which samples are admins' verdicts (replayed over the trained
    // model at start); those learned before cannot be told apart and count
    // as training samples, as they did.
    "
    ALTER TABLE moderation_samples ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
    ",
];

/// The schema version this build writes.
pub(super) const LATEST: usize = STEPS.len();

/// Bring the database to [`LATEST`]. Each step and its version bump commit
/// together, so a crash leaves a consistent (older) version; the version is
/// re-read under the write lock, so two processes opening one file at once
/// do not both run a step.
pub(super) fn migrate(conn: &Connection) -> StoreResult<()> {
    loop {
        conn.execute_batch("BEGIN IMMEDIATE").map_err(backend)?;
        let step = run_next(conn);
        match step {
            Ok(true) => conn.execute_batch("COMMIT").map_err(backend)?,
            Ok(false) => {
                conn.execute_batch("COMMIT").map_err(backend)?;
                return Ok(());
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}

/// Run the next pending step inside the open transaction; `false` if none.
fn run_next(conn: &Connection) -> StoreResult<bool> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(backend)?;
    let version = usize::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("negative schema version {version}")))?;
    if version > LATEST {
        return Err(StoreError::Backend(format!(
            "the database has schema version {version}, newer than this qunbot knows ({LATEST}); \
             run a newer qunbot"
        )));
    }
    let Some(step) = STEPS.get(version) else {
        return Ok(false);
    };
    conn.execute_batch(step)
        .map_err(|e| StoreError::Backend(format!("migration {}: {e}", version + 1)))?;
    conn.execute_batch(&format!("PRAGMA user_version = {}", version + 1))
        .map_err(backend)?;
    tracing::info!(version = version + 1, "database migrated");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn migrates_a_fresh_database_to_latest_and_is_idempotent() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        assert_eq!(version(&conn), LATEST as i64);
        migrate(&conn).unwrap();
        assert_eq!(version(&conn), LATEST as i64);
    }

    #[test]
    fn samples_learned_before_step_4_count_as_training_samples() {
        let conn = Connection::open_in_memory().unwrap();
        for step in &STEPS[..3] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 3").unwrap();
        conn.execute(
            "INSERT INTO moderation_samples (bot, text, spam, at_ms) VALUES ('b', 'x', 1, 0)",
            [],
        )
        .unwrap();
        migrate(&conn).unwrap();
        let admin: bool = conn
            .query_row("SELECT admin FROM moderation_samples", [], |r| r.get(0))
            .unwrap();
        assert!(!admin);
    }

    #[test]
    fn refuses_a_database_from_the_future() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", LATEST + 1))
            .unwrap();
        let error = migrate(&conn).unwrap_err().to_string();
        assert!(error.contains("newer"), "{error}");
    }
}
