//! The options of `use: moderation` and their compilation into the running
//! plugin: every problem is reported at once, each at its key.

use std::path::Path;
use std::sync::{Mutex, RwLock};

use schemars::JsonSchema;
use serde::Deserialize;

use super::banlist::BanList;
use super::classifier::{Model, SpamIndex};
use super::ladder::{Ladder, Step};
use super::rules::{KeyMap, Links, Patterns, Windows, Words};
use super::verify::{Deliver, Gate, Question};
use super::{Classifier, ClassifierState, Folded, Moderation, NewMembers, auto_threshold, features_of};
use crate::bot::Scoped;
use crate::config::{ConfigError, Duration};
use crate::plugin::{BuildCx, Plugin, PluginConfig};

/// Options of `use: moderation`. With none at all, the defaults protect a
/// group: the built-in classifier, flood and duplicate limits, a stricter
/// check of new members' first messages, `warn → mute 1h → kick`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerationConfig {
    /// The rules a message is checked against.
    #[serde(default)]
    pub rules: RulesConfig,
    /// The spam classifier; `null` turns it off.
    #[serde(default = "default_classifier")]
    pub classifier: Option<ClassifierConfig>,
    /// Who is never checked.
    #[serde(default)]
    pub exempt: ExemptConfig,
    /// What the 1st, 2nd, … violation of a member in a group costs on top of
    /// the deletion; the last step repeats. Steps: `warn`, `{mute: 10m}`,
    /// `kick`, `ban`. Default: `[warn, {mute: 1h}, kick]`.
    #[serde(default)]
    pub escalation: Option<Vec<StepConfig>>,
    /// A member's count resets after this long without violations
    /// (default 7d).
    #[serde(default)]
    pub forget_after: Option<Duration>,
    /// Decide and log, act on nothing (and let the message through).
    #[serde(default)]
    pub dry_run: bool,
    /// A group (`GROUP` or `ADAPTER:GROUP`) that gets a line per action.
    #[serde(default)]
    pub report_to: Option<String>,
    /// The new-member gate: members who join are muted until they answer
    /// a question, and kicked after `timeout`. Off by default.
    #[serde(default)]
    pub verify: Option<VerifyConfig>,
    /// Where a ban of the ladder (or of `/spam`) applies: `group` (default),
    /// or `bot`: every group of the bot on the same adapter that the store
    /// knows.
    #[serde(default)]
    pub ban_scope: BanScope,
    /// Shared ban lists: their users are banned on sight (when they join or
    /// write), wherever the bot serves.
    #[serde(default)]
    pub ban_lists: Vec<BanListConfig>,
}

/// Where a ban applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BanScope {
    /// The group of the violation.
    #[default]
    Group,
    /// Every group of the bot on the adapter of the violation.
    Bot,
}

/// One shared ban list.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BanListConfig {
    /// A file of user ids, one a line (`ID`, or `ADAPTER:ID` for one
    /// adapter only; blank lines and `#` comments skipped), relative to the
    /// bot file. Read at start.
    #[serde(default)]
    pub file: Option<String>,
    /// A URL serving such a list (`http://` or `https://`), fetched at
    /// start and then every `every`.
    #[serde(default)]
    pub url: Option<String>,
    /// How often `url` is fetched again (default 10m, at least 1m).
    #[serde(default)]
    pub every: Option<Duration>,
}

/// The new-member gate.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// `arithmetic` (default: a small sum, different per member) or
    /// `{ask: QUESTION, answer: ANSWER}`.
    #[serde(default = "default_question")]
    pub question: QuestionConfig,
    /// How long a new member has to answer before being kicked (default 5m).
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Where the question goes: `group` (default) or `dm`. Answers count in
    /// the group and by direct message either way.
    #[serde(default)]
    pub deliver: DeliverConfig,
}

fn default_question() -> QuestionConfig {
    QuestionConfig::Named("arithmetic".into())
}

/// `arithmetic`, or a question and its answer.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum QuestionConfig {
    /// `arithmetic`.
    Named(String),
    /// A fixed question.
    Fixed {
        /// The question.
        ask: String,
        /// The answer (case, spaces and punctuation do not matter).
        answer: String,
    },
}

/// Where the challenge is posted.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliverConfig {
    /// Into the group joined.
    #[default]
    Group,
    /// A direct message to the member.
    Dm,
}

fn default_classifier() -> Option<ClassifierConfig> {
    Some(ClassifierConfig::default())
}

/// The rules.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Words that may not appear (matched in one pass on the folded text,
    /// spaces and punctuation between their characters ignored).
    #[serde(default)]
    pub banned_words: Vec<String>,
    /// A file of more banned words, one a line (relative to the bot file).
    #[serde(default)]
    pub banned_words_file: Option<String>,
    /// Regular expressions (Rust `regex`) searched in the folded and in the
    /// normalised text.
    #[serde(default)]
    pub banned_patterns: Vec<String>,
    /// Links: only allowed domains may be linked.
    #[serde(default)]
    pub links: Option<LinksConfig>,
    /// Phone numbers, WeChat/QQ ids and their evasive spellings violate.
    #[serde(default)]
    pub contacts: bool,
    /// More than `messages` within `window` from one member violate.
    #[serde(default = "default_flood")]
    pub flood: Option<FloodConfig>,
    /// The same text `count` times within `window` (across members too).
    #[serde(default = "default_duplicates")]
    pub duplicates: Option<DuplicatesConfig>,
    /// More than `max` mentions in one message violate.
    #[serde(default)]
    pub mentions: Option<MentionsConfig>,
    /// The stricter check of a new member's first messages; `null` for none.
    #[serde(default = "default_new_members")]
    pub new_members: Option<NewMembersConfig>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            banned_words: Vec::new(),
            banned_words_file: None,
            banned_patterns: Vec::new(),
            links: None,
            contacts: false,
            flood: default_flood(),
            duplicates: default_duplicates(),
            mentions: None,
            new_members: default_new_members(),
        }
    }
}

/// Links.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinksConfig {
    /// Domains that may be linked, their subdomains included.
    #[serde(default)]
    pub allow_domains: Vec<String>,
    /// Block every link, allowed domains included.
    #[serde(default)]
    pub block_all: bool,
}

/// Flood.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FloodConfig {
    /// Messages allowed within `window`.
    pub messages: usize,
    /// The window.
    pub window: Duration,
}

fn default_flood() -> Option<FloodConfig> {
    Some(FloodConfig {
        messages: 10,
        window: Duration(std::time::Duration::from_secs(10)),
    })
}

/// Duplicates.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DuplicatesConfig {
    /// The copy that reaches this count violates, and later ones.
    pub count: usize,
    /// The window.
    pub window: Duration,
    /// Texts shorter than this (letters, digits and ideographs) are not
    /// counted: "ok" and "哈哈" are said often (default 6).
    #[serde(default = "default_min_length")]
    pub min_length: usize,
}

fn default_min_length() -> usize {
    6
}

fn default_duplicates() -> Option<DuplicatesConfig> {
    Some(DuplicatesConfig {
        count: 3,
        window: Duration(std::time::Duration::from_secs(60)),
        min_length: default_min_length(),
    })
}

/// Mentions.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MentionsConfig {
    /// Mentions allowed in one message.
    pub max: usize,
}

/// The stricter check of new members.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMembersConfig {
    /// How many of a member's first messages after joining are checked
    /// strictly (default 3).
    #[serde(default = "default_first_messages")]
    pub first_messages: u32,
    /// The classifier threshold for them (default: the classifier's).
    #[serde(default)]
    pub threshold: Option<f32>,
    /// Their links violate unless allowed by `links` (default true), or
    /// unless the classifier is sure the message is ham.
    #[serde(default = "yes")]
    pub links: bool,
    /// Their contacts and phone numbers violate (default true), unless the
    /// classifier is sure the message is ham.
    #[serde(default = "yes")]
    pub contacts: bool,
}

fn default_first_messages() -> u32 {
    3
}

fn yes() -> bool {
    true
}

fn default_new_members() -> Option<NewMembersConfig> {
    Some(NewMembersConfig {
        first_messages: default_first_messages(),
        threshold: None,
        links: true,
        contacts: true,
    })
}

/// The classifier.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Sample files to train on, besides the built-in samples.
    #[serde(default)]
    pub samples: SamplesConfig,
    /// Spam probability at or above which a message violates. Default:
    /// automatic, from 0.7 for a model of the built-in samples only down to
    /// 0.25 once it has learned 5,000 samples (files, `/spam`, `/ham`,
    /// `qunbot train`).
    #[serde(default)]
    pub threshold: Option<f32>,
    /// Train on the built-in samples too (default true).
    #[serde(default = "yes")]
    pub builtin: bool,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            samples: SamplesConfig::default(),
            threshold: None,
            builtin: true,
        }
    }
}

/// The automatic threshold of a model trained on thousands of samples.
pub(crate) const TRAINED_THRESHOLD: f32 = 0.25;
/// A new member's link or contact, or a copy of known spam, is let through
/// only when the classifier scores the message below this: sure it is ham
/// ("my number is …" in a reply to an admin). Hard rules made every such
/// message a violation and deleted real members' messages; tuned on
/// held-out halves of labelled chat, where it keeps more than half of those
/// and loses almost no spam.
pub(crate) const SURE_HAM: f32 = 0.1;
/// The automatic threshold of a model of the built-in samples only.
pub(crate) const UNTRAINED_THRESHOLD: f32 = 0.7;

/// Sample files: one message a line, or JSONL with `text` and `label`
/// (`spam` or `ham`, which then wins over the file's kind).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SamplesConfig {
    /// Spam messages.
    #[serde(default)]
    pub spam: Option<String>,
    /// Ordinary messages.
    #[serde(default)]
    pub ham: Option<String>,
}

/// Who is never checked.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExemptConfig {
    /// Group admins and the bot's admins (default true).
    #[serde(default = "yes")]
    pub admins: bool,
    /// These user ids (`ID` or `ADAPTER:ID`).
    #[serde(default)]
    pub users: Vec<String>,
}

impl Default for ExemptConfig {
    fn default() -> Self {
        Self {
            admins: true,
            users: Vec::new(),
        }
    }
}

/// One step of `escalation`: `warn`, `kick`, `ban`, or `{mute: DURATION}`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StepConfig {
    /// `warn`, `kick` or `ban`.
    Named(String),
    /// `{mute: DURATION}`.
    Mute {
        /// How long.
        mute: Duration,
    },
}

/// The built-in samples (self-written examples, not any public corpus).
const BUILTIN_SPAM: &str = include_str!("default_samples/spam.txt");
const BUILTIN_HAM: &str = include_str!("default_samples/ham.txt");

/// Read a sample file: plain lines of `default_spam`, or JSONL lines with
/// `text` and `label`.
pub(crate) fn read_samples(text: &str, default_spam: bool) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('{') {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                if let Some(t) = v.get("text").and_then(|t| t.as_str()) {
                    let spam = match v.get("label").and_then(|l| l.as_str()) {
                        Some("spam") => true,
                        Some("ham") => false,
                        _ => default_spam,
                    };
                    out.push((t.to_owned(), spam));
                    continue;
                }
            }
        }
        out.push((line.to_owned(), default_spam));
    }
    out
}

fn read_file(base: &Path, file: &str) -> Result<String, String> {
    std::fs::read_to_string(base.join(file)).map_err(|e| format!("cannot read {file}: {e}"))
}

impl PluginConfig for ModerationConfig {
    const KIND: &'static str = "moderation";
    const ABOUT: &'static str =
        "delete spam (words, links, contacts, flood, classifier) and escalate warn → mute → kick";

    fn build(self, cx: &BuildCx<'_>) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let r = self.rules;
        let mut words = r.banned_words.clone();
        if let Some(file) = &r.banned_words_file {
            match read_file(cx.base_dir, file) {
                Ok(text) => words.extend(
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned),
                ),
                Err(e) => errors.push(cx.options.error_at("rules.banned_words_file", e)),
            }
        }
        let words = Words::new(&words).unwrap_or_else(|e| {
            errors.push(cx.options.error_at("rules.banned_words", e));
            None
        });
        let patterns = Patterns::new(&r.banned_patterns).unwrap_or_else(|(i, e)| {
            errors.push(cx.options.error_at(
                &format!("rules.banned_patterns[{i}]"),
                format!("invalid regex: {e}"),
            ));
            None
        });
        let links = r.links.map(|l| Links {
            allow: l
                .allow_domains
                .iter()
                .map(|d| d.trim().trim_start_matches('.').to_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
            block_all: l.block_all,
        });
        if let Some(f) = &r.flood {
            if f.messages == 0 {
                errors.push(cx.options.error_at("rules.flood.messages", "must be at least 1"));
            }
        }
        if let Some(d) = &r.duplicates {
            if d.count < 2 {
                errors.push(
                    cx.options
                        .error_at("rules.duplicates.count", "must be at least 2"),
                );
            }
        }
        let classifier = self.classifier.map(|c| {
            if c.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
                errors.push(
                    cx.options
                        .error_at("classifier.threshold", "must be between 0 and 1"),
                );
            }
            let mut samples = Vec::new();
            if c.builtin {
                samples.extend(read_samples(BUILTIN_SPAM, true));
                samples.extend(read_samples(BUILTIN_HAM, false));
            }
            let builtin = samples.len();
            for (key, file, spam) in [
                ("classifier.samples.spam", &c.samples.spam, true),
                ("classifier.samples.ham", &c.samples.ham, false),
            ] {
                if let Some(file) = file {
                    match read_file(cx.base_dir, file) {
                        Ok(text) => samples.extend(read_samples(&text, spam)),
                        Err(e) => errors.push(cx.options.error_at(key, e)),
                    }
                }
            }
            let base: Vec<(Vec<u32>, bool)> = samples.iter().map(|(t, s)| (features_of(t), *s)).collect();
            let base_spam: Vec<String> = samples
                .iter()
                .filter(|(_, s)| *s)
                .map(|(t, _)| t.clone())
                .collect();
            let mut index = SpamIndex::default();
            for t in &base_spam {
                index.add(&super::classifier::trigrams(&Folded::new(t).skeleton));
            }
            let model = if base.is_empty() {
                Model::empty()
            } else {
                Model::train(&base)
            };
            let from_files = base.len() - builtin;
            Classifier {
                threshold: c.threshold,
                state: RwLock::new(ClassifierState {
                    model,
                    index,
                    threshold: c.threshold.unwrap_or_else(|| auto_threshold(from_files)),
                }),
                base,
                base_spam,
                from_files,
            }
        });
        let new_members = r.new_members.map(|n| {
            if let Some(t) = n.threshold {
                if !(0.0..=1.0).contains(&t) {
                    errors.push(
                        cx.options
                            .error_at("rules.new_members.threshold", "must be between 0 and 1"),
                    );
                }
            }
            NewMembers {
                first_messages: n.first_messages,
                threshold: n.threshold,
                links: n.links,
                contacts: n.contacts,
            }
        });
        let mut steps = Vec::new();
        for (i, s) in self
            .escalation
            .unwrap_or_else(|| {
                vec![
                    StepConfig::Named("warn".into()),
                    StepConfig::Mute {
                        mute: Duration(std::time::Duration::from_secs(3600)),
                    },
                    StepConfig::Named("kick".into()),
                ]
            })
            .into_iter()
            .enumerate()
        {
            steps.push(match s {
                StepConfig::Named(n) => match n.as_str() {
                    "warn" => Step::Warn,
                    "kick" => Step::Kick,
                    "ban" => Step::Ban,
                    other => {
                        errors.push(cx.options.error_at(
                            &format!("escalation[{i}]"),
                            format!("unknown step {other:?}: use warn, {{mute: DURATION}}, kick or ban"),
                        ));
                        continue;
                    }
                },
                StepConfig::Mute { mute } => Step::Mute(mute.0),
            });
        }
        if steps.is_empty() && errors.is_empty() {
            errors.push(cx.options.error_at("escalation", "needs at least one step"));
        }
        let verify = self.verify.and_then(|v| {
            let question = match v.question {
                QuestionConfig::Named(n) if n == "arithmetic" => Question::Arithmetic,
                QuestionConfig::Named(other) => {
                    errors.push(cx.options.error_at(
                        "verify.question",
                        format!("unknown question {other:?}: use arithmetic or {{ask: ..., answer: ...}}"),
                    ));
                    return None;
                }
                QuestionConfig::Fixed { ask, answer } => {
                    if Folded::new(&answer).skeleton.is_empty() {
                        errors.push(cx.options.error_at(
                            "verify.question.answer",
                            "needs at least one letter, digit or ideograph",
                        ));
                        return None;
                    }
                    Question::Fixed { ask, answer }
                }
            };
            let timeout = v.timeout.map_or(std::time::Duration::from_secs(300), |d| d.0);
            if timeout.as_secs() < 10 {
                errors.push(cx.options.error_at("verify.timeout", "must be at least 10s"));
                return None;
            }
            let deliver = match v.deliver {
                DeliverConfig::Group => Deliver::Group,
                DeliverConfig::Dm => Deliver::Dm,
            };
            Some(Gate::new(question, timeout, deliver))
        });
        let mut banned = BanList::new(&cx.bot.adapters);
        for (i, list) in self.ban_lists.into_iter().enumerate() {
            match (list.file, list.url) {
                (Some(file), None) => match read_file(cx.base_dir, &file) {
                    Ok(text) => banned.extend(&text),
                    Err(e) => errors.push(cx.options.error_at(&format!("ban_lists[{i}].file"), e)),
                },
                (None, Some(url)) => {
                    let every = list.every.map_or(std::time::Duration::from_secs(600), |d| d.0);
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        errors.push(cx.options.error_at(
                            &format!("ban_lists[{i}].url"),
                            "must start with http:// or https://",
                        ));
                    } else if every.as_secs() < 60 {
                        errors.push(
                            cx.options
                                .error_at(&format!("ban_lists[{i}].every"), "must be at least 1m"),
                        );
                    } else {
                        banned.add_url(url, every);
                    }
                }
                _ => errors.push(
                    cx.options
                        .error_at(&format!("ban_lists[{i}]"), "needs exactly one of file and url"),
                ),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let forget_after = self
            .forget_after
            .map(|d| d.0)
            .unwrap_or(std::time::Duration::from_secs(7 * 86_400));
        Ok(Box::new(Moderation {
            words,
            patterns,
            links,
            contacts: r.contacts,
            mentions: r.mentions.map(|m| m.max),
            flood: r
                .flood
                .map(|f| (f.messages, Mutex::new(Windows::new(f.window.0)))),
            duplicates: r
                .duplicates
                .map(|d| (d.count, d.min_length, Mutex::new(Windows::new(d.window.0)))),
            new_members,
            joined: Mutex::new(KeyMap::default()),
            classifier,
            exempt_admins: self.exempt.admins,
            exempt_users: self
                .exempt
                .users
                .iter()
                .map(|u| Scoped::parse(u, &cx.bot.adapters))
                .collect(),
            ladder: Ladder::new(steps, Some(forget_after)),
            dry_run: self.dry_run,
            report_to: self
                .report_to
                .as_deref()
                .map(|g| Scoped::parse(g, &cx.bot.adapters)),
            recent: Mutex::new(KeyMap::default()),
            verify,
            ban_scope: self.ban_scope,
            banned,
        }))
    }
}
