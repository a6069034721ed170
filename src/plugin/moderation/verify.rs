//! The new-member gate (`verify`): a member who joins is muted and asked a
//! question (arithmetic seeded from the member and the join time, or a
//! configured one) in the group or by direct message. The right answer lifts
//! the mute; wrong answers in the group are deleted; a member who has not
//! answered by the deadline is kicked. Deadlines are checked against the
//! event time ([`Ctx::now`]) on every event and on a cron job every minute,
//! never the wall clock. Pending challenges live in the store (the kv
//! namespace [`NAMESPACE`], one JSON list per bot) so a restart keeps them.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Folded, fnv};
use crate::bot::Locale;
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Chat, GroupId, Message, Sender, Target, UserId};
use crate::runtime::Ctx;
use crate::scheduler::{CronExpr, Job, Missed};
use crate::storage::AuditEntry;

/// The kv namespace of pending challenges; the key is the bot's name.
pub(crate) const NAMESPACE: &str = "moderation.verify";

/// The reason (and audit rule) of a kick at the deadline.
const TIMED_OUT: &str = "verification timed out";

/// The id of the cron job that checks deadlines every minute.
pub(crate) const JOB: &str = "moderation.verify";

/// What a new member is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Question {
    /// A sum of two small numbers, seeded from the member and the join time.
    Arithmetic,
    /// A configured question and its answer (compared folded: case, spaces,
    /// punctuation and full-width forms do not matter).
    Fixed {
        /// The question.
        ask: String,
        /// The answer.
        answer: String,
    },
}

/// Where the challenge is posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deliver {
    /// Into the group joined.
    Group,
    /// A direct message to the member.
    Dm,
}

/// A challenge waiting for its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The adapter of the group.
    pub(crate) adapter: AdapterId,
    /// The group joined.
    pub(crate) group: GroupId,
    /// The member.
    pub(crate) user: UserId,
    /// The member's display name, for the audit log.
    #[serde(default)]
    pub(crate) name: String,
    /// The expected answer, folded.
    pub(crate) answer: String,
    /// When the member is kicked without a right answer.
    pub(crate) deadline: DateTime<Utc>,
}

/// The gate of one moderation plugin.
#[derive(Debug)]
pub(crate) struct Gate {
    /// What is asked.
    pub(crate) question: Question,
    /// How long a member has to answer.
    pub(crate) timeout: chrono::Duration,
    /// Where the question goes.
    pub(crate) deliver: Deliver,
    /// The pending challenges (the store has them too); std mutex, never
    /// held across an await.
    pub(crate) pending: Mutex<Vec<Pending>>,
    /// Saves take turns: a bot's events from different groups run in
    /// parallel, and each save writes the list as it is at its turn, so an
    /// older list never overwrites a newer one in the store.
    pub(crate) saving: tokio::sync::Mutex<()>,
}

/// The arithmetic challenge of `user` joining at `at`: the question and its
/// answer. Deterministic, so simulation output is too.
pub(crate) fn arithmetic(user: &UserId, at: DateTime<Utc>) -> (String, String) {
    let h = fnv(&[user.as_str(), &at.timestamp().to_string()]);
    let a = 10 + h % 40;
    let b = 1 + (h / 40) % 9;
    (format!("{a} + {b} = ?"), (a + b).to_string())
}

/// Whether `text` answers `answer` (folded on both sides).
fn is_answer(text: &str, answer: &str) -> bool {
    let got = Folded::new(text).skeleton;
    !got.is_empty() && got == answer
}

impl Gate {
    /// A gate asking `question`, kicking after `timeout`.
    pub(crate) fn new(question: Question, timeout: std::time::Duration, deliver: Deliver) -> Self {
        Self {
            question,
            timeout: chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX),
            deliver,
            pending: Mutex::new(Vec::new()),
            saving: tokio::sync::Mutex::new(()),
        }
    }

    /// The cron job checking deadlines every minute.
    pub(crate) fn job() -> Option<Job> {
        Some(Job {
            id: JOB.to_owned(),
            cron: CronExpr::parse("0 * * * * *").ok()?,
            starts: None,
            ends: None,
            missed: Missed::Skip,
        })
    }

    /// Load the pending challenges of the bot from the store.
    pub(crate) async fn load(&self, ctx: &Ctx<'_>) -> Result<(), BoxError> {
        let stored = ctx.store().kv_get(NAMESPACE, &ctx.bot().name).await?;
        let list: Vec<Pending> = match stored {
            Some(json) => serde_json::from_str(&json)?,
            None => Vec::new(),
        };
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = list;
        Ok(())
    }

    /// Write the pending challenges as they are now.
    async fn save(&self, ctx: &Ctx<'_>) -> Result<(), BoxError> {
        let _turn = self.saving.lock().await;
        let list = self.pending.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let json = serde_json::to_string(&list)?;
        ctx.store().kv_put(NAMESPACE, &ctx.bot().name, &json).await?;
        Ok(())
    }

    /// Mute a member who joined and ask the question.
    pub(crate) async fn join(
        &self,
        ctx: &Ctx<'_>,
        chat: &Chat,
        group: &GroupId,
        member: &Sender,
    ) -> Result<(), BoxError> {
        let now = ctx.now();
        let (ask, answer) = match &self.question {
            Question::Arithmetic => arithmetic(&member.id, now),
            Question::Fixed { ask, answer } => (ask.clone(), answer.clone()),
        };
        let entry = Pending {
            adapter: chat.adapter.clone(),
            group: group.clone(),
            user: member.id.clone(),
            name: member.name.clone(),
            answer: Folded::new(&answer).skeleton,
            deadline: now + self.timeout,
        };
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending
                .retain(|p| !(p.adapter == entry.adapter && p.group == entry.group && p.user == entry.user));
            pending.push(entry);
        }
        self.save(ctx).await?;
        ctx.act(
            &chat.adapter,
            Action::Mute {
                group: group.clone(),
                user: member.id.clone(),
                seconds: self.timeout.num_seconds().max(0) as u64,
            },
            Some("verification pending".to_owned()),
        );
        let minutes = (self.timeout.num_seconds() + 59) / 60;
        let name = &member.name;
        let (to, text) = match (self.deliver, ctx.bot().locale) {
            (Deliver::Group, Locale::Zh) => (
                Target::Group(group.clone()),
                format!("欢迎 {name}！请在 {minutes} 分钟内回答：{ask}，答对后即可发言，否则将被移出本群。"),
            ),
            (Deliver::Group, Locale::En) => (
                Target::Group(group.clone()),
                format!(
                    "Welcome {name}! Answer within {minutes} min to be able to write, or you will be removed: {ask}"
                ),
            ),
            (Deliver::Dm, Locale::Zh) => (
                Target::User(member.id.clone()),
                format!(
                    "欢迎加入 {group}！请在 {minutes} 分钟内回复本消息回答：{ask}，答对后即可发言，否则将被移出群。"
                ),
            ),
            (Deliver::Dm, Locale::En) => (
                Target::User(member.id.clone()),
                format!(
                    "Welcome to {group}! Reply here within {minutes} min to be able to write, or you will be removed: {ask}"
                ),
            ),
        };
        ctx.act(
            &chat.adapter,
            Action::Send { to, text },
            Some("verification".to_owned()),
        );
        Ok(())
    }

    /// Forget the challenge of a member who left `group` (nobody to kick).
    pub(crate) async fn left(
        &self,
        ctx: &Ctx<'_>,
        chat: &Chat,
        group: &GroupId,
        member: &UserId,
    ) -> Result<(), BoxError> {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let before = pending.len();
            pending.retain(|p| !(p.adapter == chat.adapter && &p.group == group && &p.user == member));
            if pending.len() == before {
                return Ok(());
            }
        }
        self.save(ctx).await
    }

    /// Kick the members whose deadline has passed at `ctx.now()`.
    pub(crate) async fn expire(&self, ctx: &Ctx<'_>) -> Result<(), BoxError> {
        let now = ctx.now();
        let expired = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if !pending.iter().any(|p| p.deadline <= now) {
                return Ok(());
            }
            let (expired, kept): (Vec<Pending>, Vec<Pending>) =
                pending.drain(..).partition(|p| p.deadline <= now);
            *pending = kept;
            expired
        };
        self.save(ctx).await?;
        for p in expired {
            ctx.act(
                &p.adapter,
                Action::Kick {
                    group: p.group.clone(),
                    user: p.user.clone(),
                },
                Some(TIMED_OUT.to_owned()),
            );
            ctx.store()
                .audit_append(AuditEntry {
                    bot: ctx.bot().name.clone(),
                    adapter: p.adapter,
                    group: p.group,
                    user: p.user,
                    user_name: p.name,
                    message: None,
                    text: String::new(),
                    rule: TIMED_OUT.to_owned(),
                    action: "kick".to_owned(),
                    dry_run: false,
                    at: now,
                })
                .await?;
        }
        Ok(())
    }

    /// Handle a message of a member who may owe an answer: `false` when the
    /// sender has no pending challenge here (the message goes on), `true`
    /// when the message was an answer (right or wrong) and stops here.
    pub(crate) async fn answer(
        &self,
        ctx: &Ctx<'_>,
        chat: &Chat,
        sender: &Sender,
        message: &Message,
    ) -> Result<bool, BoxError> {
        let solved = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let owes = |p: &Pending| {
                p.adapter == chat.adapter
                    && p.user == sender.id
                    && chat.group.as_ref().is_none_or(|g| &p.group == g)
            };
            if !pending.iter().any(owes) {
                return Ok(false);
            }
            let (mine, others): (Vec<Pending>, Vec<Pending>) = pending.drain(..).partition(|p| owes(p));
            let (solved, wrong): (Vec<Pending>, Vec<Pending>) = mine
                .into_iter()
                .partition(|p| is_answer(&message.text, &p.answer));
            *pending = others;
            pending.extend(wrong);
            solved
        };
        if let Some(group) = &chat.group {
            // Right or wrong, the answer does not stay in the group.
            ctx.act(
                &chat.adapter,
                Action::Delete {
                    group: group.clone(),
                    message: message.id.clone(),
                },
                Some(if solved.is_empty() {
                    "verification: wrong answer".to_owned()
                } else {
                    "verification: answered".to_owned()
                }),
            );
        }
        if solved.is_empty() {
            if chat.group.is_none() {
                let text = match ctx.bot().locale {
                    Locale::Zh => "答案不对，请再试一次。",
                    Locale::En => "That is not the answer; try again.",
                };
                ctx.send(&chat.adapter, Target::User(sender.id.clone()), text);
            }
            return Ok(true);
        }
        self.save(ctx).await?;
        for p in solved {
            ctx.act(
                &p.adapter,
                Action::Unmute {
                    group: p.group,
                    user: p.user,
                },
                Some("verification passed".to_owned()),
            );
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn arithmetic_is_deterministic_and_right() {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
        let (q1, a1) = arithmetic(&"bob".into(), at);
        let (q2, a2) = arithmetic(&"bob".into(), at);
        assert_eq!((q1.clone(), a1.clone()), (q2, a2));
        let nums: Vec<u64> = q1
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        assert_eq!(nums.len(), 2);
        assert_eq!((nums[0] + nums[1]).to_string(), a1);
    }

    #[test]
    fn answers_are_compared_folded() {
        let want = Folded::new("Blue Sky").skeleton;
        assert!(is_answer("blue sky!", &want));
        assert!(is_answer("ＢＬＵＥ ｓｋｙ", &want));
        assert!(!is_answer("red", &want));
        assert!(!is_answer("   ", ""));
    }
}
