//! `coupons`: pools of coupon codes handed out on a keyword, exactly once.
//!
//! A member claims by sending a keyword (the default pool) or a keyword, a
//! space and a pool id. The grant is decided and written by the store's
//! coupon ledger ([`crate::storage::CouponStore`]) together with its
//! delivery, so a code is never handed out twice, never past the pool's
//! `total` or a member's `per_user`, and never sent without its durable
//! grant. A member who claims again past their limit gets their code again,
//! not a new one. Admins get `/coupons`: each pool's remaining and claimed.

use std::collections::HashSet;
use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{BuildCx, Flow, Plugin, PluginConfig};
use crate::bot::Locale;
use crate::config::ConfigError;
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Chat, Event, Message, Outgoing, Sender, Target};
use crate::runtime::Ctx;
use crate::storage::{ClaimOutcome, Claimant, Grant, PoolCodes, PoolCounts, PoolSpec};
use crate::template::Template;
use crate::text::normalize;

/// Options of `use: coupons`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponsConfig {
    /// The pools; the first is the default one a bare keyword claims from.
    pub pools: Vec<PoolConfig>,
    /// How members claim.
    #[serde(default)]
    pub claim: ClaimConfig,
    /// Message templates; each defaults to one in the bot's `locale`.
    #[serde(default)]
    pub messages: MessagesConfig,
}

/// One pool.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Unique in the bot; members name it after the keyword (`领券 lunch`).
    /// The ledger is keyed by it: renaming a pool starts it afresh.
    pub id: String,
    /// Shown in messages as `pool.title`; default: the id.
    #[serde(default)]
    pub title: Option<String>,
    /// The codes, handed out in this order, each once.
    #[serde(default)]
    pub codes: Option<Vec<String>>,
    /// A file of codes, one a line (blank lines and `#` comments skipped),
    /// relative to the bot file's folder.
    #[serde(default)]
    pub codes_file: Option<String>,
    /// A single link handed to every claimant instead of codes (`total`
    /// required).
    #[serde(default)]
    pub link: Option<String>,
    /// Most codes per member (one platform account), across all the bot's
    /// groups. Default 1.
    #[serde(default = "one")]
    pub per_user: u32,
    /// Most codes ever; default (and at most) the number of codes.
    #[serde(default)]
    pub total: Option<u64>,
    /// No claims before this time (RFC 3339, or local to the bot).
    #[serde(default)]
    pub starts: Option<String>,
    /// No claims after this time.
    #[serde(default)]
    pub ends: Option<String>,
}

fn one() -> u32 {
    1
}

/// How members claim.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimConfig {
    /// Messages that claim (compared whole, after normalising width, case
    /// and spaces). Default: `领券` (zh) or `coupon` (en).
    #[serde(default)]
    pub keywords: Option<Vec<String>>,
    /// `dm` (default): the code goes by direct message (a reply in the group
    /// where the platform cannot); `group`: a reply to the claiming message.
    #[serde(default)]
    pub deliver: Deliver,
}

/// Where a code goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Deliver {
    /// By direct message, keeping codes out of the group.
    #[default]
    Dm,
    /// As a reply to the claiming message.
    Group,
}

/// Message templates. Each sees `user.name`, `user.id`, `pool.id`,
/// `pool.title`, `pool.remaining`, `pool.claimed`, `pool.total`, and `code`
/// where there is one.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagesConfig {
    /// A code was granted.
    #[serde(default)]
    pub claimed: Option<String>,
    /// The pool is empty.
    #[serde(default)]
    pub sold_out: Option<String>,
    /// The member has their codes already (`code` is their latest).
    #[serde(default)]
    pub already_claimed: Option<String>,
    /// The pool has not started.
    #[serde(default)]
    pub not_started: Option<String>,
    /// The pool has ended.
    #[serde(default)]
    pub ended: Option<String>,
}

/// Built-in texts, per locale.
struct Defaults {
    keyword: &'static str,
    claimed: &'static str,
    sold_out: &'static str,
    already_claimed: &'static str,
    not_started: &'static str,
    ended: &'static str,
}

const ZH: Defaults = Defaults {
    keyword: "领券",
    claimed: "{{user.name}}，你的{{pool.title}}券码：{{code}}",
    sold_out: "{{pool.title}}已领完，下次早点来哦",
    already_claimed: "{{user.name}}，你已领取过{{pool.title}}：{{code}}",
    not_started: "{{pool.title}}还未开始，敬请期待",
    ended: "{{pool.title}}活动已结束",
};

const EN: Defaults = Defaults {
    keyword: "coupon",
    claimed: "{{user.name}}, your {{pool.title}} code: {{code}}",
    sold_out: "{{pool.title}} is sold out. Be quicker next time!",
    already_claimed: "{{user.name}}, you already have your {{pool.title}} code: {{code}}",
    not_started: "{{pool.title}} has not started yet.",
    ended: "{{pool.title}} has ended.",
};

impl PluginConfig for CouponsConfig {
    const KIND: &'static str = "coupons";
    const ABOUT: &'static str =
        "coupon pools handed out on a keyword: never a code twice, never past the pool";

    fn build(self, cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let defaults = match cx.bot.locale {
            Locale::Zh => &ZH,
            Locale::En => &EN,
        };
        if self.pools.is_empty() {
            errors.push(cx.options.error_at("pools", "needs at least one pool"));
        }
        let mut pools = Vec::new();
        let mut ids = HashSet::new();
        for (i, p) in self.pools.into_iter().enumerate() {
            if let Some(pool) = build_pool(p, i, cx, &mut ids, &mut errors) {
                pools.push(pool);
            }
        }
        let keywords: Vec<String> = self
            .claim
            .keywords
            .unwrap_or_else(|| vec![defaults.keyword.to_owned()])
            .iter()
            .map(|k| normalize(k))
            .filter(|k| !k.is_empty())
            .collect();
        if keywords.is_empty() {
            errors.push(
                cx.options
                    .error_at("claim.keywords", "needs at least one keyword"),
            );
        }
        let m = self.messages;
        let mut template = |key: &str, given: Option<String>, default: &str| {
            Template::compile(given.as_deref().unwrap_or(default))
                .map_err(|e| errors.push(cx.options.error_at(&format!("messages.{key}"), e)))
                .ok()
        };
        let messages = (
            template("claimed", m.claimed, defaults.claimed),
            template("sold_out", m.sold_out, defaults.sold_out),
            template("already_claimed", m.already_claimed, defaults.already_claimed),
            template("not_started", m.not_started, defaults.not_started),
            template("ended", m.ended, defaults.ended),
        );
        let (Some(claimed), Some(sold_out), Some(already_claimed), Some(not_started), Some(ended)) = messages
        else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Box::new(Coupons {
            bot: cx.bot.name.clone(),
            pools,
            keywords,
            deliver: self.claim.deliver,
            locale: cx.bot.locale,
            messages: Messages {
                claimed,
                sold_out,
                already_claimed,
                not_started,
                ended,
            },
        }))
    }
}

/// Validate one pool's options; `None` (with errors pushed) if unusable.
fn build_pool(
    p: PoolConfig,
    i: usize,
    cx: &BuildCx<'_>,
    ids: &mut HashSet<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<Pool> {
    let at = |key: &str| format!("pools[{i}].{key}");
    let before = errors.len();
    if !ids.insert(p.id.clone()) {
        errors.push(
            cx.options
                .error_at(&at("id"), format!("duplicate pool id {:?}", p.id)),
        );
    }
    if p.id.trim().is_empty() || p.id.contains(char::is_whitespace) {
        errors.push(cx.options.error_at(
            &at("id"),
            "a pool id is one word (members type it after the keyword)",
        ));
    }
    if p.per_user == 0 {
        errors.push(cx.options.error_at(&at("per_user"), "must be at least 1"));
    }
    let codes = match (p.codes, p.codes_file, p.link) {
        (Some(list), None, None) => Some(PoolCodes::List(list)),
        (None, Some(file), None) => match read_codes(&cx.base_dir.join(&file)) {
            Ok(list) => Some(PoolCodes::List(list)),
            Err(e) => {
                errors.push(cx.options.error_at(&at("codes_file"), e));
                None
            }
        },
        (None, None, Some(link)) => Some(PoolCodes::Link(link)),
        _ => {
            errors.push(cx.options.error_at(
                &format!("pools[{i}]"),
                "write exactly one of codes, codes_file or link",
            ));
            None
        }
    };
    let total = match &codes {
        Some(PoolCodes::List(list)) => {
            let mut seen = HashSet::new();
            if let Some(dup) = list.iter().find(|c| !seen.insert(c.as_str())) {
                errors.push(
                    cx.options
                        .error_at(&at("codes"), format!("code {dup:?} is listed twice")),
                );
            }
            if let Some(blank) = list.iter().position(|c| c.trim().is_empty()) {
                errors.push(
                    cx.options
                        .error_at(&format!("pools[{i}].codes[{blank}]"), "empty code"),
                );
            }
            let n = list.len() as u64;
            match p.total {
                Some(t) if t > n => {
                    errors.push(cx.options.error_at(
                        &at("total"),
                        format!("total {t} is more than the {n} codes listed"),
                    ));
                    n
                }
                Some(t) => t,
                None => n,
            }
        }
        Some(PoolCodes::Link(_)) => match p.total {
            Some(t) => t,
            None => {
                errors.push(cx.options.error_at(&at("link"), "a link pool needs a `total`"));
                0
            }
        },
        None => 0,
    };
    let mut time = |key: &str, v: &Option<String>| -> Option<DateTime<Utc>> {
        cx.bot
            .parse_time(v.as_deref()?)
            .map_err(|e| errors.push(cx.options.error_at(&at(key), e)))
            .ok()
    };
    let starts = time("starts", &p.starts);
    let ends = time("ends", &p.ends);
    if errors.len() > before {
        return None;
    }
    Some(Pool {
        title: p.title.unwrap_or_else(|| p.id.clone()),
        key: normalize(&p.id),
        spec: PoolSpec {
            bot: cx.bot.name.clone(),
            pool: p.id,
            codes: codes?,
            total,
            per_user: p.per_user,
        },
        starts,
        ends,
    })
}

/// Codes from a file: one a line, blank lines and `#` comments skipped.
fn read_codes(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// A pool, compiled.
struct Pool {
    /// The ledger's view of it.
    spec: PoolSpec,
    /// `pool.title` in messages.
    title: String,
    /// The id as matched after a keyword (normalised).
    key: String,
    /// Claims open at this time.
    starts: Option<DateTime<Utc>>,
    /// Claims close after this time.
    ends: Option<DateTime<Utc>>,
}

struct Messages {
    claimed: Template,
    sold_out: Template,
    already_claimed: Template,
    not_started: Template,
    ended: Template,
}

/// The running plugin.
struct Coupons {
    bot: String,
    pools: Vec<Pool>,
    /// Normalised keywords.
    keywords: Vec<String>,
    deliver: Deliver,
    locale: Locale,
    messages: Messages,
}

/// What a message asks of the plugin.
enum Request<'a> {
    /// A claim from this pool.
    Claim(&'a Pool),
    /// An admin's `/coupons`.
    Report,
}

impl Coupons {
    /// Read a message as a claim or a command, if it is one.
    fn request(&self, text: &str) -> Option<Request<'_>> {
        let text = normalize(text);
        if text == "/coupons" {
            return Some(Request::Report);
        }
        for k in &self.keywords {
            if text == *k {
                return self.pools.first().map(Request::Claim);
            }
            if let Some(rest) = text.strip_prefix(k.as_str()).and_then(|r| r.strip_prefix(' ')) {
                if let Some(pool) = self.pools.iter().find(|p| p.key == rest.trim()) {
                    return Some(Request::Claim(pool));
                }
            }
        }
        None
    }

    fn vars(sender: &Sender, pool: &Pool, counts: PoolCounts, code: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "user": {"id": sender.id.as_str(), "name": sender.name},
            "pool": {
                "id": pool.spec.pool,
                "title": pool.title,
                "remaining": counts.remaining(),
                "claimed": counts.claimed,
                "total": counts.total,
            },
            "code": code,
        })
    }

    /// The action that carries a code to the member: a direct message, or a
    /// reply in the group where asked for or where the platform has no DMs.
    fn code_action(
        &self,
        ctx: &Ctx<'_>,
        chat: &Chat,
        sender: &Sender,
        message: &Message,
        text: String,
    ) -> Action {
        let dm = self.deliver == Deliver::Dm && ctx.capabilities(&chat.adapter).direct_message;
        let action = match &chat.group {
            Some(group) if !dm => Action::Reply {
                group: group.clone(),
                reply_to: message.id.clone(),
                text,
            },
            _ => Action::Send {
                to: Target::User(sender.id.clone()),
                text,
            },
        };
        // Queued with the grant, so the runtime never fits it: do it here.
        ctx.fitted(&chat.adapter, action)
    }

    async fn claim(
        &self,
        ctx: &Ctx<'_>,
        event: &Event,
        (chat, sender, message): (&Chat, &Sender, &Message),
        pool: &Pool,
    ) -> Result<(), BoxError> {
        let now = ctx.now();
        let counts = ctx
            .store()
            .pool_counts(&self.bot, &pool.spec.pool)
            .await?
            .unwrap_or_default();
        if pool.starts.is_some_and(|s| now < s) {
            ctx.reply(
                event,
                self.messages
                    .not_started
                    .render(Self::vars(sender, pool, counts, None))?,
            );
            return Ok(());
        }
        if pool.ends.is_some_and(|e| now > e) {
            ctx.reply(
                event,
                self.messages
                    .ended
                    .render(Self::vars(sender, pool, counts, None))?,
            );
            return Ok(());
        }
        // Render the delivery up front (everything but the code and counts),
        // so the store can queue it with the grant.
        let template = self.messages.claimed.clone();
        let (adapter, bot, s, title, pool_id) = (
            chat.adapter.clone(),
            ctx.bot().name.clone(),
            sender.clone(),
            pool.title.clone(),
            pool.spec.pool.clone(),
        );
        let probe = self.code_action(ctx, chat, sender, message, String::new());
        let deliver = Box::new(move |grant: &Grant, counts: PoolCounts| {
            let vars = serde_json::json!({
                "user": {"id": s.id.as_str(), "name": s.name},
                "pool": {"id": pool_id, "title": title, "remaining": counts.remaining(),
                         "claimed": counts.claimed, "total": counts.total},
                "code": grant.code,
            });
            let text = template.render(vars).unwrap_or_else(|e| {
                // A template error must not cost the member their code.
                tracing::error!(error = %e, "coupons: the claimed template failed; sending the bare code");
                grant.code.clone()
            });
            vec![delivery(&adapter, &bot, grant, with_text(probe, text), now)]
        });
        let who = Claimant {
            adapter: chat.adapter.clone(),
            user: sender.id.clone(),
            group: chat.group.clone(),
            message: Some(message.id.clone()),
        };
        match ctx
            .store()
            .claim(&self.bot, &pool.spec.pool, who, now, deliver)
            .await?
        {
            ClaimOutcome::Granted { queued, .. } => {
                for out in queued {
                    ctx.queued(out);
                }
            }
            ClaimOutcome::Already(mine) => {
                let code = mine.last().map(|g| g.code.as_str());
                let text = self
                    .messages
                    .already_claimed
                    .render(Self::vars(sender, pool, counts, code))?;
                let action = self.code_action(ctx, chat, sender, message, text);
                ctx.act(
                    &chat.adapter,
                    action,
                    Some(format!("coupon {}: already claimed", pool.spec.pool)),
                );
            }
            ClaimOutcome::SoldOut(counts) => {
                ctx.reply(
                    event,
                    self.messages
                        .sold_out
                        .render(Self::vars(sender, pool, counts, None))?,
                );
            }
        }
        Ok(())
    }

    async fn report(&self, ctx: &Ctx<'_>, event: &Event) -> Result<(), BoxError> {
        let mut lines = Vec::new();
        for pool in &self.pools {
            let c = ctx
                .store()
                .pool_counts(&self.bot, &pool.spec.pool)
                .await?
                .unwrap_or_default();
            lines.push(match self.locale {
                Locale::Zh => format!(
                    "{}（{}）：剩余 {}/{}，已领 {}",
                    pool.spec.pool,
                    pool.title,
                    c.remaining(),
                    c.total,
                    c.claimed
                ),
                Locale::En => format!(
                    "{} ({}): {} of {} left, {} claimed",
                    pool.spec.pool,
                    pool.title,
                    c.remaining(),
                    c.total,
                    c.claimed
                ),
            });
        }
        ctx.reply(event, lines.join("\n"));
        Ok(())
    }
}

fn with_text(mut action: Action, new: String) -> Action {
    if let Action::Reply { text, .. } | Action::Send { text, .. } = &mut action {
        *text = new;
    }
    action
}

fn delivery(adapter: &AdapterId, bot: &str, grant: &Grant, action: Action, at: DateTime<Utc>) -> Outgoing {
    Outgoing {
        at,
        bot: bot.to_owned(),
        adapter: adapter.clone(),
        action,
        reason: Some(format!("coupon {} granted", grant.pool)),
        plugin: Some(CouponsConfig::KIND.to_owned()),
    }
}

#[async_trait]
impl Plugin for Coupons {
    async fn start(&self, ctx: &Ctx<'_>) -> Result<(), BoxError> {
        for pool in &self.pools {
            let counts = ctx.store().open_pool(pool.spec.clone()).await?;
            tracing::info!(bot = %self.bot, pool = %pool.spec.pool, claimed = counts.claimed, total = counts.total, "coupon pool open");
        }
        Ok(())
    }

    async fn on_event(&self, ctx: &Ctx<'_>, event: &Event) -> Result<Flow, BoxError> {
        let Some((chat, sender, message)) = event.member_message() else {
            return Ok(Flow::Continue);
        };
        match self.request(&message.text) {
            None => Ok(Flow::Continue),
            Some(Request::Report) if !ctx.bot().is_admin(chat, sender) => Ok(Flow::Continue),
            Some(Request::Report) => {
                self.report(ctx, event).await?;
                Ok(Flow::Stop)
            }
            Some(Request::Claim(pool)) => {
                self.claim(ctx, event, (chat, sender, message), pool).await?;
                Ok(Flow::Stop)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Role;
    use crate::plugin::testing::PluginHarness;

    const POOLS: &str = r#"
pools:
  - id: lunch
    title: 午餐券
    codes: [L-1, L-2, L-3]
  - id: vip
    link: "https://example.com/vip"
    total: 2
    per_user: 2
claim:
  keywords: [领券, coupon]
  deliver: group
"#;

    fn texts(out: &crate::plugin::testing::Outcome) -> Vec<String> {
        out.replies().into_iter().map(str::to_owned).collect()
    }

    #[tokio::test]
    async fn codes_go_out_in_order_once_each_and_a_second_claim_repeats_the_first() {
        let h = PluginHarness::new::<CouponsConfig>(POOLS).await;
        assert_eq!(
            texts(&h.message("g1", "alice", "领券").await),
            ["alice，你的午餐券券码：L-1"]
        );
        assert_eq!(
            texts(&h.message("g1", "bob", " ＣＯＵＰＯＮ ").await),
            ["bob，你的午餐券券码：L-2"]
        );
        let again = h.message("g2", "alice", "领券").await;
        assert_eq!(
            texts(&again),
            ["alice，你已领取过午餐券：L-1"],
            "per_user holds across groups"
        );
        assert_eq!(
            texts(&h.message("g1", "carol", "领券").await),
            ["carol，你的午餐券券码：L-3"]
        );
        assert_eq!(
            texts(&h.message("g1", "dave", "领券").await),
            ["午餐券已领完，下次早点来哦"]
        );
        let out = h.message("g1", "erin", "我要领券").await;
        assert!(out.is_empty(), "a claim is the whole message");
        assert_eq!(out.flow, Flow::Continue);
    }

    #[tokio::test]
    async fn a_pool_id_after_the_keyword_claims_from_that_pool() {
        let h = PluginHarness::new::<CouponsConfig>(POOLS).await;
        let link = "bob，你的vip券码：https://example.com/vip";
        assert_eq!(texts(&h.message("g1", "bob", "领券 vip").await), [link]);
        assert_eq!(
            texts(&h.message("g1", "bob", "coupon VIP").await),
            [link],
            "per_user 2"
        );
        assert_eq!(
            texts(&h.message("g1", "carol", "领券 vip").await),
            ["vip已领完，下次早点来哦"],
            "total 2"
        );
        assert!(h.message("g1", "carol", "领券 nope").await.is_empty());
    }

    #[tokio::test]
    async fn grants_are_queued_with_the_ledger_and_reported_as_such() {
        let h = PluginHarness::new::<CouponsConfig>(POOLS).await;
        h.message("g1", "alice", "领券").await;
        h.store().flush().await.unwrap();
        let grants = h.store().grants("test").await.unwrap();
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].code, "L-1");
        assert_eq!(grants[0].claimant.user.as_str(), "alice");
        let queued = h.store().outbox_pending(&"console".into(), 10).await.unwrap();
        assert_eq!(queued.len(), 1, "the delivery is in the outbox with the grant");
        assert!(matches!(&queued[0].item.action, Action::Reply { text, .. } if text.ends_with("L-1")));
    }

    #[tokio::test]
    async fn codes_go_by_direct_message_by_default() {
        let h = PluginHarness::new::<CouponsConfig>("pools: [{id: p, codes: [X]}]").await;
        let out = h.message("g1", "alice", "领券").await;
        assert!(
            matches!(&out.actions[0].action, Action::Send { to: Target::User(u), .. } if u.as_str() == "alice")
        );
    }

    #[tokio::test]
    async fn claims_outside_the_window_get_not_started_or_ended() {
        // The harness clock reads 2026-11-24 11:00 Shanghai.
        let h = PluginHarness::new::<CouponsConfig>(
            "pools:\n  - {id: soon, codes: [A], starts: \"2026-11-24 12:00\"}\n  - {id: past, codes: [B], ends: \"2026-11-24 10:00\"}\nclaim: {deliver: group}\n",
        )
        .await;
        assert_eq!(
            texts(&h.message("g1", "a", "领券 soon").await),
            ["soon还未开始，敬请期待"]
        );
        assert_eq!(
            texts(&h.message("g1", "a", "领券 past").await),
            ["past活动已结束"]
        );
        h.advance(3600);
        assert_eq!(
            texts(&h.message("g1", "a", "领券 soon").await),
            ["a，你的soon券码：A"]
        );
    }

    #[tokio::test]
    async fn only_admins_get_the_pool_report() {
        let h = PluginHarness::new::<CouponsConfig>(POOLS).await;
        h.message("g1", "alice", "领券").await;
        assert!(h.message("g1", "bob", "/coupons").await.is_empty());
        let mut admin = Sender::member("boss");
        admin.role = Role::Admin;
        let out = h.message_as(Some("g1"), admin, "/coupons").await;
        assert_eq!(
            texts(&out),
            ["lunch（午餐券）：剩余 2/3，已领 1\nvip（vip）：剩余 2/2，已领 0"]
        );
    }

    #[test]
    fn bad_pools_are_all_reported() {
        let errors = PluginHarness::build_errors::<CouponsConfig>(
            "pools:\n  - {id: a, codes: [X, X]}\n  - {id: b, link: \"https://x\"}\n  - {id: c, codes: [Y], total: 5}\n  - {id: d}\n  - {id: a, codes: [Z]}\n",
        );
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(errors.len(), 5, "{messages:?}");
        assert!(messages[0].contains("listed twice"));
        assert!(messages[1].contains("needs a `total`"));
        assert!(messages[2].contains("more than the 1 codes"));
        assert!(messages[3].contains("exactly one of"));
        assert!(messages[4].contains("duplicate pool id"));
    }

    #[tokio::test]
    async fn codes_file_is_read_relative_to_the_bot() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("codes.txt"), "# lunch codes\nF-1\n\nF-2\n").unwrap();
        let codes = read_codes(&dir.path().join("codes.txt")).unwrap();
        assert_eq!(codes, ["F-1", "F-2"]);
        assert!(
            read_codes(&dir.path().join("missing.txt"))
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
