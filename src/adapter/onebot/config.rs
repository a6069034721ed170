//! Options of `kind: onebot`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::OneBotAdapter;
use crate::adapter::{Adapter, AdapterConfig, AdapterCx};
use crate::config::{ConfigError, Duration};

/// Options of `kind: onebot`: a QQ account behind a OneBot v11
/// implementation (NapCat, Lagrange, LLOneBot). `Debug` hides the token.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OneBotConfig {
    /// The protocol version; only `11` is supported.
    pub version: u32,
    /// Forward WebSocket: the implementation's `ws://` URL the daemon
    /// connects to (such as `ws://127.0.0.1:3001`).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// Reverse WebSocket: the path on the daemon's HTTP listener the
    /// implementation connects to (such as `/onebot/v11/ws`); needs `http:`.
    #[serde(default)]
    pub path: Option<String>,
    /// The implementation's access token: sent as `Authorization: Bearer`
    /// (forward), required on the upgrade request as that header or the
    /// `access_token` query parameter (reverse); write `${ONEBOT_TOKEN}`.
    /// Never logged.
    #[serde(default)]
    pub access_token: Option<String>,
    /// How long an action waits for the implementation's answer.
    #[serde(default = "default_action_timeout")]
    pub action_timeout: Duration,
}

impl std::fmt::Debug for OneBotConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneBotConfig")
            .field("version", &self.version)
            .field("ws_url", &self.ws_url)
            .field("path", &self.path)
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("action_timeout", &self.action_timeout)
            .finish()
    }
}

fn default_action_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(10))
}

impl OneBotConfig {
    /// Every problem with the options, located at their keys.
    fn check(&self, cx: &AdapterCx<'_>) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.version != 11 {
            errors.push(
                cx.options
                    .error_at("version", "only OneBot version 11 is supported"),
            );
        }
        match (&self.ws_url, &self.path) {
            (Some(url), None) => {
                if !url.starts_with("ws://") {
                    errors.push(
                        cx.options
                            .error_at("ws_url", "ws_url must start with ws:// (wss:// is not supported)"),
                    );
                }
            }
            (None, Some(path)) => {
                if !path.starts_with('/') {
                    errors.push(cx.options.error_at("path", "path must start with /"));
                }
            }
            (Some(_), Some(_)) => errors.push(
                cx.options
                    .error("give either `ws_url` (forward) or `path` (reverse), not both"),
            ),
            (None, None) => errors.push(
                cx.options
                    .error("onebot needs `ws_url`, the implementation's forward WebSocket URL"),
            ),
        }
        let timeout = self.action_timeout.0;
        if timeout.is_zero() || timeout > std::time::Duration::from_secs(120) {
            errors.push(
                cx.options
                    .error_at("action_timeout", "action_timeout must be between 1ms and 120s"),
            );
        }
        errors
    }
}

impl AdapterConfig for OneBotConfig {
    const KIND: &'static str = "onebot";
    const ABOUT: &'static str =
        "a QQ account through a OneBot v11 implementation (forward or reverse WebSocket)";

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let errors = self.check(cx);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(OneBotAdapter::new(cx.id.clone(), self)))
    }
}
