//! A bot's identity and reach, compiled from its file: which connections and
//! groups it serves, who its admins are, its time zone and language.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
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

impl<T: From<String>> Scoped<T> {
    /// Read `"ADAPTER:ID"` (pinned, when ADAPTER is one of `adapters`) or
    /// `"ID"` (any adapter). Ids may contain `:` themselves (Matrix rooms),
    /// so the prefix pins only when it names a known adapter.
    pub fn parse(text: &str, adapters: &[AdapterId]) -> Self {
        if let Some((prefix, rest)) = text.split_once(':') {
            if let Some(a) = adapters.iter().find(|a| a.as_str() == prefix) {
                return Scoped {
                    adapter: Some(a.clone()),
                    id: T::from(rest.to_owned()),
                };
            }
        }
        Scoped {
            adapter: None,
            id: T::from(text.to_owned()),
        }
    }
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
    /// Read a time option: RFC 3339 (`2026-11-24T11:30:00+08:00`), or a
    /// local time in the bot's zone (`2026-11-24 11:30`, `2026-11-24T11:30:00`,
    /// `2026-11-24` for midnight).
    pub fn parse_time(&self, text: &str) -> Result<DateTime<Utc>, String> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(t.with_timezone(&Utc));
        }
        let naive = [
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| {
            format!("{text:?} is not a time (write 2026-11-24T11:30:00+08:00 or 2026-11-24 11:30)")
        })?;
        self.timezone
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("{text:?} does not exist in {}", self.timezone))
    }

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
    fn scoped_ids_pin_only_known_adapters() {
        let known = vec![AdapterId::from("tg"), AdapterId::from("mx")];
        let s: Scoped<GroupId> = Scoped::parse("tg:-1001234", &known);
        assert_eq!(s.adapter, Some("tg".into()));
        assert_eq!(s.id.as_str(), "-1001234");
        let s: Scoped<GroupId> = Scoped::parse("!room:example.org", &known);
        assert_eq!(s.adapter, None);
        assert_eq!(s.id.as_str(), "!room:example.org");
        let s: Scoped<GroupId> = Scoped::parse("mx:!room:example.org", &known);
        assert_eq!(s.adapter, Some("mx".into()));
        assert_eq!(s.id.as_str(), "!room:example.org");
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
    fn times_are_rfc3339_or_local_to_the_bot() {
        let b = bot(GroupFilter::All);
        let want = DateTime::parse_from_rfc3339("2026-11-24T03:30:00Z").unwrap();
        assert_eq!(b.parse_time("2026-11-24T11:30:00+08:00").unwrap(), want);
        assert_eq!(b.parse_time("2026-11-24 11:30").unwrap(), want);
        assert_eq!(
            b.parse_time("2026-11-24").unwrap(),
            want - chrono::Duration::minutes(11 * 60 + 30)
        );
        assert!(b.parse_time("tomorrow").is_err());
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
