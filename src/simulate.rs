//! Simulation: replay a transcript of events through the real bots on a
//! virtual clock and report every action, one JSON object a line
//! (spec/simulate.md). Same config, transcript and seed: same bytes out.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::adapter::Capabilities;
use crate::config::Config;
use crate::event::{
    Action, AdapterId, Chat, Event, EventKind, Message, MessageId, Outgoing, Role, Sender, Target,
};
use crate::runtime::{Decision, Runtime};
use crate::scheduler::slot_event;
use crate::storage;

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A transcript line is not valid.
    #[error("line {line}: {field}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// The field at fault (or `json`).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::storage::StoreError),
    /// A plugin could not start (its durable state could not be opened).
    #[error("start-up: {0}")]
    Start(String),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// Knobs of a simulation.
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// Keep the clock running after the last line until this time.
    pub until: Option<DateTime<Utc>>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Store URL; a fresh in-memory database when `None`.
    pub store: Option<String>,
}

/// What a simulation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimSummary {
    /// Transcript lines handled (ticks included).
    pub events: usize,
    /// Actions printed.
    pub actions: usize,
}

/// One transcript line as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    at: Option<String>,
    kind: Option<String>,
    adapter: Option<String>,
    group: Option<String>,
    user: Option<String>,
    name: Option<String>,
    role: Option<String>,
    id: Option<String>,
    reply_to: Option<String>,
    text: Option<String>,
}

/// A parsed transcript line: an event, or a tick that only moves the clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Deliver this event.
    Event(Event),
    /// Move the clock to this time.
    Tick(DateTime<Utc>),
}

impl Step {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Step::Event(e) => e.at,
            Step::Tick(t) => *t,
        }
    }
}

fn line_error(line: usize, field: &'static str, message: impl Into<String>) -> SimError {
    SimError::Line {
        line,
        field,
        message: message.into(),
    }
}

/// Parse a transcript. `default_adapter` is used where a line names none;
/// `adapters` are the ids a line may name.
pub fn parse_transcript(
    text: &str,
    default_adapter: &AdapterId,
    adapters: &[AdapterId],
) -> Result<Vec<Step>, SimError> {
    let mut steps = Vec::new();
    let mut last: Option<DateTime<Utc>> = None;
    for (index, raw) in text.lines().enumerate() {
        let n = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let line: RawLine = serde_json::from_str(raw).map_err(|e| line_error(n, "json", e.to_string()))?;
        let at = line
            .at
            .as_deref()
            .ok_or_else(|| line_error(n, "at", "required"))?;
        let at = DateTime::parse_from_rfc3339(at)
            .map_err(|e| line_error(n, "at", format!("not an RFC 3339 time ({e}): {at:?}")))?
            .with_timezone(&Utc);
        if let Some(prev) = last {
            if at < prev {
                return Err(line_error(n, "at", "earlier than the line before"));
            }
        }
        last = Some(at);
        let kind = line
            .kind
            .as_deref()
            .ok_or_else(|| line_error(n, "kind", "required"))?;
        if kind == "tick" {
            steps.push(Step::Tick(at));
            continue;
        }
        let adapter = match &line.adapter {
            Some(a) if adapters.iter().any(|x| x.as_str() == a) => AdapterId(a.clone()),
            Some(a) => {
                return Err(line_error(
                    n,
                    "adapter",
                    format!("no adapter {a:?} in the config"),
                ));
            }
            None => default_adapter.clone(),
        };
        let user = line
            .user
            .clone()
            .ok_or_else(|| line_error(n, "user", "required"))?;
        let role = match line.role.as_deref() {
            None | Some("member") => Role::Member,
            Some("admin") => Role::Admin,
            Some("owner") => Role::Owner,
            Some(other) => {
                return Err(line_error(
                    n,
                    "role",
                    format!("{other:?} is not member, admin or owner"),
                ));
            }
        };
        let sender = Sender {
            name: line.name.clone().unwrap_or_else(|| user.clone()),
            id: user.into(),
            role,
            is_bot: false,
        };
        let chat = Chat {
            adapter,
            group: line.group.clone().map(Into::into),
        };
        let kind = match kind {
            "message" => EventKind::Message {
                chat,
                sender,
                message: Message {
                    id: MessageId(line.id.clone().unwrap_or_else(|| format!("m{n}"))),
                    text: line
                        .text
                        .clone()
                        .ok_or_else(|| line_error(n, "text", "required on a message"))?,
                    reply_to: line.reply_to.clone().map(MessageId),
                },
            },
            "join" | "leave" => {
                if chat.group.is_none() {
                    return Err(line_error(n, "group", format!("required on a {kind}")));
                }
                if kind == "join" {
                    EventKind::Join { chat, member: sender }
                } else {
                    EventKind::Leave { chat, member: sender }
                }
            }
            other => {
                return Err(line_error(
                    n,
                    "kind",
                    format!("{other:?} is not message, join, leave or tick"),
                ));
            }
        };
        steps.push(Step::Event(Event { at, kind }));
    }
    Ok(steps)
}

/// One printed action (spec/simulate.md, "Output").
#[derive(Serialize)]
struct ActionLine<'a> {
    at: String,
    bot: &'a str,
    adapter: &'a str,
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin: Option<&'a str>,
}

/// The output line of `o`, its time in the offset of `tz`.
pub fn action_line(o: &Outgoing, tz: Tz) -> String {
    let at: DateTime<FixedOffset> = o.at.with_timezone(&tz).fixed_offset();
    let mut line = ActionLine {
        at: at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
        bot: &o.bot,
        adapter: o.adapter.as_str(),
        action: o.action.name(),
        group: None,
        user: None,
        reply_to: None,
        message: None,
        seconds: None,
        text: None,
        reason: o.reason.as_deref(),
        plugin: o.plugin.as_deref(),
    };
    match &o.action {
        Action::Send {
            to: Target::Group(g),
            text,
        } => {
            line.group = Some(g.as_str());
            line.text = Some(text);
        }
        Action::Send {
            to: Target::User(u),
            text,
        } => {
            line.user = Some(u.as_str());
            line.text = Some(text);
        }
        Action::Reply {
            group,
            reply_to,
            text,
        } => {
            line.group = Some(group.as_str());
            line.reply_to = Some(reply_to.as_str());
            line.text = Some(text);
        }
        Action::Delete { group, message } => {
            line.group = Some(group.as_str());
            line.message = Some(message.as_str());
        }
        Action::Mute { group, user, seconds } => {
            line.group = Some(group.as_str());
            line.user = Some(user.as_str());
            line.seconds = Some(*seconds);
        }
        Action::Unmute { group, user } | Action::Kick { group, user } | Action::Ban { group, user } => {
            line.group = Some(group.as_str());
            line.user = Some(user.as_str());
        }
    }
    // Serialising a struct of strings and integers cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}

/// The adapter a transcript line uses when it names none: the first adapter
/// of the first bot (or the first configured one).
pub fn default_adapter(config: &Config) -> Option<AdapterId> {
    config
        .bots
        .first()
        .and_then(|b| b.info.adapters.first().cloned())
        .or_else(|| config.adapters.first().map(|a| a.id.clone()))
}

/// Replay `transcript` through the bots of `config`, writing each action to
/// `out` as it is decided.
pub async fn run(
    config: Config,
    transcript: &str,
    options: &SimOptions,
    out: &mut dyn Write,
) -> Result<SimSummary, SimError> {
    let zones: HashMap<String, Tz> = config
        .bots
        .iter()
        .map(|b| (b.info.name.clone(), b.info.timezone))
        .collect();
    let mut summary = SimSummary::default();
    replay(config, transcript, options, &mut |actions, _| {
        for Decision { outgoing: o, .. } in actions {
            let tz = zones.get(&o.bot).copied().unwrap_or(chrono_tz::UTC);
            writeln!(out, "{}", action_line(&o, tz))?;
            summary.actions += 1;
        }
        Ok(())
    })
    .await
    .map(|events| {
        summary.events = events;
        summary
    })
    .and_then(|s| {
        out.flush()?;
        Ok(s)
    })
}

/// What `bench pipeline` measured.
#[derive(Clone, Debug, Default)]
pub struct BenchSummary {
    /// Transcript lines handled (ticks included).
    pub events: usize,
    /// Actions decided.
    pub actions: usize,
    /// Wall time from the first event handled to the last (parsing the
    /// transcript and starting the bots excluded).
    pub secs: f64,
    /// The handling time of each event (scheduled slots included), sorted.
    pub latencies: Vec<std::time::Duration>,
}

/// Replay `transcript` as [`run`] does, without printing, and time each
/// event's handling by the bots.
pub async fn bench(config: Config, transcript: &str, options: &SimOptions) -> Result<BenchSummary, SimError> {
    let mut summary = BenchSummary::default();
    // The clock starts with the first event handled (parsing the transcript
    // and opening the store are not the pipeline).
    let mut started: Option<std::time::Instant> = None;
    let events = replay(config, transcript, options, &mut |actions, took| {
        started.get_or_insert_with(|| std::time::Instant::now() - took);
        summary.actions += actions.len();
        summary.latencies.push(took);
        Ok(())
    })
    .await?;
    summary.secs = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    summary.events = events;
    summary.latencies.sort_unstable();
    Ok(summary)
}

/// The replay loop: every due slot and every event through the runtime,
/// each one's actions and handling time handed to `sink`. Returns the
/// number of transcript lines handled.
async fn replay(
    config: Config,
    transcript: &str,
    options: &SimOptions,
    sink: &mut dyn FnMut(Vec<Decision>, std::time::Duration) -> std::io::Result<()>,
) -> Result<usize, SimError> {
    let adapters: Vec<AdapterId> = config.adapters.iter().map(|a| a.id.clone()).collect();
    let default =
        default_adapter(&config).ok_or_else(|| line_error(0, "adapter", "the config has no adapter"))?;
    let steps = parse_transcript(transcript, &default, &adapters)?;
    let url = options
        .store
        .clone()
        .unwrap_or_else(|| "sqlite::memory:".to_owned());
    let store = storage::open(&url).await?;
    // Every adapter is an in-memory one with every capability.
    let capabilities: HashMap<AdapterId, Capabilities> =
        adapters.iter().map(|a| (a.clone(), Capabilities::ALL)).collect();
    let runtime = Arc::new(Runtime::new(config.bots, store.clone(), capabilities));
    let schedule = runtime.schedule();
    if let Some(start) = steps.first().map(Step::at) {
        runtime
            .start(start)
            .await
            .map_err(|e| SimError::Start(e.to_string()))?;
    }

    let mut events = 0;
    let Some(start) = steps.first().map(Step::at) else {
        return Ok(events);
    };
    // Slots at the first line's own time are due before it.
    let mut cursor = start - chrono::Duration::milliseconds(1);
    // As at a daemon's start: slots missed since a run on the same store
    // (`--store`) follow each job's `missed` policy, before the first line.
    for slot in schedule.missed(&*store, start).await? {
        if store.claim_slot(&slot.bot, &slot.job, slot.time).await? {
            let began = std::time::Instant::now();
            let actions = runtime.handle(&slot_event(slot), start).await;
            sink(actions, began.elapsed())?;
        }
    }
    let ends = options.until.into_iter().map(Step::Tick);
    for step in steps.into_iter().chain(ends) {
        let at = step.at();
        for slot in schedule.due(cursor, at) {
            // Recorded as in the daemon, so a store shared with a later run
            // (`--store`) knows which slots fired.
            if !store.claim_slot(&slot.bot, &slot.job, slot.time).await? {
                continue;
            }
            let time = slot.time;
            let began = std::time::Instant::now();
            let actions = runtime.handle(&slot_event(slot), time).await;
            sink(actions, began.elapsed())?;
        }
        cursor = cursor.max(at);
        events += 1;
        if let Step::Event(event) = step {
            let began = std::time::Instant::now();
            let actions = runtime.handle(&event, at).await;
            sink(actions, began.elapsed())?;
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Step>, SimError> {
        parse_transcript(text, &"console".into(), &["console".into(), "tg".into()])
    }

    #[test]
    fn parses_every_kind_with_defaults() {
        let steps = parse(concat!(
            r#"{"at":"2026-11-24T11:29:00+08:00","kind":"message","group":"g1","user":"alice","text":"hi"}"#,
            "\n",
            r#"{"at":"2026-11-24T11:29:05+08:00","kind":"join","group":"g1","user":"bob","name":"Bob","adapter":"tg"}"#,
            "\n\n",
            r#"{"at":"2026-11-24T12:00:00+08:00","kind":"tick"}"#,
        ))
        .unwrap();
        assert_eq!(steps.len(), 3);
        let Step::Event(e) = &steps[0] else { panic!() };
        assert_eq!(e.message().unwrap().id.as_str(), "m1");
        assert_eq!(e.chat().unwrap().adapter.as_str(), "console");
        let Step::Event(j) = &steps[1] else { panic!() };
        assert_eq!(j.sender().unwrap().name, "Bob");
        assert_eq!(j.chat().unwrap().adapter.as_str(), "tg");
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = parse(concat!(
            r#"{"at":"2026-11-24T11:29:00+08:00","kind":"tick"}"#,
            "\n",
            r#"{"at":"2026-11-24T11:28:00+08:00","kind":"tick"}"#
        ))
        .unwrap_err();
        assert_eq!(e.to_string(), "line 2: at: earlier than the line before");
        let e = parse(r#"{"at":"2026-11-24T11:29:00+08:00","kind":"message","user":"a"}"#).unwrap_err();
        assert_eq!(e.to_string(), "line 1: text: required on a message");
        let e = parse(
            r#"{"at":"2026-11-24T11:29:00+08:00","kind":"message","user":"a","text":"x","adapter":"nope"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("line 1: adapter:"), "{e}");
        let e = parse(r#"{"at":"yesterday","kind":"tick"}"#).unwrap_err();
        assert!(e.to_string().starts_with("line 1: at:"), "{e}");
        let e = parse(r#"{"at":"2026-11-24T11:29:00+08:00","kind":"tick","colour":1}"#).unwrap_err();
        assert!(e.to_string().starts_with("line 1: json:"), "{e}");
    }

    #[test]
    fn action_lines_use_the_bots_offset() {
        let o = Outgoing {
            at: DateTime::parse_from_rfc3339("2026-11-24T03:30:00Z")
                .unwrap()
                .with_timezone(&Utc),
            bot: "b".into(),
            adapter: "console".into(),
            action: Action::Mute {
                group: "g1".into(),
                user: "eve".into(),
                seconds: 60,
            },
            reason: Some("flood".into()),
            plugin: None,
        };
        assert_eq!(
            action_line(&o, chrono_tz::Asia::Shanghai),
            r#"{"at":"2026-11-24T11:30:00+08:00","bot":"b","adapter":"console","action":"mute","group":"g1","user":"eve","seconds":60,"reason":"flood"}"#
        );
    }
}
