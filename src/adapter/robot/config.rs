//! Options shared by `kind: wecom_robot`, `feishu_robot` and
//! `dingtalk_robot`.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Platform, RobotAdapter};
use crate::adapter::{Adapter, AdapterConfig, AdapterCx};
use crate::config::ConfigError;

/// How posts are formatted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Plain text, as written.
    #[default]
    Text,
    /// The platform's markdown (headings, bold, links).
    Markdown,
}

/// A platform's robots: each one webhook into one group, named by the key
/// (the group id bots and posts use).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(bound = "P: JsonSchema")]
pub struct RobotConfig<P> {
    /// The robots, by the name their group goes by.
    pub robots: BTreeMap<String, P>,
    /// `text` (default) or `markdown`.
    #[serde(default)]
    pub format: Format,
    /// The API root (for Lark, a proxy, or tests).
    #[serde(default)]
    pub api_base: Option<String>,
}

impl<P: Platform> AdapterConfig for RobotConfig<P> {
    const KIND: &'static str = P::KIND;
    const ABOUT: &'static str = P::ABOUT;

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        if self.robots.is_empty() {
            errors.push(cx.options.error_at("robots", "list at least one robot"));
        }
        for (name, robot) in &self.robots {
            if name.is_empty() || name.contains(':') {
                errors.push(cx.options.error_at(
                    &format!("robots.{name}"),
                    "a robot's name is its group id: not empty, without `:`",
                ));
            }
            errors.extend(robot.check(name, cx.options));
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
        RobotAdapter::new(cx.id.clone(), self)
            .map(|a| Arc::new(a) as Arc<dyn Adapter>)
            .map_err(|e| vec![cx.options.error(format!("cannot set up the HTTP client: {e}"))])
    }
}
