//! Conversion between OneBot v12 frames and qunbot's [`Event`]s and
//! [`Action`]s. Pure: no I/O, so every case is unit-tested here.
//!
//! v12 differs from v11 in shape, not in meaning: events are
//! `type`/`detail_type`/`sub_type` with string ids and `self: {platform,
//! user_id}`; messages are segment arrays (`text`, `mention`, `reply` with
//! `message_id`) with an `alt_message` text; actions are `send_message`
//! (`detail_type` group or private) and `delete_message`. The core
//! standard has no sender roles and no member management (mute, kick):
//! those stay with the bot's `admins:` and the runtime's fallbacks.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Call;
use super::convert::{field_id, membership, segments_text, text_segment};
use crate::adapter::SendError;
use crate::event::{
    Action, AdapterId, Chat, Event, EventKind, GroupId, Message, MessageId, Role, Sender, Target,
};

/// How long to wait after a `36xxx` ("I Am Tired") answer.
const TIRED_WAIT: Duration = Duration::from_secs(5);

/// The action request that carries out `action`, or why v12 cannot.
pub(super) fn call(action: &Action) -> Result<Call, SendError> {
    let call = match action {
        Action::Send {
            to: Target::Group(group),
            text,
        } => Call {
            action: "send_message",
            params: json!({"detail_type": "group", "group_id": group.0, "message": [text_segment(text)]}),
        },
        Action::Send {
            to: Target::User(user),
            text,
        } => Call {
            action: "send_message",
            params: json!({"detail_type": "private", "user_id": user.0, "message": [text_segment(text)]}),
        },
        Action::Reply {
            group,
            reply_to,
            text,
        } => Call {
            action: "send_message",
            params: json!({
                "detail_type": "group",
                "group_id": group.0,
                "message": [
                    {"type": "reply", "data": {"message_id": reply_to.0}},
                    text_segment(text),
                ],
            }),
        },
        Action::Delete { message, .. } => Call {
            action: "delete_message",
            params: json!({"message_id": message.0}),
        },
        Action::Mute { .. } | Action::Unmute { .. } | Action::Kick { .. } | Action::Ban { .. } => {
            return Err(SendError::Permanent(
                "OneBot v12 has no standard action to mute or remove members".into(),
            ));
        }
    };
    Ok(call)
}

/// What an action response means, by the v12 retcode ranges: `0`
/// succeeds; `1xxxx` (bad request, unsupported action or segment, unknown
/// bot) and `35xxx` (logic errors, such as a message that does not exist)
/// are permanent; `36xxx` ("I Am Tired") waits 5 s; `2xxxx` (handler
/// errors), `31xxx`–`34xxx` (database, filesystem, network, platform) and
/// the implementation-defined `6xxxx`–`9xxxx` may pass and are retried.
pub(super) fn outcome(response: &Value) -> Result<(), SendError> {
    let retcode = response["retcode"].as_i64().unwrap_or(-1);
    if response["status"] == "ok" || (response["status"].is_null() && retcode == 0) {
        return Ok(());
    }
    let words = response["message"]
        .as_str()
        .filter(|m| !m.is_empty())
        .unwrap_or("failed");
    let text = format!("OneBot retcode {retcode}: {words}");
    match retcode {
        10_000..=19_999 | 35_000..=35_999 => Err(SendError::Permanent(text)),
        36_000..=36_999 => Err(SendError::RetryAfter(TIRED_WAIT)),
        _ => Err(SendError::Transient(text)),
    }
}

/// The event's time (`time`, Unix seconds with a fraction), or now.
fn time(frame: &Value) -> DateTime<Utc> {
    frame["time"]
        .as_f64()
        .and_then(|t| DateTime::from_timestamp_millis((t * 1000.0) as i64))
        .unwrap_or_else(Utc::now)
}

/// The text and the answered message's id of a v12 message: the `text`
/// segments (mentions and media dropped) and the `reply` segment, or
/// `alt_message` when there are no segments.
pub(super) fn message_text(frame: &Value) -> (String, Option<MessageId>) {
    let Some(segments) = frame["message"].as_array() else {
        let alt = frame["alt_message"].as_str().unwrap_or_default();
        return (alt.to_owned(), None);
    };
    segments_text(segments, "message_id")
}

/// The bot's own `self.user_id`, if the frame names it.
fn self_id(frame: &Value) -> Option<String> {
    field_id(&frame["self"]["user_id"])
}

/// The event a pushed frame stands for, if qunbot reads it: group and
/// private messages (the bot's own flagged as a bot's), members joining
/// and leaving groups. Meta events (`connect`, `heartbeat`,
/// `status_update`), other notices and requests give none.
pub(super) fn event(adapter: &AdapterId, frame: &Value) -> Option<Event> {
    let at = time(frame);
    let own = self_id(frame);
    let detail = frame["detail_type"].as_str()?;
    match frame["type"].as_str()? {
        "message" => {
            let user = field_id(&frame["user_id"])?;
            let group = match detail {
                "group" => Some(GroupId(field_id(&frame["group_id"])?)),
                "private" => None,
                _ => return None,
            };
            let (text, reply_to) = message_text(frame);
            let is_bot = own.as_deref() == Some(user.as_str());
            // v12 events carry neither names nor roles.
            let name = frame["user_name"].as_str().unwrap_or(&user).to_owned();
            Some(Event {
                at,
                kind: EventKind::Message {
                    chat: Chat {
                        adapter: adapter.clone(),
                        group,
                    },
                    sender: Sender {
                        id: user.into(),
                        name,
                        role: Role::Member,
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
            if !matches!(detail, "group_member_increase" | "group_member_decrease") {
                return None;
            }
            Some(membership(
                at,
                adapter,
                field_id(&frame["group_id"])?,
                field_id(&frame["user_id"])?,
                own.as_deref(),
                detail == "group_member_increase",
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wx() -> AdapterId {
        "wx".into()
    }

    #[test]
    fn group_messages_give_text_reply_and_no_role() {
        let frame = json!({
            "id": "e1", "time": 1_632_847_927.599, "type": "message", "detail_type": "group",
            "sub_type": "", "message_id": "6283", "group_id": "12467", "user_id": "42",
            "self": {"platform": "wechat", "user_id": "wxid_bot"},
            "message": [{"type": "reply", "data": {"message_id": "6282", "user_id": "7"}},
                        {"type": "mention", "data": {"user_id": "wxid_bot"}},
                        {"type": "text", "data": {"text": " how to claim?"}}],
            "alt_message": "[提及] how to claim?"
        });
        let event = event(&wx(), &frame).unwrap();
        assert_eq!(event.at.timestamp_millis(), 1_632_847_927_599);
        let (chat, sender, message) = event.member_message().unwrap();
        assert_eq!(chat.group, Some(GroupId("12467".into())));
        assert_eq!(sender.role, Role::Member);
        assert_eq!(sender.name, "42");
        assert_eq!(message.text, " how to claim?");
        assert_eq!(message.reply_to, Some(MessageId("6282".into())));
        assert_eq!(message.id, MessageId("6283".into()));
    }

    #[test]
    fn own_and_private_messages_and_alt_message() {
        let frame = json!({"type": "message", "detail_type": "private", "message_id": "1",
            "user_id": "wxid_bot", "self": {"platform": "wechat", "user_id": "wxid_bot"},
            "alt_message": "hi"});
        let event = event(&wx(), &frame).unwrap();
        assert!(event.member_message().is_none());
        assert!(event.sender().unwrap().is_bot);
        assert_eq!(event.chat().unwrap().group, None);
    }

    #[test]
    fn member_notices_become_joins_and_leaves_meta_events_nothing() {
        let join = json!({"type": "notice", "detail_type": "group_member_increase", "sub_type": "join",
            "group_id": "1", "user_id": "2", "operator_id": "3"});
        assert!(matches!(
            event(&wx(), &join).unwrap().kind,
            EventKind::Join { .. }
        ));
        let leave = json!({"type": "notice", "detail_type": "group_member_decrease", "sub_type": "leave",
            "group_id": "1", "user_id": "2"});
        assert!(matches!(
            event(&wx(), &leave).unwrap().kind,
            EventKind::Leave { .. }
        ));
        for detail in ["connect", "heartbeat", "status_update"] {
            let meta = json!({"type": "meta", "detail_type": detail, "sub_type": ""});
            assert!(event(&wx(), &meta).is_none());
        }
        let v11 = json!({"post_type": "message", "message_type": "group"});
        assert!(event(&wx(), &v11).is_none());
    }

    #[test]
    fn actions_become_requests_with_string_ids() {
        let reply = call(&Action::Reply {
            group: GroupId("123".into()),
            reply_to: MessageId("55".into()),
            text: "hi".into(),
        })
        .unwrap();
        assert_eq!(reply.action, "send_message");
        assert_eq!(
            reply.params,
            json!({"detail_type": "group", "group_id": "123", "message": [
                {"type": "reply", "data": {"message_id": "55"}}, {"type": "text", "data": {"text": "hi"}}]})
        );
        let dm = call(&Action::Send {
            to: Target::User("42".into()),
            text: "code".into(),
        })
        .unwrap();
        assert_eq!(
            (dm.params["detail_type"].clone(), dm.params["user_id"].clone()),
            (json!("private"), json!("42"))
        );
        let delete = call(&Action::Delete {
            group: GroupId("1".into()),
            message: MessageId("9".into()),
        })
        .unwrap();
        assert_eq!(
            (delete.action, delete.params),
            ("delete_message", json!({"message_id": "9"}))
        );
        let mute = call(&Action::Mute {
            group: GroupId("1".into()),
            user: "2".into(),
            seconds: 60,
        });
        assert!(matches!(mute, Err(SendError::Permanent(_))));
    }

    #[test]
    fn retcode_ranges_map_to_what_the_outbox_does() {
        assert!(outcome(&json!({"status": "ok", "retcode": 0, "data": null, "message": ""})).is_ok());
        let failed = |retcode: i64| outcome(&json!({"status": "failed", "retcode": retcode, "message": "x"}));
        for permanent in [10_001, 10_002, 10_003, 10_102, 35_001] {
            assert!(
                matches!(failed(permanent), Err(SendError::Permanent(_))),
                "{permanent}"
            );
        }
        for transient in [20_002, 31_000, 33_001, 34_002, 60_000, 99_999] {
            assert!(
                matches!(failed(transient), Err(SendError::Transient(_))),
                "{transient}"
            );
        }
        assert!(matches!(failed(36_000), Err(SendError::RetryAfter(d)) if d == TIRED_WAIT));
    }
}
