//! A harness for plugin unit tests: one plugin of one bot, events in,
//! actions out, on a virtual time line.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeZone, Utc};

use super::{BuildCx, Flow, Plugin, PluginConfig};
use crate::adapter::Capabilities;
use crate::bot::{BotInfo, GroupFilter, Locale};
use crate::config::{ConfigError, Options};
use crate::event::{Action, AdapterId, Chat, Event, EventKind, Message, MessageId, Outgoing, Sender, Slot};
use crate::runtime::Ctx;
use crate::storage::{self, Store};

/// What one event produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) actions: Vec<Outgoing>,
    pub(crate) flow: Flow,
}

impl Outcome {
    /// The texts of replies and sends, in order.
    pub(crate) fn replies(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|o| match &o.action {
                Action::Reply { text, .. } | Action::Send { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

pub(crate) struct PluginHarness {
    pub(crate) bot: BotInfo,
    plugin: Box<dyn Plugin>,
    store: Arc<dyn Store>,
    caps: HashMap<AdapterId, Capabilities>,
    now: Mutex<DateTime<Utc>>,
    next_id: AtomicU64,
    kind: &'static str,
}

pub(crate) fn test_bot() -> BotInfo {
    BotInfo {
        name: "test".into(),
        adapters: vec!["console".into()],
        groups: GroupFilter::All,
        admins: Vec::new(),
        timezone: chrono_tz::Asia::Shanghai,
        locale: Locale::Zh,
    }
}

impl PluginHarness {
    /// Build plugin `C` from YAML options.
    pub(crate) async fn new<C: PluginConfig>(yaml: &str) -> Self {
        let bot = test_bot();
        let plugin = build::<C>(&bot, yaml).unwrap_or_else(|e| panic!("build failed: {e:?}"));
        let h = Self {
            bot,
            plugin,
            store: storage::open("sqlite::memory:").await.expect("memory store"),
            caps: HashMap::from([(AdapterId::from("console"), Capabilities::ALL)]),
            now: Mutex::new(Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap()),
            next_id: AtomicU64::new(1),
            kind: C::KIND,
        };
        let caps = h.caps.clone();
        let ctx = Ctx::new(&h.bot, &*h.store, &caps, h.now(), h.kind);
        h.plugin.start(&ctx).await.expect("plugin start");
        drop(ctx);
        h
    }

    /// The same bot and store with plugin `C` built again from `yaml` and
    /// started, as after a restart (the clock goes on).
    pub(crate) async fn restart<C: PluginConfig>(self, yaml: &str) -> Self {
        let plugin = build::<C>(&self.bot, yaml).unwrap_or_else(|e| panic!("build failed: {e:?}"));
        let h = Self { plugin, ..self };
        let ctx = Ctx::new(&h.bot, &*h.store, &h.caps, h.now(), h.kind);
        h.plugin.start(&ctx).await.expect("plugin start");
        drop(ctx);
        h
    }

    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The errors building `C` from `yaml` reports.
    pub(crate) fn build_errors<C: PluginConfig>(yaml: &str) -> Vec<ConfigError> {
        match build::<C>(&test_bot(), yaml) {
            Ok(_) => panic!("expected build errors"),
            Err(e) => e,
        }
    }

    pub(crate) fn plugin(&self) -> &dyn Plugin {
        &*self.plugin
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    pub(crate) fn advance(&self, secs: i64) {
        *self.now.lock().unwrap() += chrono::Duration::seconds(secs);
    }

    pub(crate) async fn event(&self, kind: EventKind) -> Outcome {
        let now = self.now();
        let ev = Event { at: now, kind };
        let ctx = Ctx::new(&self.bot, &*self.store, &self.caps, now, self.kind);
        let flow = self.plugin.on_event(&ctx, &ev).await.expect("plugin error");
        Outcome {
            actions: ctx.into_actions().into_iter().map(|d| d.outgoing).collect(),
            flow,
        }
    }

    pub(crate) async fn message_as(&self, group: Option<&str>, sender: Sender, text: &str) -> Outcome {
        let id = MessageId(format!("m{}", self.next_id.fetch_add(1, Ordering::Relaxed)));
        self.event(EventKind::Message {
            chat: Chat {
                adapter: "console".into(),
                group: group.map(Into::into),
            },
            sender,
            message: Message {
                id,
                text: text.into(),
                reply_to: None,
            },
        })
        .await
    }

    pub(crate) async fn message(&self, group: &str, user: &str, text: &str) -> Outcome {
        self.message_as(Some(group), Sender::member(user), text).await
    }

    pub(crate) async fn join(&self, group: &str, member: Sender) -> Outcome {
        self.event(EventKind::Join {
            chat: Chat {
                adapter: "console".into(),
                group: Some(group.into()),
            },
            member,
        })
        .await
    }

    pub(crate) async fn slot(&self, job: &str) -> Outcome {
        let time = self.now();
        self.event(EventKind::Scheduled(Slot {
            bot: self.bot.name.clone(),
            job: job.into(),
            time,
        }))
        .await
    }
}

fn build<C: PluginConfig>(bot: &BotInfo, yaml: &str) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
    let options = Options::from_yaml(std::path::Path::new("test.yaml"), yaml).map_err(|e| vec![e])?;
    let cx = BuildCx {
        bot,
        base_dir: std::path::Path::new("."),
        options: &options,
    };
    let config: C = options.parse().map_err(|e| vec![e])?;
    config.build(&cx)
}
