//! Plain serde mirrors of config.yaml and of a bot file (STYLE P7, first
//! phase). Every struct denies unknown keys; doc comments become the JSON
//! Schema's descriptions. Strings with one meaning are parsed here, once,
//! into typed values ([`Zone`], [`RawLocale`]); cross-references (adapter
//! ids, plugin kinds) are checked by the compiler.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;

use chrono_tz::Tz;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::bot::Locale;

/// config.yaml: where state lives, which platform connections exist, and
/// where the bots are.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Config")]
pub(super) struct RawConfig {
    /// Default time zone of bots (IANA name such as `Asia/Shanghai`); `UTC`
    /// if not given.
    #[serde(default)]
    pub(super) timezone: Option<Zone>,
    /// Where durable state lives.
    #[serde(default)]
    pub(super) storage: RawStorage,
    /// Folder of bot definitions (every `*.yaml` / `*.yml` file in it),
    /// relative to config.yaml's folder. Default `bots`.
    #[serde(default)]
    pub(super) bots: Option<String>,
    /// The HTTP listener for webhooks, the admin API and metrics; off unless
    /// present.
    #[serde(default)]
    pub(super) http: Option<RawHttp>,
    /// Platform connections: id → `{kind: KIND, limits: …, options of the kind}`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub(super) adapters: Mapping,
}

/// `storage:` in config.yaml.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Storage")]
pub(super) struct RawStorage {
    /// `sqlite://PATH` (relative paths resolve against config.yaml's folder),
    /// `sqlite::memory:`, or `postgres://…` for several replicas.
    #[serde(default = "default_storage_url")]
    pub(super) url: String,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            url: default_storage_url(),
        }
    }
}

fn default_storage_url() -> String {
    "sqlite://data/qunbot.db".into()
}

/// `http:` in config.yaml.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Http")]
pub(super) struct RawHttp {
    /// Address and port to listen on.
    #[serde(default = "default_listen")]
    pub(super) listen: SocketAddr,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// A bot file (`bots/NAME.yaml`): who the bot is, where it works, and its
/// plugins in order.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Bot")]
pub(super) struct RawBot {
    /// Unique name; default: the file's name without extension.
    #[serde(default)]
    pub(super) name: Option<String>,
    /// Ids of the connections (from config.yaml's `adapters`) the bot listens
    /// on and acts through; default: all of them.
    #[serde(default)]
    pub(super) adapters: Option<Vec<String>>,
    /// `["*"]` (every group; the default) or group ids; `ADAPTER:ID` pins an
    /// id to one connection.
    #[serde(default)]
    pub(super) groups: Option<Vec<IdText>>,
    /// Bot admins besides each group's own admins: user ids, `ADAPTER:ID`
    /// pins one to a connection.
    #[serde(default)]
    pub(super) admins: Vec<IdText>,
    /// Time zone of schedules and printed times; default: config.yaml's.
    #[serde(default)]
    pub(super) timezone: Option<Zone>,
    /// Language of built-in messages.
    #[serde(default)]
    pub(super) locale: RawLocale,
    /// Plugins, run in this order for every event: `- use: KIND` plus the
    /// kind's options.
    #[serde(default)]
    #[schemars(with = "Vec<serde_json::Value>")]
    pub(super) plugins: Vec<Value>,
}

/// `locale:` of a bot.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Locale")]
pub(super) enum RawLocale {
    /// Chinese.
    #[default]
    Zh,
    /// English.
    En,
}

impl From<RawLocale> for Locale {
    fn from(l: RawLocale) -> Self {
        match l {
            RawLocale::Zh => Locale::Zh,
            RawLocale::En => Locale::En,
        }
    }
}

/// An IANA time zone name, checked when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Zone(pub(super) Tz);

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.trim().parse::<Tz>().map(Zone).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown time zone `{s}` (use an IANA name such as Asia/Shanghai or UTC)"
            ))
        })
    }
}

impl JsonSchema for Zone {
    fn schema_name() -> Cow<'static, str> {
        "TimeZone".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An IANA time zone name such as Asia/Shanghai or UTC",
            "examples": ["Asia/Shanghai", "UTC"]
        })
    }
}

/// A group or user id. Ids are text, but YAML reads `-1001234` as a number,
/// so numbers are accepted and kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct IdText(pub(super) String);

impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = IdText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an id (text or a number)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IdText, E> {
                Ok(IdText(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl JsonSchema for IdText {
    fn schema_name() -> Cow<'static, str> {
        "Id".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": ["string", "integer"],
            "description": "An id as the platform spells it; `ADAPTER:ID` pins it to one connection"
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_numbers() {
        let ids: Vec<IdText> = serde_yaml::from_str("[-1001234, \"tg:42\", 7]").unwrap();
        assert_eq!(
            ids,
            vec![
                IdText("-1001234".into()),
                IdText("tg:42".into()),
                IdText("7".into())
            ]
        );
    }

    #[test]
    fn zones_are_checked() {
        let z: Zone = serde_yaml::from_str("Asia/Shanghai").unwrap();
        assert_eq!(z.0, chrono_tz::Asia::Shanghai);
        let e = serde_yaml::from_str::<Zone>("Mars/Base").unwrap_err().to_string();
        assert!(e.contains("unknown time zone `Mars/Base`"), "{e}");
    }

    #[test]
    fn bots_deny_unknown_keys() {
        let e = serde_yaml::from_str::<RawBot>("treshold: 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `treshold`"), "{e}");
    }
}
