//! `welcome`: greet members who join a group.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{BuildCx, Flow, Plugin, PluginConfig};
use crate::config::ConfigError;
use crate::error::BoxError;
use crate::event::{Event, EventKind, Target};
use crate::runtime::Ctx;
use crate::template::Template;

/// Options of `use: welcome`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WelcomeConfig {
    /// The greeting sent to the group when a member joins: a template that
    /// sees `user.name`, `user.id` and `group`.
    pub text: String,
}

impl PluginConfig for WelcomeConfig {
    const KIND: &'static str = "welcome";
    const ABOUT: &'static str = "greet members who join a group";

    fn build(self, cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
        let text = Template::compile(&self.text).map_err(|e| vec![cx.options.error_at("text", e)])?;
        Ok(Box::new(Welcome { text }))
    }
}

struct Welcome {
    text: Template,
}

#[async_trait]
impl Plugin for Welcome {
    async fn on_event(&self, ctx: &Ctx<'_>, event: &Event) -> Result<Flow, BoxError> {
        let EventKind::Join { chat, member } = &event.kind else {
            return Ok(Flow::Continue);
        };
        let Some(group) = &chat.group else {
            return Ok(Flow::Continue);
        };
        if member.is_bot {
            return Ok(Flow::Continue);
        }
        let text = self.text.render(serde_json::json!({
            "user": {"id": member.id.as_str(), "name": member.name},
            "group": group.as_str(),
        }))?;
        ctx.send(&chat.adapter, Target::Group(group.clone()), text);
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Sender;
    use crate::plugin::testing::PluginHarness;

    #[tokio::test]
    async fn greets_joining_members_by_name_but_not_bots() {
        let h = PluginHarness::new::<WelcomeConfig>("text: \"欢迎 {{user.name}} 加入 {{group}}\"").await;
        let mut bob = Sender::member("u1");
        bob.name = "Bob".into();
        let out = h.join("g1", bob).await;
        assert_eq!(out.replies(), vec!["欢迎 Bob 加入 g1"]);
        assert!(
            matches!(&out.actions[0].action, crate::event::Action::Send { to: Target::Group(g), .. } if g.as_str() == "g1")
        );
        let mut robot = Sender::member("b1");
        robot.is_bot = true;
        assert!(h.join("g1", robot).await.is_empty());
        assert!(h.message("g1", "u1", "hello").await.is_empty());
    }
}
