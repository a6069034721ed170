//! Options of `kind: matrix`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::MatrixAdapter;
use crate::adapter::{Adapter, AdapterConfig, AdapterCx};
use crate::config::{ConfigError, Duration};

/// Options of `kind: matrix`: a bot account on a Matrix homeserver,
/// through the client-server API. `Debug` hides the access token.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatrixConfig {
    /// The homeserver's client API base URL, such as
    /// `https://matrix.example.org` (no `/_matrix` suffix).
    pub homeserver: String,
    /// The bot account's access token; write `${MATRIX_TOKEN}`. Sent as
    /// `Authorization: Bearer`, never logged.
    pub access_token: String,
    /// The bot's user id (`@bot:example.org`); asked from `/whoami` when
    /// not given. Events it sent itself are ignored.
    #[serde(default)]
    pub user_id: Option<String>,
    /// How long one `/sync` long poll waits for events.
    #[serde(default = "default_sync_timeout")]
    pub sync_timeout: Duration,
    /// Join rooms the bot is invited to.
    #[serde(default = "default_auto_join")]
    pub auto_join: bool,
}

impl std::fmt::Debug for MatrixConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixConfig")
            .field("homeserver", &self.homeserver)
            .field("access_token", &"***")
            .field("user_id", &self.user_id)
            .field("sync_timeout", &self.sync_timeout)
            .field("auto_join", &self.auto_join)
            .finish()
    }
}

fn default_sync_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(30))
}

fn default_auto_join() -> bool {
    true
}

impl MatrixConfig {
    /// Every problem with the options, located at their keys.
    fn check(&self, cx: &AdapterCx<'_>) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !(self.homeserver.starts_with("http://") || self.homeserver.starts_with("https://"))
            || reqwest::Url::parse(&self.homeserver).is_err()
        {
            errors.push(
                cx.options
                    .error_at("homeserver", "homeserver must be an http:// or https:// URL"),
            );
        }
        if self.access_token.trim().is_empty() {
            errors.push(cx.options.error_at("access_token", "the access token is empty"));
        }
        if let Some(user) = &self.user_id {
            if !(user.starts_with('@') && user.contains(':')) {
                errors.push(
                    cx.options
                        .error_at("user_id", "user_id must look like @name:server"),
                );
            }
        }
        let secs = self.sync_timeout.0.as_secs();
        if !(1..=120).contains(&secs) {
            errors.push(
                cx.options
                    .error_at("sync_timeout", "sync_timeout must be between 1s and 120s"),
            );
        }
        errors
    }
}

impl AdapterConfig for MatrixConfig {
    const KIND: &'static str = "matrix";
    const ABOUT: &'static str = "a Matrix account (client-server API): /sync long polling";

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let errors = self.check(cx);
        if !errors.is_empty() {
            return Err(errors);
        }
        MatrixAdapter::new(cx.id.clone(), self)
            .map(|a| Arc::new(a) as Arc<dyn Adapter>)
            .map_err(|e| vec![cx.options.error(format!("cannot set up the HTTP client: {e}"))])
    }
}
