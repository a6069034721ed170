//! DingTalk callbacks → [`Event`]s, and [`Action`]s → Open API requests
//! (pure).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::adapter::sign::{base64, hmac_sha256, same};
use crate::event::{Action, AdapterId, Chat, Event, EventKind, Message, MessageId, Role, Sender, Target};

/// How far a callback's `timestamp` may be from now (DingTalk: an hour).
const WINDOW_MS: i64 = 3_600_000;

/// Whether `sign` signs `timestamp` (ms) under the app secret, and the
/// timestamp is within an hour of `now` (constant-time compare).
pub(super) fn verify(secret: &str, timestamp: &str, sign: &str, now: DateTime<Utc>) -> bool {
    let Ok(ms) = timestamp.parse::<i64>() else {
        return false;
    };
    if (now.timestamp_millis() - ms).abs() > WINDOW_MS {
        return false;
    }
    let expected = base64(&hmac_sha256(
        secret.as_bytes(),
        format!("{timestamp}\n{secret}").as_bytes(),
    ));
    same(sign.as_bytes(), expected.as_bytes())
}

/// The event of a callback body (`None` for message types qunbot skips).
pub(super) fn event(adapter: &AdapterId, body: &Value, now: DateTime<Utc>) -> Option<Event> {
    let text = match body["msgtype"].as_str()? {
        "text" => body["text"]["content"].as_str()?.trim().to_owned(),
        _ => return None,
    };
    let group = match body["conversationType"].as_str()? {
        "1" => None,
        _ => Some(body["conversationId"].as_str()?.into()),
    };
    let sender_id = body["senderStaffId"]
        .as_str()
        .or_else(|| body["senderId"].as_str())?;
    let at = body["createAt"]
        .as_i64()
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(now);
    Some(Event {
        at,
        kind: EventKind::Message {
            chat: Chat {
                adapter: adapter.clone(),
                group,
            },
            sender: Sender {
                id: sender_id.into(),
                name: body["senderNick"].as_str().unwrap_or(sender_id).to_owned(),
                role: if body["isAdmin"].as_bool() == Some(true) {
                    Role::Admin
                } else {
                    Role::Member
                },
                is_bot: false,
            },
            message: Message {
                id: MessageId(body["msgId"].as_str()?.to_owned()),
                text,
                reply_to: None,
            },
        },
    })
}

/// The Open API path and body that carry out `action` as `robot_code`, or
/// `None` for what a DingTalk robot cannot do.
pub(super) fn request(action: &Action, robot_code: &str) -> Option<(&'static str, Value)> {
    let Action::Send { to, text } = action else {
        return None;
    };
    let param = json!({"content": text}).to_string();
    Some(match to {
        Target::Group(group) => (
            "/v1.0/robot/groupMessages/send",
            json!({"robotCode": robot_code, "openConversationId": group.as_str(), "msgKey": "sampleText", "msgParam": param}),
        ),
        Target::User(user) => (
            "/v1.0/robot/oToMessages/batchSend",
            json!({"robotCode": robot_code, "userIds": [user.as_str()], "msgKey": "sampleText", "msgParam": param}),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_599_360_473_000).unwrap()
    }

    #[test]
    fn callbacks_are_signed_with_the_app_secret_within_an_hour() {
        // Computed independently (Python's hmac/base64).
        let sign = "tGWkA5eQOQNCNPDgphtxIoNLO+/gD8Lcb705KQoRzeY=";
        assert!(verify("SECdemo", "1599360473000", sign, now()));
        assert!(!verify("SECother", "1599360473000", sign, now()));
        let later = now() + chrono::Duration::hours(2);
        assert!(!verify("SECdemo", "1599360473000", sign, later));
        assert!(!verify("SECdemo", "soon", sign, now()));
    }

    #[test]
    fn a_group_text_becomes_a_message_with_the_admin_flag() {
        let body = json!({
            "msgtype": "text", "text": {"content": " 领券 "}, "msgId": "msg1", "createAt": 1_599_360_473_000_i64,
            "conversationType": "2", "conversationId": "cid1", "senderStaffId": "staff1", "senderNick": "Ann", "isAdmin": true
        });
        let event = event(&"dd".into(), &body, now()).unwrap();
        let EventKind::Message {
            chat,
            sender,
            message,
        } = event.kind
        else {
            panic!()
        };
        assert_eq!(chat.group.as_ref().map(|g| g.as_str()), Some("cid1"));
        assert_eq!(sender.role, Role::Admin);
        assert_eq!(sender.name, "Ann");
        assert_eq!(message.text, "领券");
        let picture = json!({"msgtype": "picture", "msgId": "m2", "conversationType": "2"});
        assert!(super::event(&"dd".into(), &picture, now()).is_none());
    }

    #[test]
    fn sends_become_robot_messages_and_nothing_else_is_possible() {
        let send = Action::Send {
            to: Target::Group("cid1".into()),
            text: "hi".into(),
        };
        let (path, body) = request(&send, "robot1").unwrap();
        assert_eq!(path, "/v1.0/robot/groupMessages/send");
        assert_eq!(body["msgParam"], "{\"content\":\"hi\"}");
        let delete = Action::Delete {
            group: "cid1".into(),
            message: "m".into(),
        };
        assert!(request(&delete, "robot1").is_none());
    }
}
