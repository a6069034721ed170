//! What flows through the runtime: [`Event`]s in from adapters and the
//! scheduler, [`Action`]s out to adapters.
//!
//! Adapters parse platform payloads into these types at the edge; nothing
//! past an adapter matches on platform strings. Identifiers are newtypes so a
//! group id can never be passed where a user id is expected.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as the platform spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

id_newtype!(
    /// The id of a platform connection, as named under `adapters:` in config.yaml.
    AdapterId
);
id_newtype!(
    /// A group (chat, room, channel) id as the platform spells it.
    GroupId
);
id_newtype!(
    /// A user id as the platform spells it.
    UserId
);
id_newtype!(
    /// A message id as the platform spells it.
    MessageId
);

/// A member's standing in the group the event came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary member.
    #[default]
    Member,
    /// A group administrator.
    Admin,
    /// The group's owner.
    Owner,
}

impl Role {
    /// Whether the role may run admin commands in its group.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Admin | Role::Owner)
    }
}

/// Who sent a message, joined or left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The user's platform id; plugins key per-user state on it.
    pub id: UserId,
    /// Display name, for templates such as `{{user.name}}`.
    pub name: String,
    /// Role in the group the event came from (member in direct chats).
    pub role: Role,
    /// Set for bot accounts (the bot itself or others), so plugins can ignore
    /// them instead of answering bots in a loop.
    pub is_bot: bool,
}

impl Sender {
    /// A member with the given id, whose display name is the id.
    pub fn member(id: impl Into<String>) -> Self {
        let id = id.into();
        Self {
            name: id.clone(),
            id: UserId(id),
            role: Role::Member,
            is_bot: false,
        }
    }
}

/// Where an event happened: one adapter's group, or a direct chat with the
/// sender when `group` is `None`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chat {
    /// The connection the event arrived on; replies leave through it.
    pub adapter: AdapterId,
    /// The group, or `None` for a direct (private) chat.
    pub group: Option<GroupId>,
}

/// A message's own content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The platform's id for the message; delete and reply name it.
    pub id: MessageId,
    /// The text as the user wrote it (plugins normalise before matching).
    pub text: String,
    /// The message this one replies to, if any (admin commands like `/spam`).
    pub reply_to: Option<MessageId>,
}

/// Something that happened, normalised across platforms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// When it happened, read from the [`crate::clock::Clock`] or the platform.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A message in a group or a direct chat.
    Message {
        /// Where it was written.
        chat: Chat,
        /// Who wrote it.
        sender: Sender,
        /// What was written.
        message: Message,
    },
    /// A member joined a group.
    Join {
        /// The group joined (`group` is always set).
        chat: Chat,
        /// Who joined.
        member: Sender,
    },
    /// A member left or was removed from a group.
    Leave {
        /// The group left (`group` is always set).
        chat: Chat,
        /// Who left.
        member: Sender,
    },
    /// A cron slot of one bot's job fell due. Sent to that bot only.
    Scheduled(Slot),
}

/// One due slot of a scheduled job.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    /// The bot that owns the job.
    pub bot: String,
    /// The job's id, unique within the bot (e.g. a promotion's `id`).
    pub job: String,
    /// The slot's scheduled time (not the time it was noticed).
    pub time: DateTime<Utc>,
}

impl Event {
    /// The chat the event happened in, if it came from a platform.
    pub fn chat(&self) -> Option<&Chat> {
        match &self.kind {
            EventKind::Message { chat, .. }
            | EventKind::Join { chat, .. }
            | EventKind::Leave { chat, .. } => Some(chat),
            EventKind::Scheduled(_) => None,
        }
    }

    /// The user who caused the event, if any.
    pub fn sender(&self) -> Option<&Sender> {
        match &self.kind {
            EventKind::Message { sender, .. } => Some(sender),
            EventKind::Join { member, .. } | EventKind::Leave { member, .. } => Some(member),
            EventKind::Scheduled(_) => None,
        }
    }

    /// The chat, sender and message of a message written by a person (not
    /// a bot account): what most plugins answer, and bots never should.
    pub fn member_message(&self) -> Option<(&Chat, &Sender, &Message)> {
        match &self.kind {
            EventKind::Message {
                chat,
                sender,
                message,
            } if !sender.is_bot => Some((chat, sender, message)),
            _ => None,
        }
    }

    /// The message, for message events.
    pub fn message(&self) -> Option<&Message> {
        match &self.kind {
            EventKind::Message { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// Where a `send` goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Into a group.
    Group(GroupId),
    /// A direct message to a user.
    User(UserId),
}

/// What a bot does on a platform. Plugins produce these; adapters carry them out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// Post a message into a group or a direct chat.
    Send {
        /// The group or user.
        to: Target,
        /// The message text.
        text: String,
    },
    /// Answer a message, quoting it where the platform can.
    Reply {
        /// The group of the message answered.
        group: GroupId,
        /// The message answered.
        reply_to: MessageId,
        /// The answer text.
        text: String,
    },
    /// Delete a message.
    Delete {
        /// The group of the message.
        group: GroupId,
        /// The message to delete.
        message: MessageId,
    },
    /// Stop a member from writing for a while.
    Mute {
        /// The group.
        group: GroupId,
        /// The member.
        user: UserId,
        /// How long, in seconds.
        seconds: u64,
    },
    /// Lift a mute.
    Unmute {
        /// The group.
        group: GroupId,
        /// The member.
        user: UserId,
    },
    /// Remove a member, who may rejoin.
    Kick {
        /// The group.
        group: GroupId,
        /// The member.
        user: UserId,
    },
    /// Remove a member for good.
    Ban {
        /// The group.
        group: GroupId,
        /// The member.
        user: UserId,
    },
}

impl Action {
    /// The action's name as it appears in simulation output and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Send { .. } => "send",
            Action::Reply { .. } => "reply",
            Action::Delete { .. } => "delete",
            Action::Mute { .. } => "mute",
            Action::Unmute { .. } => "unmute",
            Action::Kick { .. } => "kick",
            Action::Ban { .. } => "ban",
        }
    }

    /// The ordering key of the action: actions for one group (or one direct
    /// chat) are delivered in the order they were decided.
    pub fn chat_key(&self) -> String {
        match self {
            Action::Send {
                to: Target::User(u), ..
            } => format!("user:{u}"),
            Action::Send {
                to: Target::Group(g), ..
            }
            | Action::Reply { group: g, .. }
            | Action::Delete { group: g, .. }
            | Action::Mute { group: g, .. }
            | Action::Unmute { group: g, .. }
            | Action::Kick { group: g, .. }
            | Action::Ban { group: g, .. } => format!("group:{g}"),
        }
    }

    /// Whether the action posts a message (and so counts against send limits).
    pub fn is_message(&self) -> bool {
        matches!(self, Action::Send { .. } | Action::Reply { .. })
    }
}

/// An action with its provenance, as the runtime queues and reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// When the bot decided on the action.
    pub at: DateTime<Utc>,
    /// The bot that decided.
    pub bot: String,
    /// The connection that carries it out.
    pub adapter: AdapterId,
    /// What to do.
    pub action: Action,
    /// Why, for audit and `report_to` (e.g. "spam: banned word").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The plugin kind that decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
}
