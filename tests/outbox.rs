//! The outbox on virtual time: delivery, order, retries, limits, restarts.
//!
//! Time moves only through [`TestClock::run_until`]: it waits until a worker
//! sleeps on the clock for a later time, then jumps straight to the earliest
//! such deadline. So recorded times are exact, nothing sleeps for real, and
//! a worker busy with the store (a real thread) is never overtaken by time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use qunbot::adapter::memory::MemoryAdapter;
use qunbot::adapter::{Adapter, SendError};
use qunbot::clock::{Clock, VirtualClock};
use qunbot::event::{Action, AdapterId, GroupId, Outgoing, Target};
use qunbot::outbox::{Outbox, Rate, RateLimits};
use qunbot::storage::{SqliteStore, Store};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

// ---- test clock ----

/// Sleeps in progress: (sleep id, deadline).
type Sleepers = Arc<Mutex<Vec<(u64, DateTime<Utc>)>>>;

/// A [`VirtualClock`] that knows who waits on it and until when.
#[derive(Clone, Debug)]
pub(crate) struct TestClock {
    inner: VirtualClock,
    /// Deadlines of the sleeps in progress, by sleep id.
    sleepers: Sleepers,
    next_id: Arc<AtomicU64>,
    /// Rung when a sleep starts.
    changed: Arc<Notify>,
}

/// Removes a sleep from the list when it ends or is dropped (a `select!`).
struct Sleeping(Sleepers, u64);

impl Drop for Sleeping {
    fn drop(&mut self) {
        self.0.lock().unwrap().retain(|(id, _)| *id != self.1);
    }
}

#[async_trait]
impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.sleepers.lock().unwrap().push((id, deadline));
        let _sleeping = Sleeping(self.sleepers.clone(), id);
        self.changed.notify_waiters();
        self.inner.sleep_until(deadline).await;
    }
}

impl TestClock {
    pub(crate) fn new(start: DateTime<Utc>) -> Self {
        Self {
            inner: VirtualClock::new(start),
            sleepers: Arc::default(),
            next_id: Arc::default(),
            changed: Arc::default(),
        }
    }

    /// Move time forward by `d` (for tests that step time themselves).
    pub(crate) fn advance(&self, d: Duration) {
        self.inner.advance(d);
    }

    /// The earliest deadline after now that someone sleeps towards.
    fn next_deadline(&self) -> Option<DateTime<Utc>> {
        let now = self.now();
        let sleepers = self.sleepers.lock().unwrap();
        sleepers.iter().map(|(_, d)| *d).filter(|d| *d > now).min()
    }

    /// Let the tasks run, moving time from deadline to deadline, until
    /// `done` holds; panics if it needs time past `limit` or if nothing is
    /// left to wait for (5 s of real time without a sleeper).
    pub(crate) async fn run_until(&self, limit: DateTime<Utc>, done: impl Fn() -> bool) {
        while let Some(next) = self.settle(&done).await {
            assert!(next <= limit, "not done by {limit} (next wake-up {next})");
            self.inner.set(next);
        }
    }

    /// Wait (in real time, at most 5 s) until `done` holds (`None`) or a
    /// task sleeps towards a later time (its deadline).
    async fn settle(&self, done: &impl Fn() -> bool) -> Option<DateTime<Utc>> {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let changed = self.changed.notified();
                if done() {
                    return None;
                }
                if let Some(d) = self.next_deadline() {
                    return Some(d);
                }
                // Workers also make progress on the store's thread, which
                // rings nothing here: look again every few milliseconds.
                let _ = tokio::time::timeout(Duration::from_millis(5), changed).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("stuck at {}: not done and nothing waits on the clock", self.now()))
    }

    /// Wait until every worker is idle or sleeping on the clock.
    async fn idle(&self) {
        assert!(self.settle(&|| false).await.is_some(), "someone sleeps");
    }
}

// ---- a recording adapter ----

/// A [`MemoryAdapter`] that also notes when (in virtual time) each action
/// was carried out.
pub(crate) struct Recording {
    inner: MemoryAdapter,
    clock: TestClock,
    log: Mutex<Vec<(DateTime<Utc>, Action)>>,
}

#[async_trait]
impl Adapter for Recording {
    fn id(&self) -> &AdapterId {
        self.inner.id()
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        self.inner.execute(action).await?;
        self.log.lock().unwrap().push((self.clock.now(), action.clone()));
        Ok(())
    }
}

impl Recording {
    /// A recording adapter `id` timed by `clock`.
    pub(crate) fn new(id: &str, clock: &TestClock) -> Self {
        Self {
            inner: MemoryAdapter::new(id),
            clock: clock.clone(),
            log: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn log(&self) -> Vec<(DateTime<Utc>, Action)> {
        self.log.lock().unwrap().clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// When the action with this text (or this moderation name) was done.
    fn time_of(&self, label: &str) -> DateTime<Utc> {
        self.log()
            .into_iter()
            .find(|(_, a)| label_of(a) == label)
            .unwrap_or_else(|| panic!("{label} was not delivered"))
            .0
    }

    /// Labels delivered to `group`, in delivery order.
    fn in_group(&self, group: &str) -> Vec<String> {
        self.log()
            .iter()
            .filter(|(_, a)| a.chat_key() == format!("group:{group}"))
            .map(|(_, a)| label_of(a))
            .collect()
    }
}

fn label_of(action: &Action) -> String {
    match action {
        Action::Send { text, .. } | Action::Reply { text, .. } => text.clone(),
        Action::Delete { message, .. } => format!("delete {message}"),
        other => other.name().to_owned(),
    }
}

// ---- fixtures ----

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 11, 30, 0).unwrap()
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn outgoing(action: Action) -> Outgoing {
    Outgoing {
        at: t0(),
        bot: "shop".into(),
        adapter: "tg".into(),
        action,
        reason: None,
        plugin: None,
    }
}

fn send(group: &str, text: &str) -> Outgoing {
    outgoing(Action::Send {
        to: Target::Group(group.into()),
        text: text.into(),
    })
}

fn delete(group: &str, message: &str) -> Outgoing {
    outgoing(Action::Delete {
        group: GroupId::from(group),
        message: message.into(),
    })
}

fn ban(group: &str, user: &str) -> Outgoing {
    outgoing(Action::Ban {
        group: group.into(),
        user: user.into(),
    })
}

fn memory_store() -> Arc<dyn Store> {
    Arc::new(SqliteStore::open_in_memory().unwrap())
}

/// A running outbox with one recording adapter, `tg`.
struct Running {
    clock: TestClock,
    adapter: Arc<Recording>,
    outbox: Outbox,
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Running {
    fn start(store: Arc<dyn Store>, clock: &TestClock, limits: RateLimits, seed: u64) -> Self {
        let adapter = Arc::new(Recording {
            inner: MemoryAdapter::new("tg"),
            clock: clock.clone(),
            log: Mutex::default(),
        });
        let mut outbox = Outbox::new(store, Arc::new(clock.clone()), seed);
        outbox.add_adapter(adapter.clone(), limits);
        let (tracker, stop) = (TaskTracker::new(), CancellationToken::new());
        outbox.spawn(&tracker, stop.clone());
        Self {
            clock: clock.clone(),
            adapter,
            outbox,
            tracker,
            stop,
        }
    }

    async fn enqueue(&self, items: &[Outgoing]) {
        self.outbox.enqueue(items).await.unwrap();
    }

    /// Run until `n` actions were delivered, within `limit` of virtual time.
    async fn deliver(&self, n: usize, limit: chrono::Duration) {
        let adapter = self.adapter.clone();
        let until = self.clock.now() + limit;
        self.clock.run_until(until, move || adapter.count() >= n).await;
    }

    async fn shutdown(self) {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(5), self.tracker.wait())
            .await
            .expect("workers stop on shutdown");
    }
}

async fn pending(store: &Arc<dyn Store>) -> usize {
    store.outbox_pending(&"tg".into(), 1000).await.unwrap().len()
}

// ---- tests ----

#[tokio::test]
async fn every_action_arrives_in_order_per_group_despite_failures() {
    let clock = TestClock::new(t0());
    let store = memory_store();
    let run = Running::start(store.clone(), &clock, RateLimits::none(), 1);
    run.adapter.inner.fail_next([
        SendError::Transient("connection reset".into()),
        SendError::RetryAfter(Duration::from_secs(3)),
        SendError::Transient("502".into()),
        SendError::Transient("timeout".into()),
        SendError::RetryAfter(Duration::from_secs(1)),
        SendError::Transient("502".into()),
        SendError::Transient("502".into()),
    ]);
    let mut items = Vec::new();
    for i in 0..4 {
        for g in ["a", "b", "c"] {
            items.push(send(g, &format!("{g}{i}")));
        }
    }
    items.push(delete("b", "spam1"));
    items.push(ban("b", "spammer"));
    run.enqueue(&items).await;

    run.deliver(items.len(), secs(3600)).await;

    for g in ["a", "b", "c"] {
        let sends: Vec<String> = run
            .adapter
            .in_group(g)
            .into_iter()
            .filter(|l| l.len() == 2 && l.starts_with(g))
            .collect();
        let expected: Vec<String> = (0..4).map(|i| format!("{g}{i}")).collect();
        assert_eq!(sends, expected, "group {g}");
    }
    let b = run.adapter.in_group("b");
    let (del, ban) = (
        b.iter().position(|l| l == "delete spam1").unwrap(),
        b.iter().position(|l| l == "ban").unwrap(),
    );
    assert!(del < ban, "moderation keeps its own order: {b:?}");
    assert_eq!(run.adapter.count(), items.len(), "each action exactly once");
    assert_eq!(pending(&store).await, 0);
    run.shutdown().await;
}

#[tokio::test]
async fn a_failing_chat_blocks_only_its_own_later_actions() {
    let clock = TestClock::new(t0());
    let store = memory_store();
    let run = Running::start(store.clone(), &clock, RateLimits::none(), 1);
    // The first attempt (a1, the oldest) fails.
    run.adapter.inner.fail_next([SendError::Transient("502".into())]);
    run.enqueue(&[send("a", "a1"), send("a", "a2"), send("b", "b1"), send("b", "b2")])
        .await;
    run.deliver(4, secs(60)).await;

    assert_eq!(run.adapter.time_of("b1"), t0());
    assert_eq!(run.adapter.time_of("b2"), t0());
    assert!(run.adapter.time_of("a1") >= t0() + chrono::Duration::milliseconds(500));
    assert_eq!(run.adapter.in_group("a"), ["a1", "a2"]);
    run.shutdown().await;
}

#[tokio::test]
async fn a_restart_delivers_what_was_left_and_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qunbot.db");
    let clock = TestClock::new(t0());
    {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        // 1 per hour: the first goes, the rest wait when we stop.
        let limits = RateLimits::none().per_group(Rate::parse("1/1h").unwrap());
        let run = Running::start(store, &clock, limits, 1);
        run.enqueue(&[send("g", "m1"), send("g", "m2"), send("g", "m3")])
            .await;
        run.deliver(1, secs(1)).await;
        run.shutdown().await;
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    assert_eq!(pending(&store).await, 2);
    let run = Running::start(store.clone(), &clock, RateLimits::none(), 1);
    run.deliver(2, secs(1)).await;
    assert_eq!(run.adapter.in_group("g"), ["m2", "m3"]);
    assert_eq!(pending(&store).await, 0);
    run.shutdown().await;
}

#[tokio::test]
async fn a_group_limit_spaces_that_group_only() {
    let clock = TestClock::new(t0());
    let limits = RateLimits::none().per_group(Rate::parse("1/1s").unwrap());
    let run = Running::start(memory_store(), &clock, limits, 1);
    run.enqueue(&[send("a", "a1"), send("a", "a2"), send("b", "b1")])
        .await;
    run.deliver(3, secs(60)).await;

    let (a1, a2, b1) = (
        run.adapter.time_of("a1"),
        run.adapter.time_of("a2"),
        run.adapter.time_of("b1"),
    );
    assert!(a2 - a1 >= secs(1), "a1 {a1}, a2 {a2}");
    assert_eq!(a1, t0());
    assert_eq!(b1, t0(), "another group is not delayed");
    run.shutdown().await;
}

#[tokio::test]
async fn an_account_limit_spaces_every_group() {
    let clock = TestClock::new(t0());
    let limits = RateLimits::none().per_account(Rate::parse("2/10s").unwrap());
    let run = Running::start(memory_store(), &clock, limits, 1);
    run.enqueue(&[send("a", "a1"), send("b", "b1"), send("c", "c1")])
        .await;
    run.deliver(3, secs(60)).await;
    assert_eq!(run.adapter.time_of("a1"), t0());
    assert_eq!(run.adapter.time_of("b1"), t0());
    assert_eq!(run.adapter.time_of("c1"), t0() + secs(10));
    run.shutdown().await;
}

#[tokio::test]
async fn the_daily_cap_defers_to_the_next_utc_day() {
    let start = Utc.with_ymd_and_hms(2026, 11, 24, 23, 59, 0).unwrap();
    let midnight = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let clock = TestClock::new(start);
    let run = Running::start(memory_store(), &clock, RateLimits::none().daily_cap(2), 1);
    run.enqueue(&[send("a", "m1"), send("b", "m2"), send("c", "m3")])
        .await;
    run.deliver(3, secs(3600)).await;
    assert_eq!(run.adapter.time_of("m1"), start);
    assert_eq!(run.adapter.time_of("m2"), start);
    assert_eq!(run.adapter.time_of("m3"), midnight, "deferred, not dropped");
    run.shutdown().await;
}

#[tokio::test]
async fn the_daily_count_survives_a_restart() {
    let start = Utc.with_ymd_and_hms(2026, 11, 24, 20, 0, 0).unwrap();
    let clock = TestClock::new(start);
    let store = memory_store();
    let run = Running::start(store.clone(), &clock, RateLimits::none().daily_cap(2), 1);
    run.enqueue(&[send("a", "m1"), send("a", "m2")]).await;
    run.deliver(2, secs(1)).await;
    run.shutdown().await;

    let run = Running::start(store, &clock, RateLimits::none().daily_cap(2), 1);
    run.enqueue(&[send("a", "m3")]).await;
    run.deliver(1, secs(86_400)).await;
    let midnight = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    assert_eq!(run.adapter.time_of("m3"), midnight);
    run.shutdown().await;
}

#[tokio::test]
async fn a_permanent_failure_becomes_a_dead_letter() {
    let clock = TestClock::new(t0());
    let store = memory_store();
    let run = Running::start(store.clone(), &clock, RateLimits::none(), 1);
    run.adapter
        .inner
        .fail_next([SendError::Permanent("chat not found".into())]);
    run.enqueue(&[send("a", "lost"), send("a", "next")]).await;
    run.deliver(1, secs(1)).await;

    assert_eq!(run.adapter.in_group("a"), ["next"], "the chat goes on after it");
    let dead = store.outbox_dead(&"tg".into()).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].item, send("a", "lost"));
    assert_eq!(
        (dead[0].attempts, dead[0].error.as_str(), dead[0].at),
        (1, "chat not found", t0())
    );
    assert_eq!(pending(&store).await, 0);
    run.shutdown().await;
}

#[tokio::test]
async fn moderation_is_not_held_back_by_message_limits() {
    let clock = TestClock::new(t0());
    let limits = RateLimits::none()
        .per_account(Rate::parse("1/1m").unwrap())
        .per_group(Rate::parse("1/1m").unwrap())
        .daily_cap(1)
        .jitter(Duration::from_secs(5));
    let run = Running::start(memory_store(), &clock, limits, 1);
    run.enqueue(&[
        send("a", "a1"),
        send("a", "a2"),
        delete("a", "spam1"),
        send("b", "b1"),
        ban("b", "spammer"),
    ])
    .await;
    run.deliver(2, secs(1)).await;

    // Both moderation actions went at once, even behind a2 in group a.
    assert_eq!(run.adapter.time_of("delete spam1"), t0());
    assert_eq!(run.adapter.time_of("ban"), t0());
    assert_eq!(
        run.adapter.count(),
        2,
        "messages still wait: {:?}",
        run.adapter.log()
    );
    run.shutdown().await;
}

#[tokio::test]
async fn retry_after_holds_the_accounts_messages_but_not_moderation() {
    let clock = TestClock::new(t0());
    let run = Running::start(memory_store(), &clock, RateLimits::none(), 1);
    run.adapter
        .inner
        .fail_next([SendError::RetryAfter(Duration::from_secs(10))]);
    run.enqueue(&[send("a", "a1"), send("b", "b1")]).await;
    // a1 failed; now both messages wait for the account's pause.
    clock.idle().await;
    assert_eq!(run.adapter.count(), 0);
    run.enqueue(&[delete("b", "spam1")]).await;
    run.deliver(1, secs(1)).await;
    assert_eq!(run.adapter.time_of("delete spam1"), t0());

    run.deliver(3, secs(60)).await;
    assert_eq!(run.adapter.time_of("a1"), t0() + secs(10));
    assert_eq!(run.adapter.time_of("b1"), t0() + secs(10));
    run.shutdown().await;
}

#[tokio::test]
async fn moderation_failures_are_retried_too() {
    let clock = TestClock::new(t0());
    let run = Running::start(memory_store(), &clock, RateLimits::none(), 1);
    run.adapter.inner.fail_next([
        SendError::Transient("timeout".into()),
        SendError::RetryAfter(Duration::from_secs(2)),
    ]);
    run.enqueue(&[delete("a", "spam1")]).await;
    run.deliver(1, secs(60)).await;
    assert!(run.adapter.time_of("delete spam1") >= t0() + secs(2));
    run.shutdown().await;
}

#[tokio::test]
async fn transient_backoff_grows_and_is_capped() {
    let clock = TestClock::new(t0());
    let run = Running::start(memory_store(), &clock, RateLimits::none(), 1);
    // 12 failures: 0.5–1 s, 1–2 s, … then capped at 2.5–5 min each.
    run.adapter
        .inner
        .fail_next((0..12).map(|_| SendError::Transient("down".into())));
    run.enqueue(&[send("a", "late")]).await;
    run.deliver(1, secs(3600)).await;
    let waited = run.adapter.time_of("late") - t0();
    // Uncapped doubling would need at least 2047 s; capped it is at most
    // 1+2+…+256 s + 3×300 s = 1411 s, and at least half of that.
    assert!(waited <= secs(1411), "{waited}");
    assert!(waited >= secs(705), "{waited}");
    run.shutdown().await;
}

#[tokio::test]
async fn jitter_is_bounded_and_reproducible_from_the_seed() {
    async fn times(seed: u64) -> Vec<DateTime<Utc>> {
        let clock = TestClock::new(t0());
        let limits = RateLimits::none().jitter(Duration::from_secs(2));
        let run = Running::start(memory_store(), &clock, limits, seed);
        let items: Vec<_> = (0..6).map(|i| send(&format!("g{i}"), &format!("m{i}"))).collect();
        run.enqueue(&items).await;
        run.deliver(6, secs(60)).await;
        let times = (0..6).map(|i| run.adapter.time_of(&format!("m{i}"))).collect();
        run.shutdown().await;
        times
    }
    let first = times(42).await;
    assert!(
        first.iter().all(|t| *t >= t0() && *t <= t0() + secs(2)),
        "{first:?}"
    );
    assert!(first.iter().any(|t| *t > t0()), "some delay is drawn: {first:?}");
    assert_eq!(first, times(42).await);
    assert_ne!(first, times(43).await);
}

#[tokio::test]
async fn shutdown_stops_idle_and_waiting_workers() {
    let clock = TestClock::new(t0());
    let limits = RateLimits::none().per_group(Rate::parse("1/1h").unwrap());
    let store = memory_store();
    let run = Running::start(store.clone(), &clock, limits, 1);
    run.enqueue(&[send("a", "a1"), send("a", "a2")]).await;
    run.deliver(1, secs(1)).await;
    run.shutdown().await;
    assert_eq!(pending(&store).await, 1, "what was not sent stays queued");
}
