//! Conversion between the Bot API's objects and qunbot's [`Event`]s and
//! [`Action`]s. Pure: no I/O, so every case is unit-tested here.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::adapter::split::split;
use crate::event::{
    Action, AdapterId, Chat, Event, EventKind, GroupId, Message, MessageId, Role, Sender, Target,
};

/// The update kinds the adapter asks for (`allowed_updates`); `chat_member`
/// must be named explicitly or Telegram never sends it.
pub(super) const ALLOWED_UPDATES: [&str; 2] = ["message", "chat_member"];

/// `Update`, the fields qunbot reads.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct Update {
    /// A new message (text, service messages such as joins).
    #[serde(default)]
    pub(super) message: Option<TgMessage>,
    /// A member's status changed (needs the bot to be an admin).
    #[serde(default)]
    pub(super) chat_member: Option<ChatMemberUpdated>,
}

/// `Message`, the fields qunbot reads.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct TgMessage {
    /// The message's id within its chat.
    pub(super) message_id: i64,
    /// Unix time it was sent (or the change happened).
    pub(super) date: i64,
    /// The chat it belongs to.
    pub(super) chat: TgChat,
    /// The sender (absent in channels).
    #[serde(default)]
    pub(super) from: Option<User>,
    /// Set when a chat speaks: the group itself (an anonymous admin) or a
    /// channel (linked-channel posts, users writing as a channel).
    #[serde(default)]
    pub(super) sender_chat: Option<TgChat>,
    /// Text messages' text.
    #[serde(default)]
    pub(super) text: Option<String>,
    /// Media messages' caption, read as their text.
    #[serde(default)]
    pub(super) caption: Option<String>,
    /// The message answered, if any.
    #[serde(default)]
    pub(super) reply_to_message: Option<Box<TgMessage>>,
    /// Service message: members who joined.
    #[serde(default)]
    pub(super) new_chat_members: Option<Vec<User>>,
    /// Service message: the member who left.
    #[serde(default)]
    pub(super) left_chat_member: Option<User>,
    /// Service message: the group became this supergroup.
    #[serde(default)]
    pub(super) migrate_to_chat_id: Option<i64>,
}

/// `Chat`.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct TgChat {
    /// The platform id.
    pub(super) id: i64,
    /// Private, group, supergroup or channel.
    #[serde(rename = "type")]
    pub(super) kind: ChatKind,
    /// Groups' and channels' titles.
    #[serde(default)]
    pub(super) title: Option<String>,
}

/// `Chat.type`, parsed once (STYLE P3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ChatKind {
    Private,
    Group,
    Supergroup,
    Channel,
    #[serde(other)]
    Other,
}

/// `User`.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct User {
    /// The platform id.
    pub(super) id: i64,
    /// Bot accounts, flagged on the sender.
    #[serde(default)]
    pub(super) is_bot: bool,
    /// First name (always set by Telegram).
    #[serde(default)]
    pub(super) first_name: String,
    /// Last name, if any.
    #[serde(default)]
    pub(super) last_name: Option<String>,
    /// `@username` without the `@`, if any.
    #[serde(default)]
    pub(super) username: Option<String>,
}

/// `ChatMemberUpdated`.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct ChatMemberUpdated {
    /// The chat it belongs to.
    pub(super) chat: TgChat,
    /// Unix time it was sent (or the change happened).
    pub(super) date: i64,
    /// The member before the change.
    pub(super) old_chat_member: ChatMember,
    /// The member after the change.
    pub(super) new_chat_member: ChatMember,
}

/// `ChatMember` (every variant shares these fields).
#[derive(Clone, Debug, Deserialize)]
pub(super) struct ChatMember {
    /// Owner, admin, member, restricted, left or banned.
    pub(super) status: Status,
    /// Who.
    pub(super) user: User,
    /// For `restricted` members: whether they are in the chat.
    #[serde(default)]
    pub(super) is_member: Option<bool>,
}

/// `ChatMember.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Status {
    Creator,
    Administrator,
    Member,
    Restricted,
    Left,
    Kicked,
}

impl ChatMember {
    /// Whether the member is in the chat.
    pub(super) fn present(&self) -> bool {
        match self.status {
            Status::Creator | Status::Administrator | Status::Member => true,
            Status::Restricted => self.is_member.unwrap_or(true),
            Status::Left | Status::Kicked => false,
        }
    }

    /// The member's role.
    pub(super) fn role(&self) -> Role {
        match self.status {
            Status::Creator => Role::Owner,
            Status::Administrator => Role::Admin,
            _ => Role::Member,
        }
    }
}

impl User {
    /// Display name: first and last name, else the username, else the id.
    pub(super) fn name(&self) -> String {
        let full = match &self.last_name {
            Some(last) if !last.is_empty() => format!("{} {last}", self.first_name),
            _ => self.first_name.clone(),
        };
        match (full.trim().is_empty(), &self.username) {
            (false, _) => full.trim().to_owned(),
            (true, Some(u)) => u.clone(),
            (true, None) => self.id.to_string(),
        }
    }

    /// As an event's sender with `role`.
    pub(super) fn sender(&self, role: Role) -> Sender {
        Sender {
            id: self.id.to_string().into(),
            name: self.name(),
            role,
            is_bot: self.is_bot,
        }
    }
}

/// Whether events from a chat of this kind are group events.
fn is_group(kind: ChatKind) -> bool {
    matches!(kind, ChatKind::Group | ChatKind::Supergroup)
}

fn at(date: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(date, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

fn chat(adapter: &AdapterId, c: &TgChat) -> Chat {
    Chat {
        adapter: adapter.clone(),
        group: is_group(c.kind).then(|| GroupId(c.id.to_string())),
    }
}

/// A membership change: joined (`true`) or left, of whom, where, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Membership {
    /// The group's chat id.
    pub(super) chat: i64,
    /// The member's user id.
    pub(super) user: i64,
    /// Joined (`true`) or left.
    pub(super) joined: bool,
}

/// Events of a message: a member's text, or joins and leaves from service
/// messages. `role` looks up a sender's role in a group. Channels and
/// other chat kinds give none.
pub(super) fn message_events(
    adapter: &AdapterId,
    m: &TgMessage,
    role: impl Fn(i64, i64) -> Role,
) -> Vec<(Event, Option<Membership>)> {
    if !matches!(
        m.chat.kind,
        ChatKind::Private | ChatKind::Group | ChatKind::Supergroup
    ) {
        return Vec::new();
    }
    let chat = chat(adapter, &m.chat);
    let at = at(m.date);
    let member_event = |user: &User, joined: bool| {
        let member = user.sender(role(m.chat.id, user.id));
        let kind = if joined {
            EventKind::Join {
                chat: chat.clone(),
                member,
            }
        } else {
            EventKind::Leave {
                chat: chat.clone(),
                member,
            }
        };
        (
            Event { at, kind },
            Some(Membership {
                chat: m.chat.id,
                user: user.id,
                joined,
            }),
        )
    };
    if chat.group.is_some() {
        if let Some(users) = &m.new_chat_members {
            return users.iter().map(|u| member_event(u, true)).collect();
        }
        if let Some(user) = &m.left_chat_member {
            return vec![member_event(user, false)];
        }
    }
    let (Some(from), Some(text)) = (&m.from, m.text.as_ref().or(m.caption.as_ref())) else {
        return Vec::new();
    };
    let sender = match &m.sender_chat {
        // An anonymous administrator writes as the group itself.
        Some(c) if c.id == m.chat.id => Sender {
            id: c.id.to_string().into(),
            name: c.title.clone().unwrap_or_else(|| "admin".into()),
            role: Role::Admin,
            is_bot: false,
        },
        // A channel (linked-channel forwards, users posting as a channel):
        // not a member plugins should answer.
        Some(c) => Sender {
            id: c.id.to_string().into(),
            name: c.title.clone().unwrap_or_else(|| c.id.to_string()),
            role: Role::Member,
            is_bot: true,
        },
        None if chat.group.is_some() => from.sender(role(m.chat.id, from.id)),
        None => from.sender(Role::Member),
    };
    vec![(
        Event {
            at,
            kind: EventKind::Message {
                chat,
                sender,
                message: Message {
                    id: MessageId(m.message_id.to_string()),
                    text: text.clone(),
                    reply_to: m
                        .reply_to_message
                        .as_ref()
                        .map(|r| MessageId(r.message_id.to_string())),
                },
            },
        },
        None,
    )]
}

/// The join or leave a `chat_member` update stands for, if any (role
/// changes of present members are no event).
pub(super) fn member_event(adapter: &AdapterId, u: &ChatMemberUpdated) -> Option<(Event, Membership)> {
    if !is_group(u.chat.kind) {
        return None;
    }
    let (was, is) = (u.old_chat_member.present(), u.new_chat_member.present());
    if was == is {
        return None;
    }
    let chat = chat(adapter, &u.chat);
    let member = u.new_chat_member.user.sender(u.new_chat_member.role());
    let kind = if is {
        EventKind::Join { chat, member }
    } else {
        EventKind::Leave { chat, member }
    };
    Some((
        Event { at: at(u.date), kind },
        Membership {
            chat: u.chat.id,
            user: u.new_chat_member.user.id,
            joined: is,
        },
    ))
}

/// A chat id for the API: numeric ids as numbers, `@channel` names as text.
pub(super) fn chat_id(id: &str) -> Value {
    id.parse::<i64>().map_or_else(|_| json!(id), |n| json!(n))
}

fn user_id(id: &str) -> Value {
    id.parse::<i64>().map_or_else(|_| json!(id), |n| json!(n))
}

/// The shortest restriction Telegram honours: shorter (or over 366 days)
/// counts as forever.
const MIN_RESTRICT_SECS: u64 = 30;

/// One Bot API call.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Call {
    /// The method.
    pub(super) method: &'static str,
    /// Its parameters.
    pub(super) body: Value,
}

fn call(method: &'static str, body: Value) -> Call {
    Call { method, body }
}

/// Telegram's longest message is 4096 UTF-16 units; chunks are cut in
/// characters well below it.
const MAX_MESSAGE_CHARS: usize = 4000;

/// sendMessage calls for `text`, cut into chunks Telegram accepts (at a
/// line break where one is near); only the first quotes `reply_to`.
fn send(chat_id: Value, text: &str, reply_to: Option<Value>) -> Vec<Call> {
    split(text, MAX_MESSAGE_CHARS)
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut body = json!({"chat_id": chat_id, "text": chunk});
            if let (0, Some(id)) = (i, &reply_to) {
                body["reply_parameters"] = json!({"message_id": id, "allow_sending_without_reply": true});
            }
            call("sendMessage", body)
        })
        .collect()
}

/// The calls that carry out `action` at `now` (a kick is a ban and an
/// unban), with group ids already mapped to where the group lives now.
pub(super) fn calls(action: &Action, now: DateTime<Utc>, chat: impl Fn(&str) -> Value) -> Vec<Call> {
    let no_permissions = json!({
        "can_send_messages": false, "can_send_audios": false, "can_send_documents": false,
        "can_send_photos": false, "can_send_videos": false, "can_send_video_notes": false,
        "can_send_voice_notes": false, "can_send_polls": false, "can_send_other_messages": false,
        "can_add_web_page_previews": false,
    });
    let member_permissions = json!({
        "can_send_messages": true, "can_send_audios": true, "can_send_documents": true,
        "can_send_photos": true, "can_send_videos": true, "can_send_video_notes": true,
        "can_send_voice_notes": true, "can_send_polls": true, "can_send_other_messages": true,
        "can_add_web_page_previews": true,
    });
    match action {
        Action::Send {
            to: Target::Group(g),
            text,
        } => send(chat(g.as_str()), text, None),
        Action::Send {
            to: Target::User(u),
            text,
        } => send(user_id(u.as_str()), text, None),
        Action::Reply {
            group,
            reply_to,
            text,
        } => send(chat(group.as_str()), text, Some(user_id(reply_to.as_str()))),
        Action::Delete { group, message } => vec![call(
            "deleteMessage",
            json!({"chat_id": chat(group.as_str()), "message_id": user_id(message.as_str())}),
        )],
        Action::Mute { group, user, seconds } => {
            let until = now.timestamp() + (*seconds).max(MIN_RESTRICT_SECS) as i64;
            vec![call(
                "restrictChatMember",
                json!({
                    "chat_id": chat(group.as_str()),
                    "user_id": user_id(user.as_str()),
                    "permissions": no_permissions,
                    "until_date": until,
                }),
            )]
        }
        Action::Unmute { group, user } => vec![call(
            "restrictChatMember",
            json!({
                "chat_id": chat(group.as_str()),
                "user_id": user_id(user.as_str()),
                "permissions": member_permissions,
            }),
        )],
        Action::Kick { group, user } => vec![
            call(
                "banChatMember",
                json!({"chat_id": chat(group.as_str()), "user_id": user_id(user.as_str())}),
            ),
            call(
                "unbanChatMember",
                json!({"chat_id": chat(group.as_str()), "user_id": user_id(user.as_str()), "only_if_banned": true}),
            ),
        ],
        Action::Ban { group, user } => vec![call(
            "banChatMember",
            json!({"chat_id": chat(group.as_str()), "user_id": user_id(user.as_str())}),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter() -> AdapterId {
        AdapterId::from("tg")
    }

    fn update(v: Value) -> Update {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_group_text_reply_becomes_a_message_event_with_role_and_bot_flag() {
        let u = update(json!({"update_id": 5, "message": {
            "message_id": 12, "date": 1700000000,
            "chat": {"id": -1001, "type": "supergroup", "title": "G"},
            "from": {"id": 42, "is_bot": true, "first_name": "Ann", "last_name": "Lee"},
            "text": "hello",
            "reply_to_message": {"message_id": 7, "date": 1, "chat": {"id": -1001, "type": "supergroup"}}
        }}));
        let events = message_events(&adapter(), u.message.as_ref().unwrap(), |c, u| {
            assert_eq!((c, u), (-1001, 42));
            Role::Admin
        });
        let (event, membership) = &events[0];
        assert!(membership.is_none());
        let EventKind::Message {
            chat,
            sender,
            message,
        } = &event.kind
        else {
            panic!("{event:?}")
        };
        assert_eq!(chat.group, Some(GroupId::from("-1001")));
        assert_eq!(sender.name, "Ann Lee");
        assert!(sender.is_bot);
        assert_eq!(sender.role, Role::Admin);
        assert_eq!(message.id, MessageId::from("12"));
        assert_eq!(message.reply_to, Some(MessageId::from("7")));
        assert_eq!(event.at.timestamp(), 1700000000);
    }

    #[test]
    fn private_messages_have_no_group_and_channels_give_nothing() {
        let private = update(json!({"update_id": 1, "message": {"message_id": 1, "date": 1,
            "chat": {"id": 42, "type": "private"}, "from": {"id": 42, "is_bot": false, "first_name": "A"},
            "text": "hi"}}));
        let events = message_events(&adapter(), private.message.as_ref().unwrap(), |_, _| Role::Owner);
        assert_eq!(events[0].0.chat().unwrap().group, None);
        assert_eq!(events[0].0.sender().unwrap().role, Role::Member);
        let channel = update(json!({"update_id": 2, "message": {"message_id": 1, "date": 1,
            "chat": {"id": -100, "type": "channel"}, "text": "post"}}));
        assert!(
            message_events(&adapter(), channel.message.as_ref().unwrap(), |_, _| Role::Member).is_empty()
        );
    }

    #[test]
    fn anonymous_admins_are_admins_and_channels_are_not_members() {
        let anonymous = update(json!({"update_id": 1, "message": {"message_id": 1, "date": 1,
            "chat": {"id": -100, "type": "supergroup", "title": "G"},
            "from": {"id": 1087968824, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"},
            "sender_chat": {"id": -100, "type": "supergroup", "title": "G"}, "text": "/coupons"}}));
        let events = message_events(&adapter(), anonymous.message.as_ref().unwrap(), |_, _| {
            Role::Member
        });
        let sender = events[0].0.sender().unwrap();
        assert_eq!((sender.role, sender.is_bot), (Role::Admin, false));
        let channel = update(json!({"update_id": 2, "message": {"message_id": 2, "date": 1,
            "chat": {"id": -100, "type": "supergroup"},
            "from": {"id": 136817688, "is_bot": true, "first_name": "Channel"},
            "sender_chat": {"id": -200, "type": "channel", "title": "News"}, "text": "post"}}));
        let events = message_events(&adapter(), channel.message.as_ref().unwrap(), |_, _| Role::Admin);
        let sender = events[0].0.sender().unwrap();
        assert_eq!(
            (sender.name.as_str(), sender.role, sender.is_bot),
            ("News", Role::Member, true)
        );
    }

    #[test]
    fn service_messages_give_joins_and_leaves() {
        let join = update(json!({"update_id": 1, "message": {"message_id": 3, "date": 1,
            "chat": {"id": -5, "type": "group"}, "from": {"id": 1, "first_name": "A"},
            "new_chat_members": [{"id": 8, "first_name": "B"}, {"id": 9, "first_name": "", "username": "cc"}]}}));
        let events = message_events(&adapter(), join.message.as_ref().unwrap(), |_, _| Role::Member);
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[1].0.kind, EventKind::Join { member, .. } if member.name == "cc"));
        let leave = update(json!({"update_id": 1, "message": {"message_id": 3, "date": 1,
            "chat": {"id": -5, "type": "group"}, "left_chat_member": {"id": 8, "first_name": "B"}}}));
        let events = message_events(&adapter(), leave.message.as_ref().unwrap(), |_, _| Role::Member);
        assert!(matches!(&events[0].0.kind, EventKind::Leave { .. }));
        assert_eq!(
            events[0].1,
            Some(Membership {
                chat: -5,
                user: 8,
                joined: false
            })
        );
    }

    #[test]
    fn chat_member_updates_give_joins_leaves_and_nothing_for_promotions() {
        let change = |old: &str, new: &str| {
            update(json!({"update_id": 1, "chat_member": {
                "chat": {"id": -7, "type": "supergroup"}, "date": 2,
                "from": {"id": 1, "first_name": "A"},
                "old_chat_member": {"status": old, "user": {"id": 8, "first_name": "B"}},
                "new_chat_member": {"status": new, "user": {"id": 8, "first_name": "B"}}}}))
            .chat_member
            .unwrap()
        };
        let (join, _) = member_event(&adapter(), &change("left", "member")).unwrap();
        assert!(matches!(join.kind, EventKind::Join { .. }));
        let (leave, m) = member_event(&adapter(), &change("member", "kicked")).unwrap();
        assert!(matches!(leave.kind, EventKind::Leave { .. }));
        assert!(!m.joined);
        assert!(member_event(&adapter(), &change("member", "administrator")).is_none());
    }

    #[test]
    fn long_texts_are_sent_in_chunks_and_only_the_first_quotes() {
        let reply = Action::Reply {
            group: "-1".into(),
            reply_to: "9".into(),
            text: "x".repeat(MAX_MESSAGE_CHARS + 1),
        };
        let c = calls(&reply, DateTime::UNIX_EPOCH, chat_id);
        assert_eq!(c.len(), 2);
        assert!(c[0].body.get("reply_parameters").is_some());
        assert!(c[1].body.get("reply_parameters").is_none());
        assert_eq!(c[1].body["text"], json!("x"));
    }

    #[test]
    fn actions_become_bot_api_calls() {
        let now = DateTime::from_timestamp(1000, 0).unwrap();
        let map = |g: &str| if g == "-1" { json!(-1002) } else { chat_id(g) };
        let reply = Action::Reply {
            group: "-1".into(),
            reply_to: "9".into(),
            text: "ok".into(),
        };
        let c = calls(&reply, now, map);
        assert_eq!(c[0].method, "sendMessage");
        assert_eq!(c[0].body["chat_id"], json!(-1002));
        assert_eq!(c[0].body["reply_parameters"]["message_id"], json!(9));
        let mute = Action::Mute {
            group: "-5".into(),
            user: "8".into(),
            seconds: 10,
        };
        let c = calls(&mute, now, map);
        assert_eq!(c[0].method, "restrictChatMember");
        assert_eq!(c[0].body["until_date"], json!(1030));
        assert_eq!(c[0].body["permissions"]["can_send_messages"], json!(false));
        let kick = Action::Kick {
            group: "-5".into(),
            user: "8".into(),
        };
        let methods: Vec<_> = calls(&kick, now, map).iter().map(|c| c.method).collect();
        assert_eq!(methods, ["banChatMember", "unbanChatMember"]);
        let dm = Action::Send {
            to: Target::User("42".into()),
            text: "code".into(),
        };
        assert_eq!(calls(&dm, now, map)[0].body["chat_id"], json!(42));
    }
}
