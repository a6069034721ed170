//! Cron expressions and next-slot math in a time zone; pure and unit-tested.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A parsed cron expression: six fields with seconds (`0 30 11 * * Mon-Fri`)
/// or the usual five (`30 11 * * Mon-Fri`, seconds taken as 0).
#[derive(Clone, Debug)]
pub struct CronExpr {
    /// The parsed schedule (the cron crate, which wants seconds first).
    schedule: cron::Schedule,
    /// The expression as written, for messages.
    source: String,
}

impl CronExpr {
    /// Parse `expr`, naming the problem on failure.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let fields = expr.split_whitespace().count();
        let full = match fields {
            5 => format!("0 {}", expr.trim()),
            6 => expr.trim().to_owned(),
            n => {
                return Err(format!(
                    "cron {expr:?} has {n} fields; write 6 (sec min hour day month weekday) or 5 (min hour day month weekday)"
                ));
            }
        };
        let schedule = cron::Schedule::from_str(&full).map_err(|e| format!("invalid cron {expr:?}: {e}"))?;
        Ok(Self {
            schedule,
            source: expr.trim().to_owned(),
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The first slot strictly after `after`, read in time zone `tz`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.schedule
            .after(&after.with_timezone(&tz))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Every slot in `(after, until]`, in order, read in time zone `tz`.
    pub fn slots_between(&self, after: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> Vec<DateTime<Utc>> {
        self.schedule
            .after(&after.with_timezone(&tz))
            .map(|t| t.with_timezone(&Utc))
            .take_while(|t| *t <= until)
            .collect()
    }

    /// The latest slot in `(after, until]`, if any. Looks at the last day
    /// first, so a frequent cron after a long downtime is not walked slot by
    /// slot.
    pub fn last_between(&self, after: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let day_before = until - chrono::Duration::days(1);
        if day_before > after {
            if let Some(t) = self.slots_between(day_before, until, tz).pop() {
                return Some(t);
            }
        }
        self.slots_between(after, until, tz).pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;

    fn sh(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn five_and_six_fields_agree() {
        let a = CronExpr::parse("30 11 * * Mon-Fri").unwrap();
        let b = CronExpr::parse("0 30 11 * * Mon-Fri").unwrap();
        let from = sh(2026, 11, 24, 12, 0, 0);
        assert_eq!(a.next_after(from, Shanghai), b.next_after(from, Shanghai));
    }

    #[test]
    fn weekday_slots_skip_the_weekend_in_shanghai_time() {
        let c = CronExpr::parse("0 30 11 * * Mon-Fri").unwrap();
        // Friday 2026-11-27 12:00 Shanghai -> next is Monday 11-30 11:30.
        let next = c.next_after(sh(2026, 11, 27, 12, 0, 0), Shanghai).unwrap();
        assert_eq!(next, sh(2026, 11, 30, 11, 30, 0));
        // 11:30 Shanghai is 03:30 UTC.
        assert_eq!(next.format("%H:%M").to_string(), "03:30");
    }

    #[test]
    fn slots_between_is_half_open() {
        let c = CronExpr::parse("0 0 * * * *").unwrap();
        let from = sh(2026, 11, 24, 10, 0, 0);
        let slots = c.slots_between(from, sh(2026, 11, 24, 13, 0, 0), Shanghai);
        assert_eq!(
            slots,
            vec![
                sh(2026, 11, 24, 11, 0, 0),
                sh(2026, 11, 24, 12, 0, 0),
                sh(2026, 11, 24, 13, 0, 0)
            ]
        );
    }

    #[test]
    fn last_between_finds_the_latest_missed_slot() {
        let c = CronExpr::parse("0 30 11 * * *").unwrap();
        let last = c.last_between(sh(2026, 11, 20, 12, 0, 0), sh(2026, 11, 24, 12, 0, 0), Shanghai);
        assert_eq!(last, Some(sh(2026, 11, 24, 11, 30, 0)));
        let none = c.last_between(sh(2026, 11, 24, 11, 31, 0), sh(2026, 11, 24, 12, 0, 0), Shanghai);
        assert_eq!(none, None);
        let earlier = c.last_between(sh(2026, 11, 20, 12, 0, 0), sh(2026, 11, 24, 11, 0, 0), Shanghai);
        assert_eq!(earlier, Some(sh(2026, 11, 23, 11, 30, 0)));
    }

    #[test]
    fn wrong_field_count_is_named() {
        let e = CronExpr::parse("* * *").unwrap_err();
        assert!(e.contains("3 fields"), "{e}");
        assert!(CronExpr::parse("0 61 * * * *").is_err());
    }
}
