//! `moderation`: keep ad spam out of groups without punishing real members.
//!
//! Every group message is folded once ([`fold::Folded`]: normalised,
//! homoglyphs, leetspeak and traditional characters folded, a skeleton
//! without spaces and punctuation) and checked by the rules in a fixed order:
//! banned words, banned patterns, links, contacts, mentions, duplicates,
//! flood, then the classifier and its similarity check ([`classifier`]). The
//! first rule that catches a message decides: the message is deleted, the
//! member climbs the escalation ladder ([`ladder`]), the decision goes to the
//! audit log (and `report_to`), and later plugins do not see the message.
//! A new member's link or contact that only the strict check forbids is
//! weighed last: it violates unless the classifier is sure the message is
//! ham ([`config::SURE_HAM`]).
//!
//! - `config`: the options ([`ModerationConfig`]) and their checks.
//! - `fold`: evasion folding; `rules`: the detectors; `classifier`: the model.
//! - `ladder`: escalation steps and the warn counts behind them.
//! - `verify`: the new-member gate (mute, question, kick after a timeout).
//! - `banlist`: shared ban lists (`ban_lists`), banned on sight;
//!   `ban_scope: bot` extends the ladder's bans to every group of the bot.
//! - `commands`: `/spam`, `/ham`, `/unmute`, `/unban`, `/warns`.
//! - [`eval`]: spam-detection figures of a whole plugin (`qunbot eval spam`).

mod banlist;
mod classifier;
mod commands;
mod config;
pub mod eval;
mod fold;
mod ladder;
mod rules;
mod verify;

pub use classifier::{Model, Signals};
pub use config::{BanScope, ModerationConfig};
pub use fold::Folded;
pub use rules::Rule;

use std::collections::VecDeque;
use std::sync::{Mutex, RwLock};

use async_trait::async_trait;

use super::{Flow, Plugin};
use crate::bot::Scoped;
use crate::error::BoxError;
use crate::event::{
    Action, AdapterId, Chat, Event, EventKind, GroupId, Message, MessageId, Sender, Target, UserId,
};
use crate::runtime::Ctx;
use crate::storage::{AuditEntry, Sample};
use classifier::{Features, SpamIndex};
use ladder::{Ladder, Step};
use rules::{KeyMap, Links, Patterns, Windows, Words};

/// The stricter check of a new member's first messages.
#[derive(Debug)]
struct NewMembers {
    /// How many of a new member's first messages are checked strictly.
    first_messages: u32,
    /// The classifier threshold for those messages (default: the classifier's).
    threshold: Option<f32>,
    /// Any link not allowed by `links` violates (even without a links rule).
    links: bool,
    /// Any contact or phone number violates (even without `contacts`).
    contacts: bool,
}

/// The classifier and what it knows.
struct Classifier {
    /// The configured threshold; `None`: [`auto_threshold`].
    threshold: Option<f32>,
    /// The model and the known spam; a std lock, written only when an admin
    /// reports a message or at start, read for every message.
    state: RwLock<ClassifierState>,
    /// The samples of the options (built-in and files), kept to retrain
    /// with what the store learned.
    base: Vec<(Features, bool)>,
    /// The spam texts of `base`, for the similarity index.
    base_spam: Vec<String>,
    /// How many of `base` came from sample files (not built in).
    from_files: usize,
}

struct ClassifierState {
    model: Model,
    index: SpamIndex,
    /// The threshold in force: the configured one, or the automatic one
    /// for what the model was trained on.
    threshold: f32,
}

/// The threshold when none is configured, for a model trained on `samples`
/// samples besides the built-in ones. A model of a handful of samples is
/// sure of little: it needs a high score before it deletes anything; one
/// trained on thousands of labelled chat messages is well calibrated at
/// [`config::TRAINED_THRESHOLD`] (tuned on held-out halves of such data).
fn auto_threshold(samples: usize) -> f32 {
    let trained = (samples as f32 / 5_000.0).min(1.0);
    config::UNTRAINED_THRESHOLD - (config::UNTRAINED_THRESHOLD - config::TRAINED_THRESHOLD) * trained
}

/// A member of one group, hashed: the flood window and the new-member
/// counters key on it without cloning ids per message.
type MemberHash = u64;

/// A recent message, so that `/spam` and `/ham` given as a reply know what
/// they point at.
#[derive(Clone, Debug)]
struct Recent {
    id: MessageId,
    sender: Sender,
    text: String,
}

/// The reason of bans and deletions for users on a ban list.
const BAN_LIST_REASON: &str = "spam: ban list";

/// Recent messages kept per group for admin replies.
const RECENT_PER_GROUP: usize = 200;

/// The running plugin.
struct Moderation {
    words: Option<Words>,
    patterns: Option<Patterns>,
    links: Option<Links>,
    contacts: bool,
    mentions: Option<usize>,
    /// More than `.0` messages within the window violate.
    flood: Option<(usize, Mutex<Windows<MemberHash>>)>,
    /// `.0` copies within the window violate; texts whose skeleton is
    /// shorter than `.1` characters are not counted.
    duplicates: Option<(usize, usize, Mutex<Windows<u64>>)>,
    new_members: Option<NewMembers>,
    /// Strictly checked messages left per new member.
    joined: Mutex<KeyMap<MemberHash, u32>>,
    classifier: Option<Classifier>,
    exempt_admins: bool,
    exempt_users: Vec<Scoped<UserId>>,
    ladder: Ladder,
    dry_run: bool,
    report_to: Option<Scoped<GroupId>>,
    /// Recent messages per group; std mutex, held briefly.
    recent: Mutex<KeyMap<u64, VecDeque<Recent>>>,
    /// The new-member gate, if configured.
    verify: Option<verify::Gate>,
    /// Where the ladder's bans apply.
    ban_scope: config::BanScope,
    /// Users banned on sight.
    banned: banlist::BanList,
}

fn member_hash(chat: &Chat, group: &GroupId, user: &UserId) -> MemberHash {
    fnv(&[chat.adapter.as_str(), group.as_str(), user.as_str()])
}

/// FNV-1a over strings, each ended by a separator: the in-memory keys of
/// hot maps (not persisted, so the function may change).
fn fnv(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    h
}

/// A group of one adapter, hashed (the key of the recent messages).
fn group_hash(chat: &Chat, group: &GroupId) -> u64 {
    fnv(&[chat.adapter.as_str(), group.as_str()])
}

/// A verdict on one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Verdict {
    rule: Rule,
}

impl Moderation {
    /// Check one message; `strict` for a new member's first messages.
    fn check(
        &self,
        chat: &Chat,
        group: &GroupId,
        sender: &Sender,
        message: &Message,
        strict: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Verdict> {
        let text = Folded::new(&message.text);
        // The windows count every message, whatever else catches it.
        let flooded = self.flood.as_ref().is_some_and(|(max, w)| {
            let key = member_hash(chat, group, &sender.id);
            w.lock().unwrap_or_else(|e| e.into_inner()).hit(key, now) > *max
        });
        let duplicated = self.duplicates.as_ref().is_some_and(|(count, min, w)| {
            if text.skeleton.chars().count() < *min {
                return false;
            }
            let key = fnv(&[chat.adapter.as_str(), group.as_str(), text.skeleton.as_str()]);
            w.lock().unwrap_or_else(|e| e.into_inner()).hit(key, now) >= *count
        });
        let found = |rule| Some(Verdict { rule });
        if self.words.as_ref().is_some_and(|w| w.matches(&text)) {
            return found(Rule::Word);
        }
        if self.patterns.as_ref().is_some_and(|p| p.matches(&text)) {
            return found(Rule::Pattern);
        }
        let strict_links = strict && self.new_members.as_ref().is_some_and(|n| n.links);
        let link = rules::has_link(&text.folded);
        // A new member's link or contact that no rule forbids: it violates
        // unless the classifier is sure the message is ham (below).
        let mut suspect = None;
        if link {
            match &self.links {
                Some(links) if links.violates(&text) => return found(Rule::Link),
                Some(_) => {}
                None if strict_links => suspect = Some(Rule::Link),
                None => {}
            }
        }
        let contact = rules::has_contact(&text.folded);
        let phone = rules::has_phone(&text.folded);
        let strict_contacts = strict && self.new_members.as_ref().is_some_and(|n| n.contacts);
        if contact || phone {
            if self.contacts {
                return found(Rule::Contact);
            }
            if strict_contacts && suspect.is_none() {
                suspect = Some(Rule::Contact);
            }
        }
        if self
            .mentions
            .is_some_and(|max| rules::mentions(&message.text) > max)
        {
            return found(Rule::Mentions);
        }
        if duplicated {
            return found(Rule::Duplicate);
        }
        if flooded {
            return found(Rule::Flood);
        }
        let Some(classifier) = self.classifier.as_ref() else {
            return suspect.and_then(found);
        };
        let signals = Signals {
            link,
            contact,
            phone,
            shout: classifier::shouts(&message.text),
        };
        let tri = classifier::trigrams(&text.skeleton);
        let x = classifier::features(&text, signals, &tri);
        let state = classifier.state.read().unwrap_or_else(|e| e.into_inner());
        let threshold = match (&self.new_members, strict) {
            (Some(n), true) => n.threshold.unwrap_or(state.threshold),
            _ => state.threshold,
        };
        let score = state.model.score(&x);
        // A copy of known spam is spam, unless the model is sure it is ham:
        // labelled chat has near-copies on both sides, and a hard rule
        // would turn each one into a deleted member.
        if score >= threshold || (score >= config::SURE_HAM && state.index.matches(&tri)) {
            return found(Rule::Classifier);
        }
        match suspect {
            Some(rule) if score >= config::SURE_HAM => found(rule),
            _ => None,
        }
    }

    /// Whether `sender` is exempt in `chat`.
    fn exempt(&self, ctx: &Ctx<'_>, chat: &Chat, sender: &Sender) -> bool {
        (self.exempt_admins && ctx.bot().is_admin(chat, sender))
            || self
                .exempt_users
                .iter()
                .any(|u| u.matches(&chat.adapter, &sender.id))
    }

    /// Remember a message for admin replies.
    fn remember(&self, chat: &Chat, group: &GroupId, sender: &Sender, message: &Message) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let list = recent.entry(group_hash(chat, group)).or_default();
        if list.len() >= RECENT_PER_GROUP {
            list.pop_front();
        }
        list.push_back(Recent {
            id: message.id.clone(),
            sender: sender.clone(),
            text: message.text.clone(),
        });
    }

    fn recent(&self, chat: &Chat, group: &GroupId, id: &MessageId) -> Option<Recent> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .get(&group_hash(chat, group))?
            .iter()
            .rev()
            .find(|r| &r.id == id)
            .cloned()
    }

    /// Delete `message` (if any) of `user` and climb the ladder; log and
    /// report. With `dry_run`, only log.
    #[allow(clippy::too_many_arguments)]
    async fn punish(
        &self,
        ctx: &Ctx<'_>,
        chat: &Chat,
        group: &GroupId,
        user: &Sender,
        message: Option<(&MessageId, &str)>,
        rule: Rule,
    ) -> Result<(), BoxError> {
        let reason = rule.reason();
        let mut done: Vec<String> = Vec::new();
        let mut actions: Vec<(Action, String)> = Vec::new();
        if let Some((id, _)) = message {
            actions.push((
                Action::Delete {
                    group: group.clone(),
                    message: id.clone(),
                },
                reason.to_owned(),
            ));
        }
        let warns = self.ladder.record(ctx, &chat.adapter, group, &user.id).await?;
        let count = warns.count;
        let ordinal = ladder::ordinal(count);
        match self.ladder.step(count) {
            Step::Warn => {
                let text = match ctx.bot().locale {
                    crate::bot::Locale::Zh => {
                        format!("{}，你的消息违反群规，已被删除（第 {count} 次）。", user.name)
                    }
                    crate::bot::Locale::En => format!(
                        "{}, your message broke the group rules and was removed ({ordinal} violation).",
                        user.name
                    ),
                };
                actions.push((
                    Action::Send {
                        to: Target::Group(group.clone()),
                        text,
                    },
                    format!("{ordinal} violation"),
                ));
            }
            Step::Mute(d) => actions.push((
                Action::Mute {
                    group: group.clone(),
                    user: user.id.clone(),
                    seconds: d.as_secs(),
                },
                format!("{ordinal} violation"),
            )),
            Step::Kick => actions.push((
                Action::Kick {
                    group: group.clone(),
                    user: user.id.clone(),
                },
                format!("{ordinal} violation"),
            )),
            Step::Ban => {
                actions.push((
                    Action::Ban {
                        group: group.clone(),
                        user: user.id.clone(),
                    },
                    format!("{ordinal} violation"),
                ));
                if self.ban_scope == config::BanScope::Bot {
                    for other in self.other_groups(ctx, &chat.adapter, group).await? {
                        actions.push((
                            Action::Ban {
                                group: other,
                                user: user.id.clone(),
                            },
                            format!("{ordinal} violation in {group} (ban_scope: bot)"),
                        ));
                    }
                }
            }
        }
        for (action, why) in actions {
            done.push(match &action {
                Action::Mute { seconds, .. } => format!("mute {seconds}s"),
                other => other.name().to_owned(),
            });
            if !self.dry_run {
                ctx.act(&chat.adapter, action, Some(why));
            }
        }
        let action = done.join("+");
        let text = message.map(|(_, t)| t).unwrap_or_default();
        if let (Some(to), false) = (&self.report_to, self.dry_run) {
            let adapter = to.adapter.clone().unwrap_or_else(|| chat.adapter.clone());
            let excerpt: String = text.chars().take(80).collect();
            ctx.send(
                &adapter,
                Target::Group(to.id.clone()),
                format!(
                    "{} ({}) in {group}: {reason} → {action}: {excerpt}",
                    user.name, user.id
                ),
            );
        }
        // With dry_run the count lives in memory only.
        let stored_warns = (!self.dry_run).then_some(warns);
        ctx.store()
            .record_decision(
                AuditEntry {
                    bot: ctx.bot().name.clone(),
                    adapter: chat.adapter.clone(),
                    group: group.clone(),
                    user: user.id.clone(),
                    user_name: user.name.clone(),
                    message: message.map(|(id, _)| id.clone()),
                    text: text.to_owned(),
                    rule: reason.to_owned(),
                    action,
                    dry_run: self.dry_run,
                    at: ctx.now(),
                },
                stored_warns,
            )
            .await?;
        Ok(())
    }

    /// The groups of the bot on `adapter` the store knows, but `group`, in
    /// a stable order.
    async fn other_groups(
        &self,
        ctx: &Ctx<'_>,
        adapter: &AdapterId,
        group: &GroupId,
    ) -> Result<Vec<GroupId>, BoxError> {
        let mut groups: Vec<GroupId> = ctx
            .store()
            .groups(&ctx.bot().name)
            .await?
            .into_iter()
            .filter(|(a, g)| a == adapter && g != group)
            .map(|(_, g)| g)
            .collect();
        groups.sort();
        groups.dedup();
        Ok(groups)
    }

    /// Ban a listed user seen in `group` (deleting `message`, if any), in
    /// every group of the bot with `ban_scope: bot`; log it. With
    /// `dry_run`, only log.
    async fn ban_listed(
        &self,
        ctx: &Ctx<'_>,
        chat: &Chat,
        group: &GroupId,
        user: &Sender,
        message: Option<&Message>,
    ) -> Result<(), BoxError> {
        let mut actions = Vec::new();
        if let Some(m) = message {
            actions.push(Action::Delete {
                group: group.clone(),
                message: m.id.clone(),
            });
        }
        actions.push(Action::Ban {
            group: group.clone(),
            user: user.id.clone(),
        });
        if self.ban_scope == config::BanScope::Bot {
            for other in self.other_groups(ctx, &chat.adapter, group).await? {
                actions.push(Action::Ban {
                    group: other,
                    user: user.id.clone(),
                });
            }
        }
        let action = actions.iter().map(Action::name).collect::<Vec<_>>().join("+");
        if !self.dry_run {
            for a in actions {
                ctx.act(&chat.adapter, a, Some(BAN_LIST_REASON.to_owned()));
            }
        }
        ctx.store()
            .audit_append(AuditEntry {
                bot: ctx.bot().name.clone(),
                adapter: chat.adapter.clone(),
                group: group.clone(),
                user: user.id.clone(),
                user_name: user.name.clone(),
                message: message.map(|m| m.id.clone()),
                text: message.map(|m| m.text.clone()).unwrap_or_default(),
                rule: BAN_LIST_REASON.to_owned(),
                action,
                dry_run: self.dry_run,
                at: ctx.now(),
            })
            .await?;
        Ok(())
    }

    /// Teach the classifier a labelled text, now and for later runs.
    async fn learn(&self, ctx: &Ctx<'_>, text: &str, spam: bool) -> Result<(), BoxError> {
        let Some(classifier) = &self.classifier else {
            return Ok(());
        };
        let folded = Folded::new(text);
        let signals = signals_of(text, &folded);
        let tri = classifier::trigrams(&folded.skeleton);
        let x = classifier::features(&folded, signals, &tri);
        {
            let mut state = classifier.state.write().unwrap_or_else(|e| e.into_inner());
            state.model.learn(&x, spam);
            if spam {
                state.index.add(&tri);
            }
        }
        ctx.store()
            .add_samples(
                &ctx.bot().name,
                &[Sample {
                    text: text.to_owned(),
                    spam,
                    at: ctx.now(),
                    admin: true,
                }],
            )
            .await?;
        Ok(())
    }
}

/// The signals of a text the rules did not look at (learning, training).
pub fn signals_of(original: &str, folded: &Folded) -> Signals {
    Signals {
        link: rules::has_link(&folded.folded),
        contact: rules::has_contact(&folded.folded),
        phone: rules::has_phone(&folded.folded),
        shout: classifier::shouts(original),
    }
}

/// The features of a text as the classifier sees it.
pub fn features_of(text: &str) -> Vec<u32> {
    let folded = Folded::new(text);
    let tri = classifier::trigrams(&folded.skeleton);
    classifier::features(&folded, signals_of(text, &folded), &tri)
}

#[async_trait]
impl Plugin for Moderation {
    async fn start(&self, ctx: &Ctx<'_>) -> Result<(), BoxError> {
        self.ladder.preload(ctx).await?;
        if let Some(gate) = &self.verify {
            gate.load(ctx).await?;
        }
        self.banned.poll(ctx.now()).await;
        let Some(classifier) = &self.classifier else {
            return Ok(());
        };
        let learned = ctx.store().samples(&ctx.bot().name).await?;
        if learned.is_empty() {
            return Ok(());
        }
        let mut all = classifier.base.clone();
        let mut index = SpamIndex::default();
        for text in &classifier.base_spam {
            index.add(&classifier::trigrams(&Folded::new(text).skeleton));
        }
        for s in &learned {
            all.push((features_of(&s.text), s.spam));
            if s.spam {
                index.add(&classifier::trigrams(&Folded::new(&s.text).skeleton));
            }
        }
        let mut model = Model::train(&all);
        // One admin's verdict is one sample among thousands in training;
        // learned again on top, it stands as it did when it was given.
        let learned_x = &all[classifier.base.len()..];
        for ((x, spam), s) in learned_x.iter().zip(&learned) {
            if s.admin {
                model.learn(x, *spam);
            }
        }
        let threshold = classifier
            .threshold
            .unwrap_or_else(|| auto_threshold(classifier.from_files + learned.len()));
        *classifier.state.write().unwrap_or_else(|e| e.into_inner()) = ClassifierState {
            model,
            index,
            threshold,
        };
        tracing::info!(bot = %ctx.bot().name, learned = learned.len(), "moderation: classifier retrained");
        Ok(())
    }

    fn jobs(&self) -> Vec<crate::scheduler::Job> {
        self.verify
            .as_ref()
            .and_then(|_| verify::Gate::job())
            .into_iter()
            .chain(self.banned.job())
            .collect()
    }

    async fn on_event(&self, ctx: &Ctx<'_>, event: &Event) -> Result<Flow, BoxError> {
        // Deadlines fall on every event and on the gate's minute job.
        if let (Some(gate), false) = (&self.verify, self.dry_run) {
            gate.expire(ctx).await?;
        }
        match &event.kind {
            EventKind::Join { chat, member } => {
                if let Some(group) = &chat.group {
                    if self.banned.contains(&chat.adapter, &member.id) && !self.exempt(ctx, chat, member) {
                        self.ban_listed(ctx, chat, group, member, None).await?;
                        return Ok(if self.dry_run { Flow::Continue } else { Flow::Stop });
                    }
                }
                if let (Some(gate), Some(group), false) = (&self.verify, &chat.group, self.dry_run) {
                    if !member.is_bot && !self.exempt(ctx, chat, member) {
                        gate.join(ctx, chat, group, member).await?;
                    }
                }
                if let (Some(n), Some(group)) = (&self.new_members, &chat.group) {
                    if n.first_messages > 0 {
                        self.joined
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(member_hash(chat, group, &member.id), n.first_messages);
                    }
                }
                Ok(Flow::Continue)
            }
            EventKind::Message {
                chat,
                sender,
                message,
            } => {
                if sender.is_bot {
                    return Ok(Flow::Continue);
                }
                if let (Some(gate), false) = (&self.verify, self.dry_run) {
                    if gate.answer(ctx, chat, sender, message).await? {
                        return Ok(Flow::Stop);
                    }
                }
                let Some(group) = &chat.group else {
                    return Ok(Flow::Continue);
                };
                let admin = ctx.bot().is_admin(chat, sender);
                if admin {
                    if let Some(command) = commands::Command::parse(&message.text) {
                        commands::run(self, ctx, event, chat, group, message, command).await?;
                        return Ok(Flow::Stop);
                    }
                }
                self.remember(chat, group, sender, message);
                if self.exempt(ctx, chat, sender) {
                    return Ok(Flow::Continue);
                }
                if self.banned.contains(&chat.adapter, &sender.id) {
                    self.ban_listed(ctx, chat, group, sender, Some(message)).await?;
                    return Ok(if self.dry_run { Flow::Continue } else { Flow::Stop });
                }
                let strict = self.new_members.is_some() && {
                    let key = member_hash(chat, group, &sender.id);
                    let mut joined = self.joined.lock().unwrap_or_else(|e| e.into_inner());
                    match joined.get_mut(&key) {
                        Some(left) => {
                            *left -= 1;
                            if *left == 0 {
                                joined.remove(&key);
                            }
                            true
                        }
                        None => false,
                    }
                };
                let Some(verdict) = self.check(chat, group, sender, message, strict, ctx.now()) else {
                    return Ok(Flow::Continue);
                };
                self.punish(
                    ctx,
                    chat,
                    group,
                    sender,
                    Some((&message.id, &message.text)),
                    verdict.rule,
                )
                .await?;
                Ok(if self.dry_run { Flow::Continue } else { Flow::Stop })
            }
            EventKind::Leave { chat, member } => {
                if let (Some(gate), Some(group)) = (&self.verify, &chat.group) {
                    gate.left(ctx, chat, group, &member.id).await?;
                }
                Ok(Flow::Continue)
            }
            EventKind::Scheduled(slot) => {
                if slot.job == banlist::JOB {
                    self.banned.poll(ctx.now()).await;
                }
                Ok(Flow::Continue)
            }
        }
    }
}

#[cfg(test)]
mod tests;
