//! Options of `kind: onebot`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::OneBotAdapter;
use crate::adapter::{Adapter, AdapterConfig, AdapterCx};
use crate::config::{ConfigError, Duration};

/// Options of `kind: onebot`: an account behind a OneBot v11 implementation
/// (QQ through NapCat, Lagrange, LLOneBot) or a OneBot v12 one (WeChat
/// through ComWeChat, and others). Which of `ws_url`, `path` and `http_url`
/// is given selects the transport. `Debug` hides the token and the secret.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OneBotConfig {
    /// The protocol version: `11` or `12`.
    pub version: u32,
    /// Forward WebSocket: the implementation's `ws://` (or `wss://`) URL
    /// the daemon connects to (such as `ws://127.0.0.1:3001`).
    #[serde(default)]
    pub ws_url: Option<String>,
    /// HTTP: the implementation's HTTP API URL actions are POSTed to (v11:
    /// `{http_url}/{action}`; v12: `http_url` itself). Events then arrive
    /// by HTTP POST on `path` (default `/onebot/ADAPTER_ID`).
    #[serde(default)]
    pub http_url: Option<String>,
    /// Reverse WebSocket (without `http_url`): the path on the daemon's
    /// HTTP listener the implementation connects to (such as
    /// `/onebot/v11/ws`). HTTP (with `http_url`): the path events are
    /// POSTed to. Either way it needs `http:`.
    #[serde(default)]
    pub path: Option<String>,
    /// The implementation's access token: sent as `Authorization: Bearer`
    /// (forward WebSocket, HTTP actions), required as that header or the
    /// `access_token` query parameter from the implementation (reverse
    /// WebSocket, v12 HTTP events); write `${ONEBOT_TOKEN}`. Never logged.
    #[serde(default)]
    pub access_token: Option<String>,
    /// v11 HTTP: the key of the events' `X-Signature: sha1=HMAC` (the
    /// implementation's `secret`); events without a valid one are refused.
    /// Write `${ONEBOT_SECRET}`; never logged.
    #[serde(default)]
    pub secret: Option<String>,
    /// How long an action waits for the implementation's answer.
    #[serde(default = "default_action_timeout")]
    pub action_timeout: Duration,
}

impl std::fmt::Debug for OneBotConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneBotConfig")
            .field("version", &self.version)
            .field("ws_url", &self.ws_url)
            .field("http_url", &self.http_url)
            .field("path", &self.path)
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("action_timeout", &self.action_timeout)
            .finish()
    }
}

/// The protocol version, parsed once from `version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Version {
    /// OneBot v11: numeric ids, `post_type` events, `send_group_msg`.
    V11,
    /// OneBot v12: string ids, `type`/`detail_type` events, `send_message`.
    V12,
}

/// How the adapter talks to the implementation, from which options are set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Transport {
    /// The daemon connects to the implementation's WebSocket.
    Forward {
        /// `ws_url`.
        url: String,
    },
    /// The implementation connects to `path` on the daemon's listener.
    Reverse {
        /// `path`.
        path: String,
    },
    /// Actions by HTTP POST to `url`, events by HTTP POST to `path`.
    Http {
        /// `http_url`, without a trailing `/`.
        url: String,
        /// `path`, or `/onebot/ADAPTER_ID`.
        path: String,
    },
}

fn default_action_timeout() -> Duration {
    Duration(std::time::Duration::from_secs(10))
}

impl OneBotConfig {
    /// The version, if it is one qunbot speaks.
    pub(super) fn version(&self) -> Option<Version> {
        match self.version {
            11 => Some(Version::V11),
            12 => Some(Version::V12),
            _ => None,
        }
    }

    /// The transport the options select (checked by `check`).
    pub(super) fn transport(&self, id: &str) -> Transport {
        match (&self.ws_url, &self.http_url, &self.path) {
            (_, Some(url), path) => Transport::Http {
                url: url.trim_end_matches('/').to_owned(),
                path: path.clone().unwrap_or_else(|| format!("/onebot/{id}")),
            },
            (Some(url), None, _) => Transport::Forward { url: url.clone() },
            (None, None, path) => Transport::Reverse {
                path: path.clone().unwrap_or_else(|| format!("/onebot/{id}")),
            },
        }
    }

    /// Every problem with the options, located at their keys.
    fn check(&self, cx: &AdapterCx<'_>) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.version().is_none() {
            errors.push(cx.options.error_at("version", "OneBot version must be 11 or 12"));
        }
        match (&self.ws_url, &self.http_url, &self.path) {
            (Some(url), None, None) => {
                if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                    errors.push(
                        cx.options
                            .error_at("ws_url", "ws_url must start with ws:// or wss://"),
                    );
                }
            }
            (None, Some(url), _) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    errors.push(
                        cx.options
                            .error_at("http_url", "http_url must start with http:// or https://"),
                    );
                }
            }
            (None, None, Some(_)) => {}
            (Some(_), Some(_), _) => errors.push(
                cx.options
                    .error("give either `ws_url` (WebSocket) or `http_url` (HTTP), not both"),
            ),
            (Some(_), None, Some(_)) => {
                errors.push(cx.options.error(
                    "give either `ws_url` (forward WebSocket) or `path` (reverse WebSocket), not both",
                ))
            }
            (None, None, None) => errors.push(cx.options.error(
                "onebot needs `ws_url` (forward WebSocket), `path` (reverse WebSocket) or `http_url` (HTTP)",
            )),
        }
        if self.path.as_deref().is_some_and(|p| !p.starts_with('/')) {
            errors.push(cx.options.error_at("path", "path must start with /"));
        }
        if self.secret.is_some() && (self.http_url.is_none() || self.version != 11) {
            errors.push(cx.options.error_at(
                "secret",
                "secret signs v11 HTTP events only (v12 and WebSockets use access_token)",
            ));
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
        "QQ through OneBot v11, WeChat and others through OneBot v12 (WebSocket either way, or HTTP)";

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let errors = self.check(cx);
        if !errors.is_empty() {
            return Err(errors);
        }
        OneBotAdapter::new(cx.id.clone(), self)
            .map(|a| Arc::new(a) as Arc<dyn Adapter>)
            .map_err(|e| vec![cx.options.error(format!("cannot set up the HTTP client: {e}"))])
    }
}
