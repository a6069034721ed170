//! The embedded SQLite backend (STUB: replaced by the full backend).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{GroupStore, KvStore, OutboxStore, Queued, ScheduleStore, StoreError, StoreResult};
use crate::event::{AdapterId, GroupId, Outgoing};

/// SQLite, in a file (WAL) or in memory.
#[derive(Debug)]
pub struct SqliteStore {
    _conn: std::sync::Mutex<rusqlite::Connection>,
}

impl SqliteStore {
    /// Open (creating) the database file at `path` and migrate it.
    pub fn open(path: &std::path::Path) -> StoreResult<Self> {
        let conn = rusqlite::Connection::open(path).map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Self {
            _conn: std::sync::Mutex::new(conn),
        })
    }

    /// A fresh in-memory database.
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = rusqlite::Connection::open_in_memory().map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(Self {
            _conn: std::sync::Mutex::new(conn),
        })
    }
}

fn unbuilt<T>() -> StoreResult<T> {
    Err(StoreError::Backend("not built yet".into()))
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn claim_slot(&self, _bot: &str, _job: &str, _slot: DateTime<Utc>) -> StoreResult<bool> {
        unbuilt()
    }
    async fn last_slot(&self, _bot: &str, _job: &str) -> StoreResult<Option<DateTime<Utc>>> {
        unbuilt()
    }
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn outbox_push(&self, _items: &[Outgoing]) -> StoreResult<()> {
        unbuilt()
    }
    async fn outbox_pending(&self, _adapter: &AdapterId, _limit: usize) -> StoreResult<Vec<Queued>> {
        unbuilt()
    }
    async fn outbox_done(&self, _id: i64) -> StoreResult<()> {
        unbuilt()
    }
    async fn outbox_retry(&self, _id: i64, _attempts: u32, _not_before: DateTime<Utc>) -> StoreResult<()> {
        unbuilt()
    }
}

#[async_trait]
impl KvStore for SqliteStore {
    async fn kv_get(&self, _ns: &str, _key: &str) -> StoreResult<Option<String>> {
        unbuilt()
    }
    async fn kv_put(&self, _ns: &str, _key: &str, _value: &str) -> StoreResult<()> {
        unbuilt()
    }
    async fn kv_delete(&self, _ns: &str, _key: &str) -> StoreResult<()> {
        unbuilt()
    }
}

#[async_trait]
impl GroupStore for SqliteStore {
    async fn note_group(&self, _bot: &str, _adapter: &AdapterId, _group: &GroupId) -> StoreResult<()> {
        unbuilt()
    }
    async fn groups(&self, _bot: &str) -> StoreResult<Vec<(AdapterId, GroupId)>> {
        unbuilt()
    }
}
