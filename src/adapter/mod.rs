//! Adapters: one per platform connection, behind one trait.
//!
//! An adapter turns platform payloads into [`Event`]s (pushed into an
//! [`EventSink`]) and carries out [`Action`]s. It declares what it can do
//! ([`Capabilities`]) and how fast the platform lets a bot send
//! ([`RateLimits`]), so the runtime can fall back from what a platform cannot
//! do and the outbox can pace what it can.

mod console;
pub mod dingtalk;
pub mod discord;
pub mod feishu;
pub mod http;
pub mod matrix;
pub mod memory;
pub mod onebot;
pub mod recent;
pub mod robot;
pub mod sign;
pub mod slack;
pub mod split;
pub mod telegram;
pub mod webhook;
pub mod ws;

pub use console::{ConsoleAdapter, ConsoleConfig};
pub use dingtalk::{DingTalkAdapter, DingTalkConfig};
pub use discord::{DiscordAdapter, DiscordConfig};
pub use feishu::{FeishuAdapter, FeishuConfig};
pub use matrix::{MatrixAdapter, MatrixConfig};
pub use onebot::{OneBotAdapter, OneBotConfig};
pub use robot::{DingTalk, Feishu, RobotAdapter, RobotConfig, WeCom};
pub use slack::{SlackAdapter, SlackConfig};
pub use telegram::{TelegramAdapter, TelegramConfig};
pub use webhook::{WebhookAdapter, WebhookConfig};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{ConfigError, Options};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Event, GroupId, Target};
use crate::outbox::RateLimits;
use crate::storage::Store;

/// Where adapters push the events they receive.
pub type EventSink = mpsc::Sender<Event>;

/// Why an action could not be carried out, so the outbox knows what to do next.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The platform asked us to wait (HTTP 429 `retry_after`); retry after it.
    #[error("rate limited by the platform; retry after {0:?}")]
    RetryAfter(Duration),
    /// A failure that may pass (network, 5xx, timeout); retry with backoff.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// A failure that retrying cannot fix (message gone, no permission).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// What a platform lets a bot do. Actions outside these fall back (see
/// [`Capabilities::fallback`]) or are reported; none is dropped silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Post into groups.
    pub send: bool,
    /// Quote the message answered.
    pub reply: bool,
    /// Send direct messages.
    pub direct_message: bool,
    /// Delete members' messages.
    pub delete: bool,
    /// Mute members for a time (and unmute).
    pub mute: bool,
    /// Remove members.
    pub kick: bool,
    /// Remove members for good.
    pub ban: bool,
}

impl Capabilities {
    /// Everything (the console, simulation's in-memory adapters).
    pub const ALL: Capabilities = Capabilities {
        send: true,
        reply: true,
        direct_message: true,
        delete: true,
        mute: true,
        kick: true,
        ban: true,
    };

    /// Whether the platform can carry out `action` as it is.
    pub fn supports(&self, action: &Action) -> bool {
        match action {
            Action::Send {
                to: Target::User(_), ..
            } => self.direct_message,
            Action::Send { .. } => self.send,
            Action::Reply { .. } => self.reply,
            Action::Delete { .. } => self.delete,
            Action::Mute { .. } | Action::Unmute { .. } => self.mute,
            Action::Kick { .. } => self.kick,
            Action::Ban { .. } => self.ban,
        }
    }

    /// The nearest action the platform can do instead of `action`, if any:
    /// a reply becomes a plain send to the group. Actions without an
    /// equivalent (a DM on a platform without DMs) have none: the caller
    /// reports them, and plugins that know a better fallback (a group reply
    /// instead of a DM) ask [`Capabilities::supports`] first. A mute on a
    /// platform that can delete is kept by the runtime itself (its soft
    /// mutes), before this is asked.
    pub fn fallback(&self, action: &Action) -> Option<Action> {
        match action {
            Action::Reply { group, text, .. } if self.send => Some(Action::Send {
                to: Target::Group(group.clone()),
                text: text.clone(),
            }),
            _ => None,
        }
    }
}

/// A path an adapter serves on the daemon's HTTP listener (a webhook).
/// Paths are exclusive: config loading rejects two adapters claiming one,
/// and adapters with routes when no `http:` listener is configured.
pub struct Route {
    /// The path, such as `/telegram/tg`.
    pub path: String,
    /// What answers requests to it.
    pub handler: axum::routing::MethodRouter,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A connection to one platform account.
#[async_trait]
pub trait Adapter: Send + Sync {
    /// The id from config.yaml.
    fn id(&self) -> &AdapterId;

    /// What the platform lets the bot do.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// The platform's send limits, before config.yaml overrides.
    fn limits(&self) -> RateLimits {
        RateLimits::default()
    }

    /// Receive events until `shutdown` fires, pushing them into `events`.
    /// Reconnects are the adapter's business; returning an error stops only
    /// this adapter. The default receives nothing (send-only platforms).
    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let _ = events;
        shutdown.cancelled().await;
        Ok(())
    }

    /// The paths it serves on the daemon's HTTP listener (webhooks); none
    /// by default. Called once when config is compiled (to check the paths)
    /// and once when the listener starts; events received there reach
    /// [`Adapter::run`]'s sink through the adapter's own queue.
    fn routes(&self) -> Vec<Route> {
        Vec::new()
    }

    /// The groups a send-only adapter posts to (its robots), which no event
    /// would ever reveal: the daemon notes them at start for the bots that
    /// serve them, so posts without `groups:` reach them. None by default.
    fn groups(&self) -> Vec<GroupId> {
        Vec::new()
    }

    /// Carry out one action on the platform.
    async fn execute(&self, action: &Action) -> Result<(), SendError>;

    /// Carry out the queued action `key` names. The outbox calls this one:
    /// `key` is the same on every attempt of one queued action (retries,
    /// restarts), so platforms with idempotency keys (Matrix transaction
    /// ids) make a retried send a no-op. The default ignores the key.
    async fn execute_queued(&self, key: DeliveryKey, action: &Action) -> Result<(), SendError> {
        let _ = key;
        self.execute(action).await
    }

    /// Called by the daemon once it has opened its store, before [`Adapter::run`]
    /// and the first action, for adapters that keep state of their own
    /// across restarts (a sync token, pending timers). The default ignores it.
    fn attach(&self, services: &Services) {
        let _ = services;
    }
}

/// Names one queued action the same way on every attempt of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    /// Its queue position in the store.
    pub queue_id: i64,
    /// When the bot decided on it, in Unix milliseconds: with the queue id,
    /// unique even across a store that was wiped and started over.
    pub decided_ms: i64,
}

impl std::fmt::Display for DeliveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.queue_id, self.decided_ms)
    }
}

/// What the daemon shares with adapters ([`Adapter::attach`]).
#[derive(Clone)]
pub struct Services {
    /// The daemon's store (key-values for adapter state).
    pub store: Arc<dyn Store>,
    /// The daemon's clock, for timers an adapter keeps.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// What an adapter's `build` may look at besides its own options.
#[derive(Debug)]
pub struct AdapterCx<'a> {
    /// The connection's id from config.yaml.
    pub id: &'a AdapterId,
    /// The adapter's options (without `kind` and `limits`), for errors
    /// located at a sub-key.
    pub options: &'a Options,
}

/// A platform kind's connection options, as written under `adapters.ID`.
pub trait AdapterConfig: DeserializeOwned + JsonSchema + Sized + 'static {
    /// The `kind:` value.
    const KIND: &'static str;
    /// One line for `qunbot list`.
    const ABOUT: &'static str;

    /// Validate the options further and build the (not yet running) adapter.
    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>>;
}

/// A registered adapter kind, object-safe so the registry can list them.
pub trait AdapterFactory: Send + Sync {
    /// The `kind:` value.
    fn kind(&self) -> &'static str;
    /// One line for `qunbot list`.
    fn about(&self) -> &'static str;
    /// The JSON Schema of the options (without `kind` and `limits`).
    fn schema(&self, generator: &mut SchemaGenerator) -> Schema;
    /// Parse the options and build the adapter.
    fn build(&self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>>;
}

struct Builtin<C>(std::marker::PhantomData<fn() -> C>);

impl<C: AdapterConfig> AdapterFactory for Builtin<C> {
    fn kind(&self) -> &'static str {
        C::KIND
    }

    fn about(&self) -> &'static str {
        C::ABOUT
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<C>()
    }

    fn build(&self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let config: C = cx.options.parse_all()?;
        config.build(cx)
    }
}

fn builtin<C: AdapterConfig>() -> Box<dyn AdapterFactory> {
    Box::new(Builtin::<C>(std::marker::PhantomData))
}

/// Every built-in adapter kind, in the order `qunbot list` shows them.
pub fn builtins() -> Vec<Box<dyn AdapterFactory>> {
    vec![
        builtin::<ConsoleConfig>(),
        builtin::<TelegramConfig>(),
        builtin::<WebhookConfig>(),
        builtin::<OneBotConfig>(),
        builtin::<FeishuConfig>(),
        builtin::<DingTalkConfig>(),
        builtin::<RobotConfig<WeCom>>(),
        builtin::<RobotConfig<Feishu>>(),
        builtin::<RobotConfig<DingTalk>>(),
        builtin::<DiscordConfig>(),
        builtin::<SlackConfig>(),
        builtin::<MatrixConfig>(),
    ]
}
