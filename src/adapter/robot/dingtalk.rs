//! DingTalk (钉钉) custom robots: `POST {api_base}/robot/send?access_token=…`
//! with `{"msgtype": "text", "text": {"content": …}}` (or `markdown` with a
//! title). With 加签 (a `secret`), the URL also carries `timestamp` (ms) and
//! `sign` = URL-encoded base64 of HMAC-SHA256, keyed by the secret, of
//! `timestamp + "\n" + secret`; DingTalk refuses a timestamp more than an
//! hour off. Answers `{"errcode": 0, "errmsg": "ok"}`; a robot may post 20
//! messages a minute, and one that posts more is throttled for 10 minutes
//! (errcode 130101).

use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::wecom::urlencode;
use super::{Format, Platform, coded};
use crate::adapter::SendError;
use crate::adapter::sign::{base64, hmac_sha256};
use crate::config::{ConfigError, Options};
use crate::outbox::{Rate, RateLimits};

/// Throttled: 130101 "send too fast, exceed 20 times per minute".
const THROTTLED: [i64; 1] = [130101];
/// Busy, try again: -1 "系统繁忙".
const BUSY: [i64; 1] = [-1];
/// How long DingTalk throttles a robot that posted too fast.
const THROTTLE: Duration = Duration::from_secs(600);

/// One DingTalk custom robot. `Debug` shows neither token nor secret.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DingTalk {
    /// The `access_token=` of the robot's webhook address.
    pub access_token: String,
    /// The 加签 secret (`SEC…`), if the robot's security setting uses it.
    #[serde(default)]
    pub secret: Option<String>,
}

impl std::fmt::Debug for DingTalk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DingTalk { access_token: *** }")
    }
}

/// The `sign` of `timestamp` (ms) under `secret`, before URL encoding.
pub(super) fn sign(secret: &str, timestamp_ms: i64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    base64(&hmac_sha256(secret.as_bytes(), message.as_bytes()))
}

impl Platform for DingTalk {
    const KIND: &'static str = "dingtalk_robot";
    const ABOUT: &'static str = "DingTalk (钉钉) custom robots, signed: scheduled posts into their groups";
    const API_BASE: &'static str = "https://oapi.dingtalk.com";

    fn limits() -> RateLimits {
        RateLimits::none().per_group(Rate::new(20, Duration::from_secs(60)))
    }

    fn check(&self, name: &str, options: &Options) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.access_token.trim().is_empty() {
            errors.push(options.error_at(&format!("robots.{name}.access_token"), "access_token is empty"));
        }
        if self.secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
            errors.push(options.error_at(&format!("robots.{name}.secret"), "secret is empty"));
        }
        errors
    }

    fn request(&self, api_base: &str, text: &str, format: Format, now: DateTime<Utc>) -> (String, Value) {
        let mut url = format!(
            "{api_base}/robot/send?access_token={}",
            urlencode(&self.access_token)
        );
        if let Some(secret) = &self.secret {
            let timestamp = now.timestamp_millis();
            url.push_str(&format!(
                "&timestamp={timestamp}&sign={}",
                urlencode(&sign(secret, timestamp))
            ));
        }
        let body = match format {
            Format::Text => json!({"msgtype": "text", "text": {"content": text}}),
            Format::Markdown => {
                // The title shows in notifications: the first line, bare.
                let title: String = text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches(['#', ' '])
                    .chars()
                    .take(40)
                    .collect();
                json!({"msgtype": "markdown", "markdown": {"title": title, "text": text}})
            }
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
                THROTTLE,
                &BUSY,
            )),
            None => Err(SendError::Transient("an answer without errcode".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_dingtalks_algorithm() {
        // Computed independently (Python's hmac/base64/urllib).
        assert_eq!(
            sign("SECdemo", 1_599_360_473_000),
            "tGWkA5eQOQNCNPDgphtxIoNLO+/gD8Lcb705KQoRzeY="
        );
        let robot = DingTalk {
            access_token: "tok".into(),
            secret: Some("SECdemo".into()),
        };
        let now = DateTime::from_timestamp_millis(1_599_360_473_000).unwrap();
        let (url, _) = robot.request("http://h", "hi", Format::Text, now);
        assert_eq!(
            url,
            "http://h/robot/send?access_token=tok&timestamp=1599360473000&sign=tGWkA5eQOQNCNPDgphtxIoNLO%2B%2FgD8Lcb705KQoRzeY%3D"
        );
    }

    #[test]
    fn markdown_gets_its_first_line_as_title() {
        let robot = DingTalk {
            access_token: "tok".into(),
            secret: None,
        };
        let (url, body) = robot.request("http://h", "## 今日福利\n领券", Format::Markdown, Utc::now());
        assert_eq!(url, "http://h/robot/send?access_token=tok");
        assert_eq!(body["markdown"]["title"], "今日福利");
        assert_eq!(body["markdown"]["text"], "## 今日福利\n领券");
    }

    #[test]
    fn throttling_waits_the_ten_minutes_dingtalk_imposes() {
        assert!(matches!(
            DingTalk::outcome(&json!({"errcode": 130101, "errmsg": "send too fast"})),
            Err(SendError::RetryAfter(d)) if d == THROTTLE
        ));
        assert!(matches!(
            DingTalk::outcome(&json!({"errcode": 310000, "errmsg": "sign not match"})),
            Err(SendError::Permanent(_))
        ));
    }
}
