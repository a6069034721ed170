//! Options of `kind: slack`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::SlackAdapter;
use crate::adapter::{Adapter, AdapterConfig, AdapterCx};
use crate::config::ConfigError;

/// Options of `kind: slack`: a Slack app's bot user in one workspace.
/// `Debug` shows none of the tokens or the signing secret.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The bot user OAuth token (`xoxb-…`); write `${SLACK_BOT_TOKEN}`.
    /// Posts, kicks, looks up users. Never logged.
    pub bot_token: String,
    /// How events arrive: `socket` (Socket Mode: the daemon opens a
    /// WebSocket to Slack, no public URL) or `events` (the Events API:
    /// Slack posts signed requests to the daemon's HTTP listener).
    pub mode: Mode,
    /// Socket Mode: the app-level token (`xapp-…`, scope
    /// `connections:write`); write `${SLACK_APP_TOKEN}`.
    #[serde(default)]
    pub app_token: Option<String>,
    /// Events API: the app's signing secret; requests whose
    /// `X-Slack-Signature` does not match are refused. Write
    /// `${SLACK_SIGNING_SECRET}`.
    #[serde(default)]
    pub signing_secret: Option<String>,
    /// Events API: the path served on the HTTP listener (default
    /// `/slack/ADAPTER_ID`).
    #[serde(default)]
    pub path: Option<String>,
    /// A user token (`xoxp-…`) of a workspace admin or owner with the
    /// `chat:write` user scope, used only to delete members' messages (a bot
    /// token can delete only the bot's own). Without it the adapter declares
    /// that it cannot delete.
    #[serde(default)]
    pub user_token: Option<String>,
    /// The Web API base URL; a test double.
    #[serde(default = "default_api_base")]
    pub api_base: String,
}

impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("SlackConfig")
            .field("bot_token", &"***")
            .field("mode", &self.mode)
            .field("app_token", &hidden(&self.app_token))
            .field("signing_secret", &hidden(&self.signing_secret))
            .field("path", &self.path)
            .field("user_token", &hidden(&self.user_token))
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// How a Slack app receives events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Socket Mode: a WebSocket the daemon opens.
    Socket,
    /// The Events API: signed HTTP requests to the daemon's listener.
    Events,
}

fn default_api_base() -> String {
    "https://slack.com/api".into()
}

impl SlackConfig {
    /// Every problem with the options, located at their keys.
    fn check(&self, cx: &AdapterCx<'_>) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !self.bot_token.starts_with("xoxb-") {
            errors.push(
                cx.options
                    .error_at("bot_token", "bot_token must be a bot token (xoxb-…)"),
            );
        }
        if let Some(token) = &self.user_token {
            if !token.starts_with("xoxp-") {
                errors.push(
                    cx.options
                        .error_at("user_token", "user_token must be a user token (xoxp-…)"),
                );
            }
        }
        if !(self.api_base.starts_with("http://") || self.api_base.starts_with("https://")) {
            errors.push(
                cx.options
                    .error_at("api_base", "api_base must start with http:// or https://"),
            );
        }
        match self.mode {
            Mode::Socket => {
                match &self.app_token {
                    None => errors.push(cx.options.error(
                        "socket mode needs `app_token`, the app-level token (xapp-…) with connections:write",
                    )),
                    Some(t) if !t.starts_with("xapp-") => errors.push(
                        cx.options
                            .error_at("app_token", "app_token must be an app-level token (xapp-…)"),
                    ),
                    Some(_) => {}
                }
                for key in ["signing_secret", "path"] {
                    if cx.options.at(key).is_some() {
                        errors.push(cx.options.error_at(key, format!("`{key}` is for mode: events")));
                    }
                }
            }
            Mode::Events => {
                match &self.signing_secret {
                    None => errors.push(cx.options.error(
                        "events mode needs `signing_secret`, so nobody else can post events to the daemon",
                    )),
                    Some(s) if s.trim().is_empty() => errors.push(
                        cx.options
                            .error_at("signing_secret", "the signing secret is empty"),
                    ),
                    Some(_) => {}
                }
                if cx.options.at("app_token").is_some() {
                    errors.push(
                        cx.options
                            .error_at("app_token", "`app_token` is for mode: socket"),
                    );
                }
                if let Some(path) = &self.path {
                    if !path.starts_with('/') {
                        errors.push(cx.options.error_at("path", "path must start with /"));
                    }
                }
            }
        }
        errors
    }
}

impl AdapterConfig for SlackConfig {
    const KIND: &'static str = "slack";
    const ABOUT: &'static str = "a Slack app's bot user: Socket Mode or the Events API";

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let errors = self.check(cx);
        if !errors.is_empty() {
            return Err(errors);
        }
        SlackAdapter::new(cx.id.clone(), self)
            .map(|a| Arc::new(a) as Arc<dyn Adapter>)
            .map_err(|e| vec![cx.options.error(format!("cannot set up the HTTP client: {e}"))])
    }
}
