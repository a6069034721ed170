//! The escalation ladder: what the 1st, 2nd, … violation of a member in a
//! group costs on top of the deletion, the last step repeating. Counts live
//! in the store ([`crate::storage::ModerationStore`]) and in a cache in front
//! of it, so the hot path reads the store once per member at most.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::error::BoxError;
use crate::event::{AdapterId, GroupId, UserId};
use crate::runtime::Ctx;
use crate::storage::Warns;

/// One step of the ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A message in the group naming the member.
    Warn,
    /// Mute for this long.
    Mute(std::time::Duration),
    /// Remove; the member may rejoin.
    Kick,
    /// Remove for good.
    Ban,
}

type Key = (AdapterId, GroupId, UserId);

/// The ladder and the counts of its members.
#[derive(Debug)]
pub(crate) struct Ladder {
    /// The steps, never empty.
    steps: Vec<Step>,
    /// A count resets after this long without violations.
    forget_after: Option<chrono::Duration>,
    /// Counts known in this run; the store has them too.
    cache: Mutex<HashMap<Key, Option<Warns>>>,
    /// Whether `cache` holds every count of the store (loaded at start):
    /// then a member missing from it has none, without a read.
    complete: std::sync::atomic::AtomicBool,
}

impl Ladder {
    /// A ladder of `steps` (at least one).
    pub(crate) fn new(steps: Vec<Step>, forget_after: Option<std::time::Duration>) -> Self {
        Self {
            steps,
            forget_after: forget_after.and_then(|d| chrono::Duration::from_std(d).ok()),
            cache: Mutex::new(HashMap::new()),
            complete: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The step of the `count`th violation (from 1).
    pub(crate) fn step(&self, count: u32) -> Step {
        let i = (count.max(1) as usize - 1).min(self.steps.len().saturating_sub(1));
        self.steps.get(i).copied().unwrap_or(Step::Warn)
    }

    /// A member's current count at `now` (0 once forgotten).
    pub(crate) async fn count(
        &self,
        ctx: &Ctx<'_>,
        adapter: &AdapterId,
        group: &GroupId,
        user: &UserId,
    ) -> Result<u32, BoxError> {
        Ok(self
            .load(ctx, adapter, group, user)
            .await?
            .filter(|w| !self.forgotten(w, ctx.now()))
            .map_or(0, |w| w.count))
    }

    /// Load every count of the store (at start), so that deciding never
    /// waits on a read.
    pub(crate) async fn preload(&self, ctx: &Ctx<'_>) -> Result<(), BoxError> {
        let all = ctx.store().all_warns(&ctx.bot().name).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for (adapter, group, user, warns) in all {
            cache.insert((adapter, group, user), Some(warns));
        }
        self.complete.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Count one more violation and return the new counts, for the caller
    /// to store with its audit line ([`crate::storage::ModerationStore::record_decision`]).
    pub(crate) async fn record(
        &self,
        ctx: &Ctx<'_>,
        adapter: &AdapterId,
        group: &GroupId,
        user: &UserId,
    ) -> Result<Warns, BoxError> {
        let now = ctx.now();
        let before = self.count(ctx, adapter, group, user).await?;
        let warns = Warns {
            count: before + 1,
            last: now,
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((adapter.clone(), group.clone(), user.clone()), Some(warns));
        Ok(warns)
    }

    /// Forget a member's violations (`/unban`, `/unmute`).
    pub(crate) async fn clear(
        &self,
        ctx: &Ctx<'_>,
        adapter: &AdapterId,
        group: &GroupId,
        user: &UserId,
    ) -> Result<(), BoxError> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((adapter.clone(), group.clone(), user.clone()), None);
        ctx.store()
            .set_warns(&ctx.bot().name, adapter, group, user, None)
            .await?;
        Ok(())
    }

    fn forgotten(&self, w: &Warns, now: DateTime<Utc>) -> bool {
        self.forget_after.is_some_and(|f| now - w.last >= f)
    }

    async fn load(
        &self,
        ctx: &Ctx<'_>,
        adapter: &AdapterId,
        group: &GroupId,
        user: &UserId,
    ) -> Result<Option<Warns>, BoxError> {
        let key = (adapter.clone(), group.clone(), user.clone());
        if let Some(known) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(*known);
        }
        if self.complete.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(None);
        }
        let stored = ctx.store().warns(&ctx.bot().name, adapter, group, user).await?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, stored);
        Ok(stored)
    }
}

/// "1st", "2nd", "3rd", "4th", … "11th", "21st".
pub(crate) fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal).to_vec();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"
            ]
        );
    }

    #[test]
    fn the_last_step_repeats() {
        let l = Ladder::new(vec![Step::Warn, Step::Kick], None);
        assert_eq!(l.step(1), Step::Warn);
        assert_eq!(l.step(2), Step::Kick);
        assert_eq!(l.step(9), Step::Kick);
    }
}
