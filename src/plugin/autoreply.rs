//! The `autoreply` plugin (first cut).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{BuildCx, Flow, Plugin, PluginConfig};
use crate::config::ConfigError;
use crate::error::BoxError;
use crate::event::Event;
use crate::runtime::Ctx;

/// Options of `use: autoreply`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoreplyConfig {}

impl PluginConfig for AutoreplyConfig {
    const KIND: &'static str = "autoreply";
    const ABOUT: &'static str = "autoreply";

    fn build(self, _cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
        Ok(Box::new(Autoreply))
    }
}

struct Autoreply;

#[async_trait]
impl Plugin for Autoreply {
    async fn on_event(&self, _ctx: &Ctx<'_>, _event: &Event) -> Result<Flow, BoxError> {
        Ok(Flow::Continue)
    }
}
