//! Spam-detection figures of a whole moderation plugin (`qunbot eval spam`,
//! spec/cli.md): each labelled message is the first message of a new member
//! in a fresh group, and counts as flagged when the plugin deletes it.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapter::Capabilities;
use crate::bot::{BotInfo, GroupFilter, Locale};
use crate::config::{ConfigError, Options};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Chat, Event, EventKind, Message, MessageId, Sender};
use crate::plugin::{BuildCx, Plugin, PluginConfig};
use crate::runtime::Ctx;
use crate::storage::{Sample, Store};

/// One labelled line of an eval or training file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Labelled {
    /// The message.
    pub text: String,
    /// `spam` or `ham`.
    pub label: String,
    /// The language of its chat (`en`, `zh`); absent counts as `other`.
    #[serde(default)]
    pub lang: Option<String>,
}

impl Labelled {
    /// Whether it is labelled spam.
    pub fn is_spam(&self) -> bool {
        self.label == "spam"
    }
}

/// Read labelled JSONL; the error names the line.
pub fn read_labelled(text: &str) -> Result<Vec<Labelled>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Labelled = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        if row.label != "spam" && row.label != "ham" {
            return Err(format!(
                "line {}: label must be spam or ham, not {:?}",
                i + 1,
                row.label
            ));
        }
        out.push(row);
    }
    Ok(out)
}

/// Confusion counts and the figures derived from them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Messages scored.
    pub n: usize,
    /// Spam flagged.
    pub tp: usize,
    /// Ham flagged.
    pub fp: usize,
    /// Spam let through.
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// Ham let through.
    pub tn: usize,
    /// tp / (tp + fp).
    pub precision: f64,
    /// tp / (tp + fn).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Share of ham flagged.
    pub fpr: f64,
}

impl Figures {
    fn add(&mut self, spam: bool, flagged: bool) {
        self.n += 1;
        match (spam, flagged) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    fn finish(mut self) -> Self {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        self.precision = ratio(self.tp, self.tp + self.fp);
        self.recall = ratio(self.tp, self.tp + self.fn_);
        self.f1 = if self.precision + self.recall == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        };
        self.fpr = ratio(self.fp, self.fp + self.tn);
        self
    }
}

/// The whole report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Over every message.
    #[serde(flatten)]
    pub all: Figures,
    /// Per language.
    pub by_lang: BTreeMap<String, Figures>,
    /// Messages checked per second (the plugin only).
    pub msgs_per_sec: f64,
    /// The reason each message was deleted for (`spam: classifier`, `spam:
    /// contact`, …), or `None` when it was let through, in input order (for
    /// error analysis).
    #[serde(skip)]
    pub deleted: Vec<Option<String>>,
}

/// The bot a default plugin belongs to in `eval spam`.
pub fn eval_bot() -> BotInfo {
    BotInfo {
        name: "eval".into(),
        adapters: vec!["console".into()],
        groups: GroupFilter::All,
        admins: Vec::new(),
        timezone: chrono_tz::UTC,
        locale: Locale::En,
    }
}

/// A moderation plugin with default options (`- use: moderation`).
pub fn default_plugin(bot: &BotInfo) -> Result<Box<dyn Plugin>, Vec<ConfigError>> {
    let options = Options::from_yaml(std::path::Path::new("<defaults>"), "{}").map_err(|e| vec![e])?;
    let cx = BuildCx {
        bot,
        base_dir: std::path::Path::new("."),
        options: &options,
    };
    let config: super::ModerationConfig = options.parse().map_err(|e| vec![e])?;
    config.build(&cx)
}

/// Teach `bot`'s plugin the `train` samples (through the store, as admins'
/// reports are kept) and start it, so it trains on them with its own.
pub async fn train(
    plugin: &dyn Plugin,
    bot: &BotInfo,
    store: &dyn Store,
    train: &[Labelled],
    at: DateTime<Utc>,
) -> Result<(), BoxError> {
    let samples: Vec<Sample> = train
        .iter()
        .map(|l| Sample {
            text: l.text.clone(),
            spam: l.is_spam(),
            at,
            admin: false,
        })
        .collect();
    for chunk in samples.chunks(1000) {
        store.add_samples(&bot.name, chunk).await?;
    }
    let caps = HashMap::from([(AdapterId::from("console"), Capabilities::ALL)]);
    let ctx = Ctx::new(bot, store, &caps, at, "moderation");
    plugin.start(&ctx).await
}

/// Score `plugin` on `data`.
pub async fn score(
    plugin: &dyn Plugin,
    bot: &BotInfo,
    store: &dyn Store,
    data: &[Labelled],
    start: DateTime<Utc>,
) -> Result<Report, BoxError> {
    let caps = HashMap::from([(AdapterId::from("console"), Capabilities::ALL)]);
    let adapter = bot.adapters.first().cloned().unwrap_or_else(|| "console".into());
    let mut all = Figures::default();
    let mut by_lang: BTreeMap<String, Figures> = BTreeMap::new();
    let mut deleted = Vec::with_capacity(data.len());
    let began = Instant::now();
    for (i, row) in data.iter().enumerate() {
        let at = start + chrono::Duration::seconds(i as i64);
        let chat = Chat {
            adapter: adapter.clone(),
            group: Some(format!("eval-{i}").into()),
        };
        let sender = Sender::member(format!("u{i}"));
        let join = Event {
            at,
            kind: EventKind::Join {
                chat: chat.clone(),
                member: sender.clone(),
            },
        };
        let ctx = Ctx::new(bot, store, &caps, at, "moderation");
        plugin.on_event(&ctx, &join).await?;
        let message = Event {
            at,
            kind: EventKind::Message {
                chat,
                sender,
                message: Message {
                    id: MessageId(format!("m{i}")),
                    text: row.text.clone(),
                    reply_to: None,
                },
            },
        };
        let ctx = Ctx::new(bot, store, &caps, at, "moderation");
        plugin.on_event(&ctx, &message).await?;
        let reason = ctx
            .into_actions()
            .into_iter()
            .find(|d| matches!(d.outgoing.action, Action::Delete { .. }))
            .map(|d| d.outgoing.reason.unwrap_or_default());
        let flagged = reason.is_some();
        deleted.push(reason);
        all.add(row.is_spam(), flagged);
        by_lang
            .entry(row.lang.clone().unwrap_or_else(|| "other".into()))
            .or_default()
            .add(row.is_spam(), flagged);
    }
    let secs = began.elapsed().as_secs_f64();
    Ok(Report {
        all: all.finish(),
        by_lang: by_lang.into_iter().map(|(k, v)| (k, v.finish())).collect(),
        msgs_per_sec: if secs > 0.0 { data.len() as f64 / secs } else { 0.0 },
        deleted,
    })
}

/// A message the plugin got wrong, as `qunbot eval spam --errors` writes it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Miss<'a> {
    /// The message.
    pub text: &'a str,
    /// Its label (`spam`: let through; `ham`: deleted).
    pub label: &'a str,
    /// The language of its chat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<&'a str>,
    /// Why a ham message was deleted (the rule, as in the audit log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

/// The messages of `data` that `report` (of the same data) got wrong, in
/// input order: spam let through and ham deleted.
pub fn misses<'a>(data: &'a [Labelled], report: &'a Report) -> Vec<Miss<'a>> {
    data.iter()
        .zip(&report.deleted)
        .filter(|(row, reason)| row.is_spam() != reason.is_some())
        .map(|(row, reason)| Miss {
            text: &row.text,
            label: &row.label,
            lang: row.lang.as_deref(),
            reason: reason.as_deref(),
        })
        .collect()
}

/// Which half of a data set a text falls in when split by a hash of the
/// text (FNV-1a): `true` for the training half.
pub fn in_train_half(text: &str) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    (h >> 32) % 2 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_from_counts() {
        let mut f = Figures::default();
        for (spam, flagged) in [
            (true, true),
            (true, true),
            (true, false),
            (false, true),
            (false, false),
            (false, false),
        ] {
            f.add(spam, flagged);
        }
        let f = f.finish();
        assert_eq!((f.tp, f.fp, f.fn_, f.tn), (2, 1, 1, 2));
        assert!((f.precision - 2.0 / 3.0).abs() < 1e-9);
        assert!((f.fpr - 1.0 / 3.0).abs() < 1e-9);
        assert!((f.f1 - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn misses_are_the_rows_flagged_against_their_label() {
        let data = read_labelled(concat!(
            "{\"text\":\"ad\",\"label\":\"spam\",\"lang\":\"zh\"}\n",
            "{\"text\":\"ad2\",\"label\":\"spam\"}\n",
            "{\"text\":\"hi\",\"label\":\"ham\"}\n",
            "{\"text\":\"yo\",\"label\":\"ham\",\"lang\":\"en\"}\n",
        ))
        .unwrap();
        let report = Report {
            deleted: vec![
                None,
                Some("spam: link".into()),
                None,
                Some("spam: classifier".into()),
            ],
            ..Report::default()
        };
        let misses = misses(&data, &report);
        assert_eq!(
            misses,
            vec![
                Miss {
                    text: "ad",
                    label: "spam",
                    lang: Some("zh"),
                    reason: None,
                },
                Miss {
                    text: "yo",
                    label: "ham",
                    lang: Some("en"),
                    reason: Some("spam: classifier"),
                },
            ]
        );
        assert_eq!(
            serde_json::to_string(&misses[0]).unwrap(),
            "{\"text\":\"ad\",\"label\":\"spam\",\"lang\":\"zh\"}"
        );
        assert_eq!(
            serde_json::to_string(&misses[1]).unwrap(),
            "{\"text\":\"yo\",\"label\":\"ham\",\"lang\":\"en\",\"reason\":\"spam: classifier\"}"
        );
    }

    #[test]
    fn reads_labelled_lines_and_names_bad_ones() {
        let rows = read_labelled(
            "{\"text\":\"a\",\"label\":\"spam\",\"lang\":\"en\"}\n\n{\"text\":\"b\",\"label\":\"ham\"}\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].is_spam());
        assert!(
            read_labelled("{\"text\":\"a\",\"label\":\"x\"}")
                .unwrap_err()
                .starts_with("line 1")
        );
    }
}
