//! How fast a platform lets one bot account send: [`Rate`] ("20/1m") and
//! [`RateLimits`], declared by adapters and overridden in config.yaml.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// At most `count` sends per `per`, over a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Sends allowed in the window; at least 1.
    pub count: u32,
    /// The window; longer than zero.
    pub per: Duration,
}

/// Why a rate like `"20/1m"` did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate {input:?}: {reason} (write COUNT/WINDOW, e.g. \"20/1m\", \"1/3s\", \"500/1day\")")]
pub struct RateParseError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Rate {
    /// `count` sends per `per`.
    pub fn new(count: u32, per: Duration) -> Self {
        Self { count, per }
    }

    /// Parse `COUNT/WINDOW`, where the window is a duration such as `1s`,
    /// `30s`, `1m`, `1h`, `1day` (a bare unit means one of it: `20/m`).
    /// Spaces around the parts are ignored.
    pub fn parse(input: &str) -> Result<Self, RateParseError> {
        let fail = |reason: &str| RateParseError {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let (count, window) = input.split_once('/').ok_or_else(|| fail("no '/'"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| fail("the count is not a whole number"))?;
        if count == 0 {
            return Err(fail("the count must be at least 1"));
        }
        let window = window.trim();
        let per = if window.starts_with(|c: char| c.is_ascii_digit()) {
            humantime::parse_duration(window)
        } else {
            humantime::parse_duration(&format!("1{window}"))
        }
        .map_err(|e| fail(&format!("the window: {e}")))?;
        if per.is_zero() {
            return Err(fail("the window must be longer than zero"));
        }
        Ok(Self { count, per })
    }
}

impl FromStr for Rate {
    type Err = RateParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Rate {
    /// The form [`Rate::parse`] reads back, e.g. `20/1m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, humantime::format_duration(self.per))
    }
}

/// How fast a platform lets one bot account send. Only message actions
/// (send, reply) count; moderation actions are never held back by these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Limits over all the account's message sends; all must allow a send.
    pub per_account: Vec<Rate>,
    /// Limits per group (or direct chat, by [`crate::event::Action::chat_key`]).
    pub per_group: Vec<Rate>,
    /// Most message sends per UTC day; over it, sends wait for the next day.
    pub daily_cap: Option<u32>,
    /// Random extra delay up to this before each message send, so sends do
    /// not look machine-timed.
    pub jitter: Duration,
}

impl RateLimits {
    /// No limits at all (the same as `default()`).
    pub fn none() -> Self {
        Self::default()
    }

    /// The same, also limited to `rate` over the whole account.
    pub fn per_account(mut self, rate: Rate) -> Self {
        self.per_account.push(rate);
        self
    }

    /// The same, also limited to `rate` in each group or direct chat.
    pub fn per_group(mut self, rate: Rate) -> Self {
        self.per_group.push(rate);
        self
    }

    /// The same, with at most `cap` message sends per UTC day.
    pub fn daily_cap(mut self, cap: u32) -> Self {
        self.daily_cap = Some(cap);
        self
    }

    /// The same, with a random extra delay up to `jitter` per message send.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Whether nothing is limited (the governor can stand aside).
    pub fn is_unlimited(&self) -> bool {
        self.per_account.is_empty()
            && self.per_group.is_empty()
            && self.daily_cap.is_none()
            && self.jitter.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_windows() {
        assert_eq!(
            Rate::parse("20/1m").unwrap(),
            Rate::new(20, Duration::from_secs(60))
        );
        assert_eq!(
            Rate::parse(" 1 / 3s ").unwrap(),
            Rate::new(1, Duration::from_secs(3))
        );
        assert_eq!(
            Rate::parse("30/s").unwrap(),
            Rate::new(30, Duration::from_secs(1))
        );
        assert_eq!(
            Rate::parse("500/1day").unwrap(),
            Rate::new(500, Duration::from_secs(86_400))
        );
        assert_eq!(
            Rate::parse("5/500ms").unwrap(),
            Rate::new(5, Duration::from_millis(500))
        );
        assert_eq!(
            "20/1m".parse::<Rate>().unwrap(),
            Rate::new(20, Duration::from_secs(60))
        );
    }

    #[test]
    fn refuses_what_is_not_a_rate() {
        for bad in [
            "",
            "20",
            "20/",
            "/1m",
            "0/1m",
            "-1/1m",
            "x/1m",
            "20/0s",
            "20/1 parsec",
        ] {
            let error = Rate::parse(bad).unwrap_err();
            assert_eq!(error.input, bad);
            assert!(error.to_string().contains("COUNT/WINDOW"), "{error}");
        }
    }

    #[test]
    fn display_reads_back() {
        for text in ["20/1m", "1/3s", "5/500ms", "100/1day"] {
            let rate = Rate::parse(text).unwrap();
            assert_eq!(Rate::parse(&rate.to_string()).unwrap(), rate);
        }
    }

    #[test]
    fn builder_collects_limits() {
        let limits = RateLimits::none()
            .per_account(Rate::new(30, Duration::from_secs(1)))
            .per_group(Rate::new(20, Duration::from_secs(60)))
            .daily_cap(1000)
            .jitter(Duration::from_millis(300));
        assert_eq!(limits.per_account.len(), 1);
        assert_eq!(limits.per_group, [Rate::new(20, Duration::from_secs(60))]);
        assert_eq!(limits.daily_cap, Some(1000));
        assert!(!limits.is_unlimited());
        assert!(RateLimits::none().is_unlimited());
    }
}
