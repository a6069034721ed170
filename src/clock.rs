//! Time, behind one trait: nothing in qunbot reads the wall clock directly.
//!
//! The daemon runs on [`SystemClock`]; simulation and tests run on a
//! [`VirtualClock`] that only moves when told to, so time-based behaviour
//! (cooldowns, cron slots, pacing) is deterministic and needs no sleeps.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// A source of the current time and a way to wait for a later one.
#[async_trait]
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Wait until `deadline` (returns at once if it has passed).
    async fn sleep_until(&self, deadline: DateTime<Utc>);
}

/// The wall clock, with Tokio's timer for waiting.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        // Re-check after waking: the wall clock may have been adjusted.
        loop {
            let left = deadline - Utc::now();
            match left.to_std() {
                Ok(d) if !d.is_zero() => tokio::time::sleep(d).await,
                _ => return,
            }
        }
    }
}

/// A clock that moves only when [`VirtualClock::set`] or
/// [`VirtualClock::advance`] is called. Sleepers wake when time reaches
/// their deadline.
#[derive(Clone, Debug)]
pub struct VirtualClock {
    /// The current virtual time; the watch channel wakes sleepers on change.
    now: Arc<watch::Sender<DateTime<Utc>>>,
    /// Serialises `advance` so two callers cannot lose an increment.
    step: Arc<Mutex<()>>,
}

impl VirtualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: DateTime<Utc>) -> Self {
        let (tx, _rx) = watch::channel(start);
        Self {
            now: Arc::new(tx),
            step: Arc::new(Mutex::new(())),
        }
    }

    /// Move the clock to `t`. Moving backwards is ignored: time never runs
    /// back in qunbot.
    pub fn set(&self, t: DateTime<Utc>) {
        self.now.send_if_modified(|now| {
            if t > *now {
                *now = t;
                true
            } else {
                false
            }
        });
    }

    /// Move the clock forward by `d`.
    pub fn advance(&self, d: std::time::Duration) {
        let _guard = self.step.lock().unwrap_or_else(|e| e.into_inner());
        let delta = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let next = *self.now.borrow() + delta;
        self.set(next);
    }
}

#[async_trait]
impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let mut rx = self.now.subscribe();
        // The sender lives as long as the clock; if it is gone, nobody can
        // move time any more and waiting forever is the honest answer.
        let _ = rx.wait_for(|now| *now >= deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn virtual_sleep_wakes_when_time_reaches_deadline() {
        let start = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        let clock = VirtualClock::new(start);
        let c2 = clock.clone();
        let deadline = start + chrono::Duration::seconds(10);
        let sleeper = tokio::spawn(async move { c2.sleep_until(deadline).await });
        clock.advance(std::time::Duration::from_secs(5));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(std::time::Duration::from_secs(5));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), deadline);
    }

    #[test]
    fn virtual_clock_never_runs_back() {
        let start = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
        let clock = VirtualClock::new(start);
        clock.set(start - chrono::Duration::seconds(1));
        assert_eq!(clock.now(), start);
    }
}
