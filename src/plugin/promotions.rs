//! `promotions`: scheduled posts. Each post is a cron job; when its slot
//! falls due (once, across restarts and replicas: see [`crate::scheduler`]),
//! its text is posted to its groups through the outbox, which paces them
//! within the platform's limits.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{BuildCx, Flow, Plugin, PluginConfig};
use crate::bot::{GroupFilter, Scoped};
use crate::config::ConfigError;
use crate::error::BoxError;
use crate::event::{AdapterId, Event, EventKind, GroupId, Target};
use crate::runtime::Ctx;
use crate::scheduler::{CronExpr, Job, Missed};
use crate::template::Template;

/// Options of `use: promotions`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionsConfig {
    /// The scheduled posts.
    pub posts: Vec<PostConfig>,
}

/// One scheduled post.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostConfig {
    /// Unique within the bot; keys the record of fired slots, so renaming a
    /// post makes it a new one.
    pub id: String,
    /// When: six fields with seconds (`0 30 11 * * Mon-Fri`) or the usual
    /// five (`30 11 * * Mon-Fri`), in the bot's time zone.
    pub cron: String,
    /// The text: a template that sees `group`, `post` (the post's id), the
    /// slot's `date` (`2026-11-24`) and `time` (`11:30`) in the bot's zone,
    /// and the live state of the bot's coupon pools:
    /// `{{pools.ID.remaining}}`, `{{pools.ID.claimed}}`, `{{pools.ID.total}}`.
    pub text: String,
    /// Where: group ids (`ADAPTER:ID` pins one adapter; a bare id goes
    /// through the bot's first adapter), or `"*"` for every group the bot
    /// has seen. Default: the bot's `groups`.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// No post before this time (RFC 3339, or local to the bot).
    #[serde(default)]
    pub starts: Option<String>,
    /// No post after this time.
    #[serde(default)]
    pub ends: Option<String>,
    /// Slots that fell due while the daemon was down: `skip` (default) or
    /// `once` (post the latest one at start-up).
    #[serde(default)]
    pub missed: Missed,
}

/// Where a post goes.
#[derive(Clone, Debug)]
enum Targets {
    /// Every group the bot has seen.
    Seen,
    /// These groups.
    Listed(Vec<(AdapterId, GroupId)>),
}

struct Post {
    job: Job,
    text: Template,
    targets: Targets,
}

impl PluginConfig for PromotionsConfig {
    const KIND: &'static str = "promotions";
    const ABOUT: &'static str = "scheduled posts (cron, in the bot's time zone), once per slot";

    fn build(self, cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut posts = Vec::new();
        let mut ids = HashSet::new();
        let bot = cx.bot;
        let first_adapter = bot.adapters.first().cloned();
        for (i, p) in self.posts.into_iter().enumerate() {
            let at = |key: &str| format!("posts[{i}].{key}");
            if !ids.insert(p.id.clone()) {
                errors.push(
                    cx.options
                        .error_at(&at("id"), format!("duplicate post id {:?}", p.id)),
                );
            }
            let cron = CronExpr::parse(&p.cron).map_err(|e| errors.push(cx.options.error_at(&at("cron"), e)));
            let text =
                Template::compile(&p.text).map_err(|e| errors.push(cx.options.error_at(&at("text"), e)));
            let mut time = |key: &str, v: &Option<String>| -> Option<DateTime<Utc>> {
                let v = v.as_deref()?;
                bot.parse_time(v)
                    .map_err(|e| errors.push(cx.options.error_at(&at(key), e)))
                    .ok()
            };
            let starts = time("starts", &p.starts);
            let ends = time("ends", &p.ends);
            let scoped: Option<Vec<Scoped<GroupId>>> = match (&p.groups, &bot.groups) {
                (Some(list), _) if list.iter().any(|g| g == "*") => None,
                (Some(list), _) => Some(list.iter().map(|g| Scoped::parse(g, &bot.adapters)).collect()),
                (None, GroupFilter::All) => None,
                (None, GroupFilter::Only(list)) => Some(list.clone()),
            };
            let targets = match scoped {
                None => Targets::Seen,
                Some(list) => Targets::Listed(
                    list.into_iter()
                        .filter_map(|s| Some((s.adapter.or_else(|| first_adapter.clone())?, s.id)))
                        .collect(),
                ),
            };
            if let (Ok(cron), Ok(text)) = (cron, text) {
                posts.push(Post {
                    job: Job {
                        id: p.id,
                        cron,
                        starts,
                        ends,
                        missed: p.missed,
                    },
                    text,
                    targets,
                });
            }
        }
        if errors.is_empty() {
            Ok(Box::new(Promotions { posts }))
        } else {
            Err(errors)
        }
    }
}

struct Promotions {
    posts: Vec<Post>,
}

#[async_trait]
impl Plugin for Promotions {
    async fn on_event(&self, ctx: &Ctx<'_>, event: &Event) -> Result<Flow, BoxError> {
        let EventKind::Scheduled(slot) = &event.kind else {
            return Ok(Flow::Continue);
        };
        let Some(post) = self.posts.iter().find(|p| p.job.id == slot.job) else {
            return Ok(Flow::Continue);
        };
        let targets = match &post.targets {
            Targets::Listed(list) => list.clone(),
            Targets::Seen => {
                let mine = &ctx.bot().adapters;
                let mut seen = ctx.store().groups(&ctx.bot().name).await?;
                seen.retain(|(a, _)| mine.contains(a));
                seen
            }
        };
        // Live pool state, read once per slot: `{{pools.lunch.remaining}}`.
        let pools: serde_json::Map<String, serde_json::Value> = ctx
            .store()
            .pools(&ctx.bot().name)
            .await?
            .into_iter()
            .map(|(id, c)| {
                let v =
                    serde_json::json!({"remaining": c.remaining(), "claimed": c.claimed, "total": c.total});
                (id, v)
            })
            .collect();
        for (adapter, group) in targets {
            let local = slot.time.with_timezone(&ctx.bot().timezone);
            let text = post.text.render(serde_json::json!({
                "group": group.as_str(),
                "post": post.job.id,
                "date": local.format("%Y-%m-%d").to_string(),
                "time": local.format("%H:%M").to_string(),
                "pools": pools,
            }))?;
            ctx.act(
                &adapter,
                crate::event::Action::Send {
                    to: Target::Group(group),
                    text,
                },
                Some(format!("promotion {}", post.job.id)),
            );
        }
        Ok(Flow::Continue)
    }

    fn jobs(&self) -> Vec<Job> {
        self.posts.iter().map(|p| p.job.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::testing::PluginHarness;

    #[tokio::test]
    async fn posts_its_text_to_listed_groups_on_its_slot_only() {
        let h = PluginHarness::new::<PromotionsConfig>(
            "posts:\n  - id: lunch\n    cron: \"0 30 11 * * Mon-Fri\"\n    text: \"午餐券 for {{group}}\"\n    groups: [g1, \"console:g2\"]\n    missed: once\n",
        )
        .await;
        let out = h.slot("lunch").await;
        assert_eq!(out.replies(), vec!["午餐券 for g1", "午餐券 for g2"]);
        assert!(out.actions.iter().all(|o| o.adapter.as_str() == "console"));
        assert!(h.slot("dinner").await.is_empty());
        assert!(h.message("g1", "a", "hi").await.is_empty());
        let jobs = h.plugin().jobs();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].cron.source(), "0 30 11 * * Mon-Fri");
    }

    #[tokio::test]
    async fn bad_cron_time_and_duplicate_ids_are_all_reported() {
        let errors = PluginHarness::build_errors::<PromotionsConfig>(
            "posts:\n  - id: a\n    cron: \"* *\"\n    text: x\n  - id: a\n    cron: \"0 0 * * *\"\n    text: y\n    starts: soon\n",
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
