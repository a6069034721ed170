//! Discord's gateway frames and payloads: just the fields qunbot reads,
//! parsed once into typed enums (STYLE P3), and the frames qunbot sends.

use serde::Deserialize;
use serde_json::{Value, json};

/// `GUILDS`: guilds, their roles and channels.
const GUILDS: u64 = 1 << 0;
/// `GUILD_MEMBERS` (privileged): joins and leaves.
const GUILD_MEMBERS: u64 = 1 << 1;
/// `GUILD_MESSAGES`: messages in guild channels.
const GUILD_MESSAGES: u64 = 1 << 9;
/// `DIRECT_MESSAGES`: messages in DMs with the bot.
const DIRECT_MESSAGES: u64 = 1 << 12;
/// `MESSAGE_CONTENT` (privileged): the text of messages.
const MESSAGE_CONTENT: u64 = 1 << 15;

/// The intents qunbot identifies with.
pub(super) const INTENTS: u64 = GUILDS | GUILD_MEMBERS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT;

/// A gateway frame, parsed once by opcode (STYLE P3).
#[derive(Debug)]
pub(super) enum Frame {
    /// op 0: an event, with its sequence number.
    Dispatch {
        /// `s`.
        seq: Option<u64>,
        /// `t` and `d`.
        event: Box<Dispatch>,
    },
    /// op 1: the gateway asks for a heartbeat now.
    Heartbeat,
    /// op 7: reconnect and resume.
    Reconnect,
    /// op 9: the session is invalid; `true` if it may be resumed.
    InvalidSession(bool),
    /// op 10: heartbeat every this many milliseconds.
    Hello(u64),
    /// op 11: a heartbeat was received.
    HeartbeatAck,
    /// Opcodes qunbot does not use.
    Other(u8),
}

/// The dispatch events qunbot reads.
#[derive(Debug)]
pub(super) enum Dispatch {
    /// `READY`.
    Ready(Ready),
    /// `RESUMED`: the missed events have been replayed.
    Resumed,
    /// `GUILD_CREATE` / `GUILD_UPDATE`.
    Guild(Guild),
    /// `GUILD_ROLE_CREATE` / `GUILD_ROLE_UPDATE`.
    Role(RoleEvent),
    /// `GUILD_ROLE_DELETE`.
    RoleDelete(RoleDelete),
    /// `CHANNEL_CREATE` / `CHANNEL_UPDATE` / `THREAD_CREATE`.
    Channel(Channel),
    /// `MESSAGE_CREATE`.
    Message(DMessage),
    /// `GUILD_MEMBER_ADD`.
    MemberAdd(MemberEvent),
    /// `GUILD_MEMBER_REMOVE`.
    MemberRemove(MemberEvent),
    /// Anything else (or a payload qunbot could not read), by name.
    Other(String),
}

#[derive(Deserialize)]
struct RawFrame {
    op: u8,
    #[serde(default)]
    d: Value,
    #[serde(default)]
    s: Option<u64>,
    #[serde(default)]
    t: Option<String>,
}

/// Parse a text frame.
pub(super) fn frame(text: &str) -> Result<Frame, serde_json::Error> {
    let raw: RawFrame = serde_json::from_str(text)?;
    Ok(match raw.op {
        0 => Frame::Dispatch {
            seq: raw.s,
            event: Box::new(dispatch(raw.t.as_deref().unwrap_or_default(), raw.d)),
        },
        1 => Frame::Heartbeat,
        7 => Frame::Reconnect,
        9 => Frame::InvalidSession(raw.d.as_bool().unwrap_or(false)),
        10 => Frame::Hello(raw.d["heartbeat_interval"].as_u64().unwrap_or(41_250)),
        11 => Frame::HeartbeatAck,
        other => Frame::Other(other),
    })
}

fn dispatch(name: &str, d: Value) -> Dispatch {
    fn parse<T: serde::de::DeserializeOwned>(name: &str, d: Value, f: fn(T) -> Dispatch) -> Dispatch {
        match serde_json::from_value(d) {
            Ok(v) => f(v),
            Err(error) => {
                tracing::warn!(event = name, %error, "a Discord event qunbot cannot read; skipped");
                Dispatch::Other(name.to_owned())
            }
        }
    }
    match name {
        "READY" => parse(name, d, Dispatch::Ready),
        "RESUMED" => Dispatch::Resumed,
        "GUILD_CREATE" | "GUILD_UPDATE" => parse(name, d, Dispatch::Guild),
        "GUILD_ROLE_CREATE" | "GUILD_ROLE_UPDATE" => parse(name, d, Dispatch::Role),
        "GUILD_ROLE_DELETE" => parse(name, d, Dispatch::RoleDelete),
        "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "THREAD_CREATE" => parse(name, d, Dispatch::Channel),
        "MESSAGE_CREATE" => parse(name, d, Dispatch::Message),
        "GUILD_MEMBER_ADD" => parse(name, d, Dispatch::MemberAdd),
        "GUILD_MEMBER_REMOVE" => parse(name, d, Dispatch::MemberRemove),
        other => Dispatch::Other(other.to_owned()),
    }
}

/// `READY`.
#[derive(Debug, Deserialize)]
pub(super) struct Ready {
    /// Resume with it.
    pub(super) session_id: String,
    /// Resume at it.
    pub(super) resume_gateway_url: String,
    /// The bot itself.
    pub(super) user: User,
}

/// `User`.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct User {
    /// Snowflake.
    pub(super) id: String,
    /// Unique name.
    #[serde(default)]
    pub(super) username: String,
    /// Display name, if set.
    #[serde(default)]
    pub(super) global_name: Option<String>,
    /// Bot accounts.
    #[serde(default)]
    pub(super) bot: bool,
}

/// `Guild` (as in `GUILD_CREATE`).
#[derive(Debug, Deserialize)]
pub(super) struct Guild {
    /// Snowflake.
    pub(super) id: String,
    /// The owner: qunbot `owner`.
    pub(super) owner_id: String,
    /// Its roles with their permissions.
    #[serde(default)]
    pub(super) roles: Vec<RoleObject>,
    /// Its channels (`GUILD_CREATE` only).
    #[serde(default)]
    pub(super) channels: Vec<Channel>,
    /// Its active threads (`GUILD_CREATE` only).
    #[serde(default)]
    pub(super) threads: Vec<Channel>,
    /// Where Discord posts join messages: joins and leaves go there.
    #[serde(default)]
    pub(super) system_channel_id: Option<String>,
}

/// `Role`.
#[derive(Debug, Deserialize)]
pub(super) struct RoleObject {
    /// Snowflake (the guild's id for `@everyone`).
    pub(super) id: String,
    /// The permission bit set, as a decimal string.
    pub(super) permissions: String,
}

/// `GUILD_ROLE_CREATE` / `GUILD_ROLE_UPDATE`.
#[derive(Debug, Deserialize)]
pub(super) struct RoleEvent {
    /// The guild.
    pub(super) guild_id: String,
    /// The role.
    pub(super) role: RoleObject,
}

/// `GUILD_ROLE_DELETE`.
#[derive(Debug, Deserialize)]
pub(super) struct RoleDelete {
    /// The guild.
    pub(super) guild_id: String,
    /// The role.
    pub(super) role_id: String,
}

/// `Channel`.
#[derive(Debug, Deserialize)]
pub(super) struct Channel {
    /// Snowflake.
    pub(super) id: String,
    /// Absent in `GUILD_CREATE`'s list (it is that guild) and for DMs.
    #[serde(default)]
    pub(super) guild_id: Option<String>,
}

/// `Message` (as in `MESSAGE_CREATE`).
#[derive(Debug, Deserialize)]
pub(super) struct DMessage {
    /// Snowflake.
    pub(super) id: String,
    /// Where it was posted.
    pub(super) channel_id: String,
    /// Its guild; absent in DMs.
    #[serde(default)]
    pub(super) guild_id: Option<String>,
    /// Who wrote it.
    pub(super) author: User,
    /// The author as a guild member (roles, nickname).
    #[serde(default)]
    pub(super) member: Option<Member>,
    /// The text (empty without the `MESSAGE_CONTENT` intent).
    #[serde(default)]
    pub(super) content: String,
    /// 0 default, 19 reply; the rest are system messages.
    #[serde(rename = "type", default)]
    pub(super) kind: u8,
    /// ISO 8601.
    #[serde(default)]
    pub(super) timestamp: Option<String>,
    /// The message answered.
    #[serde(default)]
    pub(super) message_reference: Option<Reference>,
    /// Set for webhook posts (not a member).
    #[serde(default)]
    pub(super) webhook_id: Option<String>,
}

/// `Guild Member` (partial).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Member {
    /// Role ids.
    #[serde(default)]
    pub(super) roles: Vec<String>,
    /// Nickname in the guild.
    #[serde(default)]
    pub(super) nick: Option<String>,
}

/// `Message Reference`.
#[derive(Debug, Deserialize)]
pub(super) struct Reference {
    /// The message referred to.
    #[serde(default)]
    pub(super) message_id: Option<String>,
}

/// `GUILD_MEMBER_ADD` / `GUILD_MEMBER_REMOVE`.
#[derive(Debug, Deserialize)]
pub(super) struct MemberEvent {
    /// The guild.
    pub(super) guild_id: String,
    /// Who.
    pub(super) user: User,
    /// Roles (on add).
    #[serde(default)]
    pub(super) roles: Vec<String>,
    /// Nickname (on add).
    #[serde(default)]
    pub(super) nick: Option<String>,
}

/// The Identify payload (op 2).
pub(super) fn identify(token: &str) -> Value {
    json!({"op": 2, "d": {
        "token": token,
        "intents": INTENTS,
        "properties": {"os": std::env::consts::OS, "browser": "qunbot", "device": "qunbot"},
    }})
}

/// The Resume payload (op 6).
pub(super) fn resume(token: &str, session_id: &str, seq: Option<u64>) -> Value {
    json!({"op": 6, "d": {"token": token, "session_id": session_id, "seq": seq}})
}

/// A heartbeat (op 1) with the last sequence number.
pub(super) fn heartbeat(seq: Option<u64>) -> Value {
    json!({"op": 1, "d": seq})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_parsed_by_opcode() {
        assert!(matches!(
            frame(r#"{"op":10,"d":{"heartbeat_interval":45000}}"#).unwrap(),
            Frame::Hello(45000)
        ));
        assert!(matches!(
            frame(r#"{"op":9,"d":true}"#).unwrap(),
            Frame::InvalidSession(true)
        ));
        assert!(matches!(
            frame(r#"{"op":9,"d":false}"#).unwrap(),
            Frame::InvalidSession(false)
        ));
        assert!(matches!(frame(r#"{"op":11}"#).unwrap(), Frame::HeartbeatAck));
        assert!(matches!(frame(r#"{"op":7,"d":null}"#).unwrap(), Frame::Reconnect));
        let Frame::Dispatch { seq, event } = frame(r#"{"op":0,"s":5,"t":"RESUMED","d":{}}"#).unwrap() else {
            panic!()
        };
        assert_eq!(seq, Some(5));
        assert!(matches!(*event, Dispatch::Resumed));
        // A payload missing required fields is skipped by name, not fatal.
        let Frame::Dispatch { event, .. } = frame(r#"{"op":0,"s":6,"t":"MESSAGE_CREATE","d":{}}"#).unwrap()
        else {
            panic!()
        };
        assert!(matches!(*event, Dispatch::Other(ref n) if n == "MESSAGE_CREATE"));
    }

    #[test]
    fn identify_asks_for_the_privileged_intents() {
        let id = identify("t");
        assert_eq!(id["op"], json!(2));
        let intents = id["d"]["intents"].as_u64().unwrap();
        assert_ne!(intents & GUILD_MEMBERS, 0);
        assert_ne!(intents & MESSAGE_CONTENT, 0);
        assert_eq!(resume("t", "s", Some(4))["d"]["seq"], json!(4));
    }
}
