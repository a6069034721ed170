//! The `promotions` plugin (first cut).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{BuildCx, Flow, Plugin, PluginConfig};
use crate::config::ConfigError;
use crate::error::BoxError;
use crate::event::Event;
use crate::runtime::Ctx;

/// Options of `use: promotions`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionsConfig {}

impl PluginConfig for PromotionsConfig {
    const KIND: &'static str = "promotions";
    const ABOUT: &'static str = "promotions";

    fn build(self, _cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
        Ok(Box::new(Promotions))
    }
}

struct Promotions;

#[async_trait]
impl Plugin for Promotions {
    async fn on_event(&self, _ctx: &Ctx<'_>, _event: &Event) -> Result<Flow, BoxError> {
        Ok(Flow::Continue)
    }
}
