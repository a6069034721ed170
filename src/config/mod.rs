//! Loading config.yaml and the bot files into a validated [`Config`]: the
//! only module that names the YAML crates.
//!
//! Loading runs in two phases (STYLE P7). Each file is parsed (serde_yaml),
//! indexed for positions (yaml-rust2's marked events, see `spans`), has its
//! `${VAR}` references substituted (see `env`), and is deserialized into a
//! plain mirror (`raw`). The mirror is then compiled (`compile`, `bots`):
//! adapters and plugins are looked up in the [`Registry`] and built from
//! their [`Options`]. Independent parts are compiled separately and every
//! problem, in every file, is collected; [`load`] fails with all of them,
//! sorted by file and position, each printing as `file:line:col: message`.
//!
//! # Files
//!
//! - `error`: [`ConfigError`].
//! - `spans`: path → `line:col` index of a YAML file.
//! - `env`: `${VAR}` / `${VAR:-default}` substitution.
//! - `source`: one parsed file (value, spans, secrets to scrub from errors).
//! - `de`: a `Deserializer` over YAML values that reads enums from maps.
//! - `options`: [`Options`] and the shared deserializing helpers.
//! - `raw`: serde mirrors of config.yaml and bot files.
//! - `compile`: config.yaml and the whole load; `bots`: one bot file.
//! - `limits`: [`LimitsConfig`], send-limit overrides.
//! - `duration`: [`Duration`], `30s`/`10m`/`1h`/`2d`.
//! - `schema`: [`bot_schema`] and [`config_schema`].

mod bots;
mod compile;
mod de;
mod duration;
mod env;
mod error;
mod limits;
mod options;
mod raw;
mod schema;
mod source;
mod spans;

pub use duration::{Duration, parse_duration};
pub use error::ConfigError;
pub use limits::{LimitsConfig, RateSpec};
pub use options::Options;
pub use schema::{bot_schema, config_schema};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono_tz::Tz;

use crate::adapter::Adapter;
use crate::bot::BotInfo;
use crate::event::AdapterId;
use crate::outbox::RateLimits;
use crate::plugin::Plugin;
use crate::registry::Registry;

/// The daemon's HTTP listener (webhooks, admin API, metrics).
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Address to listen on; `127.0.0.1:8080` when `http:` is present without
    /// `listen`, so nothing is exposed beyond the host by default.
    pub listen: std::net::SocketAddr,
}

/// A configured platform connection, built but not running.
pub struct AdapterEntry {
    /// Its id (the key under `adapters:`); bots name it.
    pub id: AdapterId,
    /// Its `kind:`, for logs and `qunbot check`.
    pub kind: String,
    /// The platform's send limits (`Adapter::limits`) with config.yaml's
    /// `limits:` overrides applied; the outbox paces sends by them.
    pub limits: RateLimits,
    /// The adapter, shared by the runtime and the outbox.
    pub adapter: Arc<dyn Adapter>,
}

/// A plugin of a bot, built.
pub struct PluginEntry {
    /// Its `use:` kind, for logs and errors.
    pub kind: String,
    /// The plugin.
    pub plugin: Box<dyn Plugin>,
}

/// A bot, built.
pub struct BotEntry {
    /// Its identity and reach; shared with its plugins' contexts.
    pub info: Arc<BotInfo>,
    /// The file it came from, for messages and reloads.
    pub file: PathBuf,
    /// Its plugins, in the order the file lists them (the order they see
    /// events).
    pub plugins: Vec<PluginEntry>,
}

/// The whole validated configuration.
pub struct Config {
    /// config.yaml's path.
    pub file: PathBuf,
    /// Default time zone of bots (`UTC` unless config.yaml sets `timezone`).
    pub timezone: Tz,
    /// Where state lives (`sqlite://…`, `postgres://…`); relative SQLite paths
    /// are resolved against config.yaml's folder.
    pub storage_url: String,
    /// The HTTP listener, if configured.
    pub http: Option<HttpConfig>,
    /// Connections, in file order.
    pub adapters: Vec<AdapterEntry>,
    /// The bots folder, resolved against config.yaml's folder (for reloads
    /// and messages).
    pub bots_dir: PathBuf,
    /// Bots, sorted by file name.
    pub bots: Vec<BotEntry>,
}

/// Load config.yaml and every bot it names, reporting every problem found
/// (sorted by file, then position). `${VAR}`s come from the process
/// environment.
pub fn load(path: &Path, registry: &Registry) -> Result<Config, Vec<ConfigError>> {
    load_with_env(path, registry, &|name| std::env::var(name).ok())
}

/// [`load`] with `${VAR}`s looked up by `env` instead of the process
/// environment (tests, embedding).
pub fn load_with_env(
    path: &Path,
    registry: &Registry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<ConfigError>> {
    compile::load(path, registry, env)
}
