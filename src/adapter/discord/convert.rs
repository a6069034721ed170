//! Discord's payloads ([`super::model`]) to [`Event`]s, actions to REST
//! requests, and the guild knowledge roles need. Pure: no I/O, so every
//! case is unit-tested here.
//!
//! A qunbot group is a guild *channel* (its id); member actions need the
//! guild too, which [`Guilds`] knows from `GUILD_CREATE`, `CHANNEL_CREATE`
//! and every message's `guild_id`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::json;

use super::api::Request;
use super::model::{DMessage, Guild, MemberEvent, RoleDelete, RoleEvent, RoleObject, User};
use crate::adapter::split::split;
use crate::event::{AdapterId, Chat, Event, EventKind, GroupId, Message, MessageId, Role, Sender};

/// Permission bits that make a member a qunbot `admin`.
const ADMINISTRATOR: u64 = 1 << 3;
const MANAGE_MESSAGES: u64 = 1 << 13;
const MODERATE_MEMBERS: u64 = 1 << 40;
const ADMIN_PERMISSIONS: u64 = ADMINISTRATOR | MANAGE_MESSAGES | MODERATE_MEMBERS;

/// Discord's longest message: 2000 characters.
const MAX_MESSAGE_CHARS: usize = 2000;

/// The longest timeout Discord accepts is 28 days; a minute less leaves
/// room for clock skew.
const MAX_TIMEOUT_SECS: u64 = 28 * 86_400 - 60;

/// What qunbot knows about the bot's guilds: owners, role permissions,
/// system channels, and which guild each channel belongs to.
#[derive(Debug, Default)]
pub(super) struct Guilds {
    /// Guild id → what roles need.
    guilds: HashMap<String, GuildInfo>,
    /// Channel id → guild id.
    channels: HashMap<String, String>,
}

/// One guild.
#[derive(Debug, Default)]
struct GuildInfo {
    /// Its owner.
    owner: String,
    /// Role id → permission bits.
    roles: HashMap<String, u64>,
    /// Where joins and leaves go.
    system_channel: Option<String>,
}

fn permissions(role: &RoleObject) -> u64 {
    role.permissions.parse().unwrap_or(0)
}

impl Guilds {
    /// Learn a guild (`GUILD_CREATE`, `GUILD_UPDATE`: channels only in the first).
    pub(super) fn guild(&mut self, g: &Guild) {
        let info = GuildInfo {
            owner: g.owner_id.clone(),
            roles: g.roles.iter().map(|r| (r.id.clone(), permissions(r))).collect(),
            system_channel: g.system_channel_id.clone(),
        };
        self.guilds.insert(g.id.clone(), info);
        for c in g.channels.iter().chain(&g.threads) {
            self.channels.insert(c.id.clone(), g.id.clone());
        }
    }

    /// A role created or changed.
    pub(super) fn role(&mut self, e: &RoleEvent) {
        if let Some(g) = self.guilds.get_mut(&e.guild_id) {
            g.roles.insert(e.role.id.clone(), permissions(&e.role));
        }
    }

    /// A role deleted.
    pub(super) fn role_delete(&mut self, e: &RoleDelete) {
        if let Some(g) = self.guilds.get_mut(&e.guild_id) {
            g.roles.remove(&e.role_id);
        }
    }

    /// Channel `channel` is in guild `guild`.
    pub(super) fn channel(&mut self, channel: &str, guild: &str) {
        self.channels.insert(channel.to_owned(), guild.to_owned());
    }

    /// The guild of a channel, if known.
    pub(super) fn guild_of(&self, channel: &str) -> Option<&str> {
        self.channels.get(channel).map(String::as_str)
    }

    /// A guild's system channel, if it has one.
    pub(super) fn system_channel(&self, guild: &str) -> Option<&str> {
        self.guilds.get(guild)?.system_channel.as_deref()
    }

    /// The role of `user` with `roles` in `guild`: the owner is `owner`; a
    /// member whose roles (with `@everyone`) grant Administrator, Manage
    /// Messages or Moderate Members is `admin`.
    pub(super) fn role_of(&self, guild: &str, user: &str, roles: &[String]) -> Role {
        let Some(g) = self.guilds.get(guild) else {
            return Role::Member;
        };
        if g.owner == user {
            return Role::Owner;
        }
        let bits = roles
            .iter()
            .map(String::as_str)
            .chain([guild])
            .filter_map(|r| g.roles.get(r))
            .fold(0, |acc, p| acc | p);
        if bits & ADMIN_PERMISSIONS != 0 {
            Role::Admin
        } else {
            Role::Member
        }
    }
}

fn at(timestamp: Option<&str>, now: DateTime<Utc>) -> DateTime<Utc> {
    timestamp
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(now, |t| t.with_timezone(&Utc))
}

/// A user's display name: guild nickname, else global name, else username.
fn name(user: &User, nick: Option<&String>) -> String {
    nick.or(user.global_name.as_ref())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&user.username)
        .clone()
}

/// The event of a `MESSAGE_CREATE`: members' (and other bots', flagged)
/// ordinary messages and replies, in guild channels or DMs. System
/// messages and the bot's own messages give none.
pub(super) fn message_event(
    adapter: &AdapterId,
    m: &DMessage,
    own_id: Option<&str>,
    role: Role,
    now: DateTime<Utc>,
) -> Option<Event> {
    if !matches!(m.kind, 0 | 19) || own_id == Some(m.author.id.as_str()) {
        return None;
    }
    let sender = Sender {
        id: m.author.id.clone().into(),
        name: name(&m.author, m.member.as_ref().and_then(|mb| mb.nick.as_ref())),
        role: if m.guild_id.is_some() { role } else { Role::Member },
        is_bot: m.author.bot || m.webhook_id.is_some(),
    };
    Some(Event {
        at: at(m.timestamp.as_deref(), now),
        kind: EventKind::Message {
            chat: Chat {
                adapter: adapter.clone(),
                group: m.guild_id.as_ref().map(|_| GroupId(m.channel_id.clone())),
            },
            sender,
            message: Message {
                id: MessageId(m.id.clone()),
                text: m.content.clone(),
                reply_to: m
                    .message_reference
                    .as_ref()
                    .and_then(|r| r.message_id.clone())
                    .map(MessageId),
            },
        },
    })
}

/// The join (`joined`) or leave of `GUILD_MEMBER_ADD`/`REMOVE`, reported
/// in `channel` (the guild's system channel).
pub(super) fn member_event(
    adapter: &AdapterId,
    e: &MemberEvent,
    joined: bool,
    channel: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Event {
    let chat = Chat {
        adapter: adapter.clone(),
        group: Some(GroupId(channel.to_owned())),
    };
    let member = Sender {
        id: e.user.id.clone().into(),
        name: name(&e.user, e.nick.as_ref()),
        role,
        is_bot: e.user.bot,
    };
    let kind = if joined {
        EventKind::Join { chat, member }
    } else {
        EventKind::Leave { chat, member }
    };
    Event { at: now, kind }
}

/// Create-message requests for `text` in `channel`, cut at 2000
/// characters; only the first references `reply_to`. Mentions never ping
/// (`allowed_mentions`), except the author of the message answered.
pub(super) fn send(channel: &str, text: &str, reply_to: Option<&str>) -> Vec<Request> {
    split(text, MAX_MESSAGE_CHARS)
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut body = json!({"content": chunk, "allowed_mentions": {"parse": []}});
            if let (0, Some(id)) = (i, reply_to) {
                body["message_reference"] = json!({"message_id": id, "fail_if_not_exists": false});
                body["allowed_mentions"]["replied_user"] = json!(true);
            }
            Request {
                method: Method::POST,
                path: format!("/channels/{channel}/messages"),
                route: format!("POST /channels/{channel}/messages"),
                body: Some(body),
            }
        })
        .collect()
}

/// Delete message `message` in `channel`.
pub(super) fn delete(channel: &str, message: &str) -> Request {
    Request {
        method: Method::DELETE,
        path: format!("/channels/{channel}/messages/{message}"),
        route: format!("DELETE /channels/{channel}/messages/{{id}}"),
        body: None,
    }
}

/// Time `user` out until `now + seconds` (at most 28 days), or lift the
/// timeout (`None`).
pub(super) fn timeout(guild: &str, user: &str, seconds: Option<u64>, now: DateTime<Utc>) -> Request {
    let until = seconds.map(|s| {
        let s = i64::try_from(s.min(MAX_TIMEOUT_SECS)).unwrap_or(0);
        (now + chrono::Duration::seconds(s)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    });
    Request {
        method: Method::PATCH,
        path: format!("/guilds/{guild}/members/{user}"),
        route: format!("PATCH /guilds/{guild}/members/{{id}}"),
        body: Some(json!({"communication_disabled_until": until})),
    }
}

/// Remove `user` from `guild`.
pub(super) fn kick(guild: &str, user: &str) -> Request {
    Request {
        method: Method::DELETE,
        path: format!("/guilds/{guild}/members/{user}"),
        route: format!("DELETE /guilds/{guild}/members/{{id}}"),
        body: None,
    }
}

/// Ban `user` from `guild` (their messages stay).
pub(super) fn ban(guild: &str, user: &str) -> Request {
    Request {
        method: Method::PUT,
        path: format!("/guilds/{guild}/bans/{user}"),
        route: format!("PUT /guilds/{guild}/bans/{{id}}"),
        body: Some(json!({"delete_message_seconds": 0})),
    }
}

/// Open (or find) the DM channel with `user`.
pub(super) fn open_dm(user: &str) -> Request {
    Request {
        method: Method::POST,
        path: "/users/@me/channels".into(),
        route: "POST /users/@me/channels".into(),
        body: Some(json!({"recipient_id": user})),
    }
}

/// Read channel `channel` (to learn its guild).
pub(super) fn get_channel(channel: &str) -> Request {
    Request {
        method: Method::GET,
        path: format!("/channels/{channel}"),
        route: format!("GET /channels/{channel}"),
        body: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn adapter() -> AdapterId {
        "dc".into()
    }

    fn guild() -> Guild {
        serde_json::from_value(json!({
            "id": "100", "owner_id": "1", "system_channel_id": "201",
            "roles": [
                {"id": "100", "permissions": "1024"},
                {"id": "300", "permissions": (1u64 << 40).to_string()},
                {"id": "301", "permissions": "8"},
                {"id": "302", "permissions": "2048"}
            ],
            "channels": [{"id": "200"}, {"id": "201"}]
        }))
        .unwrap()
    }

    #[test]
    fn roles_come_from_the_owner_and_role_permissions() {
        let mut guilds = Guilds::default();
        guilds.guild(&guild());
        assert_eq!(guilds.guild_of("200"), Some("100"));
        assert_eq!(guilds.system_channel("100"), Some("201"));
        assert_eq!(guilds.role_of("100", "1", &[]), Role::Owner);
        assert_eq!(guilds.role_of("100", "2", &[]), Role::Member);
        assert_eq!(guilds.role_of("100", "2", &["300".into()]), Role::Admin);
        assert_eq!(guilds.role_of("100", "2", &["301".into()]), Role::Admin);
        assert_eq!(guilds.role_of("100", "2", &["302".into()]), Role::Member);
        guilds.role(
            &serde_json::from_value(json!({"guild_id": "100", "role": {"id": "302", "permissions": "8192"}}))
                .unwrap(),
        );
        assert_eq!(guilds.role_of("100", "2", &["302".into()]), Role::Admin);
        guilds.role_delete(&serde_json::from_value(json!({"guild_id": "100", "role_id": "302"})).unwrap());
        assert_eq!(guilds.role_of("100", "2", &["302".into()]), Role::Member);
        // Unknown guild: everyone is a member.
        assert_eq!(guilds.role_of("999", "1", &[]), Role::Member);
    }

    fn message(v: Value) -> DMessage {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn guild_messages_are_group_events_and_dms_direct() {
        let now = DateTime::UNIX_EPOCH;
        let m = message(
            json!({"id": "9", "channel_id": "200", "guild_id": "100", "type": 19,
            "author": {"id": "2", "username": "ann", "global_name": "Ann"},
            "member": {"roles": [], "nick": "Annie"}, "content": "refund?",
            "timestamp": "2026-01-02T03:04:05.000000+00:00",
            "message_reference": {"message_id": "8", "channel_id": "200"}}),
        );
        let e = message_event(&adapter(), &m, Some("777"), Role::Admin, now).unwrap();
        let (chat, sender, msg) = e.member_message().unwrap();
        assert_eq!(chat.group, Some(GroupId("200".into())));
        assert_eq!(sender.name, "Annie");
        assert_eq!(sender.role, Role::Admin);
        assert_eq!(msg.reply_to, Some(MessageId("8".into())));
        assert_eq!(e.at.to_rfc3339(), "2026-01-02T03:04:05+00:00");

        let dm = message(json!({"id": "9", "channel_id": "50", "type": 0,
            "author": {"id": "2", "username": "ann"}, "content": "hi"}));
        let e = message_event(&adapter(), &dm, Some("777"), Role::Admin, now).unwrap();
        assert_eq!(e.chat().unwrap().group, None);
        assert_eq!(e.sender().unwrap().role, Role::Member);

        let own = message(json!({"id": "9", "channel_id": "200", "guild_id": "100",
            "author": {"id": "777", "username": "qunbot", "bot": true}, "content": "x"}));
        assert!(message_event(&adapter(), &own, Some("777"), Role::Member, now).is_none());
        let other_bot = message(json!({"id": "9", "channel_id": "200", "guild_id": "100",
            "author": {"id": "555", "username": "other", "bot": true}, "content": "x"}));
        let e = message_event(&adapter(), &other_bot, Some("777"), Role::Member, now).unwrap();
        assert!(e.member_message().is_none());
        let join_notice = message(
            json!({"id": "9", "channel_id": "200", "guild_id": "100", "type": 7,
            "author": {"id": "2", "username": "ann"}, "content": ""}),
        );
        assert!(message_event(&adapter(), &join_notice, Some("777"), Role::Member, now).is_none());
    }

    #[test]
    fn replies_reference_the_question_and_never_ping_roles() {
        let r = send("200", "hi", Some("9"));
        assert_eq!(r.len(), 1);
        let body = r[0].body.as_ref().unwrap();
        assert_eq!(body["message_reference"]["message_id"], json!("9"));
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        let long = send("200", &"x".repeat(MAX_MESSAGE_CHARS + 1), Some("9"));
        assert_eq!(long.len(), 2);
        assert!(long[1].body.as_ref().unwrap().get("message_reference").is_none());
        assert_eq!(long[0].route, "POST /channels/200/messages");
    }

    #[test]
    fn timeouts_are_capped_at_28_days_and_lifted_with_null() {
        let now = DateTime::UNIX_EPOCH;
        let r = timeout("100", "2", Some(600), now);
        assert_eq!(r.method, Method::PATCH);
        assert_eq!(r.path, "/guilds/100/members/2");
        assert_eq!(
            r.body.unwrap()["communication_disabled_until"],
            json!("1970-01-01T00:10:00Z")
        );
        let long = timeout("100", "2", Some(365 * 86_400), now);
        let until = long.body.unwrap()["communication_disabled_until"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(until, "1970-01-28T23:59:00Z");
        let lift = timeout("100", "2", None, now);
        assert_eq!(lift.body.unwrap()["communication_disabled_until"], Value::Null);
    }

    #[test]
    fn joins_go_to_the_system_channel() {
        let e: MemberEvent = serde_json::from_value(json!({"guild_id": "100",
            "user": {"id": "5", "username": "dee"}, "roles": []}))
        .unwrap();
        let ev = member_event(&adapter(), &e, true, "201", Role::Member, DateTime::UNIX_EPOCH);
        assert!(matches!(&ev.kind, EventKind::Join { chat, member }
            if chat.group == Some(GroupId("201".into())) && member.name == "dee"));
    }
}
