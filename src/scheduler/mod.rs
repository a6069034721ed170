//! The scheduler: turns plugins' cron jobs into
//! `Scheduled` events ([`crate::event::EventKind::Scheduled`]) for the
//! normal dispatch path. It never runs plugins itself.
//!
//! Every slot that fires is first recorded in the store
//! ([`ScheduleStore::claim_slot`]); only the caller that records it fires
//! it, so a restart or a second replica never fires a slot twice. Slots that
//! fell due while the daemon was down follow the job's [`Missed`] policy.

mod cron;

pub use self::cron::CronExpr;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::event::{Event, EventKind, Slot};
use crate::storage::{ScheduleStore, StoreResult};

/// What to do with slots that fell due while the daemon was down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Missed {
    /// Forget them (default): a lunchtime coupon post is useless at dinner.
    #[default]
    Skip,
    /// Fire the latest missed slot once at start-up.
    Once,
}

/// A cron job a plugin asks for.
#[derive(Clone, Debug)]
pub struct Job {
    /// Unique within the bot (e.g. the promotion's id); keys the slot record.
    pub id: String,
    /// When it fires.
    pub cron: CronExpr,
    /// No slot before this.
    pub starts: Option<DateTime<Utc>>,
    /// No slot after this.
    pub ends: Option<DateTime<Utc>>,
    /// What to do with slots missed while down.
    pub missed: Missed,
}

impl Job {
    fn in_window(&self, t: DateTime<Utc>) -> bool {
        self.starts.is_none_or(|s| t >= s) && self.ends.is_none_or(|e| t <= e)
    }
}

/// One bot's job, with the time zone its cron is read in.
#[derive(Clone, Debug)]
pub struct BotJob {
    /// The bot.
    pub bot: Arc<str>,
    /// The bot's time zone.
    pub tz: Tz,
    /// The job.
    pub job: Job,
}

/// All jobs of all bots, and the math of which slots fall due.
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    /// Jobs in bot order, then plugin order, then the plugin's own order;
    /// slots due at the same instant fire in this order.
    jobs: Vec<BotJob>,
}

impl Schedule {
    /// A schedule of these jobs.
    pub fn new(jobs: Vec<BotJob>) -> Self {
        Self { jobs }
    }

    /// Whether there is nothing to schedule.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Every slot in `(after, until]`, in time order (ties in job order).
    pub fn due(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Slot> {
        let mut slots: Vec<(DateTime<Utc>, usize, Slot)> = Vec::new();
        for (i, bj) in self.jobs.iter().enumerate() {
            for t in bj.job.cron.slots_between(after, until, bj.tz) {
                if bj.job.in_window(t) {
                    slots.push((
                        t,
                        i,
                        Slot {
                            bot: bj.bot.to_string(),
                            job: bj.job.id.clone(),
                            time: t,
                        },
                    ));
                }
            }
        }
        slots.sort_by_key(|(t, i, _)| (*t, *i));
        slots.into_iter().map(|(_, _, s)| s).collect()
    }

    /// The earliest slot of any job strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.jobs
            .iter()
            .filter_map(|bj| {
                let before_start = bj.job.starts.map(|s| s - chrono::Duration::seconds(1));
                let from = before_start.filter(|b| *b > after).unwrap_or(after);
                let t = bj.job.cron.next_after(from, bj.tz)?;
                bj.job.ends.is_none_or(|e| t <= e).then_some(t)
            })
            .min()
    }

    /// The slots to fire at start-up for jobs with `missed: once`: the latest
    /// slot after the job's last recorded one, up to `now`. A job that never
    /// fired before has missed nothing.
    pub async fn missed(&self, store: &dyn ScheduleStore, now: DateTime<Utc>) -> StoreResult<Vec<Slot>> {
        let mut out = Vec::new();
        for bj in &self.jobs {
            if bj.job.missed != Missed::Once {
                continue;
            }
            let Some(last) = store.last_slot(&bj.bot, &bj.job.id).await? else {
                continue;
            };
            if let Some(t) = bj.job.cron.last_between(last, now, bj.tz) {
                if bj.job.in_window(t) {
                    out.push(Slot {
                        bot: bj.bot.to_string(),
                        job: bj.job.id.clone(),
                        time: t,
                    });
                }
            }
        }
        out.sort_by_key(|s| s.time);
        Ok(out)
    }
}

/// The event for a slot.
pub fn slot_event(slot: Slot) -> Event {
    Event {
        at: slot.time,
        kind: EventKind::Scheduled(slot),
    }
}
