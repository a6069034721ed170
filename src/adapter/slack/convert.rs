//! Conversion between Slack's Events API payloads and qunbot's [`Event`]s,
//! and from [`Action`]s to Web API calls. Pure: no I/O, so every case is
//! unit-tested here.
//!
//! Slack's text is mrkdwn with `&`, `<` and `>` escaped and mentions and
//! links in angle brackets (`<@U123>`, `<#C123|general>`,
//! `<https://x.example|x.example>`); incoming text is turned back into
//! plain text (links as their URL, so spam filters see it), outgoing text is
//! escaped.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::event::{
    Action, AdapterId, Chat, Event, EventKind, GroupId, Message, MessageId, Role, Sender, Target,
};

/// A request body Slack posts (Events API) or a Socket Mode envelope's
/// `payload`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Payload {
    /// The Events API's handshake: answer the challenge.
    UrlVerification {
        /// The value to echo.
        challenge: String,
    },
    /// An event.
    EventCallback {
        /// Unique per event across retries: the dedupe key.
        event_id: String,
        /// The event itself.
        event: SlackEvent,
    },
    /// Anything else (`app_rate_limited`, …): acknowledged, not handled.
    #[serde(other)]
    Other,
}

/// The events qunbot reads (the app subscribes to `message.channels`,
/// `message.groups`, `message.im`, `message.mpim`, `member_joined_channel`,
/// `member_left_channel`).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum SlackEvent {
    /// A message posted (or changed, deleted: see `subtype`).
    Message(MessageEvent),
    /// A user joined a channel.
    MemberJoinedChannel(Membership),
    /// A user left a channel.
    MemberLeftChannel(Membership),
    /// Events qunbot does not read.
    #[serde(other)]
    Other,
}

/// A `message` event.
#[derive(Debug, Deserialize)]
pub(super) struct MessageEvent {
    /// The conversation (`C…` channel, `G…` private, `D…` direct).
    pub(super) channel: String,
    /// `channel`, `group`, `im` or `mpim`.
    #[serde(default)]
    pub(super) channel_type: Option<String>,
    /// The author; absent on some bot messages.
    #[serde(default)]
    pub(super) user: Option<String>,
    /// The mrkdwn text.
    #[serde(default)]
    pub(super) text: String,
    /// The message's timestamp: its id within the channel.
    pub(super) ts: String,
    /// The thread's parent, for messages in a thread.
    #[serde(default)]
    pub(super) thread_ts: Option<String>,
    /// Set for everything but plain messages (`bot_message`,
    /// `message_changed`, `channel_join`, …).
    #[serde(default)]
    pub(super) subtype: Option<String>,
    /// Set on messages posted by apps.
    #[serde(default)]
    pub(super) bot_id: Option<String>,
}

/// A `member_joined_channel` or `member_left_channel` event.
#[derive(Debug, Deserialize)]
pub(super) struct Membership {
    /// Who joined or left.
    pub(super) user: String,
    /// The channel.
    pub(super) channel: String,
}

/// What qunbot knows about a user (`users.info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct UserInfo {
    /// The display name (or real name, or handle).
    pub(super) name: String,
    /// Workspace owner → owner, workspace admin → admin.
    pub(super) role: Role,
    /// A bot user.
    pub(super) is_bot: bool,
}

impl UserInfo {
    /// From a `users.info` answer's `user`.
    pub(super) fn from_user(user: &serde_json::Value) -> Option<UserInfo> {
        let id = user["id"].as_str()?;
        let profile = &user["profile"];
        let name = [
            &profile["display_name"],
            &profile["real_name"],
            &user["real_name"],
            &user["name"],
        ]
        .into_iter()
        .filter_map(|v| v.as_str())
        .find(|s| !s.is_empty())
        .unwrap_or(id)
        .to_owned();
        let flag = |key: &str| user[key].as_bool().unwrap_or(false);
        let role = if flag("is_owner") || flag("is_primary_owner") {
            Role::Owner
        } else if flag("is_admin") {
            Role::Admin
        } else {
            Role::Member
        };
        Some(UserInfo {
            name,
            role,
            is_bot: flag("is_bot"),
        })
    }
}

/// Message subtypes that are a member writing (others are edits,
/// deletions, joins and bots, which qunbot skips).
const MEMBER_SUBTYPES: [&str; 3] = ["thread_broadcast", "file_share", "me_message"];

impl SlackEvent {
    /// The user the event is about, if qunbot reads it (for the role
    /// lookup before [`event`]).
    pub(super) fn user(&self) -> Option<&str> {
        match self {
            SlackEvent::Message(m) if m.is_member_writing() => m.user.as_deref(),
            SlackEvent::MemberJoinedChannel(m) | SlackEvent::MemberLeftChannel(m) => Some(&m.user),
            _ => None,
        }
    }
}

impl MessageEvent {
    /// A person's (or another app's) new message, not an edit, deletion,
    /// join notice or `bot_message`.
    fn is_member_writing(&self) -> bool {
        self.subtype
            .as_deref()
            .is_none_or(|s| MEMBER_SUBTYPES.contains(&s))
            && self.user.is_some()
    }

    /// Whether the conversation is a direct message with the bot.
    fn is_direct(&self) -> bool {
        match self.channel_type.as_deref() {
            Some(t) => t == "im",
            None => self.channel.starts_with('D'),
        }
    }
}

/// A message `ts` (`"1700000000.000100"`) as a time.
fn time(ts: &str) -> Option<DateTime<Utc>> {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    let secs = secs.parse::<i64>().ok()?;
    let micros = format!("{micros:0<6}").get(..6)?.parse::<u32>().ok()?;
    DateTime::from_timestamp(secs, micros * 1000)
}

/// The event `ev` stands for, if qunbot reads it: members' messages in
/// channels and direct messages, joins and leaves. `own` is the bot's user
/// id (its own messages give none), `who` the author's `users.info` if it
/// could be had, `now` the time for events without one.
pub(super) fn event(
    adapter: &AdapterId,
    ev: &SlackEvent,
    own: Option<&str>,
    who: Option<&UserInfo>,
    now: DateTime<Utc>,
) -> Option<Event> {
    let user = ev.user()?;
    let sender = Sender {
        id: user.into(),
        name: who.map_or_else(|| user.to_owned(), |w| w.name.clone()),
        role: who.map_or(Role::Member, |w| w.role),
        is_bot: own == Some(user) || who.is_some_and(|w| w.is_bot),
    };
    match ev {
        SlackEvent::Message(m) => {
            if own == Some(user) {
                return None;
            }
            let direct = m.is_direct();
            Some(Event {
                at: time(&m.ts).unwrap_or(now),
                kind: EventKind::Message {
                    chat: Chat {
                        adapter: adapter.clone(),
                        group: (!direct).then(|| GroupId(m.channel.clone())),
                    },
                    sender: Sender {
                        role: if direct { Role::Member } else { sender.role },
                        is_bot: sender.is_bot || m.bot_id.is_some(),
                        ..sender
                    },
                    message: Message {
                        id: MessageId(m.ts.clone()),
                        text: plain_text(&m.text),
                        reply_to: m
                            .thread_ts
                            .as_ref()
                            .filter(|t| **t != m.ts)
                            .map(|t| MessageId(t.clone())),
                    },
                },
            })
        }
        SlackEvent::MemberJoinedChannel(m) | SlackEvent::MemberLeftChannel(m) => {
            let chat = Chat {
                adapter: adapter.clone(),
                group: Some(GroupId(m.channel.clone())),
            };
            let kind = if matches!(ev, SlackEvent::MemberJoinedChannel(_)) {
                EventKind::Join { chat, member: sender }
            } else {
                EventKind::Leave { chat, member: sender }
            };
            Some(Event { at: now, kind })
        }
        SlackEvent::Other => None,
    }
}

/// mrkdwn → plain text: `<@U1>` → `@U1`, `<#C1|general>` → `#general`,
/// `<https://x|label>` → `https://x`, `<!here>` → `@here`, entities undone.
pub(super) fn plain_text(mrkdwn: &str) -> String {
    let mut out = String::with_capacity(mrkdwn.len());
    let mut rest = mrkdwn;
    while let Some(start) = rest.find('<') {
        out.push_str(&unescape(&rest[..start]));
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let inner = &rest[start + 1..start + len];
        let (target, label) = inner.split_once('|').unwrap_or((inner, ""));
        match target.chars().next() {
            Some('@') => out.push_str(target),
            Some('#') => {
                out.push('#');
                out.push_str(if label.is_empty() { &target[1..] } else { label });
            }
            Some('!') => {
                out.push('@');
                out.push_str(target[1..].split('^').next().unwrap_or_default());
            }
            _ => out.push_str(&unescape(target)),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(&unescape(rest));
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Plain text → mrkdwn that shows it as written (`&`, `<`, `>` escaped).
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Which token a call uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Token {
    /// The bot token.
    Bot,
    /// The admin's user token (deletes of members' messages).
    User,
}

/// One Web API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Call {
    /// The method, such as `chat.postMessage`.
    pub(super) method: &'static str,
    /// The token it needs.
    pub(super) token: Token,
    /// Its form arguments.
    pub(super) args: Vec<(&'static str, String)>,
}

/// The call that carries out `action`, with `channel` as the conversation
/// for sends (a direct message's is opened first, by the caller) and
/// `thread` the thread to answer in for replies. `None` for actions Slack
/// has no call for (mute, unmute, ban).
pub(super) fn call(action: &Action, channel: Option<&str>, thread: Option<&str>) -> Option<Call> {
    let post = |channel: &str, text: &str| Call {
        method: "chat.postMessage",
        token: Token::Bot,
        args: vec![("channel", channel.to_owned()), ("text", escape(text))],
    };
    match action {
        Action::Send { to, text } => {
            let channel = match to {
                Target::Group(g) => channel.unwrap_or(g.as_str()),
                Target::User(_) => channel?,
            };
            Some(post(channel, text))
        }
        Action::Reply {
            group,
            reply_to,
            text,
        } => {
            let mut call = post(group.as_str(), text);
            call.args
                .push(("thread_ts", thread.unwrap_or(reply_to.as_str()).to_owned()));
            Some(call)
        }
        Action::Delete { group, message } => Some(Call {
            method: "chat.delete",
            token: Token::User,
            args: vec![
                ("channel", group.as_str().to_owned()),
                ("ts", message.as_str().to_owned()),
            ],
        }),
        Action::Kick { group, user } => Some(Call {
            method: "conversations.kick",
            token: Token::Bot,
            args: vec![
                ("channel", group.as_str().to_owned()),
                ("user", user.as_str().to_owned()),
            ],
        }),
        Action::Mute { .. } | Action::Unmute { .. } | Action::Ban { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> Payload {
        serde_json::from_value(value).unwrap()
    }

    fn slack_event(event: serde_json::Value) -> SlackEvent {
        match parse(json!({"type": "event_callback", "event_id": "Ev1", "event": event})) {
            Payload::EventCallback { event, .. } => event,
            other => panic!("{other:?}"),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1, 0).unwrap()
    }

    #[test]
    fn payloads_parse_into_their_kinds() {
        assert!(matches!(
            parse(json!({"type": "url_verification", "token": "t", "challenge": "abc"})),
            Payload::UrlVerification { challenge } if challenge == "abc"
        ));
        assert!(matches!(
            parse(json!({"type": "app_rate_limited", "minute_rate_limited": 1})),
            Payload::Other
        ));
        assert!(matches!(
            slack_event(json!({"type": "reaction_added"})),
            SlackEvent::Other
        ));
    }

    #[test]
    fn channel_messages_give_events_with_thread_and_role() {
        let ev = slack_event(json!({
            "type": "message", "channel": "C1", "channel_type": "channel", "user": "U1",
            "text": "how &amp; when? &lt;3 <https://spam.example/x|spam.example> <@U2>",
            "ts": "1700000000.000200", "thread_ts": "1699999999.000100"
        }));
        let who = UserInfo {
            name: "Ann".into(),
            role: Role::Admin,
            is_bot: false,
        };
        let event = event(&"sl".into(), &ev, Some("UBOT"), Some(&who), now()).unwrap();
        let (chat, sender, message) = event.member_message().unwrap();
        assert_eq!(chat.group, Some(GroupId("C1".into())));
        assert_eq!((sender.name.as_str(), sender.role), ("Ann", Role::Admin));
        assert_eq!(message.id, MessageId("1700000000.000200".into()));
        assert_eq!(message.reply_to, Some(MessageId("1699999999.000100".into())));
        assert_eq!(message.text, "how & when? <3 https://spam.example/x @U2");
        assert_eq!(event.at.timestamp_micros(), 1_700_000_000_000_200);
    }

    #[test]
    fn edits_joins_bots_and_own_messages_give_none_or_a_bot_flag() {
        for subtype in [
            "message_changed",
            "message_deleted",
            "channel_join",
            "bot_message",
        ] {
            let ev = slack_event(
                json!({"type": "message", "subtype": subtype, "channel": "C1", "user": "U1", "text": "x", "ts": "1.0"}),
            );
            assert!(event(&"sl".into(), &ev, None, None, now()).is_none(), "{subtype}");
        }
        let own = slack_event(
            json!({"type": "message", "channel": "C1", "user": "UBOT", "text": "x", "ts": "1.0"}),
        );
        assert!(event(&"sl".into(), &own, Some("UBOT"), None, now()).is_none());
        let app = slack_event(
            json!({"type": "message", "channel": "C1", "user": "U9", "bot_id": "B9", "text": "x", "ts": "1.0"}),
        );
        let app = event(&"sl".into(), &app, Some("UBOT"), None, now()).unwrap();
        assert!(app.sender().unwrap().is_bot);
        let dm = slack_event(
            json!({"type": "message", "channel": "D1", "channel_type": "im", "user": "U1", "text": "hi", "ts": "1.0"}),
        );
        let dm = event(&"sl".into(), &dm, None, None, now()).unwrap();
        assert_eq!(dm.chat().unwrap().group, None);
    }

    #[test]
    fn joins_and_leaves_give_membership_events() {
        let ev = slack_event(
            json!({"type": "member_joined_channel", "user": "U1", "channel": "C1", "channel_type": "C", "team": "T1"}),
        );
        let joined = event(&"sl".into(), &ev, None, None, now()).unwrap();
        assert!(
            matches!(&joined.kind, EventKind::Join { chat, member } if chat.group == Some(GroupId("C1".into())) && member.id.as_str() == "U1")
        );
        let ev = slack_event(json!({"type": "member_left_channel", "user": "U1", "channel": "C1"}));
        let left = event(&"sl".into(), &ev, None, None, now()).unwrap();
        assert!(matches!(left.kind, EventKind::Leave { .. }));
    }

    #[test]
    fn users_info_gives_name_and_workspace_role() {
        let owner = UserInfo::from_user(&json!({"id": "U1", "name": "ann", "is_owner": true, "profile": {"display_name": "", "real_name": "Ann A"}})).unwrap();
        assert_eq!((owner.name.as_str(), owner.role), ("Ann A", Role::Owner));
        let admin = UserInfo::from_user(
            &json!({"id": "U2", "name": "bob", "is_admin": true, "profile": {"display_name": "Bobby"}}),
        )
        .unwrap();
        assert_eq!((admin.name.as_str(), admin.role), ("Bobby", Role::Admin));
        let member = UserInfo::from_user(&json!({"id": "U3"})).unwrap();
        assert_eq!((member.name.as_str(), member.role), ("U3", Role::Member));
    }

    #[test]
    fn actions_become_calls() {
        let reply = Action::Reply {
            group: "C1".into(),
            reply_to: "5.0".into(),
            text: "a <b> & c".into(),
        };
        let call = call(&reply, None, None).unwrap();
        assert_eq!(call.method, "chat.postMessage");
        assert_eq!(
            call.args,
            vec![
                ("channel", "C1".to_owned()),
                ("text", "a &lt;b&gt; &amp; c".to_owned()),
                ("thread_ts", "5.0".to_owned())
            ]
        );
        // A reply to a message inside a thread goes to the thread's parent.
        let in_thread = super::call(&reply, None, Some("4.0")).unwrap();
        assert_eq!(in_thread.args[2], ("thread_ts", "4.0".to_owned()));
        let delete = super::call(
            &Action::Delete {
                group: "C1".into(),
                message: "5.0".into(),
            },
            None,
            None,
        )
        .unwrap();
        assert_eq!((delete.method, delete.token), ("chat.delete", Token::User));
        let dm = Action::Send {
            to: Target::User("U1".into()),
            text: "hi".into(),
        };
        assert!(super::call(&dm, None, None).is_none());
        assert_eq!(
            super::call(&dm, Some("D1"), None).unwrap().args[0],
            ("channel", "D1".to_owned())
        );
        let mute = Action::Mute {
            group: "C1".into(),
            user: "U1".into(),
            seconds: 60,
        };
        assert!(super::call(&mute, None, None).is_none());
    }
}
