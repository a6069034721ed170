//! What OneBot v11 and v12 conversion share: ids, text segments, and the
//! events both versions' frames become.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::event::{AdapterId, Chat, Event, EventKind, GroupId, MessageId, Sender};

/// A number or string field as an id string.
pub(super) fn field_id(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A text segment (the same in both versions).
pub(super) fn text_segment(text: &str) -> Value {
    json!({"type": "text", "data": {"text": text}})
}

/// The text of a segment array's `text` segments and the id in its
/// `reply` segment's `reply_key` (v11 `id`, v12 `message_id`); other
/// segments (mentions, faces, media) are dropped.
pub(super) fn segments_text(segments: &[Value], reply_key: &str) -> (String, Option<MessageId>) {
    let mut text = String::new();
    let mut reply = None;
    for segment in segments {
        let data = &segment["data"];
        match segment["type"].as_str() {
            Some("text") => text.push_str(data["text"].as_str().unwrap_or_default()),
            Some("reply") => reply = field_id(&data[reply_key]).map(MessageId),
            _ => {}
        }
    }
    (text, reply)
}

/// `user` joining (`joined`) or leaving `group`, flagged as the bot when
/// it is the account itself (`own`).
pub(super) fn membership(
    at: DateTime<Utc>,
    adapter: &AdapterId,
    group: String,
    user: String,
    own: Option<&str>,
    joined: bool,
) -> Event {
    let chat = Chat {
        adapter: adapter.clone(),
        group: Some(GroupId(group)),
    };
    let mut member = Sender::member(user.clone());
    member.is_bot = own == Some(user.as_str());
    let kind = if joined {
        EventKind::Join { chat, member }
    } else {
        EventKind::Leave { chat, member }
    };
    Event { at, kind }
}
