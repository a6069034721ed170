//! Durations written `30s`, `10m`, `1h`, `2d` (and combinations such as
//! `1h 30m`), parsed by humantime.

/// Parse a duration written `30s`, `10m`, `1h`, `2d`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?}: {e} (write e.g. 30s, 10m, 1h, 2d)"))
}

/// A duration option, written `30s`, `10m`, `1h`, `2d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(Duration).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^\\s*[0-9]+\\s*(ms|s|m|h|d)(\\s*[0-9]+\\s*(ms|s|m|h|d))*\\s*$",
            "description": "A duration such as 30s, 10m, 1h or 2d"
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    #[test]
    fn parses_the_documented_units() {
        assert_eq!(parse_duration("30s"), Ok(Std::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Std::from_secs(600)));
        assert_eq!(parse_duration(" 1h "), Ok(Std::from_secs(3600)));
        assert_eq!(parse_duration("2d"), Ok(Std::from_secs(2 * 86400)));
        assert_eq!(parse_duration("200ms"), Ok(Std::from_millis(200)));
        assert_eq!(parse_duration("1h 30m"), Ok(Std::from_secs(5400)));
    }

    #[test]
    fn rejects_garbage_naming_the_input() {
        let e = parse_duration("soon").unwrap_err();
        assert!(e.contains("\"soon\""), "{e}");
        assert!(parse_duration("30").is_err());
    }

    #[test]
    fn deserializes_from_yaml() {
        let d: Duration = serde_yaml::from_str("5m").unwrap();
        assert_eq!(d, Duration(Std::from_secs(300)));
    }
}
