//! The real daemon (`runtime::run`) on a virtual clock, with in-memory
//! adapters and a SQLite file store.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use qunbot::adapter::SendError;
use qunbot::clock::{Clock, VirtualClock};
use qunbot::event::{Action, Chat, Event, EventKind, Message, MessageId, Sender};

use crate::util::{self, Daemon};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const CONFIG: &str =
    "timezone: Asia/Shanghai\nstorage: {url: \"sqlite://state.db\"}\nadapters:\n  mem: {kind: console}\n";

const EVERY_MINUTE: &str = r#"
adapters: [mem]
groups: [g1]
plugins:
  - use: promotions
    posts:
      - id: minutely
        cron: "0 * * * * *"
        text: "{{time}}"
        missed: once
"#;

fn texts(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Send { text, .. } | Action::Reply { text, .. } => text.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_never_refires_a_slot_and_missed_once_fires_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    util::write_files(
        dir.path(),
        &[("config.yaml", CONFIG), ("bots/promo.yaml", EVERY_MINUTE)],
    );
    let clock = VirtualClock::new(at("2026-11-24T11:29:30+08:00"));

    // The clock moves to just after each slot and waits there for its
    // post, so it never reaches 11:32 (a slot fired then would rightly be
    // delivered by the next daemon, however slow the machine).
    let first = Daemon::start(dir.path(), &clock).await;
    let wait = |n| tokio::time::timeout(Duration::from_secs(20), first.adapters[0].wait_for(n));
    clock.set(at("2026-11-24T11:30:05+08:00"));
    wait(1).await.expect("11:30 posted");
    clock.set(at("2026-11-24T11:31:05+08:00"));
    let sent = wait(2).await.expect("11:31 posted");
    assert_eq!(texts(&sent), ["11:30", "11:31"]);
    first.stop().await;

    // Back up at once, still within the 11:31 minute: nothing to fire.
    let second = Daemon::start(dir.path(), &clock).await;
    assert!(
        util::settle(&second.adapters[0]).await.is_empty(),
        "11:31 fired again"
    );
    second.stop().await;

    // Down over 11:32 and 11:33: `missed: once` posts the latest, once.
    clock.set(at("2026-11-24T11:33:10+08:00"));
    let third = Daemon::start(dir.path(), &clock).await;
    let sent = util::advance_until(&clock, &third.adapters[0], 1, Duration::from_millis(1), 5).await;
    assert_eq!(texts(&sent), ["11:33"]);
    assert_eq!(texts(&util::settle(&third.adapters[0]).await), ["11:33"]);
    third.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_store_fire_each_slot_once() {
    let dir = tempfile::tempdir().unwrap();
    util::write_files(
        dir.path(),
        &[("config.yaml", CONFIG), ("bots/promo.yaml", EVERY_MINUTE)],
    );
    let clock = VirtualClock::new(at("2026-11-24T11:29:30+08:00"));
    let a = Daemon::start(dir.path(), &clock).await;
    let b = Daemon::start(dir.path(), &clock).await;
    let mut all = Vec::new();
    for _ in 0..40 {
        clock.advance(Duration::from_secs(5));
        all = [util::settle(&a.adapters[0]).await, b.adapters[0].executed()].concat();
        if clock.now() >= at("2026-11-24T11:32:30+08:00") {
            break;
        }
    }
    let mut got = texts(&all);
    got.sort();
    assert_eq!(got, ["11:30", "11:31", "11:32"]);
    a.stop().await;
    b.stop().await;
}

const ECHO: &str = r#"
adapters: [mem]
plugins:
  - use: autoreply
    rules:
      - match: {regex: ".+"}
        reply: "echo {{text}}"
"#;

fn message(group: &str, user: &str, id: &str, text: &str) -> Event {
    Event {
        at: at("2026-11-24T12:00:00+08:00"),
        kind: EventKind::Message {
            chat: Chat {
                adapter: "mem".into(),
                group: Some(group.into()),
            },
            sender: Sender::member(user),
            message: Message {
                id: MessageId(id.into()),
                text: text.into(),
                reply_to: None,
            },
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_failing_its_first_sends_still_gets_every_action_in_order() {
    let dir = tempfile::tempdir().unwrap();
    util::write_files(dir.path(), &[("config.yaml", CONFIG), ("bots/echo.yaml", ECHO)]);
    let clock = VirtualClock::new(at("2026-11-24T12:00:00+08:00"));
    let daemon = Daemon::start_with(dir.path(), &clock, |m| {
        m.fail_next([
            SendError::Transient("connection reset".into()),
            SendError::Transient("502 bad gateway".into()),
            SendError::RetryAfter(Duration::from_secs(3)),
            SendError::Transient("timeout".into()),
        ])
    })
    .await;
    let mem = &daemon.adapters[0];
    let sent = [
        ("g1", "a1"),
        ("g2", "b1"),
        ("g1", "a2"),
        ("g2", "b2"),
        ("g1", "a3"),
        ("g2", "b3"),
    ];
    for (i, (group, text)) in sent.iter().enumerate() {
        mem.push(message(group, "u", &format!("m{i}"), text));
    }
    let done = util::advance_until(&clock, mem, sent.len(), Duration::from_millis(500), 2000).await;
    assert_eq!(done.len(), sent.len());
    let done = util::settle(mem).await;
    let mut per_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for action in &done {
        let Action::Reply { group, text, .. } = action else {
            panic!("unexpected {action:?}")
        };
        per_group.entry(group.to_string()).or_default().push(text.clone());
    }
    assert_eq!(per_group["g1"], ["echo a1", "echo a2", "echo a3"]);
    assert_eq!(per_group["g2"], ["echo b1", "echo b2", "echo b3"]);
    assert_eq!(done.len(), 6, "each action exactly once: {done:?}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_queued_during_an_outage_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    util::write_files(dir.path(), &[("config.yaml", CONFIG), ("bots/echo.yaml", ECHO)]);
    let clock = VirtualClock::new(at("2026-11-24T12:00:00+08:00"));
    let down = Daemon::start_with(dir.path(), &clock, |m| {
        m.fail_next((0..1000).map(|_| SendError::Transient("platform down".into())))
    })
    .await;
    down.adapters[0].push(message("g1", "u", "m1", "hello"));
    assert!(util::settle(&down.adapters[0]).await.is_empty());
    down.stop().await;

    let up = Daemon::start(dir.path(), &clock).await;
    let done = util::advance_until(&clock, &up.adapters[0], 1, Duration::from_secs(60), 100).await;
    assert_eq!(
        done,
        [Action::Reply {
            group: "g1".into(),
            reply_to: "m1".into(),
            text: "echo hello".into()
        }]
    );
    up.stop().await;
}

// One thread: time moves only while the outbox worker waits, so the time a
// send is recorded at is the time the governor let it go.
#[tokio::test]
async fn a_post_to_1000_groups_is_paced_within_the_limits_and_reaches_each_group_once() {
    use crate::outbox::{Recording, TestClock};
    use std::sync::Arc;

    let groups: Vec<String> = (0..1000).map(|i| format!("g{i}")).collect();
    let bot = format!(
        "adapters: [tg]\ngroups: [{}]\nplugins:\n  - use: promotions\n    posts:\n      - {{id: blast, cron: \"0 0 12 * * *\", text: \"午餐券 {{{{group}}}}\"}}\n",
        groups.join(", ")
    );
    let config = "timezone: Asia/Shanghai\nstorage: {url: \"sqlite://state.db\"}\nadapters:\n  tg:\n    kind: console\n    limits: {per_account: [\"30/1s\"], per_group: [\"1/1s\", \"20/1m\"]}\n";
    let dir = tempfile::tempdir().unwrap();
    util::write_files(dir.path(), &[("config.yaml", config), ("bots/blast.yaml", &bot)]);
    let clock = TestClock::new(at("2026-11-24T11:59:59+08:00"));
    let recording = Arc::new(Recording::new("tg", &clock));
    let mut loaded = util::load(dir.path());
    loaded.adapters[0].adapter = recording.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let ready = Arc::new(tokio::sync::Notify::new());
    let options = qunbot::runtime::RunOptions {
        ready: Some(ready.clone()),
        ..Default::default()
    };
    let daemon = tokio::spawn(qunbot::runtime::run(
        loaded,
        Arc::new(clock.clone()),
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    ready.notified().await;

    // Step time in 100 ms ticks, letting the daemon finish what is due at
    // each tick (sends recorded stop changing) before the next.
    for _ in 0..1200 {
        if recording.count() >= 1000 {
            break;
        }
        clock.advance(Duration::from_millis(100));
        let mut seen = usize::MAX;
        while seen != recording.count() {
            seen = recording.count();
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    assert_eq!(recording.count(), 1000, "not all sent by {}", clock.now());
    let log = recording.log();
    let mut reached: Vec<String> = log
        .iter()
        .map(|(_, a)| match a {
            Action::Send {
                to: qunbot::event::Target::Group(g),
                text,
            } => {
                assert_eq!(text, &format!("午餐券 {g}"));
                g.to_string()
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    reached.sort();
    let mut want = groups.clone();
    want.sort();
    assert_eq!(reached, want, "every group exactly once");
    // 30 a second per account: any 31 consecutive sends span at least 1 s.
    for w in log.windows(31) {
        assert!(
            w[30].0 - w[0].0 >= chrono::Duration::seconds(1),
            "31 sends within a second at {}",
            w[0].0
        );
    }
    assert!(log[0].0 >= at("2026-11-24T12:00:00+08:00"));
    assert!(
        log[999].0 - log[0].0 >= chrono::Duration::seconds(33),
        "1000 sends at 30/s take 33 s at least"
    );
    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
}

const GUARD: &str = r#"
adapters: [mem]
groups: [g1]
locale: en
plugins:
  - use: moderation
    rules:
      banned_words: [viagra]
    classifier: null
    escalation: [{mute: 10m}]
  - use: autoreply
    rules:
      - match: {keywords: [hello]}
        reply: "hi!"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_without_mutes_gets_a_soft_mute_that_survives_a_restart_and_ends_on_time() {
    use qunbot::adapter::Capabilities;
    use qunbot::event::Target;

    let dir = tempfile::tempdir().unwrap();
    util::write_files(dir.path(), &[("config.yaml", CONFIG), ("bots/guard.yaml", GUARD)]);
    let clock = VirtualClock::new(at("2026-11-24T12:00:00+08:00"));
    let no_mute = Capabilities {
        mute: false,
        ..Capabilities::ALL
    };
    let hi = |to: &str| Action::Reply {
        group: "g1".into(),
        reply_to: to.into(),
        text: "hi!".into(),
    };
    let deleted = |id: &str| Action::Delete {
        group: "g1".into(),
        message: id.into(),
    };

    let first = Daemon::start_capable_of(dir.path(), &clock, no_mute).await;
    let mem = &first.adapters[0];
    // The spam is deleted and the mute announced, not sent as a mute.
    mem.push(message("g1", "spammer", "m1", "cheap viagra"));
    let done = mem.wait_for(2).await;
    assert_eq!(done[0], deleted("m1"));
    assert_eq!(
        done[1],
        Action::Send {
            to: Target::Group("g1".into()),
            text: "spammer is muted for 10 min: messages sent meanwhile will be deleted.".into(),
        }
    );
    // While muted, their messages are deleted before any plugin sees them;
    // others are answered as usual.
    mem.push(message("g1", "spammer", "m2", "hello"));
    mem.push(message("g1", "member", "m3", "hello"));
    let done = mem.wait_for(4).await;
    assert_eq!(done[2..], [deleted("m2"), hi("m3")]);
    first.stop().await;

    // The mute is kept across a restart, and ends on time.
    let second = Daemon::start_capable_of(dir.path(), &clock, no_mute).await;
    let mem = &second.adapters[0];
    mem.push(message("g1", "spammer", "m4", "hello"));
    assert_eq!(mem.wait_for(1).await, [deleted("m4")]);
    clock.advance(Duration::from_secs(10 * 60 + 1));
    mem.push(message("g1", "spammer", "m5", "hello"));
    assert_eq!(mem.wait_for(2).await[1], hi("m5"));
    assert!(
        mem.executed().iter().all(|a| !matches!(a, Action::Mute { .. })),
        "no mute reaches a platform that cannot mute"
    );
    second.stop().await;
}
