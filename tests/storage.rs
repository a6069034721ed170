//! One test suite for every [`Store`] backend (STYLE P12).
//!
//! Each case is a generic `async fn(Arc<dyn Store>)`; [`store_suite!`] runs
//! every case against one backend, in a module of its own. Cases that need
//! a file (reopening, two handles on one database) sit below the suite.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use qunbot::event::{Action, AdapterId, GroupId, MessageId, Outgoing, Target};
use qunbot::storage::{GroupStore, KvStore, OutboxStore, Sample, ScheduleStore, SqliteStore, Store};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 11, 30, 0).unwrap() + Duration::seconds(secs)
}

fn send(adapter: &str, group: &str, text: &str) -> Outgoing {
    Outgoing {
        at: t(0),
        bot: "shop".into(),
        adapter: adapter.into(),
        action: Action::Send {
            to: Target::Group(group.into()),
            text: text.into(),
        },
        reason: None,
        plugin: Some("promotions".into()),
    }
}

fn texts(rows: &[qunbot::storage::Queued]) -> Vec<String> {
    rows.iter()
        .map(|q| match &q.item.action {
            Action::Send { text, .. } => text.clone(),
            other => other.name().to_owned(),
        })
        .collect()
}

/// Generates one `#[tokio::test]` per case of the suite, each on a fresh
/// store made by `$make` (an async block yielding `(Arc<dyn Store>, guard)`;
/// the guard keeps temporary files alive).
macro_rules! store_suite {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;

            macro_rules! case {
                ($case:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let (store, _guard) = $make.await;
                        super::$case(store).await;
                    }
                };
            }

            case!(slot_is_claimed_once);
            case!(slot_is_claimed_once_by_concurrent_callers);
            case!(last_slot_is_the_latest);
            case!(outbox_keeps_order_per_adapter);
            case!(outbox_pages_after_an_id);
            case!(outbox_done_removes);
            case!(outbox_retry_is_seen_by_readers);
            case!(outbox_bury_keeps_a_dead_letter);
            case!(outbox_round_trips_every_action);
            case!(kv_puts_gets_and_deletes);
            case!(groups_are_idempotent_in_first_seen_order);
            case!(samples_keep_their_order_label_and_source_per_bot);
        }
    };
}

async fn memory() -> (Arc<dyn Store>, ()) {
    (Arc::new(SqliteStore::open_in_memory().unwrap()), ())
}

async fn file() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    // A folder that does not exist yet: open creates it.
    let url = format!("sqlite://{}", dir.path().join("state/qunbot.db").display());
    (qunbot::storage::open(&url).await.unwrap(), dir)
}

store_suite!(sqlite_memory, memory());
store_suite!(sqlite_file, file());

// ---- the cases ----

async fn slot_is_claimed_once(store: Arc<dyn Store>) {
    assert!(store.claim_slot("shop", "lunch", t(0)).await.unwrap());
    assert!(!store.claim_slot("shop", "lunch", t(0)).await.unwrap());
    // Another slot, job or bot is another claim.
    assert!(store.claim_slot("shop", "lunch", t(60)).await.unwrap());
    assert!(store.claim_slot("shop", "dinner", t(0)).await.unwrap());
    assert!(store.claim_slot("cafe", "lunch", t(0)).await.unwrap());
}

async fn slot_is_claimed_once_by_concurrent_callers(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_slot("shop", "lunch", t(0)).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1);
}

async fn last_slot_is_the_latest(store: Arc<dyn Store>) {
    assert_eq!(store.last_slot("shop", "lunch").await.unwrap(), None);
    for s in [60, 0, 180, 120] {
        store.claim_slot("shop", "lunch", t(s)).await.unwrap();
    }
    store.claim_slot("shop", "other", t(999)).await.unwrap();
    assert_eq!(store.last_slot("shop", "lunch").await.unwrap(), Some(t(180)));
}

async fn outbox_keeps_order_per_adapter(store: Arc<dyn Store>) {
    let tg: AdapterId = "tg".into();
    let qq: AdapterId = "qq".into();
    store
        .outbox_push(&[
            send("tg", "g1", "a"),
            send("qq", "g1", "x"),
            send("tg", "g2", "b"),
        ])
        .await
        .unwrap();
    store.outbox_push(&[send("tg", "g1", "c")]).await.unwrap();
    let rows = store.outbox_pending(&tg, 10).await.unwrap();
    assert_eq!(texts(&rows), ["a", "b", "c"]);
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id));
    assert!(rows.iter().all(|q| q.attempts == 0 && q.not_before == t(0)));
    assert_eq!(texts(&store.outbox_pending(&qq, 10).await.unwrap()), ["x"]);
    assert_eq!(texts(&store.outbox_pending(&tg, 2).await.unwrap()), ["a", "b"]);
    assert!(store.outbox_pending(&"none".into(), 10).await.unwrap().is_empty());
}

async fn outbox_pages_after_an_id(store: Arc<dyn Store>) {
    let tg: AdapterId = "tg".into();
    let items: Vec<_> = (0..5).map(|i| send("tg", "g", &i.to_string())).collect();
    store.outbox_push(&items).await.unwrap();
    let first = store.outbox_pending_after(&tg, 0, 2).await.unwrap();
    assert_eq!(texts(&first), ["0", "1"]);
    let rest = store.outbox_pending_after(&tg, first[1].id, 10).await.unwrap();
    assert_eq!(texts(&rest), ["2", "3", "4"]);
}

async fn outbox_done_removes(store: Arc<dyn Store>) {
    let tg: AdapterId = "tg".into();
    store
        .outbox_push(&[send("tg", "g", "a"), send("tg", "g", "b")])
        .await
        .unwrap();
    let rows = store.outbox_pending(&tg, 10).await.unwrap();
    store.outbox_done(rows[0].id).await.unwrap();
    assert_eq!(texts(&store.outbox_pending(&tg, 10).await.unwrap()), ["b"]);
    // Ids are not reused: a later push comes after every earlier one.
    store.outbox_done(rows[1].id).await.unwrap();
    store.outbox_push(&[send("tg", "g", "c")]).await.unwrap();
    let later = store.outbox_pending(&tg, 10).await.unwrap();
    assert!(later[0].id > rows[1].id);
}

async fn outbox_retry_is_seen_by_readers(store: Arc<dyn Store>) {
    let tg: AdapterId = "tg".into();
    store.outbox_push(&[send("tg", "g", "a")]).await.unwrap();
    let id = store.outbox_pending(&tg, 1).await.unwrap()[0].id;
    store.outbox_retry(id, 3, t(90)).await.unwrap();
    let row = &store.outbox_pending(&tg, 1).await.unwrap()[0];
    assert_eq!((row.id, row.attempts, row.not_before), (id, 3, t(90)));
}

async fn outbox_bury_keeps_a_dead_letter(store: Arc<dyn Store>) {
    let tg: AdapterId = "tg".into();
    store
        .outbox_push(&[send("tg", "g", "a"), send("tg", "g", "b")])
        .await
        .unwrap();
    let rows = store.outbox_pending(&tg, 10).await.unwrap();
    store
        .outbox_bury(rows[0].id, 1, "chat not found", t(5))
        .await
        .unwrap();
    assert_eq!(texts(&store.outbox_pending(&tg, 10).await.unwrap()), ["b"]);
    let dead = store.outbox_dead(&tg).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, rows[0].id);
    assert_eq!(dead[0].item, rows[0].item);
    assert_eq!(
        (dead[0].attempts, dead[0].error.as_str(), dead[0].at),
        (1, "chat not found", t(5))
    );
    assert!(store.outbox_dead(&"qq".into()).await.unwrap().is_empty());
}

async fn outbox_round_trips_every_action(store: Arc<dyn Store>) {
    let g: GroupId = "g".into();
    let actions = vec![
        Action::Send {
            to: Target::User("u".into()),
            text: "你好 hi".into(),
        },
        Action::Reply {
            group: g.clone(),
            reply_to: MessageId::from("m1"),
            text: "ok".into(),
        },
        Action::Delete {
            group: g.clone(),
            message: "m2".into(),
        },
        Action::Mute {
            group: g.clone(),
            user: "u".into(),
            seconds: 600,
        },
        Action::Ban {
            group: g,
            user: "u".into(),
        },
    ];
    let items: Vec<_> = actions
        .into_iter()
        .map(|action| Outgoing {
            action,
            reason: Some("spam: banned word".into()),
            ..send("tg", "g", "")
        })
        .collect();
    store.outbox_push(&items).await.unwrap();
    let rows = store.outbox_pending(&"tg".into(), 10).await.unwrap();
    let back: Vec<_> = rows.into_iter().map(|q| q.item).collect();
    assert_eq!(back, items);
}

async fn kv_puts_gets_and_deletes(store: Arc<dyn Store>) {
    assert_eq!(store.kv_get("ns", "k").await.unwrap(), None);
    store.kv_put("ns", "k", "1").await.unwrap();
    store.kv_put("ns", "k", "2").await.unwrap();
    store.kv_put("other", "k", "x").await.unwrap();
    assert_eq!(store.kv_get("ns", "k").await.unwrap().as_deref(), Some("2"));
    store.kv_delete("ns", "k").await.unwrap();
    store.kv_delete("ns", "missing").await.unwrap();
    assert_eq!(store.kv_get("ns", "k").await.unwrap(), None);
    assert_eq!(store.kv_get("other", "k").await.unwrap().as_deref(), Some("x"));
}

async fn samples_keep_their_order_label_and_source_per_bot(store: Arc<dyn Store>) {
    let sample = |text: &str, spam: bool, secs: i64, admin: bool| Sample {
        text: text.into(),
        spam,
        at: t(secs),
        admin,
    };
    let file = [
        sample("加v领券", true, 0, false),
        sample("几点开始", false, 0, false),
    ];
    store.add_samples("shop", &file).await.unwrap();
    store
        .add_samples("cafe", &[sample("other bot", true, 5, true)])
        .await
        .unwrap();
    let verdict = sample("几点开始", true, 10, true);
    store
        .add_samples("shop", std::slice::from_ref(&verdict))
        .await
        .unwrap();
    let mut want = file.to_vec();
    want.push(verdict);
    assert_eq!(store.samples("shop").await.unwrap(), want);
    assert!(store.samples("nobody").await.unwrap().is_empty());
}

async fn groups_are_idempotent_in_first_seen_order(store: Arc<dyn Store>) {
    let tg: AdapterId = "tg".into();
    let qq: AdapterId = "qq".into();
    for (a, g) in [(&tg, "b"), (&qq, "a"), (&tg, "b"), (&tg, "a"), (&qq, "a")] {
        store.note_group("shop", a, &g.into()).await.unwrap();
    }
    store.note_group("cafe", &tg, &"z".into()).await.unwrap();
    let seen = store.groups("shop").await.unwrap();
    assert_eq!(
        seen,
        [
            (tg.clone(), GroupId::from("b")),
            (qq, GroupId::from("a")),
            (tg, GroupId::from("a"))
        ]
    );
    assert!(store.groups("nobody").await.unwrap().is_empty());
}

// ---- cases that need a file ----

#[tokio::test]
async fn sqlite_file_data_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qunbot.db");
    let tg: AdapterId = "tg".into();
    {
        let store = SqliteStore::open(&path).unwrap();
        store.claim_slot("shop", "lunch", t(0)).await.unwrap();
        store
            .outbox_push(&[send("tg", "g", "a"), send("tg", "g", "b")])
            .await
            .unwrap();
        let id = store.outbox_pending(&tg, 1).await.unwrap()[0].id;
        store.outbox_retry(id, 2, t(30)).await.unwrap();
        store.kv_put("ns", "k", "v").await.unwrap();
        store.note_group("shop", &tg, &"g".into()).await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert!(!store.claim_slot("shop", "lunch", t(0)).await.unwrap());
    assert_eq!(store.last_slot("shop", "lunch").await.unwrap(), Some(t(0)));
    let rows = store.outbox_pending(&tg, 10).await.unwrap();
    assert_eq!(texts(&rows), ["a", "b"]);
    assert_eq!((rows[0].attempts, rows[0].not_before), (2, t(30)));
    assert_eq!(store.kv_get("ns", "k").await.unwrap().as_deref(), Some("v"));
    assert_eq!(store.groups("shop").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_slot_is_claimed_once_across_two_handles() {
    // Two replicas on one file: the database, not the process, decides.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qunbot.db");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let slot = t(60 * (i / 4));
        tasks.push(tokio::spawn(async move {
            store.claim_slot("shop", "lunch", slot).await.unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 10, "ten slots, each claimed by exactly one caller");
}

#[tokio::test]
async fn sqlite_file_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qunbot.db");
    let store = SqliteStore::open(&path).unwrap();
    store.kv_put("ns", "k", "v").await.unwrap();
    assert!(dir.path().join("qunbot.db-wal").exists());
}

#[tokio::test]
async fn unknown_urls_are_refused() {
    let error = qunbot::storage::open("postgres://localhost/x")
        .await
        .err()
        .unwrap();
    assert!(error.to_string().contains("unsupported url"), "{error}");
}
