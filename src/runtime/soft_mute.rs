//! Mutes on platforms that cannot mute (Slack, some bridges): the runtime
//! keeps the member quiet itself. The mute is announced in the group and
//! every message the member writes there until it ends is deleted before
//! any plugin sees it. Mutes survive restarts (one store value per
//! adapter) and end with their time or an `unmute`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::adapter::Capabilities;
use crate::bot::{BotInfo, Locale};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Event, EventKind, Outgoing, Target, UserId};
use crate::storage::Store;

/// The store namespace; the key is the adapter id.
const NAMESPACE: &str = "soft_mutes";

/// One member kept quiet in one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    group: String,
    user: String,
    until: DateTime<Utc>,
    /// The bot whose moderation muted them: it deletes their messages.
    bot: String,
}

/// What to do with an action bound for an adapter without mutes.
pub(crate) enum Intercepted {
    /// Not a mute: carry on with it.
    Pass(Outgoing),
    /// Done here; send this instead (the announcement), if anything.
    Replaced(Option<Outgoing>),
}

/// The soft mutes of every adapter that can delete but cannot mute.
pub(crate) struct SoftMutes {
    adapters: HashSet<AdapterId>,
    entries: Mutex<HashMap<AdapterId, Vec<Entry>>>,
}

impl SoftMutes {
    /// Soft mutes for the adapters in `capabilities` that delete but do not
    /// mute.
    pub(crate) fn new(capabilities: &HashMap<AdapterId, Capabilities>) -> Self {
        let adapters = capabilities
            .iter()
            .filter(|(_, caps)| caps.delete && !caps.mute)
            .map(|(id, _)| id.clone())
            .collect();
        Self {
            adapters,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Load the mutes kept in `store`.
    pub(crate) async fn load(&self, store: &dyn Store) -> Result<(), BoxError> {
        for adapter in &self.adapters {
            let Some(json) = store.kv_get(NAMESPACE, adapter.as_str()).await? else {
                continue;
            };
            let entries: Vec<Entry> =
                serde_json::from_str(&json).map_err(|e| format!("soft mutes of adapter {adapter}: {e}"))?;
            self.lock().insert(adapter.clone(), entries);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AdapterId, Vec<Entry>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// If `event` is a message of a member muted here, the deletion of it
    /// (decided at `now`); the event then reaches no plugin.
    pub(crate) fn silence(&self, event: &Event, now: DateTime<Utc>) -> Option<Outgoing> {
        if self.adapters.is_empty() {
            return None;
        }
        let EventKind::Message {
            chat,
            sender,
            message,
        } = &event.kind
        else {
            return None;
        };
        let group = chat.group.as_ref()?;
        if !self.adapters.contains(&chat.adapter) {
            return None;
        }
        let entries = self.lock();
        let entry = entries
            .get(&chat.adapter)?
            .iter()
            .find(|e| e.group == group.as_str() && e.user == sender.id.as_str() && e.until > now)?;
        Some(Outgoing {
            at: now,
            bot: entry.bot.clone(),
            adapter: chat.adapter.clone(),
            action: Action::Delete {
                group: group.clone(),
                message: message.id.clone(),
            },
            reason: Some(format!("muted until {} (the platform cannot mute)", entry.until)),
            plugin: None,
        })
    }

    /// Take over a mute or unmute bound for an adapter without mutes:
    /// remember (or forget) it and announce it. `event` is the event that
    /// led to it, for the member's name.
    pub(crate) async fn intercept(
        &self,
        outgoing: Outgoing,
        bot: &BotInfo,
        event: &Event,
        store: &dyn Store,
        caps: Capabilities,
    ) -> Intercepted {
        if !self.adapters.contains(&outgoing.adapter) {
            return Intercepted::Pass(outgoing);
        }
        let (group, user, until) = match &outgoing.action {
            Action::Mute { group, user, seconds } => {
                let seconds = i64::try_from(*seconds).unwrap_or(i64::MAX);
                let until = outgoing.at + Duration::try_seconds(seconds).unwrap_or(Duration::MAX);
                (group.clone(), user.clone(), Some(until))
            }
            Action::Unmute { group, user } => (group.clone(), user.clone(), None),
            _ => return Intercepted::Pass(outgoing),
        };
        let saved = {
            let mut entries = self.lock();
            let list = entries.entry(outgoing.adapter.clone()).or_default();
            list.retain(|e| (e.group != group.as_str() || e.user != user.as_str()) && e.until > outgoing.at);
            if let Some(until) = until {
                list.push(Entry {
                    group: group.0.clone(),
                    user: user.0.clone(),
                    until,
                    bot: outgoing.bot.clone(),
                });
            }
            serde_json::to_string(list)
        };
        match saved {
            Ok(json) => {
                if let Err(error) = store.kv_put(NAMESPACE, outgoing.adapter.as_str(), &json).await {
                    tracing::warn!(%error, adapter = %outgoing.adapter, "could not keep a soft mute; it lasts until a restart");
                }
            }
            Err(error) => tracing::warn!(%error, "could not encode soft mutes"),
        }
        let Some(until) = until else {
            return Intercepted::Replaced(None);
        };
        if !caps.send {
            return Intercepted::Replaced(None);
        }
        let minutes = ((until - outgoing.at).num_seconds().max(0) as u64).div_ceil(60);
        let text = announcement(bot.locale, &name_of(event, &user), minutes);
        Intercepted::Replaced(Some(Outgoing {
            action: Action::Send {
                to: Target::Group(group),
                text,
            },
            ..outgoing
        }))
    }
}

/// The member's display name when `event` is theirs, else their id.
fn name_of(event: &Event, user: &UserId) -> String {
    match &event.kind {
        EventKind::Message { sender, .. } if &sender.id == user => sender.name.clone(),
        EventKind::Join { member, .. } if &member.id == user => member.name.clone(),
        _ => user.to_string(),
    }
}

/// The message that tells the group a member is muted.
fn announcement(locale: Locale, name: &str, minutes: u64) -> String {
    match locale {
        Locale::Zh => format!("{name} 已被禁言 {minutes} 分钟，期间发送的消息会被删除。"),
        Locale::En => format!("{name} is muted for {minutes} min: messages sent meanwhile will be deleted."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_round_up_to_the_minute_in_the_bots_language() {
        assert_eq!(
            announcement(Locale::En, "Ann", 10),
            "Ann is muted for 10 min: messages sent meanwhile will be deleted."
        );
        assert!(announcement(Locale::Zh, "安", 1).starts_with("安 已被禁言 1 分钟"));
    }

    #[test]
    fn only_adapters_that_delete_but_cannot_mute_get_soft_mutes() {
        let mut caps = HashMap::new();
        caps.insert(AdapterId::from("full"), Capabilities::ALL);
        caps.insert(
            AdapterId::from("nomute"),
            Capabilities {
                mute: false,
                ..Capabilities::ALL
            },
        );
        caps.insert(
            AdapterId::from("sendonly"),
            Capabilities {
                mute: false,
                delete: false,
                ..Capabilities::ALL
            },
        );
        let soft = SoftMutes::new(&caps);
        assert_eq!(soft.adapters, HashSet::from([AdapterId::from("nomute")]));
    }
}
