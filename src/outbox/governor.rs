//! The send governor of one bot account: when may the next message go?
//!
//! Pure bookkeeping over times handed in by the caller (no clock, no I/O),
//! so every rule is unit-tested here. Windows slide: a rate of N per W
//! allows a send at `t` if fewer than N attempts fall in `(t - W, t]`.
//! Windows count attempts (a failed request still reached the platform);
//! the daily cap counts deliveries.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::rate::{Rate, RateLimits};

/// How often (in recorded attempts) idle groups are swept from memory.
const SWEEP_EVERY: u32 = 1024;

/// One account's send history and limits.
#[derive(Debug)]
pub(crate) struct Governor {
    /// The limits it enforces.
    limits: RateLimits,
    /// Attempt times over the account, oldest first, no older than the
    /// longest account window.
    account: VecDeque<DateTime<Utc>>,
    /// Attempt times per chat key, pruned the same way; a map because only
    /// chats with recent sends need memory.
    groups: HashMap<String, VecDeque<DateTime<Utc>>>,
    /// The UTC day being counted and the deliveries in it.
    day: Option<(NaiveDate, u32)>,
    /// Messages wait until then: the platform told the account to back off.
    paused_until: Option<DateTime<Utc>>,
    /// Attempts since the last sweep of idle groups.
    since_sweep: u32,
}

impl Governor {
    /// A governor with no history.
    pub(crate) fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            account: VecDeque::new(),
            groups: HashMap::new(),
            day: None,
            paused_until: None,
            since_sweep: 0,
        }
    }

    /// Whether a daily cap is set (only then is the daily count worth storing).
    pub(crate) fn has_daily_cap(&self) -> bool {
        self.limits.daily_cap.is_some()
    }

    /// The random extra delay bound of each message send.
    pub(crate) fn jitter(&self) -> Duration {
        self.limits.jitter
    }

    /// The earliest time a message to `chat` may go, judged at `now` (the
    /// daily cap is judged by `now`'s UTC day). A time at or before `now`
    /// means "now"; [`DateTime::<Utc>::MIN_UTC`] means "nothing limits it".
    pub(crate) fn allowed_at(&self, chat: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut at = self.paused_until.unwrap_or(DateTime::<Utc>::MIN_UTC);
        for rate in &self.limits.per_account {
            at = at.max(free_at(&self.account, rate));
        }
        if let Some(history) = self.groups.get(chat) {
            for rate in &self.limits.per_group {
                at = at.max(free_at(history, rate));
            }
        }
        if let (Some(cap), Some((day, sent))) = (self.limits.daily_cap, self.day) {
            if day == now.date_naive() && sent >= cap {
                at = at.max(next_day(now));
            }
        }
        at
    }

    /// Note an attempt to send a message to `chat` at `at`.
    pub(crate) fn record_attempt(&mut self, chat: &str, at: DateTime<Utc>) {
        if !self.limits.per_account.is_empty() {
            self.account.push_back(at);
            prune(&mut self.account, longest(&self.limits.per_account), at);
        }
        if !self.limits.per_group.is_empty() {
            let longest = longest(&self.limits.per_group);
            let history = self.groups.entry(chat.to_owned()).or_default();
            history.push_back(at);
            prune(history, longest, at);
            self.since_sweep += 1;
            if self.since_sweep >= SWEEP_EVERY {
                self.since_sweep = 0;
                self.groups.retain(|_, h| {
                    prune(h, longest, at);
                    !h.is_empty()
                });
            }
        }
    }

    /// Note a message delivered at `at`, for the daily cap.
    pub(crate) fn record_delivery(&mut self, at: DateTime<Utc>) {
        let today = at.date_naive();
        self.day = match self.day {
            Some((day, sent)) if day == today => Some((day, sent.saturating_add(1))),
            _ => Some((today, 1)),
        };
    }

    /// Hold every message until `until` (an account-wide back-off).
    pub(crate) fn pause(&mut self, until: DateTime<Utc>) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    /// The day counted and its deliveries, to persist across restarts.
    pub(crate) fn day(&self) -> Option<(NaiveDate, u32)> {
        self.day
    }

    /// Resume counting `day` at `sent` deliveries (read back after a restart).
    pub(crate) fn restore_day(&mut self, day: NaiveDate, sent: u32) {
        self.day = Some((day, sent));
    }
}

/// When `rate` next allows a send, given the attempts in `history`.
fn free_at(history: &VecDeque<DateTime<Utc>>, rate: &Rate) -> DateTime<Utc> {
    let n = rate.count as usize;
    if history.len() < n {
        return DateTime::<Utc>::MIN_UTC;
    }
    // The send would be the (n+1)th within the window unless the oldest of
    // the last n attempts has left it.
    later(history[history.len() - n], rate.per)
}

/// The longest window of `rates`: older attempts no longer matter.
fn longest(rates: &[Rate]) -> Duration {
    rates.iter().map(|r| r.per).max().unwrap_or_default()
}

/// Drop attempts that no window of length `keep` ending at `now` holds.
fn prune(history: &mut VecDeque<DateTime<Utc>>, keep: Duration, now: DateTime<Utc>) {
    let horizon = now
        .checked_sub_signed(window(keep))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    while history.front().is_some_and(|t| *t <= horizon) {
        history.pop_front();
    }
}

fn window(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// `t + d`, saturating at the end of time instead of panicking.
pub(crate) fn later(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(window(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The next UTC midnight after `now`.
fn next_day(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 23, 0, 0).unwrap() + chrono::Duration::milliseconds(ms)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn unlimited_never_waits() {
        let mut g = Governor::new(RateLimits::none());
        for i in 0..100 {
            g.record_attempt("group:a", t(i));
            g.record_delivery(t(i));
        }
        assert!(g.allowed_at("group:a", t(100)) <= t(100));
    }

    #[test]
    fn account_window_slides() {
        let mut g = Governor::new(RateLimits::none().per_account(Rate::new(2, secs(10))));
        g.record_attempt("group:a", t(0));
        assert!(g.allowed_at("group:b", t(0)) <= t(0));
        g.record_attempt("group:b", t(3_000));
        // Third send: waits until the first leaves the window.
        assert_eq!(g.allowed_at("group:c", t(3_000)), t(10_000));
        g.record_attempt("group:c", t(10_000));
        // Now the second (3 s) is the oldest of the last two.
        assert_eq!(g.allowed_at("group:a", t(10_000)), t(13_000));
    }

    #[test]
    fn group_windows_are_separate() {
        let mut g = Governor::new(RateLimits::none().per_group(Rate::new(1, secs(1))));
        g.record_attempt("group:a", t(0));
        assert_eq!(g.allowed_at("group:a", t(0)), t(1_000));
        assert!(g.allowed_at("group:b", t(0)) <= t(0));
    }

    #[test]
    fn every_rate_must_allow() {
        let limits = RateLimits::none()
            .per_group(Rate::new(3, secs(60)))
            .per_group(Rate::new(1, secs(5)));
        let mut g = Governor::new(limits);
        g.record_attempt("group:a", t(0));
        assert_eq!(g.allowed_at("group:a", t(0)), t(5_000));
        g.record_attempt("group:a", t(5_000));
        g.record_attempt("group:a", t(10_000));
        assert_eq!(g.allowed_at("group:a", t(10_000)), t(60_000));
    }

    #[test]
    fn daily_cap_waits_for_the_next_utc_day() {
        let mut g = Governor::new(RateLimits::none().daily_cap(2));
        g.record_delivery(t(0));
        assert!(g.allowed_at("group:a", t(0)) <= t(0));
        g.record_delivery(t(1));
        let midnight = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
        assert_eq!(g.allowed_at("group:a", t(2)), midnight);
        // The next day counts afresh.
        assert!(g.allowed_at("group:a", midnight) <= midnight);
        g.record_delivery(midnight);
        assert_eq!(g.day(), Some((midnight.date_naive(), 1)));
    }

    #[test]
    fn restored_day_counts_on() {
        let mut g = Governor::new(RateLimits::none().daily_cap(5));
        g.restore_day(t(0).date_naive(), 5);
        assert!(g.allowed_at("group:a", t(0)) > t(0));
    }

    #[test]
    fn pause_holds_every_message_and_only_grows() {
        let mut g = Governor::new(RateLimits::none());
        g.pause(t(30_000));
        g.pause(t(10_000));
        assert_eq!(g.allowed_at("group:a", t(0)), t(30_000));
    }

    #[test]
    fn idle_groups_are_forgotten() {
        let mut g = Governor::new(RateLimits::none().per_group(Rate::new(1, secs(1))));
        for i in 0..i64::from(SWEEP_EVERY) {
            g.record_attempt(&format!("group:{i}"), t(i * 10_000));
        }
        assert!(g.groups.len() <= 2, "{} groups kept", g.groups.len());
    }
}
