//! Options of `kind: telegram`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::TelegramAdapter;
use crate::adapter::{Adapter, AdapterConfig, AdapterCx};
use crate::config::{ConfigError, Duration};

/// Options of `kind: telegram`: a bot account of the Telegram Bot API.
/// `Debug` shows neither the token nor the secret.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot's token from @BotFather; write `${TELEGRAM_BOT_TOKEN}`. It is
    /// part of every API URL, so it is never logged.
    pub token: String,
    /// How updates arrive: `polling` (getUpdates, the default) or `webhook`
    /// (Telegram posts them to the daemon's HTTP listener).
    #[serde(default)]
    pub mode: Mode,
    /// The Bot API server; a self-hosted one, or a test double.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Webhook mode: the secret Telegram sends in
    /// `X-Telegram-Bot-Api-Secret-Token`; requests without it are refused.
    /// 1–256 characters of `A-Z a-z 0-9 _ -`. Required in webhook mode.
    #[serde(default)]
    pub secret_token: Option<String>,
    /// Webhook mode: the path served on the HTTP listener (default
    /// `/telegram/ADAPTER_ID`).
    #[serde(default)]
    pub path: Option<String>,
    /// Webhook mode: the public HTTPS URL that reaches `path`; when set the
    /// adapter registers it with `setWebhook` at start, otherwise register
    /// it yourself.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// Polling mode: how long one getUpdates call waits for updates.
    #[serde(default = "default_poll_timeout")]
    pub poll_timeout: Duration,
}

impl std::fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("token", &"***")
            .field("mode", &self.mode)
            .field("api_base", &self.api_base)
            .field("secret_token", &self.secret_token.as_ref().map(|_| "***"))
            .field("path", &self.path)
            .field("webhook_url", &self.webhook_url)
            .field("poll_timeout", &self.poll_timeout)
            .finish()
    }
}

/// How a Telegram bot receives updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Long polling with getUpdates.
    #[default]
    Polling,
    /// Updates posted to the daemon's HTTP listener.
    Webhook,
}

fn default_api_base() -> String {
    "https://api.telegram.org".into()
}

fn default_poll_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(30))
}

impl TelegramConfig {
    /// Every problem with the options, located at their keys.
    fn check(&self, cx: &AdapterCx<'_>) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.token.trim().is_empty() {
            errors.push(cx.options.error_at("token", "the bot token is empty"));
        }
        if !(self.api_base.starts_with("http://") || self.api_base.starts_with("https://")) {
            errors.push(
                cx.options
                    .error_at("api_base", "api_base must start with http:// or https://"),
            );
        }
        let secret_ok = |s: &str| {
            (1..=256).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        match (&self.secret_token, self.mode) {
            (Some(s), _) if !secret_ok(s) => errors.push(cx.options.error_at(
                "secret_token",
                "secret_token must be 1-256 characters of A-Z, a-z, 0-9, _ and -",
            )),
            (None, Mode::Webhook) => {
                errors.push(cx.options.error(
                    "webhook mode needs `secret_token`, so nobody else can post updates to the webhook",
                ))
            }
            _ => {}
        }
        if let Some(path) = &self.path {
            if !path.starts_with('/') {
                errors.push(cx.options.error_at("path", "path must start with /"));
            }
        }
        let secs = self.poll_timeout.0.as_secs();
        if !(1..=50).contains(&secs) {
            errors.push(
                cx.options
                    .error_at("poll_timeout", "poll_timeout must be between 1s and 50s"),
            );
        }
        errors
    }
}

impl AdapterConfig for TelegramConfig {
    const KIND: &'static str = "telegram";
    const ABOUT: &'static str = "a Telegram bot (Bot API): long polling or webhook";

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let errors = self.check(cx);
        if !errors.is_empty() {
            return Err(errors);
        }
        TelegramAdapter::new(cx.id.clone(), self)
            .map(|a| Arc::new(a) as Arc<dyn Adapter>)
            .map_err(|e| vec![cx.options.error(format!("cannot set up the HTTP client: {e}"))])
    }
}
