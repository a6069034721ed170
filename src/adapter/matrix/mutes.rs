//! Timed mutes. Matrix mutes by power level and has no expiry, so the
//! adapter keeps each mute's end (and the level to give back) in the
//! store's key-values, one list per adapter, and lifts due mutes from its
//! run loop: a restart loses none.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::storage::{Store, StoreError};

/// The store namespace of the adapter's values.
pub(super) const NAMESPACE: &str = "matrix";

/// One muted member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Muted {
    /// The room.
    pub(super) room: String,
    /// The member.
    pub(super) user: String,
    /// When the mute ends.
    pub(super) until: DateTime<Utc>,
    /// The member's own entry in `users` before the mute (`None`: unlisted).
    pub(super) restore: Option<i64>,
}

/// The pending mutes of one adapter, read from and written through to the store.
pub(super) struct Mutes {
    /// The daemon's store.
    store: Arc<dyn Store>,
    /// The key of the list.
    key: String,
    /// The list, once read; the async mutex serialises read-modify-write
    /// (it is held across the store's awaits).
    list: Mutex<Option<Vec<Muted>>>,
}

impl Mutes {
    /// The mutes of adapter `id` in `store`.
    pub(super) fn new(store: Arc<dyn Store>, id: &str) -> Self {
        Self {
            store,
            key: format!("{id}/mutes"),
            list: Mutex::new(None),
        }
    }

    /// Run `change` on the list and store the result.
    async fn update<R>(&self, change: impl FnOnce(&mut Vec<Muted>) -> R) -> Result<R, StoreError> {
        let mut guard = self.list.lock().await;
        if guard.is_none() {
            *guard = Some(self.read().await?);
        }
        let list = guard.get_or_insert_with(Vec::new);
        let mut next = list.clone();
        let out = change(&mut next);
        if next != *list {
            let text = serde_json::to_string(&next).map_err(|e| StoreError::Backend(e.to_string()))?;
            self.store.kv_put(NAMESPACE, &self.key, &text).await?;
            *list = next;
        }
        Ok(out)
    }

    async fn read(&self) -> Result<Vec<Muted>, StoreError> {
        let Some(text) = self.store.kv_get(NAMESPACE, &self.key).await? else {
            return Ok(Vec::new());
        };
        Ok(serde_json::from_str(&text).unwrap_or_else(|error| {
            tracing::warn!(%error, "unreadable list of pending Matrix mutes; starting over");
            Vec::new()
        }))
    }

    /// Note a mute; a member muted again keeps the level from before the
    /// first mute, with the later end.
    pub(super) async fn add(&self, muted: Muted) -> Result<(), StoreError> {
        self.update(|list| {
            match list
                .iter_mut()
                .find(|m| m.room == muted.room && m.user == muted.user)
            {
                Some(old) => old.until = muted.until,
                None => list.push(muted),
            }
        })
        .await
    }

    /// Forget the mute of `user` in `room`, returning it.
    pub(super) async fn take(&self, room: &str, user: &str) -> Result<Option<Muted>, StoreError> {
        self.update(|list| {
            let at = list.iter().position(|m| m.room == room && m.user == user)?;
            Some(list.remove(at))
        })
        .await
    }

    /// The mute that ends first.
    pub(super) async fn next(&self) -> Result<Option<Muted>, StoreError> {
        self.update(|list| list.iter().min_by_key(|m| m.until).cloned())
            .await
    }

    /// Move a mute's end (a failed unmute is tried again later).
    pub(super) async fn postpone(
        &self,
        room: &str,
        user: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update(|list| {
            if let Some(m) = list.iter_mut().find(|m| m.room == room && m.user == user) {
                m.until = until;
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn muted(user: &str, until: i64, restore: Option<i64>) -> Muted {
        Muted {
            room: "!r".into(),
            user: user.into(),
            until: at(until),
            restore,
        }
    }

    #[tokio::test]
    async fn mutes_are_stored_and_a_second_mute_keeps_the_first_level() {
        let store = crate::storage::open("sqlite::memory:").await.unwrap();
        let mutes = Mutes::new(store.clone(), "mx");
        mutes.add(muted("@a:hs", 200, Some(10))).await.unwrap();
        mutes.add(muted("@b:hs", 100, None)).await.unwrap();
        // Muted again while muted: the later end, the level from before.
        mutes.add(muted("@a:hs", 300, Some(-1))).await.unwrap();
        // A second reader (a restart) sees the same.
        let again = Mutes::new(store, "mx");
        assert_eq!(again.next().await.unwrap(), Some(muted("@b:hs", 100, None)));
        again.postpone("!r", "@b:hs", at(400)).await.unwrap();
        assert_eq!(again.next().await.unwrap(), Some(muted("@a:hs", 300, Some(10))));
        assert_eq!(
            again.take("!r", "@a:hs").await.unwrap(),
            Some(muted("@a:hs", 300, Some(10)))
        );
        assert_eq!(again.take("!r", "@a:hs").await.unwrap(), None);
        assert_eq!(again.next().await.unwrap(), Some(muted("@b:hs", 400, None)));
    }
}
