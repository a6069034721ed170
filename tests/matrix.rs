//! The Matrix adapter against a real Synapse (tests/synapse.rs): the
//! shared behaviour suite with an outage (a cut proxy between the daemon
//! and Synapse), the stored sync token across restarts, auto-join on
//! invite, power levels as roles, timed mutes lifted on a virtual clock,
//! kick and ban as Synapse records them, and a refused token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use qunbot::adapter::{Adapter, MatrixAdapter, MatrixConfig, Services};
use qunbot::clock::VirtualClock;
use qunbot::event::{Action, GroupId, UserId};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::behaviour::{self, Member, Peer, Said};
use crate::fakes::proxy::Proxy;
use crate::synapse::{User, register, synapse};
use crate::util::{self, Running};

/// The power-levels key where the adapter notes when mutes end.
const MUTED_UNTIL: &str = qunbot::adapter::matrix::MUTED_UNTIL;

/// Poll `check` until it gives `Some` (real time: Synapse and the daemon
/// run on sockets), failing after 30 s with `what`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A room with its creator (in room version 12 the creator outranks every
/// level and must not be listed), the bot (power 100) and three members, the
/// bot reaching Synapse through a cuttable proxy.
struct MatrixPeer {
    proxy: Proxy,
    owner: User,
    bot: User,
    members: HashMap<Member, User>,
    room: String,
}

impl MatrixPeer {
    async fn new() -> MatrixPeer {
        let proxy = Proxy::start(synapse().addr).await;
        let owner = register("owner").await;
        let bot = register("bot").await;
        let mut members = HashMap::new();
        for (m, name) in [(Member::Ann, "ann"), (Member::Bob, "bob"), (Member::Cat, "cat")] {
            members.insert(m, register(name).await);
        }
        let invite: Vec<&str> = std::iter::once(bot.id.as_str())
            .chain(members.values().map(|u| u.id.as_str()))
            .collect();
        let room = owner.create_room(&[(bot.id.as_str(), 100)], &invite).await;
        for user in members.values() {
            user.join(&room).await;
        }
        MatrixPeer {
            proxy,
            owner,
            bot,
            members,
            room,
        }
    }

    /// The adapter options of the bot, through the proxy.
    fn options(&self) -> String {
        format!(
            "{{kind: matrix, homeserver: \"{}\", access_token: \"{}\", sync_timeout: 2s}}",
            self.proxy.url(),
            self.bot.token
        )
    }

    async fn bot_joined(&self, room: &str) {
        let (owner, bot) = (&self.owner, &self.bot.id);
        eventually("the bot to join on invite", || async move {
            (owner.membership(room, bot).await.as_deref() == Some("join")).then_some(())
        })
        .await;
    }
}

#[async_trait]
impl Peer for MatrixPeer {
    fn adapter_config(&self) -> String {
        self.options()
    }

    fn dedupes_retries(&self) -> bool {
        true
    }

    async fn daemon_started(&mut self, _http: Option<std::net::SocketAddr>) {
        self.bot_joined(&self.room.clone()).await;
    }

    async fn post(&mut self, member: Member, text: &str) -> String {
        self.members[&member].say(&self.room, text).await
    }

    async fn said(&self) -> Vec<Said> {
        self.owner
            .messages_of(&self.room, &self.bot.id)
            .await
            .into_iter()
            .map(|e| Said {
                text: e["content"]["body"].as_str().unwrap_or_default().to_owned(),
                reply_to: e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
                    .as_str()
                    .map(str::to_owned),
            })
            .collect()
    }

    async fn deleted(&self) -> Vec<String> {
        self.owner.redacted_by(&self.room, &self.bot.id).await
    }

    async fn muted(&self) -> Vec<(Member, u64)> {
        let Some(levels) = self.owner.state(&self.room, "m.room.power_levels", "").await else {
            return Vec::new();
        };
        let to_post = levels["events"]["m.room.message"]
            .as_i64()
            .unwrap_or_else(|| levels["events_default"].as_i64().unwrap_or(0));
        let now = chrono::Utc::now().timestamp_millis();
        self.members
            .iter()
            .filter(|(_, u)| levels["users"][&u.id].as_i64().is_some_and(|l| l < to_post))
            .filter_map(|(m, u)| {
                // The end is noted next to the levels: round what is left
                // up to the minute.
                let left = levels[MUTED_UNTIL][&u.id].as_i64()? - now;
                Some((*m, (left.max(0) as u64 / 1000).div_ceil(60) * 60))
            })
            .collect()
    }

    async fn go_down(&mut self) {
        self.proxy.cut();
    }

    async fn come_back(&mut self) {
        self.proxy.restore();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_behaviour_suite_passes_against_synapse() {
    let mut peer = MatrixPeer::new().await;
    behaviour::run(&mut peer).await;
}

/// Messages of the bot in the peer's room containing `text`.
async fn times_said(peer: &MatrixPeer, text: &str) -> usize {
    peer.said().await.iter().filter(|s| s.text.contains(text)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_token_survives_a_restart_no_event_twice_none_lost() {
    let mut peer = MatrixPeer::new().await;
    let dir = tempfile::tempdir().unwrap();
    behaviour::write_config(dir.path(), &peer);
    let daemon = Running::start(dir.path()).await;
    peer.daemon_started(None).await;
    peer.post(Member::Ann, behaviour::QUESTION).await;
    eventually("the first answer", || async {
        (times_said(&peer, behaviour::ANSWER).await == 1).then_some(())
    })
    .await;
    daemon.stop().await;

    // Asked while the daemon is down: answered after the restart, and the
    // first question is not answered again.
    peer.post(Member::Bob, behaviour::QUESTION_2).await;
    let daemon = Running::start(dir.path()).await;
    eventually("the answer to the question asked while down", || async {
        (times_said(&peer, behaviour::ANSWER_2).await == 1).then_some(())
    })
    .await;
    // A later message proves the restarted sync has moved past both.
    peer.post(Member::Bob, behaviour::CLAIM).await;
    eventually("the claim answered", || async {
        (times_said(&peer, behaviour::CODES[0]).await == 1).then_some(())
    })
    .await;
    daemon.stop().await;
    assert_eq!(times_said(&peer, behaviour::ANSWER).await, 1);
    assert_eq!(times_said(&peer, behaviour::ANSWER_2).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_events_than_a_sync_holds_are_read_back_not_skipped() {
    let mut peer = MatrixPeer::new().await;
    let dir = tempfile::tempdir().unwrap();
    behaviour::write_config(dir.path(), &peer);
    let daemon = Running::start(dir.path()).await;
    peer.daemon_started(None).await;
    peer.post(Member::Ann, behaviour::QUESTION).await;
    eventually("the first answer", || async {
        (times_said(&peer, behaviour::ANSWER).await == 1).then_some(())
    })
    .await;
    daemon.stop().await;

    // While the daemon is down: a question, then more chatter (by the
    // room's owner, whom moderation leaves alone) than one sync answer
    // holds per room (100 events).
    peer.post(Member::Ann, behaviour::QUESTION_2).await;
    for i in 0..110 {
        peer.owner
            .say(&peer.room, &format!("note {i} for the team"))
            .await;
    }
    let daemon = Running::start(dir.path()).await;
    eventually("the question from before the chatter answered", || async {
        (times_said(&peer, behaviour::ANSWER_2).await == 1).then_some(())
    })
    .await;
    daemon.stop().await;
    assert_eq!(times_said(&peer, behaviour::ANSWER).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_joins_rooms_it_is_invited_to_and_answers_there() {
    let mut peer = MatrixPeer::new().await;
    let dir = tempfile::tempdir().unwrap();
    behaviour::write_config(dir.path(), &peer);
    let daemon = Running::start(dir.path()).await;
    peer.daemon_started(None).await;

    // A room made while the daemon runs.
    let ann = peer.members[&Member::Ann].clone();
    let room = peer
        .owner
        .create_room(&[(&peer.bot.id, 100)], &[&peer.bot.id, &ann.id])
        .await;
    ann.join(&room).await;
    peer.bot_joined(&room).await;
    let asked = ann.say(&room, behaviour::QUESTION).await;
    let (owner, bot) = (&peer.owner, &peer.bot.id);
    let reply = eventually("the answer in the new room", || async {
        owner.messages_of(&room, bot).await.into_iter().next()
    })
    .await;
    daemon.stop().await;
    assert_eq!(reply["content"]["body"], behaviour::ANSWER);
    assert_eq!(
        reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        asked
    );
    peer.members.clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_levels_are_roles_a_moderator_may_report_spam_a_member_may_not() {
    let mut peer = MatrixPeer::new().await;
    // Bob becomes a moderator (50).
    let bob = peer.members[&Member::Bob].id.clone();
    let mut levels = peer
        .owner
        .state(&peer.room, "m.room.power_levels", "")
        .await
        .unwrap();
    levels["users"][&bob] = json!(50);
    peer.owner
        .call(
            Method::PUT,
            &format!(
                "rooms/{}/state/m.room.power_levels/",
                crate::synapse::enc(&peer.room)
            ),
            Some(levels),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    behaviour::write_config(dir.path(), &peer);
    let daemon = Running::start(dir.path()).await;
    peer.daemon_started(None).await;

    let ann = peer.members[&Member::Ann].clone();
    let cat = peer.members[&Member::Cat].clone();
    let ad = cat.say(&peer.room, "great offers at my shop, visit now").await;
    // A member's report does nothing; a moderator's deletes the message.
    let reply_to = |event: &str| {
        json!({"msgtype": "m.text", "body": "/spam",
               "m.relates_to": {"m.in_reply_to": {"event_id": event}}})
    };
    let room = crate::synapse::enc(&peer.room);
    let path = |txn: &str| format!("rooms/{room}/send/m.room.message/{txn}");
    ann.call(Method::PUT, &path("ann-report"), Some(reply_to(&ad)))
        .await;
    ann.say(&peer.room, behaviour::QUESTION).await;
    eventually("the answer after the member's report", || async {
        (times_said(&peer, behaviour::ANSWER).await == 1).then_some(())
    })
    .await;
    assert!(
        peer.deleted().await.is_empty(),
        "a member's /spam deletes nothing"
    );

    // After a restart the sync sends only news: the adapter reads the
    // room's power levels itself.
    daemon.stop().await;
    let daemon = Running::start(dir.path()).await;
    let ad = cat.say(&peer.room, "more great offers at my shop").await;
    peer.members[&Member::Bob]
        .call(Method::PUT, &path("bob-report"), Some(reply_to(&ad)))
        .await;
    let deleted = eventually("the reported message redacted", || async {
        let d = peer.deleted().await;
        d.contains(&ad).then_some(d)
    })
    .await;
    daemon.stop().await;
    assert_eq!(deleted, vec![ad]);
}

/// The adapter alone, attached to an in-memory store and a virtual clock,
/// with the bot in a fresh room.
async fn lone_adapter(peer: &MatrixPeer, clock: &VirtualClock) -> Arc<MatrixAdapter> {
    let config: MatrixConfig = serde_json::from_value(json!({
        "homeserver": synapse().url(), "access_token": peer.bot.token,
    }))
    .unwrap();
    let adapter = Arc::new(MatrixAdapter::new("mx".into(), config).unwrap());
    adapter.attach(&Services {
        store: qunbot::storage::open("sqlite::memory:").await.unwrap(),
        clock: Arc::new(clock.clone()),
    });
    peer.bot.join(&peer.room).await;
    adapter
}

fn level(levels: &Value, user: &str) -> Option<i64> {
    levels["users"][user].as_i64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_mute_lowers_the_level_and_is_lifted_when_due() {
    let peer = MatrixPeer::new().await;
    let clock = VirtualClock::new(chrono::Utc::now());
    let adapter = lone_adapter(&peer, &clock).await;
    let cat = peer.members[&Member::Cat].clone();
    let (group, user) = (GroupId(peer.room.clone()), UserId(cat.id.clone()));
    adapter
        .execute(&Action::Mute {
            group: group.clone(),
            user: user.clone(),
            seconds: 600,
        })
        .await
        .unwrap();
    let levels = peer
        .owner
        .state(&peer.room, "m.room.power_levels", "")
        .await
        .unwrap();
    assert_eq!(level(&levels, &cat.id), Some(-1), "{levels}");
    let (status, answer) = cat
        .try_call(
            Method::PUT,
            &format!(
                "rooms/{}/send/m.room.message/muted",
                crate::synapse::enc(&peer.room)
            ),
            Some(json!({"msgtype": "m.text", "body": "can I talk?"})),
        )
        .await;
    assert_eq!(status, 403, "Synapse refuses the muted member: {answer}");

    let shutdown = CancellationToken::new();
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let running = {
        let (adapter, shutdown) = (adapter.clone(), shutdown.clone());
        tokio::spawn(async move { adapter.run(tx, shutdown).await })
    };
    // Not yet due: still muted.
    clock.advance(Duration::from_secs(599));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let levels = peer
        .owner
        .state(&peer.room, "m.room.power_levels", "")
        .await
        .unwrap();
    assert_eq!(level(&levels, &cat.id), Some(-1));
    clock.advance(Duration::from_secs(2));
    let owner = &peer.owner;
    let room = &peer.room;
    let lifted = eventually("the mute lifted", || async {
        let levels = owner.state(room, "m.room.power_levels", "").await?;
        level(&levels, &cat.id).is_none().then_some(levels)
    })
    .await;
    shutdown.cancel();
    running.await.unwrap().unwrap();
    assert!(lifted[MUTED_UNTIL].get(&cat.id).is_none(), "{lifted}");
    cat.say(&peer.room, "thanks").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_retried_under_one_outbox_key_is_posted_once() {
    let peer = MatrixPeer::new().await;
    let clock = VirtualClock::new(chrono::Utc::now());
    let adapter = lone_adapter(&peer, &clock).await;
    let send = Action::Send {
        to: qunbot::event::Target::Group(GroupId(peer.room.clone())),
        text: "lunch coupons at 11:30".into(),
    };
    let key = |queue_id| qunbot::adapter::DeliveryKey {
        queue_id,
        decided_ms: 1_700_000_000_000,
    };
    // The same entry twice (a retry after a lost answer), then another
    // entry with the same text: two messages.
    adapter.execute_queued(key(7), &send).await.unwrap();
    adapter.execute_queued(key(7), &send).await.unwrap();
    adapter.execute_queued(key(8), &send).await.unwrap();
    let posted = peer.owner.messages_of(&peer.room, &peer.bot.id).await;
    assert_eq!(posted.len(), 2, "{posted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_and_ban_are_what_synapse_records() {
    let peer = MatrixPeer::new().await;
    let clock = VirtualClock::new(chrono::Utc::now());
    let adapter = lone_adapter(&peer, &clock).await;
    let group = GroupId(peer.room.clone());
    let (ann, cat) = (&peer.members[&Member::Ann], &peer.members[&Member::Cat]);
    adapter
        .execute(&Action::Kick {
            group: group.clone(),
            user: UserId(ann.id.clone()),
        })
        .await
        .unwrap();
    adapter
        .execute(&Action::Ban {
            group: group.clone(),
            user: UserId(cat.id.clone()),
        })
        .await
        .unwrap();
    assert_eq!(
        peer.owner.membership(&peer.room, &ann.id).await.as_deref(),
        Some("leave")
    );
    assert_eq!(
        peer.owner.membership(&peer.room, &cat.id).await.as_deref(),
        Some("ban")
    );
    // A kicked member may come back (after an invite, the room being
    // private); a banned one may not.
    let (status, _) = cat
        .try_call(
            Method::POST,
            &format!("join/{}", crate::synapse::enc(&peer.room)),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403);
    // Without power, the homeserver's refusal is permanent (no retry).
    let bob = &peer.members[&Member::Bob];
    let config: MatrixConfig = serde_json::from_value(json!({
        "homeserver": synapse().url(), "access_token": bob.token,
    }))
    .unwrap();
    let weak = MatrixAdapter::new("weak".into(), config).unwrap();
    let refused = weak
        .execute(&Action::Kick {
            group,
            user: UserId(peer.owner.id.clone()),
        })
        .await;
    assert!(
        matches!(refused, Err(qunbot::adapter::SendError::Permanent(ref e)) if e.contains("M_FORBIDDEN")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_adapter_with_a_clear_error_naming_no_token() {
    let clock = VirtualClock::new(chrono::Utc::now());
    let config: MatrixConfig = serde_json::from_value(json!({
        "homeserver": synapse().url(), "access_token": "syt_NOT_A_REAL_TOKEN",
    }))
    .unwrap();
    let adapter = MatrixAdapter::new("mx".into(), config).unwrap();
    adapter.attach(&Services {
        store: qunbot::storage::open("sqlite::memory:").await.unwrap(),
        clock: Arc::new(clock),
    });
    let (tx, _rx) = tokio::sync::mpsc::channel(4);
    let stopped = tokio::time::timeout(Duration::from_secs(20), adapter.run(tx, CancellationToken::new()))
        .await
        .expect("the adapter stops by itself");
    let error = stopped.unwrap_err().to_string();
    assert!(error.contains("refused the access token"), "{error}");
    assert!(error.contains("M_UNKNOWN_TOKEN"), "{error}");
    assert!(!error.contains("NOT_A_REAL"), "{error}");
}

#[test]
fn bad_matrix_options_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let config = "adapters:\n  mx:\n    kind: matrix\n    homeserver: matrix.example.org\n    access_token: \"\"\n    sync_timeout: 10m\n";
    util::write_files(dir.path(), &[("config.yaml", config)]);
    let errors = qunbot::config::load(
        &dir.path().join("config.yaml"),
        &qunbot::registry::Registry::builtin(),
    )
    .err()
    .unwrap();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(
        text[0].contains(":4:") && text[0].contains("homeserver"),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains(":5:") && t.contains("access token")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains(":6:") && t.contains("sync_timeout")),
        "{text:?}"
    );
}
