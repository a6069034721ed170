//! The daemon: adapters, scheduler, dispatch and outbox wired together,
//! running until a shutdown signal and then draining (STYLE P13).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Runtime, dispatch};
use crate::adapter::Services;
use crate::clock::Clock;
use crate::config::{AdapterEntry, BotEntry, Config};
use crate::error::BoxError;
use crate::event::{Chat, Event, Slot};
use crate::outbox::Outbox;
use crate::scheduler::{Schedule, slot_event};
use crate::storage::{self, Store};

/// Knobs of a daemon run that are not part of config.yaml.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Seed of the outbox's jitter.
    pub seed: u64,
    /// On shutdown, wait up to this long for the outbox to deliver
    /// everything queued (for `qunbot chat`, whose store is in memory). The
    /// daemon leaves undelivered actions in its store for the next start.
    pub drain: Option<std::time::Duration>,
    /// Notified once start-up is done: the store is open, plugins started,
    /// and the scheduler has fixed its start time (slots after it fire).
    pub ready: Option<Arc<tokio::sync::Notify>>,
    /// Set to the HTTP listener's address once it is bound (before `ready`),
    /// for callers that listen on port 0.
    pub http_addr: Option<Arc<std::sync::OnceLock<std::net::SocketAddr>>>,
}

/// Capacity of the channel from adapters and the scheduler to dispatch.
const EVENT_QUEUE: usize = 4096;

/// Run the bots of `config` on `clock` until `shutdown` completes, then stop
/// receiving, finish the events already received and the actions in flight,
/// and return. Actions not yet delivered stay queued in the store for the
/// next start.
pub async fn run(
    config: Config,
    clock: Arc<dyn Clock>,
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BoxError> {
    let listener = match &config.http {
        Some(http) => Some(super::http::bind(http.listen).await?),
        None => None,
    };
    let store = storage::open(&config.storage_url).await?;
    let services = Services {
        store: store.clone(),
        clock: clock.clone(),
    };
    for entry in &config.adapters {
        entry.adapter.attach(&services);
    }
    let capabilities = config
        .adapters
        .iter()
        .map(|a| (a.id.clone(), a.adapter.capabilities()))
        .collect::<HashMap<_, _>>();
    let mut outbox = Outbox::new(store.clone(), clock.clone(), options.seed);
    for entry in &config.adapters {
        outbox.add_adapter(entry.adapter.clone(), entry.limits.clone());
    }
    let outbox = Arc::new(outbox);
    let runtime = Arc::new(Runtime::new(config.bots, store.clone(), capabilities));
    runtime.start(clock.now()).await?;
    note_robot_groups(&config.adapters, runtime.bots(), &*store).await?;
    let schedule = runtime.schedule();

    // Two phases of shutdown: stop receiving and finish handling what was
    // received (so every decided action is queued), then stop delivering.
    let receive = CancellationToken::new();
    let deliver = CancellationToken::new();
    let receivers = TaskTracker::new();
    let senders = TaskTracker::new();
    let (events_tx, events_rx) = mpsc::channel::<Event>(EVENT_QUEUE);

    for entry in &config.adapters {
        let adapter = entry.adapter.clone();
        let tx = events_tx.clone();
        let token = receive.child_token();
        receivers.spawn(async move {
            if let Err(error) = adapter.run(tx, token).await {
                tracing::error!(adapter = %adapter.id(), %error, "adapter stopped");
            }
        });
    }
    if let Some(listener) = listener {
        if let (Some(slot), Ok(addr)) = (&options.http_addr, listener.local_addr()) {
            let _ = slot.set(addr);
        }
        let router = super::http::router(&config.adapters);
        receivers.spawn(super::http::serve(listener, router, receive.child_token()));
    }
    // Fixed before `ready`: slots after this instant are the scheduler's.
    let started = clock.now();
    receivers.spawn(scheduler(
        schedule,
        store.clone(),
        clock.clone(),
        events_tx,
        receive.child_token(),
        started,
    ));
    receivers.spawn(dispatch::dispatch(
        events_rx,
        runtime,
        outbox.clone(),
        clock.clone(),
        receivers.clone(),
    ));
    outbox.spawn(&senders, deliver.clone());

    tracing::info!(
        adapters = config.adapters.len(),
        "qunbot is running; stop with Ctrl-C or SIGTERM"
    );
    if let Some(ready) = &options.ready {
        ready.notify_one();
    }
    shutdown.await;
    tracing::info!("stopping: finishing events received and actions in flight");
    receive.cancel();
    receivers.close();
    receivers.wait().await;
    if let Some(limit) = options.drain {
        drain(&outbox, &*clock, limit).await;
    }
    deliver.cancel();
    senders.close();
    senders.wait().await;
    tracing::info!("stopped");
    Ok(())
}

/// Wait until the outbox is empty or `limit` has passed.
async fn drain(outbox: &Outbox, clock: &dyn Clock, limit: std::time::Duration) {
    let deadline = clock.now() + chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX);
    while clock.now() < deadline {
        match outbox.is_idle().await {
            Ok(true) => return,
            Ok(false) => {
                clock
                    .sleep_until(clock.now() + chrono::Duration::milliseconds(20))
                    .await
            }
            Err(error) => {
                tracing::warn!(%error, "could not check the outbox while draining");
                return;
            }
        }
    }
    tracing::warn!("stopping with actions still queued");
}

/// Fire each due slot once: missed slots first (per the jobs' policy), then
/// slots as they fall due, each recorded in the store before it fires.
async fn scheduler(
    schedule: Schedule,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    events: mpsc::Sender<Event>,
    stop: CancellationToken,
    start: chrono::DateTime<chrono::Utc>,
) {
    if schedule.is_empty() {
        return;
    }
    let missed = match schedule.missed(&*store, start).await {
        Ok(slots) => slots,
        Err(error) => {
            tracing::error!(%error, "could not read the schedule's state; missed slots are skipped");
            Vec::new()
        }
    };
    let mut cursor = start;
    let mut pending = missed;
    loop {
        for slot in pending.drain(..) {
            match claim(&*store, &*clock, &stop, &slot).await {
                Some(true) => {
                    tracing::info!(bot = %slot.bot, job = %slot.job, slot = %slot.time, "slot fires");
                    if events.send(slot_event(slot)).await.is_err() {
                        return;
                    }
                }
                Some(false) => tracing::debug!(bot = %slot.bot, job = %slot.job, "slot already fired"),
                None => return,
            }
        }
        let Some(next) = schedule.next_after(cursor) else {
            return;
        };
        tokio::select! {
            () = clock.sleep_until(next) => {}
            () = stop.cancelled() => return,
        }
        let now = clock.now();
        pending = schedule.due(cursor, now);
        cursor = now;
    }
}

/// Record `slot` in the store, retrying with backoff while the store fails
/// (a slot is never dropped for a passing store error). `None` if stopped.
async fn claim(store: &dyn Store, clock: &dyn Clock, stop: &CancellationToken, slot: &Slot) -> Option<bool> {
    let mut delay = chrono::Duration::milliseconds(100);
    loop {
        match store.claim_slot(&slot.bot, &slot.job, slot.time).await {
            Ok(fires) => return Some(fires),
            Err(error) => {
                tracing::error!(%error, bot = %slot.bot, job = %slot.job, "could not record a slot; retrying");
            }
        }
        tokio::select! {
            () = clock.sleep_until(clock.now() + delay) => {}
            () = stop.cancelled() => return None,
        }
        delay = (delay * 2).min(chrono::Duration::seconds(30));
    }
}

/// Note the groups of send-only adapters (robots) for the bots that serve
/// them, so that posts to "every group" reach them.
async fn note_robot_groups(
    adapters: &[AdapterEntry],
    bots: &[BotEntry],
    store: &dyn Store,
) -> Result<(), BoxError> {
    for entry in adapters {
        for group in entry.adapter.groups() {
            let chat = Chat {
                adapter: entry.id.clone(),
                group: Some(group.clone()),
            };
            for bot in bots.iter().filter(|b| b.info.serves(&chat)) {
                store.note_group(&bot.info.name, &entry.id, &group).await?;
            }
        }
    }
    Ok(())
}
