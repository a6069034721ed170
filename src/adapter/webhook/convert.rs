//! The webhook adapter's wire format (documented in docs/adapters.md) and
//! its signatures.
//!
//! An event body is one JSON object:
//! `{"type": "message" | "join" | "leave", "group": ID | null,
//!   "user": {"id", "name", "role": "member" | "admin" | "owner", "is_bot"},
//!   "message": {"id", "text", "reply_to"}, "at": RFC 3339}`
//! (`message` for messages only; `at` optional). Actions leave as the
//! action's JSON (`{"action": "reply", "group", "reply_to", "text"}`, …)
//! plus `"adapter"`. Both directions carry
//! `X-Qunbot-Signature: sha256=HEX(HMAC-SHA256(secret, body))`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::adapter::sign;
use crate::event::{
    Action, AdapterId, Chat, Event, EventKind, GroupId, Message, MessageId, Role, Sender, UserId,
};

/// The signature header.
pub(super) const SIGNATURE_HEADER: &str = "x-qunbot-signature";

/// An incoming event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Incoming {
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default)]
    group: Option<String>,
    user: User,
    #[serde(default)]
    message: Option<InMessage>,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Message,
    Join,
    Leave,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Role,
    #[serde(default)]
    is_bot: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InMessage {
    id: String,
    text: String,
    #[serde(default)]
    reply_to: Option<String>,
}

impl Incoming {
    /// The event, stamped `now` unless the body says when; an error names
    /// what is missing.
    pub(super) fn into_event(self, adapter: &AdapterId, now: DateTime<Utc>) -> Result<Event, String> {
        let chat = Chat {
            adapter: adapter.clone(),
            group: self.group.map(GroupId),
        };
        let sender = Sender {
            name: self.user.name.unwrap_or_else(|| self.user.id.clone()),
            id: UserId(self.user.id),
            role: self.user.role,
            is_bot: self.user.is_bot,
        };
        let needs_group = |chat: &Chat| {
            chat.group
                .is_some()
                .then_some(())
                .ok_or_else(|| "join and leave need a group".to_owned())
        };
        let kind = match self.kind {
            Kind::Message => {
                let m = self.message.ok_or("a message event needs `message`")?;
                EventKind::Message {
                    chat,
                    sender,
                    message: Message {
                        id: MessageId(m.id),
                        text: m.text,
                        reply_to: m.reply_to.map(MessageId),
                    },
                }
            }
            Kind::Join => {
                needs_group(&chat)?;
                EventKind::Join { chat, member: sender }
            }
            Kind::Leave => {
                needs_group(&chat)?;
                EventKind::Leave { chat, member: sender }
            }
        };
        Ok(Event {
            at: self.at.unwrap_or(now),
            kind,
        })
    }
}

/// The body posted for `action`.
pub(super) fn outgoing(adapter: &AdapterId, action: &Action) -> Vec<u8> {
    let mut body = serde_json::to_value(action).unwrap_or_default();
    body["adapter"] = serde_json::json!(adapter.as_str());
    body.to_string().into_bytes()
}

/// `sha256=HEX` of `body` under `secret`.
pub(super) fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", sign::hmac_hex(secret, &[body]))
}

/// Whether `header` is a valid signature of `body` (constant time).
pub(super) fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    header
        .trim()
        .strip_prefix("sha256=")
        .is_some_and(|hex| sign::verify_hex(secret, &[body], hex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_reject_changes() {
        let sig = sign(b"key", b"{\"a\":1}");
        assert!(verify(b"key", b"{\"a\":1}", &sig));
        assert!(!verify(b"key", b"{\"a\":2}", &sig));
        assert!(!verify(b"other", b"{\"a\":1}", &sig));
        assert!(!verify(b"key", b"{\"a\":1}", "sha256=zz"));
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn bodies_become_events() {
        let now = DateTime::from_timestamp(5, 0).unwrap();
        let body: Incoming = serde_json::from_str(
            r#"{"type":"message","group":"g1","user":{"id":"u1","name":"Ann","role":"admin"},
                "message":{"id":"m2","text":"hi","reply_to":"m1"}}"#,
        )
        .unwrap();
        let event = body.into_event(&"hook".into(), now).unwrap();
        assert_eq!(event.at, now);
        let (chat, sender, message) = event.member_message().unwrap();
        assert_eq!(chat.group, Some(GroupId::from("g1")));
        assert_eq!(sender.role, Role::Admin);
        assert_eq!(message.reply_to, Some(MessageId::from("m1")));
        let join: Incoming = serde_json::from_str(r#"{"type":"join","user":{"id":"u"}}"#).unwrap();
        assert!(join.into_event(&"hook".into(), now).is_err());
    }
}
