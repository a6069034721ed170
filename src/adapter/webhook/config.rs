//! Options of `kind: webhook`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::WebhookAdapter;
use crate::adapter::{Adapter, AdapterConfig, AdapterCx, Capabilities};
use crate::config::ConfigError;

/// Options of `kind: webhook`: a platform bridged over signed JSON webhooks.
/// `Debug` does not show the secret.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The shared HMAC-SHA256 key: events must be signed with it and actions
    /// are. Write `${WEBHOOK_SECRET}`; never logged.
    pub secret: String,
    /// Where actions are posted (the bridge's endpoint).
    pub url: String,
    /// The path events arrive on (default `/hooks/ADAPTER_ID`).
    #[serde(default)]
    pub path: Option<String>,
    /// What the bridged platform can do (default: everything); actions
    /// beyond it fall back or are reported.
    #[serde(default)]
    pub capabilities: Option<Vec<Capability>>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &"***")
            .field("url", &self.url)
            .field("path", &self.path)
            .field("capabilities", &self.capabilities)
            .finish()
    }
}

/// One capability, as listed under `capabilities:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Post into groups.
    Send,
    /// Quote the message answered.
    Reply,
    /// Send direct messages.
    DirectMessage,
    /// Delete messages.
    Delete,
    /// Mute and unmute.
    Mute,
    /// Remove members.
    Kick,
    /// Remove members for good.
    Ban,
}

impl WebhookConfig {
    /// The declared capabilities.
    pub(super) fn capabilities(&self) -> Capabilities {
        let Some(list) = &self.capabilities else {
            return Capabilities::ALL;
        };
        let has = |c| list.contains(&c);
        Capabilities {
            send: has(Capability::Send),
            reply: has(Capability::Reply),
            direct_message: has(Capability::DirectMessage),
            delete: has(Capability::Delete),
            mute: has(Capability::Mute),
            kick: has(Capability::Kick),
            ban: has(Capability::Ban),
        }
    }
}

impl AdapterConfig for WebhookConfig {
    const KIND: &'static str = "webhook";
    const ABOUT: &'static str =
        "any platform through a bridge: signed JSON events in, signed JSON actions out";

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        if self.secret.len() < 16 {
            errors.push(
                cx.options
                    .error_at("secret", "secret must be at least 16 characters"),
            );
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            errors.push(
                cx.options
                    .error_at("url", "url must start with http:// or https://"),
            );
        }
        if self.path.as_deref().is_some_and(|p| !p.starts_with('/')) {
            errors.push(cx.options.error_at("path", "path must start with /"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        WebhookAdapter::new(cx.id.clone(), self)
            .map(|a| Arc::new(a) as Arc<dyn Adapter>)
            .map_err(|e| vec![cx.options.error(format!("cannot set up the HTTP client: {e}"))])
    }
}
