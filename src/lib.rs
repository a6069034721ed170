//! qunbot: bots for marketing and community groups, written in YAML, run by
//! one daemon.
//!
//! # Layout
//!
//! - [`event`]: what flows through: `Event`s in, `Action`s out, id newtypes.
//! - [`bot`]: a bot's identity and reach (adapters, groups, admins, zone).
//! - [`config`]: config.yaml and bot files → validated `Config`; the only
//!   module that names the YAML crate.
//! - [`registry`]: the lists of plugin and adapter kinds.
//! - [`plugin`]: the `Plugin` trait and the built-in plugins.
//! - [`adapter`]: the `Adapter` trait, capabilities, the shared HTTP transport, and one
//!   module per platform (console, telegram, onebot, webhook, matrix).
//! - [`runtime`]: routing events through bots' plugins; the daemon and its HTTP listener.
//! - [`outbox`]: the durable action queue and the send governor.
//! - [`scheduler`]: cron jobs → scheduled events, once per slot.
//! - [`storage`]: the `Store` traits and their backends.
//! - [`clock`]: system and virtual time.
//! - [`simulate`]: transcript replay on a virtual clock.
//! - [`template`]: message templates (`{{user.name}}`).
//! - [`text`]: text normalisation for matching.
//! - [`error`]: shared error aliases.

pub mod adapter;
pub mod bot;
pub mod clock;
pub mod config;
pub mod error;
pub mod event;
pub mod outbox;
pub mod plugin;
pub mod registry;
pub mod runtime;
pub mod scheduler;
pub mod simulate;
pub mod storage;
pub mod template;
pub mod text;
