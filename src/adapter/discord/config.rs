//! Options of `kind: discord`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::DiscordAdapter;
use crate::adapter::{Adapter, AdapterConfig, AdapterCx};
use crate::config::ConfigError;

/// Options of `kind: discord`: a bot user of a Discord application.
/// `Debug` hides the token.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The bot's token (Developer Portal → the application → Bot → Reset
    /// Token); write `${DISCORD_BOT_TOKEN}`. Sent in the `Authorization`
    /// header and the gateway's Identify, never logged.
    pub token: String,
    /// The REST API base with its version; a proxy, or a test double.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// The gateway's WebSocket URL (`wss://` or `ws://`), without query.
    /// Default: asked from `GET /gateway/bot` at each start.
    #[serde(default)]
    pub gateway_url: Option<String>,
}

impl std::fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordConfig")
            .field("token", &"***")
            .field("api_base", &self.api_base)
            .field("gateway_url", &self.gateway_url)
            .finish()
    }
}

fn default_api_base() -> String {
    "https://discord.com/api/v10".into()
}

impl DiscordConfig {
    /// Every problem with the options, located at their keys.
    fn check(&self, cx: &AdapterCx<'_>) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.token.trim().is_empty() {
            errors.push(cx.options.error_at("token", "the bot token is empty"));
        } else if self.token.starts_with("Bot ") {
            errors.push(cx.options.error_at(
                "token",
                "write the token without the `Bot ` prefix; qunbot adds it",
            ));
        }
        if !(self.api_base.starts_with("http://") || self.api_base.starts_with("https://")) {
            errors.push(
                cx.options
                    .error_at("api_base", "api_base must start with http:// or https://"),
            );
        }
        if let Some(url) = &self.gateway_url {
            if !(url.starts_with("ws://") || url.starts_with("wss://")) || url.contains('?') {
                errors.push(cx.options.error_at(
                    "gateway_url",
                    "gateway_url must start with wss:// or ws:// and have no query (qunbot adds ?v=10&encoding=json)",
                ));
            }
        }
        errors
    }
}

impl AdapterConfig for DiscordConfig {
    const KIND: &'static str = "discord";
    const ABOUT: &'static str = "a Discord bot: the gateway (WebSocket) in, the REST API out";

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let errors = self.check(cx);
        if !errors.is_empty() {
            return Err(errors);
        }
        DiscordAdapter::new(cx.id.clone(), self)
            .map(|a| Arc::new(a) as Arc<dyn Adapter>)
            .map_err(|e| vec![cx.options.error(format!("cannot set up the HTTP client: {e}"))])
    }
}
