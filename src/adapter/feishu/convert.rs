//! Feishu events → [`Event`]s, and [`Action`]s → Open API requests (pure).

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::event::{Action, AdapterId, Chat, Event, EventKind, Message, MessageId, Role, Sender, Target};

/// What one callback body asks of the adapter.
#[derive(Debug, PartialEq)]
pub(super) enum Callback {
    /// The URL check when the subscription is saved: echo the challenge.
    Challenge(String),
    /// An event (`event_id` for de-duplication of Feishu's retries), and
    /// what it means to the bots (nothing, for event types qunbot ignores).
    Events(String, Vec<Event>),
}

/// Read a (decrypted) callback body, checking its verification token.
pub(super) fn callback(
    adapter: &AdapterId,
    token: &str,
    body: &Value,
    now: DateTime<Utc>,
) -> Result<Callback, String> {
    if body["type"] == "url_verification" {
        if body["token"].as_str() != Some(token) {
            return Err("wrong verification token".into());
        }
        let challenge = body["challenge"]
            .as_str()
            .ok_or("a url_verification without challenge")?;
        return Ok(Callback::Challenge(challenge.to_owned()));
    }
    let header = &body["header"];
    if header["token"].as_str() != Some(token) {
        return Err("wrong verification token".into());
    }
    let id = header["event_id"]
        .as_str()
        .ok_or("an event without event_id")?
        .to_owned();
    let at = header["create_time"]
        .as_str()
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(now);
    let event = &body["event"];
    let events = match header["event_type"].as_str().unwrap_or_default() {
        "im.message.receive_v1" => message(adapter, event, at).into_iter().collect(),
        "im.chat.member.user.added_v1" => members(adapter, event, at, true),
        "im.chat.member.user.deleted_v1" => members(adapter, event, at, false),
        _ => Vec::new(),
    };
    Ok(Callback::Events(id, events))
}

/// A text (or rich text) message, with `@_user_N` placeholders as names.
fn message(adapter: &AdapterId, event: &Value, at: DateTime<Utc>) -> Option<Event> {
    let m = &event["message"];
    let content: Value = serde_json::from_str(m["content"].as_str()?).ok()?;
    let mut text = match m["message_type"].as_str()? {
        "text" => content["text"].as_str()?.to_owned(),
        "post" => post_text(&content),
        _ => return None,
    };
    for mention in m["mentions"].as_array().into_iter().flatten() {
        if let (Some(key), Some(name)) = (mention["key"].as_str(), mention["name"].as_str()) {
            text = text.replace(key, &format!("@{name}"));
        }
    }
    let group = match m["chat_type"].as_str()? {
        "p2p" => None,
        _ => Some(m["chat_id"].as_str()?.into()),
    };
    let sender = &event["sender"];
    Some(Event {
        at,
        kind: EventKind::Message {
            chat: Chat {
                adapter: adapter.clone(),
                group,
            },
            sender: Sender {
                id: sender["sender_id"]["open_id"].as_str()?.into(),
                name: sender["sender_id"]["open_id"].as_str()?.to_owned(),
                role: Role::Member,
                is_bot: sender["sender_type"].as_str() != Some("user"),
            },
            message: Message {
                id: MessageId(m["message_id"].as_str()?.to_owned()),
                text: text.trim().to_owned(),
                reply_to: m["parent_id"]
                    .as_str()
                    .filter(|p| !p.is_empty())
                    .map(|p| MessageId(p.to_owned())),
            },
        },
    })
}

/// The text runs of a rich-text (`post`) message, a line per paragraph.
fn post_text(content: &Value) -> String {
    // Either {"title", "content"} or keyed by language ({"zh_cn": {…}}).
    let body = if content["content"].is_array() {
        content
    } else {
        content
            .as_object()
            .and_then(|o| o.values().next())
            .unwrap_or(content)
    };
    let mut lines = Vec::new();
    for paragraph in body["content"].as_array().into_iter().flatten() {
        let line: String = paragraph
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|run| match run["tag"].as_str() {
                Some("text") | Some("a") => run["text"].as_str().map(str::to_owned),
                Some("at") => run["user_name"].as_str().map(|n| format!("@{n}")),
                _ => None,
            })
            .collect();
        lines.push(line);
    }
    lines.join("\n")
}

/// Members added to or removed from a group chat.
fn members(adapter: &AdapterId, event: &Value, at: DateTime<Utc>, joined: bool) -> Vec<Event> {
    let Some(chat_id) = event["chat_id"].as_str() else {
        return Vec::new();
    };
    event["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|user| {
            let id = user["user_id"]["open_id"].as_str()?;
            let chat = Chat {
                adapter: adapter.clone(),
                group: Some(chat_id.into()),
            };
            let member = Sender {
                id: id.into(),
                name: user["name"].as_str().unwrap_or(id).to_owned(),
                role: Role::Member,
                is_bot: false,
            };
            let kind = if joined {
                EventKind::Join { chat, member }
            } else {
                EventKind::Leave { chat, member }
            };
            Some(Event { at, kind })
        })
        .collect()
}

/// One Open API request.
#[derive(Debug, PartialEq)]
pub(super) struct Request {
    pub method: Method,
    /// The path and query under the API root.
    pub path: String,
    pub body: Option<Value>,
}

fn text_content(text: &str) -> String {
    json!({"text": text}).to_string()
}

/// The request that carries out `action`, or `None` for actions Feishu has
/// no API for (mute, ban).
pub(super) fn request(action: &Action) -> Option<Request> {
    let request = match action {
        Action::Send { to, text } => {
            let (kind, id) = match to {
                Target::Group(g) => ("chat_id", g.as_str()),
                Target::User(u) => ("open_id", u.as_str()),
            };
            Request {
                method: Method::POST,
                path: format!("/open-apis/im/v1/messages?receive_id_type={kind}"),
                body: Some(json!({"receive_id": id, "msg_type": "text", "content": text_content(text)})),
            }
        }
        Action::Reply { reply_to, text, .. } => Request {
            method: Method::POST,
            path: format!("/open-apis/im/v1/messages/{}/reply", reply_to.0),
            body: Some(json!({"msg_type": "text", "content": text_content(text)})),
        },
        Action::Delete { message, .. } => Request {
            method: Method::DELETE,
            path: format!("/open-apis/im/v1/messages/{}", message.0),
            body: None,
        },
        Action::Kick { group, user } => Request {
            method: Method::DELETE,
            path: format!("/open-apis/im/v1/chats/{group}/members?member_id_type=open_id"),
            body: Some(json!({"id_list": [user.as_str()]})),
        },
        Action::Mute { .. } | Action::Unmute { .. } | Action::Ban { .. } => return None,
    };
    Some(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn receive(chat_type: &str, content: Value, message_type: &str) -> Value {
        json!({
            "schema": "2.0",
            "header": {"event_id": "ev1", "event_type": "im.message.receive_v1", "create_time": "1700000000123", "token": "vt"},
            "event": {
                "sender": {"sender_id": {"open_id": "ou_ann"}, "sender_type": "user"},
                "message": {"message_id": "om_1", "chat_id": "oc_g", "chat_type": chat_type, "message_type": message_type,
                            "content": content.to_string(), "parent_id": "",
                            "mentions": [{"key": "@_user_1", "name": "Shop Bot"}]}
            }
        })
    }

    #[test]
    fn a_group_text_message_becomes_a_message_event_with_mentions_named() {
        let body = receive(
            "group",
            json!({"text": "@_user_1 how do I get a refund?"}),
            "text",
        );
        let Ok(Callback::Events(id, events)) = callback(&"fs".into(), "vt", &body, now()) else {
            panic!("not an event")
        };
        assert_eq!(id, "ev1");
        let EventKind::Message {
            chat,
            sender,
            message,
        } = &events[0].kind
        else {
            panic!()
        };
        assert_eq!(chat.group.as_ref().map(|g| g.as_str()), Some("oc_g"));
        assert_eq!(sender.id.as_str(), "ou_ann");
        assert!(!sender.is_bot);
        assert_eq!(message.text, "@Shop Bot how do I get a refund?");
        assert_eq!(message.reply_to, None);
        assert_eq!(events[0].at.timestamp_millis(), 1_700_000_000_123);
    }

    #[test]
    fn direct_chats_rich_text_and_a_wrong_token() {
        let post = json!({"zh_cn": {"title": "", "content": [[{"tag": "text", "text": "领券"}], [{"tag": "at", "user_name": "Bot"}]]}});
        let body = receive("p2p", post, "post");
        let Ok(Callback::Events(_, events)) = callback(&"fs".into(), "vt", &body, now()) else {
            panic!()
        };
        let EventKind::Message { chat, message, .. } = &events[0].kind else {
            panic!()
        };
        assert_eq!(chat.group, None);
        assert_eq!(message.text, "领券\n@Bot");
        assert!(callback(&"fs".into(), "other", &body, now()).is_err());
        let image = receive("group", json!({"image_key": "k"}), "image");
        assert_eq!(
            callback(&"fs".into(), "vt", &image, now()),
            Ok(Callback::Events("ev1".into(), Vec::new()))
        );
    }

    #[test]
    fn the_url_check_echoes_the_challenge_for_the_right_token() {
        let body = json!({"type": "url_verification", "token": "vt", "challenge": "c-1"});
        assert_eq!(
            callback(&"fs".into(), "vt", &body, now()),
            Ok(Callback::Challenge("c-1".into()))
        );
        assert!(callback(&"fs".into(), "nope", &body, now()).is_err());
    }

    #[test]
    fn joins_and_leaves_name_each_member() {
        let body = json!({
            "header": {"event_id": "ev2", "event_type": "im.chat.member.user.added_v1", "token": "vt"},
            "event": {"chat_id": "oc_g", "users": [{"name": "Ann", "user_id": {"open_id": "ou_ann"}}, {"name": "Bob", "user_id": {"open_id": "ou_bob"}}]}
        });
        let Ok(Callback::Events(_, events)) = callback(&"fs".into(), "vt", &body, now()) else {
            panic!()
        };
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[1].kind, EventKind::Join { member, .. } if member.name == "Bob"));
    }

    #[test]
    fn actions_become_open_api_requests() {
        let reply = Action::Reply {
            group: "oc_g".into(),
            reply_to: "om_1".into(),
            text: "hi".into(),
        };
        let r = request(&reply).unwrap();
        assert_eq!(r.path, "/open-apis/im/v1/messages/om_1/reply");
        assert_eq!(r.body.unwrap()["content"], "{\"text\":\"hi\"}");
        let dm = Action::Send {
            to: Target::User("ou_ann".into()),
            text: "code".into(),
        };
        assert_eq!(
            request(&dm).unwrap().path,
            "/open-apis/im/v1/messages?receive_id_type=open_id"
        );
        let kick = Action::Kick {
            group: "oc_g".into(),
            user: "ou_x".into(),
        };
        let r = request(&kick).unwrap();
        assert_eq!(r.method, Method::DELETE);
        assert_eq!(r.body.unwrap()["id_list"], json!(["ou_x"]));
        let mute = Action::Mute {
            group: "oc_g".into(),
            user: "ou_x".into(),
            seconds: 60,
        };
        assert_eq!(request(&mute), None);
    }
}
