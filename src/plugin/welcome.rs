//! The `welcome` plugin (first cut).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{BuildCx, Flow, Plugin, PluginConfig};
use crate::config::ConfigError;
use crate::error::BoxError;
use crate::event::Event;
use crate::runtime::Ctx;

/// Options of `use: welcome`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WelcomeConfig {}

impl PluginConfig for WelcomeConfig {
    const KIND: &'static str = "welcome";
    const ABOUT: &'static str = "welcome";

    fn build(self, _cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
        Ok(Box::new(Welcome))
    }
}

struct Welcome;

#[async_trait]
impl Plugin for Welcome {
    async fn on_event(&self, _ctx: &Ctx<'_>, _event: &Event) -> Result<Flow, BoxError> {
        Ok(Flow::Continue)
    }
}
