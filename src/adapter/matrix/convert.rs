//! Conversion between the client-server API's JSON and qunbot's
//! [`Event`]s, plus the room state the conversion needs (power levels,
//! creators, display names). Pure: no I/O, so every case is unit-tested here.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::event::{AdapterId, Chat, Event, EventKind, GroupId, Message, MessageId, Role, Sender};

/// The power level from which a member counts as a group admin: Element's
/// "Moderator", and the default level needed to kick, ban and redact.
pub(super) const ADMIN_LEVEL: i64 = 50;

/// The state event types the adapter keeps per room.
const STATE_TYPES: [&str; 3] = ["m.room.member", "m.room.power_levels", "m.room.create"];

/// The timeline event types the adapter reads.
const TIMELINE_TYPES: [&str; 4] = [
    "m.room.message",
    "m.room.member",
    "m.room.power_levels",
    "m.room.create",
];

/// The `/sync` filter: only what qunbot reads (room messages and the state
/// above; members lazily loaded), nothing about presence, receipts or
/// typing. `timeline_limit` bounds a room's events per answer.
pub(super) fn sync_filter(timeline_limit: u32) -> String {
    json!({
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "room": {
            "ephemeral": {"not_types": ["*"]},
            "account_data": {"not_types": ["*"]},
            "state": {"types": STATE_TYPES, "lazy_load_members": true},
            "timeline": {
                "types": TIMELINE_TYPES,
                "limit": timeline_limit,
                "lazy_load_members": true,
            },
        },
    })
    .to_string()
}

/// The `/messages` filter when reading events a sync left out: the
/// timeline types of [`sync_filter`].
pub(super) fn gap_filter() -> String {
    json!({"types": TIMELINE_TYPES, "lazy_load_members": true}).to_string()
}

/// A `/sync` answer, the parts qunbot reads.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SyncResponse {
    /// The `since` of the next call.
    pub(super) next_batch: String,
    /// Rooms with news.
    #[serde(default)]
    pub(super) rooms: Rooms,
}

/// `rooms` of a sync answer.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Rooms {
    /// Rooms the bot is in.
    #[serde(default)]
    pub(super) join: HashMap<String, JoinedRoom>,
    /// Rooms the bot is invited to.
    #[serde(default)]
    pub(super) invite: HashMap<String, Value>,
}

/// A joined room's news.
#[derive(Debug, Default, Deserialize)]
pub(super) struct JoinedRoom {
    /// State from before the timeline (lazily loaded members, etc.).
    #[serde(default)]
    pub(super) state: EventList,
    /// New events, in order.
    #[serde(default)]
    pub(super) timeline: Timeline,
}

/// A list of events.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EventList {
    /// The events.
    #[serde(default)]
    pub(super) events: Vec<RawEvent>,
}

/// A room's timeline in a sync answer.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Timeline {
    /// The events, oldest first.
    #[serde(default)]
    pub(super) events: Vec<RawEvent>,
    /// Set when more events happened than the filter's limit let through.
    #[serde(default)]
    pub(super) limited: bool,
    /// Where to page back from (`/messages`) to read the ones left out.
    #[serde(default)]
    pub(super) prev_batch: Option<String>,
}

/// A `/messages` page.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Page {
    /// Events, newest first (paging backwards).
    #[serde(default)]
    pub(super) chunk: Vec<RawEvent>,
    /// Members' state for the chunk's senders.
    #[serde(default)]
    pub(super) state: Vec<RawEvent>,
    /// The next page's `from`; absent at the end.
    #[serde(default)]
    pub(super) end: Option<String>,
}

/// A room event as the API sends it.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct RawEvent {
    /// `type`.
    #[serde(rename = "type")]
    pub(super) kind: String,
    /// Its id (absent only in stripped state).
    #[serde(default)]
    pub(super) event_id: Option<String>,
    /// Who sent it.
    pub(super) sender: String,
    /// Set on state events.
    #[serde(default)]
    pub(super) state_key: Option<String>,
    /// The content.
    #[serde(default)]
    pub(super) content: Value,
    /// When the sender's server received it, in Unix milliseconds.
    #[serde(default)]
    pub(super) origin_server_ts: i64,
    /// `unsigned` (`prev_content` of state events).
    #[serde(default)]
    pub(super) unsigned: Value,
}

/// A room's power levels (`m.room.power_levels`), with the spec's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PowerLevels {
    /// The event's content as it is, so a change keeps what qunbot does
    /// not know about.
    pub(super) content: Value,
}

impl Default for PowerLevels {
    /// A room without the event: everyone may post.
    fn default() -> Self {
        Self { content: json!({}) }
    }
}

impl PowerLevels {
    fn int(&self, key: &str, default: i64) -> i64 {
        self.content.get(key).and_then(level).unwrap_or(default)
    }

    /// The level of members not listed in `users`.
    pub(super) fn users_default(&self) -> i64 {
        self.int("users_default", 0)
    }

    /// A user's level from `users`, if listed.
    pub(super) fn listed(&self, user: &str) -> Option<i64> {
        self.content.get("users")?.get(user).and_then(level)
    }

    /// A user's level (creators are handled by [`RoomState`]).
    pub(super) fn user(&self, user: &str) -> i64 {
        self.listed(user).unwrap_or_else(|| self.users_default())
    }

    /// The level needed to post `m.room.message`.
    pub(super) fn to_post(&self) -> i64 {
        self.content
            .get("events")
            .and_then(|e| e.get("m.room.message"))
            .and_then(level)
            .unwrap_or_else(|| self.int("events_default", 0))
    }

    /// The content with `user`'s level set (`None`: unlisted).
    pub(super) fn with_user(&self, user: &str, value: Option<i64>) -> Value {
        let mut content = self.content.clone();
        if !content.is_object() {
            content = json!({});
        }
        let users = &mut content["users"];
        if !users.is_object() {
            *users = json!({});
        }
        if let Some(map) = users.as_object_mut() {
            match value {
                Some(v) => {
                    map.insert(user.to_owned(), json!(v));
                }
                None => {
                    map.remove(user);
                }
            }
        }
        content
    }
}

/// Power levels are integers; old rooms may hold them as strings.
fn level(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.trim().parse().ok())
}

/// What the adapter knows of one room's state.
#[derive(Clone, Debug, Default)]
pub(super) struct RoomState {
    /// Its power levels.
    pub(super) power: PowerLevels,
    /// Its creators: the `m.room.create` sender and, from room version 12,
    /// `additional_creators`; they outrank every power level.
    pub(super) creators: HashSet<String>,
    /// Members' display names.
    pub(super) names: HashMap<String, String>,
    /// Whether `m.room.power_levels` and `m.room.create` have been read
    /// (from sync or fetched).
    pub(super) loaded: bool,
}

impl RoomState {
    /// Apply a state event (from `state` or the timeline).
    pub(super) fn apply(&mut self, event: &RawEvent) {
        let Some(key) = &event.state_key else { return };
        match event.kind.as_str() {
            "m.room.power_levels" if key.is_empty() => {
                self.power = PowerLevels {
                    content: event.content.clone(),
                };
            }
            "m.room.create" if key.is_empty() => {
                self.creators.insert(event.sender.clone());
                if let Some(more) = event.content.get("additional_creators").and_then(Value::as_array) {
                    self.creators
                        .extend(more.iter().filter_map(Value::as_str).map(str::to_owned));
                }
            }
            "m.room.member" => match event.content.get("displayname").and_then(Value::as_str) {
                Some(name) if !name.trim().is_empty() => {
                    self.names.insert(key.clone(), name.trim().to_owned());
                }
                _ => {
                    self.names.remove(key);
                }
            },
            _ => {}
        }
    }

    /// A member's role: creators own the room, levels from
    /// [`ADMIN_LEVEL`] administer it.
    pub(super) fn role(&self, user: &str) -> Role {
        if self.creators.contains(user) {
            Role::Owner
        } else if self.power.user(user) >= ADMIN_LEVEL {
            Role::Admin
        } else {
            Role::Member
        }
    }

    /// A member's display name, else the id's localpart.
    pub(super) fn name(&self, user: &str) -> String {
        self.names
            .get(user)
            .cloned()
            .unwrap_or_else(|| localpart(user).to_owned())
    }

    /// As an event's sender.
    fn sender(&self, user: &str, is_bot: bool) -> Sender {
        Sender {
            id: user.into(),
            name: self.name(user),
            role: self.role(user),
            is_bot,
        }
    }
}

/// `@name:server` → `name`.
pub(super) fn localpart(user: &str) -> &str {
    let user = user.strip_prefix('@').unwrap_or(user);
    user.split_once(':').map_or(user, |(local, _)| local)
}

/// The event of a timeline entry, if it is one qunbot handles: a member's
/// text message (`m.text`, `m.notice`, `m.emote`; notices are flagged as
/// from a bot, by convention), or a join or leave. Edits, redacted and
/// other events give none. `state` must already include `raw`.
pub(super) fn timeline_event(
    adapter: &AdapterId,
    room: &str,
    raw: &RawEvent,
    state: &RoomState,
) -> Option<Event> {
    let chat = Chat {
        adapter: adapter.clone(),
        group: Some(GroupId(room.to_owned())),
    };
    let at = DateTime::from_timestamp_millis(raw.origin_server_ts).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let kind = match raw.kind.as_str() {
        "m.room.message" => {
            let msgtype = raw.content.get("msgtype").and_then(Value::as_str)?;
            if !matches!(msgtype, "m.text" | "m.notice" | "m.emote") {
                return None;
            }
            let relates = raw.content.get("m.relates_to");
            if relates.and_then(|r| r.get("rel_type")).and_then(Value::as_str) == Some("m.replace") {
                return None;
            }
            let reply_to = relates
                .and_then(|r| r.get("m.in_reply_to"))
                .and_then(|r| r.get("event_id"))
                .and_then(Value::as_str)
                .map(|id| MessageId(id.to_owned()));
            let body = raw.content.get("body").and_then(Value::as_str)?;
            let text = if reply_to.is_some() {
                strip_reply_fallback(body)
            } else {
                body
            };
            EventKind::Message {
                chat,
                sender: state.sender(&raw.sender, msgtype == "m.notice"),
                message: Message {
                    id: MessageId(raw.event_id.clone()?),
                    text: text.to_owned(),
                    reply_to,
                },
            }
        }
        "m.room.member" => {
            let user = raw.state_key.as_deref()?;
            let now = membership(&raw.content);
            let before = raw
                .unsigned
                .get("prev_content")
                .map(membership)
                .unwrap_or("leave");
            let member = state.sender(user, false);
            match (before == "join", now == "join") {
                (false, true) => EventKind::Join { chat, member },
                (true, false) => EventKind::Leave { chat, member },
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(Event { at, kind })
}

fn membership(content: &Value) -> &str {
    content
        .get("membership")
        .and_then(Value::as_str)
        .unwrap_or("leave")
}

/// A reply's body without the quoted fallback (`> ` lines and the blank
/// line after them) that clients before Matrix 1.13 prepend.
fn strip_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> ") {
        return body;
    }
    let mut rest = body;
    while rest.starts_with('>') {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest.strip_prefix('\n').unwrap_or(rest)
}

/// The content of a message the bot posts: a notice (bots post notices so
/// other bots do not answer them), replying to `reply_to` if given.
pub(super) fn message_content(text: &str, reply_to: Option<&str>) -> Value {
    let mut content = json!({"msgtype": "m.notice", "body": text});
    if let Some(event) = reply_to {
        content["m.relates_to"] = json!({"m.in_reply_to": {"event_id": event}});
    }
    content
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(value: Value) -> RawEvent {
        serde_json::from_value(value).unwrap()
    }

    fn state() -> RoomState {
        let mut state = RoomState::default();
        state.apply(&raw(
            json!({"type": "m.room.create", "state_key": "", "sender": "@own:hs",
            "content": {"room_version": "12", "additional_creators": ["@co:hs"]}}),
        ));
        state.apply(&raw(
            json!({"type": "m.room.power_levels", "state_key": "", "sender": "@own:hs",
            "content": {"users": {"@mod:hs": 50, "@bot:hs": "100"}, "users_default": 0,
                        "events": {"m.room.message": 10}}}),
        ));
        state.apply(&raw(
            json!({"type": "m.room.member", "state_key": "@ann:hs", "sender": "@ann:hs",
            "content": {"membership": "join", "displayname": "Ann"}}),
        ));
        state
    }

    #[test]
    fn creators_own_and_levels_administer() {
        let s = state();
        assert_eq!(s.role("@own:hs"), Role::Owner);
        assert_eq!(s.role("@co:hs"), Role::Owner);
        assert_eq!(s.role("@mod:hs"), Role::Admin);
        assert_eq!(s.role("@bot:hs"), Role::Admin, "string levels of old rooms count");
        assert_eq!(s.role("@ann:hs"), Role::Member);
        assert_eq!(s.power.to_post(), 10);
        assert_eq!(s.name("@ann:hs"), "Ann");
        assert_eq!(s.name("@bob:hs"), "bob");
    }

    #[test]
    fn messages_become_events_with_reply_and_fallback_stripped() {
        let s = state();
        let e = raw(
            json!({"type": "m.room.message", "event_id": "$2", "sender": "@ann:hs",
            "origin_server_ts": 1_700_000_000_000_i64,
            "content": {"msgtype": "m.text", "body": "> <@bob:hs> hi\n> there\n\nrefund?",
                        "m.relates_to": {"m.in_reply_to": {"event_id": "$1"}}}}),
        );
        let event = timeline_event(&"mx".into(), "!r", &e, &s).unwrap();
        let (chat, sender, message) = event.member_message().unwrap();
        assert_eq!(chat.group.as_ref().unwrap().as_str(), "!r");
        assert_eq!(sender.name, "Ann");
        assert_eq!(message.text, "refund?");
        assert_eq!(message.reply_to.as_ref().unwrap().as_str(), "$1");
        assert_eq!(message.id.as_str(), "$2");
        assert_eq!(event.at.timestamp(), 1_700_000_000);
    }

    #[test]
    fn edits_images_and_notices_are_told_apart() {
        let s = state();
        let edit = raw(
            json!({"type": "m.room.message", "event_id": "$3", "sender": "@ann:hs",
            "content": {"msgtype": "m.text", "body": "* x", "m.relates_to": {"rel_type": "m.replace", "event_id": "$2"}}}),
        );
        assert!(timeline_event(&"mx".into(), "!r", &edit, &s).is_none());
        let image = raw(
            json!({"type": "m.room.message", "event_id": "$4", "sender": "@ann:hs",
            "content": {"msgtype": "m.image", "body": "x.png"}}),
        );
        assert!(timeline_event(&"mx".into(), "!r", &image, &s).is_none());
        let notice = raw(
            json!({"type": "m.room.message", "event_id": "$5", "sender": "@other:hs",
            "content": {"msgtype": "m.notice", "body": "beep"}}),
        );
        let event = timeline_event(&"mx".into(), "!r", &notice, &s).unwrap();
        assert!(event.sender().unwrap().is_bot);
    }

    #[test]
    fn membership_changes_give_joins_and_leaves_only() {
        let s = state();
        let join = raw(
            json!({"type": "m.room.member", "event_id": "$6", "sender": "@ann:hs", "state_key": "@ann:hs",
            "content": {"membership": "join"}, "unsigned": {"prev_content": {"membership": "invite"}}}),
        );
        assert!(matches!(
            timeline_event(&"mx".into(), "!r", &join, &s).unwrap().kind,
            EventKind::Join { .. }
        ));
        let rename = raw(
            json!({"type": "m.room.member", "event_id": "$7", "sender": "@ann:hs", "state_key": "@ann:hs",
            "content": {"membership": "join", "displayname": "A"}, "unsigned": {"prev_content": {"membership": "join"}}}),
        );
        assert!(timeline_event(&"mx".into(), "!r", &rename, &s).is_none());
        let kicked = raw(
            json!({"type": "m.room.member", "event_id": "$8", "sender": "@mod:hs", "state_key": "@ann:hs",
            "content": {"membership": "ban"}, "unsigned": {"prev_content": {"membership": "join"}}}),
        );
        let event = timeline_event(&"mx".into(), "!r", &kicked, &s).unwrap();
        assert!(matches!(&event.kind, EventKind::Leave { member, .. } if member.id.as_str() == "@ann:hs"));
    }

    #[test]
    fn a_level_change_keeps_the_rest_of_the_content() {
        let s = state();
        let content = s.power.with_user("@ann:hs", Some(9));
        assert_eq!(content["users"]["@ann:hs"], 9);
        assert_eq!(content["events"]["m.room.message"], 10);
        let back = PowerLevels { content }.with_user("@ann:hs", None);
        assert!(back["users"].get("@ann:hs").is_none());
        assert_eq!(back["users"]["@mod:hs"], 50);
    }

    #[test]
    fn replies_are_notices_relating_to_the_question() {
        let c = message_content("hi", Some("$1"));
        assert_eq!(c["msgtype"], "m.notice");
        assert_eq!(c["m.relates_to"]["m.in_reply_to"]["event_id"], "$1");
        assert!(message_content("hi", None).get("m.relates_to").is_none());
    }
}
