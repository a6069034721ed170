//! The runtime: routes each event to the bots that serve its chat, runs
//! their plugins in order, and returns the actions they asked for.
//!
//! [`Runtime::handle`] is the whole decision path; the daemon
//! ([`daemon::run`]) feeds it from adapters and the scheduler and queues its
//! actions in the outbox, while simulation feeds it a transcript and prints
//! them.

mod context;
pub mod daemon;
mod dispatch;
mod http;
mod soft_mute;

pub use context::Ctx;
pub use daemon::{RunOptions, run};

pub use crate::bot::BotInfo;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::adapter::Capabilities;
use crate::config::BotEntry;
use crate::error::BoxError;
use crate::event::{AdapterId, Event, EventKind, Outgoing};
use crate::plugin::Flow;
use crate::scheduler::{BotJob, Schedule};
use crate::storage::Store;
use soft_mute::{Intercepted, SoftMutes};

/// An action a bot decided on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The action and its provenance.
    pub outgoing: Outgoing,
    /// Already in the outbox, queued by the store with the change that
    /// decided it; the runtime must not queue it again.
    pub queued: bool,
}

impl Decision {
    /// An action still to be queued.
    fn new(outgoing: Outgoing) -> Self {
        Self {
            outgoing,
            queued: false,
        }
    }
}

/// The bots and what they share.
pub struct Runtime {
    /// Bots in config order; an event reaches them in this order.
    bots: Vec<BotEntry>,
    /// Durable state, shared by all bots.
    store: Arc<dyn Store>,
    /// What each adapter can do: actions beyond it fall back or are reported.
    capabilities: HashMap<AdapterId, Capabilities>,
    /// Groups already noted in the store, per bot (by index) and adapter, so
    /// the hot path writes only once per group; plain strings so a lookup
    /// borrows instead of cloning ids, and foldhash since two lookups run
    /// for every event.
    seen_groups: Mutex<Vec<foldhash::HashMap<String, foldhash::HashSet<String>>>>,
    /// Mutes the runtime keeps itself, on adapters that cannot mute.
    soft_mutes: SoftMutes,
}

impl Runtime {
    /// A runtime for `bots` over `store`; `capabilities` per adapter id.
    pub fn new(
        bots: Vec<BotEntry>,
        store: Arc<dyn Store>,
        capabilities: HashMap<AdapterId, Capabilities>,
    ) -> Self {
        Self {
            soft_mutes: SoftMutes::new(&capabilities),
            bots,
            store,
            capabilities,
            seen_groups: Mutex::new(Vec::new()),
        }
    }

    /// The bots.
    pub fn bots(&self) -> &[BotEntry] {
        &self.bots
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Every cron job of every bot's plugins.
    pub fn schedule(&self) -> Schedule {
        let mut jobs = Vec::new();
        for bot in &self.bots {
            let name: Arc<str> = Arc::from(bot.info.name.as_str());
            for entry in &bot.plugins {
                for job in entry.plugin.jobs() {
                    jobs.push(BotJob {
                        bot: name.clone(),
                        tz: bot.info.timezone,
                        job,
                    });
                }
            }
        }
        Schedule::new(jobs)
    }

    /// Start every plugin of every bot (open their durable state) at `now`;
    /// the first failure stops the start-up, naming bot and plugin.
    pub async fn start(&self, now: DateTime<Utc>) -> Result<(), BoxError> {
        self.soft_mutes.load(&*self.store).await?;
        for bot in &self.bots {
            for entry in &bot.plugins {
                let ctx = Ctx::new(&bot.info, &*self.store, &self.capabilities, now, &entry.kind);
                entry
                    .plugin
                    .start(&ctx)
                    .await
                    .map_err(|e| format!("bot {}: plugin {}: {e}", bot.info.name, entry.kind))?;
            }
        }
        Ok(())
    }

    /// Run `event` through every bot that serves it, decided at `now`, and
    /// return the actions asked for, in order. Actions an adapter cannot do
    /// are replaced by their fallback or reported in the log.
    pub async fn handle(&self, event: &Event, now: DateTime<Utc>) -> Vec<Decision> {
        if let Some(delete) = self.soft_mutes.silence(event, now) {
            return self.fit(delete).map(Decision::new).into_iter().collect();
        }
        let mut out = Vec::new();
        for (index, bot) in self.bots.iter().enumerate() {
            let serves = match &event.kind {
                EventKind::Scheduled(slot) => slot.bot == bot.info.name,
                _ => event.chat().is_some_and(|c| bot.info.serves(c)),
            };
            if !serves {
                continue;
            }
            self.note_group(index, bot, event).await;
            for entry in &bot.plugins {
                let ctx = Ctx::new(&bot.info, &*self.store, &self.capabilities, now, &entry.kind);
                let flow = entry.plugin.on_event(&ctx, event).await;
                for decision in ctx.into_actions() {
                    if decision.queued {
                        out.push(decision);
                        continue;
                    }
                    let outgoing = match self.soft_mute(decision.outgoing, &bot.info, event).await {
                        Some(outgoing) => outgoing,
                        None => continue,
                    };
                    out.extend(self.fit(outgoing).map(Decision::new));
                }
                match flow {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Stop) => break,
                    Err(error) => {
                        // One funnel for plugin failures: log and let the
                        // next plugin see the event, so one broken plugin
                        // does not silence a bot.
                        tracing::error!(bot = %bot.info.name, plugin = %entry.kind, %error, "plugin failed");
                    }
                }
            }
        }
        out
    }

    /// A mute for an adapter that cannot mute becomes the runtime's own
    /// (announced in the group); anything else passes unchanged.
    async fn soft_mute(&self, outgoing: Outgoing, bot: &BotInfo, event: &Event) -> Option<Outgoing> {
        let caps = self
            .capabilities
            .get(&outgoing.adapter)
            .copied()
            .unwrap_or(Capabilities::ALL);
        match self
            .soft_mutes
            .intercept(outgoing, bot, event, &*self.store, caps)
            .await
        {
            Intercepted::Pass(outgoing) => Some(outgoing),
            Intercepted::Replaced(announcement) => announcement,
        }
    }

    /// Fit an action to its adapter's capabilities.
    fn fit(&self, mut o: Outgoing) -> Option<Outgoing> {
        let caps = self
            .capabilities
            .get(&o.adapter)
            .copied()
            .unwrap_or(Capabilities::ALL);
        if caps.supports(&o.action) {
            return Some(o);
        }
        match caps.fallback(&o.action) {
            Some(action) => {
                tracing::debug!(adapter = %o.adapter, from = o.action.name(), to = action.name(), "action falls back");
                o.action = action;
                Some(o)
            }
            None => {
                tracing::warn!(
                    bot = %o.bot,
                    adapter = %o.adapter,
                    action = o.action.name(),
                    reason = o.reason.as_deref().unwrap_or(""),
                    "the platform cannot do this action and it has no fallback; not sent"
                );
                None
            }
        }
    }

    async fn note_group(&self, index: usize, bot: &BotEntry, event: &Event) {
        let Some(chat) = event.chat() else { return };
        let Some(group) = &chat.group else { return };
        let new = {
            let mut seen = self.seen_groups.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() <= index {
                seen.resize_with(index + 1, foldhash::HashMap::default);
            }
            let by_adapter = &mut seen[index];
            match by_adapter.get_mut(chat.adapter.as_str()) {
                Some(groups) if groups.contains(group.as_str()) => false,
                Some(groups) => groups.insert(group.0.clone()),
                None => {
                    by_adapter.insert(chat.adapter.0.clone(), std::iter::once(group.0.clone()).collect());
                    true
                }
            }
        };
        if new {
            if let Err(error) = self.store.note_group(&bot.info.name, &chat.adapter, group).await {
                // Forget it, so the next event of the group tries again.
                tracing::warn!(%error, "could not record a group; retrying on its next event");
                let mut seen = self.seen_groups.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(groups) = seen.get_mut(index).and_then(|m| m.get_mut(chat.adapter.as_str())) {
                    groups.remove(group.as_str());
                }
            }
        }
    }
}
