//! Dispatch: events of one chat run in order, different chats in parallel
//! (STYLE P9). Each chat key gets a worker task fed by a channel.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::Runtime;
use crate::clock::Clock;
use crate::event::{Event, EventKind};
use crate::outbox::Outbox;

/// Capacity of one chat's queue; a full queue slows its adapter down
/// instead of dropping events.
const CHAT_QUEUE: usize = 256;

/// The key that orders events: one adapter's group, one direct chat, or one
/// bot's scheduled jobs.
fn chat_key(event: &Event) -> String {
    match &event.kind {
        EventKind::Scheduled(slot) => format!("schedule\u{0}{}", slot.bot),
        _ => match (event.chat(), event.sender()) {
            (Some(chat), sender) => match &chat.group {
                Some(g) => format!("group\u{0}{}\u{0}{g}", chat.adapter),
                None => format!(
                    "dm\u{0}{}\u{0}{}",
                    chat.adapter,
                    sender.map(|s| s.id.as_str()).unwrap_or_default()
                ),
            },
            (None, _) => String::from("other"),
        },
    }
}

/// Route events from `events` to per-chat workers until every sender is
/// gone, then let the workers drain. Workers are tracked by `tracker`.
pub(super) async fn dispatch(
    mut events: mpsc::Receiver<Event>,
    runtime: Arc<Runtime>,
    outbox: Arc<Outbox>,
    clock: Arc<dyn Clock>,
    tracker: TaskTracker,
) {
    let mut chats: HashMap<String, mpsc::Sender<Event>> = HashMap::new();
    while let Some(event) = events.recv().await {
        let key = chat_key(&event);
        let tx = chats.entry(key).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(CHAT_QUEUE);
            tracker.spawn(chat_worker(rx, runtime.clone(), outbox.clone(), clock.clone()));
            tx
        });
        if tx.send(event).await.is_err() {
            // A worker only stops when its sender is dropped, which happens
            // below; this cannot occur while the map holds the sender.
            tracing::error!("a chat worker stopped early; event not handled");
        }
    }
    // Dropping the senders lets each worker finish its queue and stop.
    drop(chats);
}

/// Handle one chat's events in order and queue the resulting actions.
async fn chat_worker(
    mut rx: mpsc::Receiver<Event>,
    runtime: Arc<Runtime>,
    outbox: Arc<Outbox>,
    clock: Arc<dyn Clock>,
) {
    while let Some(event) = rx.recv().await {
        let now = match &event.kind {
            EventKind::Scheduled(slot) => slot.time.max(clock.now()),
            _ => clock.now(),
        };
        let decisions = runtime.handle(&event, now).await;
        if decisions.is_empty() {
            continue;
        }
        let (queued, fresh): (Vec<_>, Vec<_>) = decisions.into_iter().partition(|d| d.queued);
        let fresh: Vec<_> = fresh.into_iter().map(|d| d.outgoing).collect();
        // The outbox write is the durability point: retry it rather than
        // lose what the bots decided. Writes commit in order, so once it (or
        // a flush) returns, the store's own queued actions have committed too.
        let mut delay = chrono::Duration::milliseconds(50);
        loop {
            let written = if fresh.is_empty() {
                runtime.store().flush().await
            } else {
                outbox.enqueue(&fresh).await
            };
            match written {
                Ok(()) => break,
                Err(error) => {
                    tracing::error!(%error, "could not queue actions; retrying");
                    clock.sleep_until(clock.now() + delay).await;
                    delay = (delay * 2).min(chrono::Duration::seconds(5));
                }
            }
        }
        for d in &queued {
            outbox.wake(&d.outgoing.adapter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Chat, Message, Sender};
    use chrono::Utc;

    fn msg(adapter: &str, group: Option<&str>, user: &str) -> Event {
        Event {
            at: Utc::now(),
            kind: EventKind::Message {
                chat: Chat {
                    adapter: adapter.into(),
                    group: group.map(Into::into),
                },
                sender: Sender::member(user),
                message: Message {
                    id: "m".into(),
                    text: String::new(),
                    reply_to: None,
                },
            },
        }
    }

    #[test]
    fn keys_separate_groups_adapters_and_direct_chats() {
        let a = chat_key(&msg("tg", Some("g1"), "u1"));
        assert_eq!(a, chat_key(&msg("tg", Some("g1"), "u2")));
        assert_ne!(a, chat_key(&msg("tg", Some("g2"), "u1")));
        assert_ne!(a, chat_key(&msg("qq", Some("g1"), "u1")));
        assert_ne!(chat_key(&msg("tg", None, "u1")), chat_key(&msg("tg", None, "u2")));
    }
}
