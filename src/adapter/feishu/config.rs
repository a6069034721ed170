//! Options of `kind: feishu`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::FeishuAdapter;
use crate::adapter::{Adapter, AdapterConfig, AdapterCx};
use crate::config::ConfigError;

/// Options of `kind: feishu`: a Feishu/Lark app bot that receives group
/// messages by event subscription. `Debug` shows no secret.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeishuConfig {
    /// The app's App ID (`cli_…`).
    pub app_id: String,
    /// The app's App Secret. Write `${FEISHU_APP_SECRET}`.
    pub app_secret: String,
    /// The event subscription's Verification Token: every event must carry
    /// it. Write `${FEISHU_VERIFICATION_TOKEN}`.
    pub verification_token: String,
    /// The event subscription's Encrypt Key: events then arrive encrypted
    /// and signed, and unsigned ones are refused. Recommended.
    #[serde(default)]
    pub encrypt_key: Option<String>,
    /// The path events arrive on (default `/feishu/ADAPTER_ID`).
    #[serde(default)]
    pub path: Option<String>,
    /// The API root: `https://open.larksuite.com` for Lark.
    #[serde(default)]
    pub api_base: Option<String>,
}

impl std::fmt::Debug for FeishuConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeishuConfig")
            .field("app_id", &self.app_id)
            .field("path", &self.path)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl AdapterConfig for FeishuConfig {
    const KIND: &'static str = "feishu";
    const ABOUT: &'static str =
        "a Feishu/Lark app bot: group messages by event subscription, answers by the Open API";

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        for (key, value) in [
            ("app_id", &self.app_id),
            ("app_secret", &self.app_secret),
            ("verification_token", &self.verification_token),
        ] {
            if value.trim().is_empty() {
                errors.push(cx.options.error_at(key, format!("{key} is empty")));
            }
        }
        if self.encrypt_key.as_deref().is_some_and(|k| k.trim().is_empty()) {
            errors.push(cx.options.error_at("encrypt_key", "encrypt_key is empty"));
        }
        if self.path.as_deref().is_some_and(|p| !p.starts_with('/')) {
            errors.push(cx.options.error_at("path", "path must start with /"));
        }
        if let Some(base) = &self.api_base
            && !(base.starts_with("http://") || base.starts_with("https://"))
        {
            errors.push(
                cx.options
                    .error_at("api_base", "api_base must start with http:// or https://"),
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        FeishuAdapter::new(cx.id.clone(), self)
            .map(|a| Arc::new(a) as Arc<dyn Adapter>)
            .map_err(|e| vec![cx.options.error(format!("cannot set up the HTTP client: {e}"))])
    }
}
