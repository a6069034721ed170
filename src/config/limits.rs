//! `limits:` of an adapter in config.yaml: overrides of the platform's own
//! send limits ([`RateLimits`]).

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::Deserialize;

use super::duration::{Duration, parse_duration};
use crate::outbox::{Rate, RateLimits};

/// Overrides of an adapter's send limits, written under `adapters.ID.limits`.
/// Each key present replaces the adapter's own value; absent keys keep it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Limits over all the account's sends, e.g. `["30/1s"]`.
    #[serde(default)]
    pub per_account: Option<Vec<RateSpec>>,
    /// Limits per group (or direct chat), e.g. `["1/1s", "20/1m"]`.
    #[serde(default)]
    pub per_group: Option<Vec<RateSpec>>,
    /// Most sends per day (UTC).
    #[serde(default)]
    pub daily_cap: Option<u32>,
    /// Random extra delay up to this before each send, e.g. `200ms`.
    #[serde(default)]
    pub jitter: Option<Duration>,
}

impl LimitsConfig {
    /// `base` (the adapter's own limits) with the keys present here replaced.
    pub fn apply(&self, mut base: RateLimits) -> RateLimits {
        if let Some(rates) = &self.per_account {
            base.per_account = rates.iter().map(|r| r.0).collect();
        }
        if let Some(rates) = &self.per_group {
            base.per_group = rates.iter().map(|r| r.0).collect();
        }
        if let Some(cap) = self.daily_cap {
            base.daily_cap = Some(cap);
        }
        if let Some(jitter) = self.jitter {
            base.jitter = jitter.0;
        }
        base
    }
}

/// A rate written `COUNT/DURATION`: `30/1s`, `20/1m` (`20/m` means `20/1m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSpec(pub Rate);

impl std::str::FromStr for RateSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid rate {s:?} (write COUNT/DURATION, e.g. 30/1s or 20/1m)");
        let (count, per) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per = per.trim();
        let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
            parse_duration(per)
        } else {
            parse_duration(&format!("1{per}"))
        }
        .map_err(|_| bad())?;
        if count == 0 || per.is_zero() {
            return Err(format!(
                "invalid rate {s:?}: count and duration must be above zero"
            ));
        }
        Ok(RateSpec(Rate { count, per }))
    }
}

impl<'de> Deserialize<'de> for RateSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for RateSpec {
    fn schema_name() -> Cow<'static, str> {
        "Rate".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^\\s*[0-9]+\\s*/\\s*[0-9]*\\s*(ms|s|m|h|d)\\s*$",
            "description": "At most COUNT sends per DURATION, e.g. 30/1s or 20/1m"
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    fn rate(count: u32, secs: u64) -> Rate {
        Rate {
            count,
            per: Std::from_secs(secs),
        }
    }

    #[test]
    fn rates_parse() {
        assert_eq!("30/1s".parse::<RateSpec>(), Ok(RateSpec(rate(30, 1))));
        assert_eq!(" 20 / 1m ".parse::<RateSpec>(), Ok(RateSpec(rate(20, 60))));
        assert_eq!("20/m".parse::<RateSpec>(), Ok(RateSpec(rate(20, 60))));
        for bad in ["30", "x/1s", "30/soon", "0/1s", "-1/1s"] {
            assert!(bad.parse::<RateSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn present_keys_replace_absent_keys_keep() {
        let base = RateLimits {
            per_account: vec![rate(30, 1)],
            per_group: vec![rate(1, 1)],
            daily_cap: Some(1000),
            jitter: Std::from_millis(50),
        };
        let o: LimitsConfig =
            serde_yaml::from_str("per_group: [\"1/3s\", \"20/1m\"]\njitter: 200ms\n").unwrap();
        let got = o.apply(base.clone());
        assert_eq!(got.per_account, base.per_account);
        assert_eq!(got.per_group, vec![rate(1, 3), rate(20, 60)]);
        assert_eq!(got.daily_cap, Some(1000));
        assert_eq!(got.jitter, Std::from_millis(200));
        assert_eq!(LimitsConfig::default().apply(base.clone()), base);
    }
}
