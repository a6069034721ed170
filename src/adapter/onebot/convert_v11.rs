//! Conversion between OneBot v11 frames and qunbot's [`Event`]s and
//! [`Action`]s. Pure: no I/O, so every case is unit-tested here. The same
//! shapes travel over WebSockets and HTTP.
//!
//! Events are read from `serde_json::Value`s (implementations differ in
//! which fields they add); messages come as a segment array or as a string
//! with CQ codes, and both give the text and the `reply` segment's id.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Call;
use super::convert::{field_id, membership, segments_text, text_segment};
use crate::adapter::SendError;
use crate::event::{
    Action, AdapterId, Chat, Event, EventKind, GroupId, Message, MessageId, Role, Sender, Target,
};

/// A numeric id as OneBot wants it (a number), or the string if it is not
/// one (some implementations use string ids).
fn id(value: &str) -> Value {
    value
        .trim()
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(value))
}

/// The action frame that carries out `action`.
pub(super) fn call(action: &Action) -> Call {
    match action {
        Action::Send {
            to: Target::Group(group),
            text,
        } => Call {
            action: "send_group_msg",
            params: json!({"group_id": id(&group.0), "message": [text_segment(text)]}),
        },
        Action::Send {
            to: Target::User(user),
            text,
        } => Call {
            action: "send_private_msg",
            params: json!({"user_id": id(&user.0), "message": [text_segment(text)]}),
        },
        Action::Reply {
            group,
            reply_to,
            text,
        } => Call {
            action: "send_group_msg",
            params: json!({
                "group_id": id(&group.0),
                "message": [
                    {"type": "reply", "data": {"id": reply_to.0}},
                    text_segment(text),
                ],
            }),
        },
        Action::Delete { message, .. } => Call {
            action: "delete_msg",
            params: json!({"message_id": id(&message.0)}),
        },
        Action::Mute { group, user, seconds } => Call {
            action: "set_group_ban",
            // QQ needs at least a minute and at most 30 days.
            params: json!({"group_id": id(&group.0), "user_id": id(&user.0), "duration": (*seconds).clamp(60, 30 * 86_400)}),
        },
        Action::Unmute { group, user } => Call {
            action: "set_group_ban",
            params: json!({"group_id": id(&group.0), "user_id": id(&user.0), "duration": 0}),
        },
        Action::Kick { group, user } => Call {
            action: "set_group_kick",
            params: json!({"group_id": id(&group.0), "user_id": id(&user.0), "reject_add_request": false}),
        },
        Action::Ban { group, user } => Call {
            action: "set_group_kick",
            params: json!({"group_id": id(&group.0), "user_id": id(&user.0), "reject_add_request": true}),
        },
    }
}

/// What an action's response means: `ok` and `async` succeed; retcode 1429
/// (an HTTP-style "too many requests") waits; bad requests, refused tokens,
/// missing permissions, unknown actions and OneBot's "bad params" (100) and
/// "credentials expired" (104) are permanent; anything else may pass.
pub(super) fn outcome(response: &Value) -> Result<(), SendError> {
    let status = response["status"].as_str().unwrap_or_default();
    let retcode = response["retcode"].as_i64().unwrap_or(-1);
    if matches!(status, "ok" | "async") || (status.is_empty() && retcode == 0) {
        return Ok(());
    }
    let words = response["wording"]
        .as_str()
        .or_else(|| response["message"].as_str())
        .or_else(|| response["msg"].as_str())
        .unwrap_or("failed");
    let text = format!("OneBot retcode {retcode}: {words}");
    match retcode {
        1429 => Err(SendError::RetryAfter(Duration::from_secs(1))),
        100 | 104 | 1400 | 1401 | 1403 | 1404 => Err(SendError::Permanent(text)),
        _ => Err(SendError::Transient(text)),
    }
}

/// The event's time (`time`, Unix seconds), or now.
fn time(frame: &Value) -> DateTime<Utc> {
    frame["time"]
        .as_i64()
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .unwrap_or_else(Utc::now)
}

/// The text and the answered message's id of a `message` field.
pub(super) fn message_text(message: &Value) -> (String, Option<MessageId>) {
    match message {
        Value::String(s) => cq_text(s),
        Value::Array(segments) => segments_text(segments, "id"),
        _ => (String::new(), None),
    }
}

/// A CQ-coded string's text (codes removed, escapes undone) and reply id.
fn cq_text(raw: &str) -> (String, Option<MessageId>) {
    let mut text = String::new();
    let mut reply = None;
    let mut rest = raw;
    while let Some(start) = rest.find("[CQ:") {
        text.push_str(&unescape(&rest[..start]));
        let Some(end) = rest[start..].find(']') else {
            text.push_str(&unescape(&rest[start..]));
            rest = "";
            break;
        };
        let code = &rest[start + 4..start + end];
        let mut parts = code.split(',');
        if parts.next() == Some("reply") {
            for part in parts {
                if let Some(v) = part.strip_prefix("id=") {
                    reply = Some(MessageId(unescape(v)));
                }
            }
        }
        rest = &rest[start + end + 1..];
    }
    text.push_str(&unescape(rest));
    (text, reply)
}

/// Undo CQ escapes.
fn unescape(s: &str) -> String {
    s.replace("&#91;", "[")
        .replace("&#93;", "]")
        .replace("&#44;", ",")
        .replace("&amp;", "&")
}

/// A role from `sender.role`.
fn role(value: &Value) -> Role {
    match value.as_str() {
        Some("owner") => Role::Owner,
        Some("admin") => Role::Admin,
        _ => Role::Member,
    }
}

/// The event a pushed frame stands for, if qunbot reads it: group and
/// private messages (the account's own flagged as a bot's), members
/// joining and leaving groups. Meta events, `message_sent` and other
/// notices give none.
pub(super) fn event(adapter: &AdapterId, frame: &Value) -> Option<Event> {
    let at = time(frame);
    let self_id = field_id(&frame["self_id"]);
    match frame["post_type"].as_str()? {
        "message" => {
            let user = field_id(&frame["user_id"])?;
            let group = match frame["message_type"].as_str()? {
                "group" => Some(GroupId(field_id(&frame["group_id"])?)),
                "private" => None,
                _ => return None,
            };
            let sender = &frame["sender"];
            let name = sender["card"]
                .as_str()
                .filter(|s| !s.is_empty())
                .or_else(|| sender["nickname"].as_str())
                .unwrap_or(&user)
                .to_owned();
            let (text, reply_to) = message_text(&frame["message"]);
            let is_bot = self_id.as_deref() == Some(user.as_str());
            Some(Event {
                at,
                kind: EventKind::Message {
                    chat: Chat {
                        adapter: adapter.clone(),
                        group: group.clone(),
                    },
                    sender: Sender {
                        id: user.clone().into(),
                        name,
                        role: if group.is_some() {
                            role(&sender["role"])
                        } else {
                            Role::Member
                        },
                        is_bot,
                    },
                    message: Message {
                        id: MessageId(field_id(&frame["message_id"])?),
                        text,
                        reply_to,
                    },
                },
            })
        }
        "notice" => {
            let notice = frame["notice_type"].as_str()?;
            if !matches!(notice, "group_increase" | "group_decrease") {
                return None;
            }
            Some(membership(
                at,
                adapter,
                field_id(&frame["group_id"])?,
                field_id(&frame["user_id"])?,
                self_id.as_deref(),
                notice == "group_increase",
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qq() -> AdapterId {
        "qq".into()
    }

    #[test]
    fn group_messages_with_segments_give_text_reply_and_role() {
        let frame = json!({
            "time": 1_700_000_000, "self_id": 10, "post_type": "message",
            "message_type": "group", "sub_type": "normal", "message_id": 55,
            "group_id": 123, "user_id": 42,
            "message": [{"type": "reply", "data": {"id": "54"}}, {"type": "at", "data": {"qq": "10"}},
                        {"type": "text", "data": {"text": " how to claim?"}}],
            "sender": {"user_id": 42, "nickname": "Ann", "card": "", "role": "admin"}
        });
        let event = event(&qq(), &frame).unwrap();
        let (chat, sender, message) = event.member_message().unwrap();
        assert_eq!(chat.group, Some(GroupId("123".into())));
        assert_eq!(sender.role, Role::Admin);
        assert_eq!(sender.name, "Ann");
        assert_eq!(message.text, " how to claim?");
        assert_eq!(message.reply_to, Some(MessageId("54".into())));
        assert_eq!(message.id, MessageId("55".into()));
    }

    #[test]
    fn string_messages_lose_cq_codes_and_keep_the_reply() {
        let (text, reply) = message_text(&json!("[CQ:reply,id=-7][CQ:at,qq=1] a&#91;b&#93;&amp;c"));
        assert_eq!(text, " a[b]&c");
        assert_eq!(reply, Some(MessageId("-7".into())));
    }

    #[test]
    fn own_messages_are_flagged_and_private_ones_have_no_group() {
        let frame = json!({"self_id": 10, "post_type": "message", "message_type": "private",
            "message_id": 1, "user_id": 10, "message": "hi", "sender": {"nickname": "me", "role": "owner"}});
        let event = event(&qq(), &frame).unwrap();
        assert!(event.member_message().is_none());
        assert_eq!(event.chat().unwrap().group, None);
        assert_eq!(event.sender().unwrap().role, Role::Member);
    }

    #[test]
    fn joins_and_leaves_come_from_notices_others_are_ignored() {
        let join = json!({"post_type": "notice", "notice_type": "group_increase", "group_id": 1, "user_id": 2, "self_id": 10});
        assert!(matches!(
            event(&qq(), &join).unwrap().kind,
            EventKind::Join { .. }
        ));
        let leave =
            json!({"post_type": "notice", "notice_type": "group_decrease", "group_id": 1, "user_id": 2});
        assert!(matches!(
            event(&qq(), &leave).unwrap().kind,
            EventKind::Leave { .. }
        ));
        let other =
            json!({"post_type": "notice", "notice_type": "group_recall", "group_id": 1, "user_id": 2});
        assert!(event(&qq(), &other).is_none());
        let meta = json!({"post_type": "meta_event", "meta_event_type": "heartbeat"});
        assert!(event(&qq(), &meta).is_none());
    }

    #[test]
    fn actions_become_frames() {
        let reply = call(&Action::Reply {
            group: GroupId("123".into()),
            reply_to: MessageId("55".into()),
            text: "hi".into(),
        });
        assert_eq!(reply.action, "send_group_msg");
        assert_eq!(
            reply.params,
            json!({"group_id": 123, "message": [{"type": "reply", "data": {"id": "55"}}, {"type": "text", "data": {"text": "hi"}}]})
        );
        let dm = call(&Action::Send {
            to: Target::User("42".into()),
            text: "code".into(),
        });
        assert_eq!(dm.action, "send_private_msg");
        assert_eq!(dm.params["user_id"], json!(42));
        let unmute = call(&Action::Unmute {
            group: GroupId("1".into()),
            user: "2".into(),
        });
        assert_eq!(
            (unmute.action, unmute.params["duration"].clone()),
            ("set_group_ban", json!(0))
        );
        let ban = call(&Action::Ban {
            group: GroupId("1".into()),
            user: "2".into(),
        });
        assert_eq!(
            (ban.action, ban.params["reject_add_request"].clone()),
            ("set_group_kick", json!(true))
        );
        let delete = call(&Action::Delete {
            group: GroupId("1".into()),
            message: MessageId("9".into()),
        });
        assert_eq!(
            (delete.action, delete.params),
            ("delete_msg", json!({"message_id": 9}))
        );
    }

    #[test]
    fn responses_map_to_what_the_outbox_does() {
        assert!(outcome(&json!({"status": "ok", "retcode": 0})).is_ok());
        assert!(outcome(&json!({"status": "async", "retcode": 1})).is_ok());
        assert!(matches!(
            outcome(&json!({"status": "failed", "retcode": 1403})),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            outcome(&json!({"status": "failed", "retcode": 100})),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            outcome(&json!({"status": "failed", "retcode": 1429})),
            Err(SendError::RetryAfter(_))
        ));
        assert!(matches!(
            outcome(&json!({"status": "failed", "retcode": 201})),
            Err(SendError::Transient(_))
        ));
    }
}
