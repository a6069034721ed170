//! The [`Ctx`] handed to plugins: what they may read (bot, store, time) and
//! how they ask for actions.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::Decision;
use crate::adapter::Capabilities;
use crate::bot::BotInfo;
use crate::event::{Action, AdapterId, Event, EventKind, Outgoing, Target};
use crate::storage::Store;

/// One plugin's view of one event being handled.
pub struct Ctx<'a> {
    /// The bot the plugin belongs to.
    bot: &'a BotInfo,
    /// Durable state (through the store traits, never SQL).
    store: &'a dyn Store,
    /// What each adapter can do, so plugins can pick a fallback themselves.
    capabilities: &'a HashMap<AdapterId, Capabilities>,
    /// The decision time stamped on every action.
    now: DateTime<Utc>,
    /// The plugin kind, stamped on every action.
    plugin: &'a str,
    /// Actions asked for so far; a std mutex since it is never held across
    /// an await and plugins take `&self`.
    actions: Mutex<Vec<Decision>>,
}

impl<'a> Ctx<'a> {
    /// A context for `plugin` of `bot` at time `now`.
    pub fn new(
        bot: &'a BotInfo,
        store: &'a dyn Store,
        capabilities: &'a HashMap<AdapterId, Capabilities>,
        now: DateTime<Utc>,
        plugin: &'a str,
    ) -> Self {
        Self {
            bot,
            store,
            capabilities,
            now,
            plugin,
            actions: Mutex::new(Vec::new()),
        }
    }

    /// The bot.
    pub fn bot(&self) -> &BotInfo {
        self.bot
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store
    }

    /// The time of the event being handled (the virtual time in simulation).
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// What `adapter` can do (everything, for an adapter the runtime does not
    /// know, so nothing is silently lost).
    pub fn capabilities(&self, adapter: &AdapterId) -> Capabilities {
        self.capabilities
            .get(adapter)
            .copied()
            .unwrap_or(Capabilities::ALL)
    }

    /// `action` as `adapter` can carry it out: its fallback (a reply becomes
    /// a post) when the platform cannot do it as asked. The runtime fits
    /// actions asked for with [`Ctx::act`] itself; plugins that queue an
    /// action with a store change (coupon grants) fit it with this first.
    pub fn fitted(&self, adapter: &AdapterId, action: Action) -> Action {
        let caps = self.capabilities(adapter);
        if caps.supports(&action) {
            return action;
        }
        caps.fallback(&action).unwrap_or(action)
    }

    /// Ask for `action` through `adapter`, with an optional reason.
    pub fn act(&self, adapter: &AdapterId, action: Action, reason: Option<String>) {
        let out = Outgoing {
            at: self.now,
            bot: self.bot.name.clone(),
            adapter: adapter.clone(),
            action,
            reason,
            plugin: Some(self.plugin.to_owned()),
        };
        self.push(out, false);
    }

    /// Report an action the store has already queued durably, together with
    /// the change that decided it (a coupon grant and its delivery): it is
    /// shown in simulation and not queued again.
    pub fn queued(&self, out: Outgoing) {
        self.push(out, true);
    }

    fn push(&self, outgoing: Outgoing, queued: bool) {
        self.actions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Decision { outgoing, queued });
    }

    /// Answer the message of `event`: a reply in its group, or a direct
    /// message in a direct chat. Does nothing for events without a message.
    pub fn reply(&self, event: &Event, text: impl Into<String>) {
        let EventKind::Message {
            chat,
            sender,
            message,
        } = &event.kind
        else {
            return;
        };
        let action = match &chat.group {
            Some(group) => Action::Reply {
                group: group.clone(),
                reply_to: message.id.clone(),
                text: text.into(),
            },
            None => Action::Send {
                to: Target::User(sender.id.clone()),
                text: text.into(),
            },
        };
        self.act(&chat.adapter, action, None);
    }

    /// Post `text` to `to` through `adapter`.
    pub fn send(&self, adapter: &AdapterId, to: Target, text: impl Into<String>) {
        self.act(
            adapter,
            Action::Send {
                to,
                text: text.into(),
            },
            None,
        );
    }

    /// The actions asked for, in order.
    pub fn into_actions(self) -> Vec<Decision> {
        self.actions.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("bot", &self.bot.name)
            .field("plugin", &self.plugin)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}
