//! `autoreply`: answer messages that match a rule (keywords, a whole text,
//! or a regular expression) with a templated reply.
//!
//! Rules are tried in order and the first match answers, as a reply to the
//! message. Matching runs on the normalised text ([`crate::text::normalize`]),
//! so `ＶＩＰ`, `vip` and `V\u{200B}IP` are the same word. A rule that answered in a
//! group stays quiet there for its `cooldown`.

use std::collections::HashMap;
use std::sync::Mutex;

use aho_corasick::AhoCorasick;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{BuildCx, Flow, Plugin, PluginConfig};
use crate::config::{ConfigError, Duration};
use crate::error::BoxError;
use crate::event::{AdapterId, Event, GroupId, UserId};
use crate::runtime::Ctx;
use crate::template::Template;
use crate::text::normalize;

/// Options of `use: autoreply`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoreplyConfig {
    /// The rules, tried in order; the first that matches answers.
    pub rules: Vec<RuleConfig>,
    /// Default cooldown of every rule (per rule and group): after answering,
    /// a rule stays quiet in that group this long. Default: none.
    #[serde(default)]
    pub cooldown: Option<Duration>,
    /// Whether later plugins still see a message a rule matched (default
    /// false: one answer per message, so an FAQ does not answer it again).
    #[serde(default)]
    pub pass_through: bool,
}

/// One rule.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// What the message must look like.
    #[serde(rename = "match")]
    pub matches: MatchConfig,
    /// The answer: a template that sees `user.name`, `user.id`, `group`
    /// and `text` (the message).
    pub reply: String,
    /// This rule's cooldown per group, overriding the plugin's.
    #[serde(default)]
    pub cooldown: Option<Duration>,
}

/// How a rule matches: exactly one of `keywords`, `exact` or `regex`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// Any of these words anywhere in the normalised text (case, width and
    /// invisible characters ignored).
    #[serde(default)]
    pub keywords: Option<Vec<String>>,
    /// The whole trimmed, normalised text equals this (normalised too).
    #[serde(default)]
    pub exact: Option<String>,
    /// A regular expression (Rust `regex` syntax) found in the normalised
    /// text or, failing that, in the text as written.
    #[serde(default)]
    pub regex: Option<String>,
}

impl PluginConfig for AutoreplyConfig {
    const KIND: &'static str = "autoreply";
    const ABOUT: &'static str = "answer messages that match keywords, a whole text or a regex";

    fn build(self, cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut rules = Vec::with_capacity(self.rules.len());
        let mut keywords: Vec<String> = Vec::new();
        let mut keyword_rule: Vec<usize> = Vec::new();
        for (i, rule) in self.rules.into_iter().enumerate() {
            let at = format!("rules[{i}].match");
            let matcher = match rule.matches {
                MatchConfig {
                    keywords: Some(words),
                    exact: None,
                    regex: None,
                } => {
                    let words: Vec<String> = words
                        .iter()
                        .map(|w| normalize(w))
                        .filter(|w| !w.is_empty())
                        .collect();
                    if words.is_empty() {
                        errors.push(
                            cx.options
                                .error_at(&format!("{at}.keywords"), "needs at least one non-empty keyword"),
                        );
                    }
                    for w in words {
                        keywords.push(w);
                        keyword_rule.push(i);
                    }
                    Matcher::Keywords
                }
                MatchConfig {
                    keywords: None,
                    exact: Some(text),
                    regex: None,
                } => Matcher::Exact(normalize(&text)),
                MatchConfig {
                    keywords: None,
                    exact: None,
                    regex: Some(re),
                } => match regex::Regex::new(&re) {
                    Ok(re) => Matcher::Regex(re),
                    Err(e) => {
                        errors.push(
                            cx.options
                                .error_at(&format!("{at}.regex"), format!("invalid regex: {e}")),
                        );
                        continue;
                    }
                },
                _ => {
                    errors.push(
                        cx.options
                            .error_at(&at, "write exactly one of keywords, exact or regex"),
                    );
                    continue;
                }
            };
            let reply = match Template::compile(&rule.reply) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(cx.options.error_at(&format!("rules[{i}].reply"), e));
                    continue;
                }
            };
            rules.push(Rule {
                matcher,
                reply,
                cooldown: rule.cooldown.or(self.cooldown).map(|d| d.0),
            });
        }
        let keywords = match AhoCorasick::new(&keywords) {
            Ok(ac) => ac,
            Err(e) => {
                errors.push(cx.options.error_at("rules", format!("keywords: {e}")));
                return Err(errors);
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Box::new(Autoreply {
            rules,
            keywords,
            keyword_rule,
            pass_through: self.pass_through,
            last_answer: Mutex::new(HashMap::new()),
        }))
    }
}

/// A compiled rule.
struct Rule {
    matcher: Matcher,
    reply: Template,
    cooldown: Option<std::time::Duration>,
}

enum Matcher {
    /// Matched through the plugin's shared keyword automaton.
    Keywords,
    Exact(String),
    Regex(regex::Regex),
}

/// Where a cooldown holds: one rule in one chat.
type CooldownKey = (usize, AdapterId, Option<GroupId>, Option<UserId>);

/// The running plugin.
struct Autoreply {
    rules: Vec<Rule>,
    /// Every rule's keywords in one automaton, matched in one pass.
    keywords: AhoCorasick,
    /// The rule of each keyword pattern, by pattern index.
    keyword_rule: Vec<usize>,
    pass_through: bool,
    /// When each rule last answered in each chat; a std mutex, held briefly
    /// and never across an await.
    last_answer: Mutex<HashMap<CooldownKey, DateTime<Utc>>>,
}

impl Autoreply {
    /// The first rule that matches `text` (as written).
    fn first_match(&self, text: &str) -> Option<usize> {
        let norm = normalize(text);
        let by_keyword = self
            .keywords
            .find_overlapping_iter(&norm)
            .map(|m| self.keyword_rule[m.pattern().as_usize()])
            .min();
        self.rules.iter().enumerate().find_map(|(i, rule)| {
            let hit = match &rule.matcher {
                Matcher::Keywords => by_keyword == Some(i),
                Matcher::Exact(want) => &norm == want,
                Matcher::Regex(re) => re.is_match(&norm) || re.is_match(text),
            };
            hit.then_some(i)
        })
    }
}

#[async_trait]
impl Plugin for Autoreply {
    async fn on_event(&self, ctx: &Ctx<'_>, event: &Event) -> Result<Flow, BoxError> {
        let Some((chat, sender, message)) = event.member_message() else {
            return Ok(Flow::Continue);
        };
        let Some(i) = self.first_match(&message.text) else {
            return Ok(Flow::Continue);
        };
        let rule = &self.rules[i];
        let now = ctx.now();
        let key: CooldownKey = (
            i,
            chat.adapter.clone(),
            chat.group.clone(),
            chat.group.is_none().then(|| sender.id.clone()),
        );
        let quiet = {
            let mut last = self.last_answer.lock().unwrap_or_else(|e| e.into_inner());
            let cooling = match (rule.cooldown, last.get(&key)) {
                (Some(cd), Some(at)) => chrono::Duration::from_std(cd).is_ok_and(|cd| now < *at + cd),
                _ => false,
            };
            if !cooling {
                last.insert(key, now);
            }
            cooling
        };
        if !quiet {
            let text = rule.reply.render(serde_json::json!({
                "user": {"id": sender.id.as_str(), "name": sender.name},
                "group": chat.group.as_ref().map(|g| g.as_str()),
                "text": message.text,
            }))?;
            ctx.reply(event, text);
        }
        Ok(if self.pass_through {
            Flow::Continue
        } else {
            Flow::Stop
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::testing::PluginHarness;

    const RULES: &str = r#"
rules:
  - match: {keywords: [领券, coupon]}
    reply: "回复「领券」即可领取, {{user.name}}"
    cooldown: 1m
  - match: {exact: "Hi"}
    reply: "hello"
  - match: {regex: "^refund\\s+#(\\d+)$"}
    reply: "checking your refund"
"#;

    #[tokio::test]
    async fn first_matching_rule_answers_on_normalised_text() {
        let h = PluginHarness::new::<AutoreplyConfig>(RULES).await;
        let out = h.message("g1", "alice", "怎么 领\u{200B}券？").await;
        assert_eq!(out.replies(), vec!["回复「领券」即可领取, alice"]);
        assert_eq!(out.flow, Flow::Stop, "an answered message stops there");
        assert_eq!(h.message("g1", "bob", "  ＨＩ ").await.replies(), vec!["hello"]);
        assert!(
            h.message("g1", "bob", "hi there").await.replies().is_empty(),
            "exact is the whole text"
        );
        assert_eq!(
            h.message("g1", "bob", "REFUND #12").await.replies(),
            vec!["checking your refund"]
        );
        let none = h.message("g1", "bob", "nothing here").await;
        assert!(none.is_empty());
        assert_eq!(none.flow, Flow::Continue);
    }

    #[tokio::test]
    async fn cooldown_is_per_rule_and_group() {
        let h = PluginHarness::new::<AutoreplyConfig>(RULES).await;
        assert_eq!(h.message("g1", "a", "coupon").await.replies().len(), 1);
        h.advance(30);
        assert!(
            h.message("g1", "b", "coupon").await.replies().is_empty(),
            "cooling in g1"
        );
        assert_eq!(
            h.message("g2", "b", "coupon").await.replies().len(),
            1,
            "g2 has its own cooldown"
        );
        assert_eq!(
            h.message("g1", "b", "hi").await.replies().len(),
            1,
            "another rule is not cooling"
        );
        h.advance(31);
        assert_eq!(
            h.message("g1", "b", "coupon").await.replies().len(),
            1,
            "cooldown over"
        );
    }

    #[tokio::test]
    async fn bad_regex_and_template_are_located_errors() {
        let errors = PluginHarness::build_errors::<AutoreplyConfig>(
            "rules:\n  - match: {regex: \"(\"}\n    reply: x\n  - match: {exact: y}\n    reply: \"{{ oops\"\n  - match: {exact: a, regex: b}\n    reply: z\n",
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].message.contains("invalid regex"), "{errors:?}");
        assert!(errors[1].message.contains("invalid template"), "{errors:?}");
        assert!(errors[2].message.contains("exactly one"), "{errors:?}");
    }
}
