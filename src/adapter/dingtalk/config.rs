//! Options of `kind: dingtalk`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::DingTalkAdapter;
use crate::adapter::{Adapter, AdapterConfig, AdapterCx};
use crate::config::ConfigError;

/// Options of `kind: dingtalk`: a DingTalk app robot (企业内部应用机器人)
/// receiving messages by HTTP callback. `Debug` shows no secret.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DingTalkConfig {
    /// The app's AppKey (Client ID); also the robot code unless
    /// `robot_code` is given.
    pub app_key: String,
    /// The app's AppSecret (Client Secret): it signs callbacks and gets the
    /// access token. Write `${DINGTALK_APP_SECRET}`.
    pub app_secret: String,
    /// The robot's code, if it differs from the AppKey.
    #[serde(default)]
    pub robot_code: Option<String>,
    /// The path callbacks arrive on (default `/dingtalk/ADAPTER_ID`).
    #[serde(default)]
    pub path: Option<String>,
    /// The API root (default `https://api.dingtalk.com`).
    #[serde(default)]
    pub api_base: Option<String>,
}

impl std::fmt::Debug for DingTalkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DingTalkConfig")
            .field("app_key", &self.app_key)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AdapterConfig for DingTalkConfig {
    const KIND: &'static str = "dingtalk";
    const ABOUT: &'static str =
        "a DingTalk app robot: messages that @ it by HTTP callback, answers by the Open API";

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        for (key, value) in [("app_key", &self.app_key), ("app_secret", &self.app_secret)] {
            if value.trim().is_empty() {
                errors.push(cx.options.error_at(key, format!("{key} is empty")));
            }
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
        DingTalkAdapter::new(cx.id.clone(), self)
            .map(|a| Arc::new(a) as Arc<dyn Adapter>)
            .map_err(|e| vec![cx.options.error(format!("cannot set up the HTTP client: {e}"))])
    }
}
