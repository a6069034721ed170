//! Plugins: the units a bot is made of (`use: autoreply`, `use: moderation`…).
//!
//! A plugin sees every event its bot receives, in the order the bot lists its
//! plugins, and answers with [`Flow`]: go on to the next plugin, or stop.
//! It never calls a platform: it asks the [`Ctx`] for actions, which the
//! runtime queues through the outbox (or prints, in simulation).
//!
//! Each plugin kind is a [`PluginConfig`]: a serde struct of its YAML
//! options with a `build` method. [`builtins`] lists every kind; the CLI's
//! `list` and `schema` commands and config compilation read that list.

mod autoreply;
mod coupons;
pub mod faq;
pub mod moderation;
mod promotions;
#[cfg(test)]
pub(crate) mod testing;
mod welcome;

pub use autoreply::AutoreplyConfig;
pub use coupons::CouponsConfig;
pub use faq::FaqConfig;
pub use moderation::ModerationConfig;
pub use promotions::PromotionsConfig;
pub use welcome::WelcomeConfig;

use async_trait::async_trait;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;

use crate::config::{ConfigError, Options};
use crate::error::BoxError;
use crate::event::Event;
use crate::runtime::{BotInfo, Ctx};
use crate::scheduler::Job;

/// What happens after a plugin has seen an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Later plugins see the event too.
    Continue,
    /// Later plugins do not see the event (moderation deleting spam stops the
    /// FAQ from answering it).
    Stop,
}

/// A running plugin of one bot.
#[async_trait]
pub trait Plugin: Send + Sync {
    /// Handle one event. Actions are requested through `ctx`.
    async fn on_event(&self, ctx: &Ctx<'_>, event: &Event) -> Result<Flow, BoxError>;

    /// Prepare durable state before the first event (open coupon pools…).
    /// Called once per run, before events and scheduled slots; an error
    /// stops the start-up.
    async fn start(&self, ctx: &Ctx<'_>) -> Result<(), BoxError> {
        let _ = ctx;
        Ok(())
    }

    /// The cron jobs this plugin wants; their slots come back as
    /// [`crate::event::EventKind::Scheduled`] events with the job's id.
    fn jobs(&self) -> Vec<Job> {
        Vec::new()
    }
}

#[async_trait]
impl<P: Plugin + ?Sized> Plugin for Box<P> {
    async fn on_event(&self, ctx: &Ctx<'_>, event: &Event) -> Result<Flow, BoxError> {
        (**self).on_event(ctx, event).await
    }

    async fn start(&self, ctx: &Ctx<'_>) -> Result<(), BoxError> {
        (**self).start(ctx).await
    }

    fn jobs(&self) -> Vec<Job> {
        (**self).jobs()
    }
}

/// What a plugin's `build` may look at besides its own options.
#[derive(Debug)]
pub struct BuildCx<'a> {
    /// The bot the plugin belongs to (name, time zone, locale, admins).
    pub bot: &'a BotInfo,
    /// The folder relative paths in options (e.g. `codes_file`) resolve from:
    /// the folder of the bot's file.
    pub base_dir: &'a std::path::Path,
    /// The plugin's options, for errors located at a sub-key.
    pub options: &'a Options,
}

/// A plugin kind's options, as written under `- use: KIND` in a bot file.
///
/// Implementing this trait (plus serde and JsonSchema derives) is all a new
/// plugin kind needs; [`builtins`] wraps it into a [`PluginFactory`].
pub trait PluginConfig: DeserializeOwned + JsonSchema + Sized + 'static {
    /// The `use:` value.
    const KIND: &'static str;
    /// One line for `qunbot list`.
    const ABOUT: &'static str;

    /// Validate the options further and build the running plugin.
    fn build(self, cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>>;
}

/// A registered plugin kind, object-safe so the registry can list them.
pub trait PluginFactory: Send + Sync {
    /// The `use:` value.
    fn kind(&self) -> &'static str;
    /// One line for `qunbot list`.
    fn about(&self) -> &'static str;
    /// The JSON Schema of the options (without `use`).
    fn schema(&self, generator: &mut SchemaGenerator) -> Schema;
    /// Parse the options and build the plugin, reporting every problem found.
    fn build(&self, cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>>;
}

/// The factory of a [`PluginConfig`] type.
struct Builtin<C>(std::marker::PhantomData<fn() -> C>);

impl<C: PluginConfig> PluginFactory for Builtin<C> {
    fn kind(&self) -> &'static str {
        C::KIND
    }

    fn about(&self) -> &'static str {
        C::ABOUT
    }

    fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<C>()
    }

    fn build(&self, cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
        let config: C = cx.options.parse_all()?;
        config.build(cx)
    }
}

fn builtin<C: PluginConfig>() -> Box<dyn PluginFactory> {
    Box::new(Builtin::<C>(std::marker::PhantomData))
}

/// Every built-in plugin kind, in the order `qunbot list` shows them.
pub fn builtins() -> Vec<Box<dyn PluginFactory>> {
    vec![
        builtin::<AutoreplyConfig>(),
        builtin::<WelcomeConfig>(),
        builtin::<ModerationConfig>(),
        builtin::<CouponsConfig>(),
        builtin::<PromotionsConfig>(),
        builtin::<FaqConfig>(),
    ]
}
