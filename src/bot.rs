//! A bot's identity and reach, compiled from its file: which connections and
//! groups it serves, who its admins are, its time zone and language.

use chrono_tz::Tz;

use crate::event::{AdapterId, Chat, GroupId, Sender, UserId};

/// An id that may be pinned to one adapter (`"tg:-1001234"`) or hold on
/// every adapter of the bot (`"-1001234"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scoped<T> {
    /// The adapter it is pinned to, if any.
    pub adapter: Option<AdapterId>,
    /// The id on that platform.
    pub id: T,
}

impl<T: PartialEq> Scoped<T> {
    /// Whether `(adapter, id)` is this one.
    pub fn matches(&self, adapter: &AdapterId, id: &T) -> bool {
        self.adapter.as_ref().is_none_or(|a| a == adapter) && &self.id == id
    }
}

/// The groups a bot serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupFilter {
    /// Every group its adapters see (`groups: ["*"]`).
    All,
    /// Only these.
    Only(Vec<Scoped<GroupId>>),
}

/// The language of a bot's built-in messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Locale {
    /// Chinese (default).
    #[default]
    Zh,
    /// English.
    En,
}

/// A bot's identity and reach, shared read-only by its plugins.
#[derive(Clone, Debug)]
pub struct BotInfo {
    /// Unique name; keys everything the bot stores.
    pub name: String,
    /// The connections it listens on and acts through, in listed order.
    pub adapters: Vec<AdapterId>,
    /// The groups it serves.
    pub groups: GroupFilter,
    /// Bot admins besides each group's own admins.
    pub admins: Vec<Scoped<UserId>>,
    /// Time zone of its schedules, pool windows and printed times.
    pub timezone: Tz,
    /// Language of built-in messages.
    pub locale: Locale,
}

impl BotInfo {
    /// Whether the bot serves events from `chat` (direct chats on its
    /// adapters always reach it).
    pub fn serves(&self, chat: &Chat) -> bool {
        if !self.adapters.contains(&chat.adapter) {
            return false;
        }
        match (&self.groups, &chat.group) {
            (_, None) | (GroupFilter::All, _) => true,
            (GroupFilter::Only(list), Some(g)) => list.iter().any(|s| s.matches(&chat.adapter, g)),
        }
    }

    /// Whether `sender` may run admin commands in `chat`: a group admin or
    /// owner there, or one of the bot's own admins.
    pub fn is_admin(&self, chat: &Chat, sender: &Sender) -> bool {
        sender.role.is_admin() || self.admins.iter().any(|a| a.matches(&chat.adapter, &sender.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Role;

    fn bot(groups: GroupFilter) -> BotInfo {
        BotInfo {
            name: "b".into(),
            adapters: vec!["tg".into(), "qq".into()],
            groups,
            admins: vec![Scoped {
                adapter: Some("tg".into()),
                id: "42".into(),
            }],
            timezone: chrono_tz::Asia::Shanghai,
            locale: Locale::Zh,
        }
    }

    fn chat(adapter: &str, group: Option<&str>) -> Chat {
        Chat {
            adapter: adapter.into(),
            group: group.map(Into::into),
        }
    }

    #[test]
    fn serves_only_listed_groups_and_own_adapters() {
        let b = bot(GroupFilter::Only(vec![
            Scoped {
                adapter: Some("tg".into()),
                id: "g1".into(),
            },
            Scoped {
                adapter: None,
                id: "g2".into(),
            },
        ]));
        assert!(b.serves(&chat("tg", Some("g1"))));
        assert!(!b.serves(&chat("qq", Some("g1"))));
        assert!(b.serves(&chat("qq", Some("g2"))));
        assert!(!b.serves(&chat("tg", Some("g3"))));
        assert!(!b.serves(&chat("irc", Some("g2"))));
        assert!(b.serves(&chat("tg", None)));
    }

    #[test]
    fn admins_are_group_admins_or_listed() {
        let b = bot(GroupFilter::All);
        let mut s = Sender::member("42");
        assert!(b.is_admin(&chat("tg", Some("g")), &s));
        assert!(!b.is_admin(&chat("qq", Some("g")), &s));
        s.id = "7".into();
        assert!(!b.is_admin(&chat("tg", Some("g")), &s));
        s.role = Role::Admin;
        assert!(b.is_admin(&chat("qq", Some("g")), &s));
    }
}
