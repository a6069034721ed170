//! WeCom (企业微信) group robots: `POST {api_base}/cgi-bin/webhook/send?key=KEY`
//! with `{"msgtype": "text", "text": {"content": …}}` (or `markdown`); the
//! key in the URL is the only credential (no signature). Answers
//! `{"errcode": 0, "errmsg": "ok"}`; 45009 is the rate limit of 20 messages
//! a minute per robot.

use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Format, Platform, coded};
use crate::adapter::SendError;
use crate::config::{ConfigError, Options};
use crate::outbox::{Rate, RateLimits};

/// Throttled: "api freq out of limit".
const THROTTLED: [i64; 1] = [45009];
/// Busy, try again: -1 "system busy".
const BUSY: [i64; 1] = [-1];

/// One WeCom group robot. `Debug` does not show the key.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeCom {
    /// The `key=` of the robot's webhook address. Write `${WECOM_ROBOT_KEY}`.
    pub key: String,
}

impl std::fmt::Debug for WeCom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeCom { key: *** }")
    }
}

impl Platform for WeCom {
    const KIND: &'static str = "wecom_robot";
    const ABOUT: &'static str = "WeCom (企业微信) group robots: scheduled posts into their groups";
    const API_BASE: &'static str = "https://qyapi.weixin.qq.com";

    fn limits() -> RateLimits {
        RateLimits::none().per_group(Rate::new(20, Duration::from_secs(60)))
    }

    fn check(&self, name: &str, options: &Options) -> Vec<ConfigError> {
        if self.key.trim().is_empty() {
            return vec![options.error_at(&format!("robots.{name}.key"), "key is empty")];
        }
        Vec::new()
    }

    fn request(&self, api_base: &str, text: &str, format: Format, _now: DateTime<Utc>) -> (String, Value) {
        let url = format!("{api_base}/cgi-bin/webhook/send?key={}", urlencode(&self.key));
        let body = match format {
            Format::Text => json!({"msgtype": "text", "text": {"content": text}}),
            Format::Markdown => json!({"msgtype": "markdown", "markdown": {"content": text}}),
        };
        (url, body)
    }

    fn outcome(answer: &Value) -> Result<(), SendError> {
        match answer["errcode"].as_i64() {
            Some(0) => Ok(()),
            Some(code) => Err(coded(
                code,
                answer["errmsg"].as_str().unwrap_or_default(),
                &THROTTLED,
                Duration::from_secs(60),
                &BUSY,
            )),
            None => Err(SendError::Transient("an answer without errcode".into())),
        }
    }
}

/// `s` as a query-string value.
pub(super) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_text_or_markdown_with_the_key_in_the_url() {
        let robot = WeCom { key: "k-1&x".into() };
        let (url, body) = robot.request("http://h", "hi", Format::Text, Utc::now());
        assert_eq!(url, "http://h/cgi-bin/webhook/send?key=k-1%26x");
        assert_eq!(body, json!({"msgtype": "text", "text": {"content": "hi"}}));
        let (_, body) = robot.request("http://h", "**hi**", Format::Markdown, Utc::now());
        assert_eq!(body["markdown"]["content"], "**hi**");
    }

    #[test]
    fn error_codes_map_to_outbox_decisions() {
        assert!(WeCom::outcome(&json!({"errcode": 0, "errmsg": "ok"})).is_ok());
        assert!(matches!(
            WeCom::outcome(&json!({"errcode": 45009, "errmsg": "api freq out of limit"})),
            Err(SendError::RetryAfter(d)) if d == Duration::from_secs(60)
        ));
        assert!(matches!(
            WeCom::outcome(&json!({"errcode": 93000, "errmsg": "invalid webhook url"})),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            WeCom::outcome(&json!({"errcode": -1, "errmsg": "system busy"})),
            Err(SendError::Transient(_))
        ));
    }
}
