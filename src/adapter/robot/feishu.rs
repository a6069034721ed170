//! Feishu/Lark custom bots: `POST {api_base}/open-apis/bot/v2/hook/HOOK`
//! with `{"msg_type": "text", "content": {"text": …}}` (markdown: an
//! `interactive` card with one markdown element). With 签名校验 (a
//! `secret`), the body also carries `timestamp` (seconds, as a string) and
//! `sign` = base64 of HMAC-SHA256 keyed by `timestamp + "\n" + secret` over
//! nothing; Feishu refuses a timestamp more than an hour off. Answers
//! `{"code": 0, "msg": "success"}`; 100 messages a minute and 5 a second
//! per bot, beyond which it answers 11232.

use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Format, Platform, coded};
use crate::adapter::SendError;
use crate::adapter::sign::{base64, hmac_sha256};
use crate::config::{ConfigError, Options};
use crate::outbox::{Rate, RateLimits};

/// Throttled: 11232 "frequency limited"; 9499 with HTTP 429 is handled as
/// a 429 before the code is read.
const THROTTLED: [i64; 1] = [11232];
/// Busy, try again: internal errors.
const BUSY: [i64; 2] = [-1, 19002];

/// One Feishu/Lark custom bot. `Debug` shows neither hook nor secret.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Feishu {
    /// The last part of the bot's webhook address (`…/bot/v2/hook/HOOK`).
    pub hook: String,
    /// The 签名校验 secret, if the bot's security setting uses it.
    #[serde(default)]
    pub secret: Option<String>,
}

impl std::fmt::Debug for Feishu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feishu { hook: *** }")
    }
}

/// The `sign` of `timestamp` (seconds) under `secret`.
pub(super) fn sign(secret: &str, timestamp: i64) -> String {
    let key = format!("{timestamp}\n{secret}");
    base64(&hmac_sha256(key.as_bytes(), b""))
}

impl Platform for Feishu {
    const KIND: &'static str = "feishu_robot";
    const ABOUT: &'static str = "Feishu/Lark custom bots, signed: scheduled posts into their groups";
    const API_BASE: &'static str = "https://open.feishu.cn";

    fn limits() -> RateLimits {
        RateLimits::none()
            .per_group(Rate::new(5, Duration::from_secs(1)))
            .per_group(Rate::new(100, Duration::from_secs(60)))
    }

    fn check(&self, name: &str, options: &Options) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.hook.trim().is_empty() || self.hook.contains('/') {
            errors.push(options.error_at(
                &format!("robots.{name}.hook"),
                "hook is the last part of the webhook address, after /bot/v2/hook/",
            ));
        }
        if self.secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
            errors.push(options.error_at(&format!("robots.{name}.secret"), "secret is empty"));
        }
        errors
    }

    fn request(&self, api_base: &str, text: &str, format: Format, now: DateTime<Utc>) -> (String, Value) {
        let url = format!("{api_base}/open-apis/bot/v2/hook/{}", self.hook);
        let mut body = match format {
            Format::Text => json!({"msg_type": "text", "content": {"text": text}}),
            Format::Markdown => json!({
                "msg_type": "interactive",
                "card": {"elements": [{"tag": "markdown", "content": text}]},
            }),
        };
        if let Some(secret) = &self.secret {
            let timestamp = now.timestamp();
            body["timestamp"] = json!(timestamp.to_string());
            body["sign"] = json!(sign(secret, timestamp));
        }
        (url, body)
    }

    fn outcome(answer: &Value) -> Result<(), SendError> {
        // Older answers carry `StatusCode` instead of `code`.
        match answer["code"].as_i64().or_else(|| answer["StatusCode"].as_i64()) {
            Some(0) => Ok(()),
            Some(code) => Err(coded(
                code,
                answer["msg"].as_str().unwrap_or_default(),
                &THROTTLED,
                Duration::from_secs(60),
                &BUSY,
            )),
            None => Err(SendError::Transient("an answer without code".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_feishus_algorithm() {
        // Computed independently (Python's hmac/base64).
        assert_eq!(
            sign("demo-secret", 1_599_360_473),
            "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s="
        );
        let robot = Feishu {
            hook: "h-1".into(),
            secret: Some("demo-secret".into()),
        };
        let now = DateTime::from_timestamp(1_599_360_473, 0).unwrap();
        let (url, body) = robot.request("http://h", "hi", Format::Text, now);
        assert_eq!(url, "http://h/open-apis/bot/v2/hook/h-1");
        assert_eq!(body["timestamp"], "1599360473");
        assert_eq!(body["sign"], "3/MaVZ8JLIy4TUG+7KSFJqvUkTKd+HWY8g+56DZWq8s=");
        assert_eq!(body["content"]["text"], "hi");
    }

    #[test]
    fn markdown_is_a_card_and_codes_map_to_outbox_decisions() {
        let robot = Feishu {
            hook: "h".into(),
            secret: None,
        };
        let (_, body) = robot.request("http://h", "**hi**", Format::Markdown, Utc::now());
        assert_eq!(body["msg_type"], "interactive");
        assert_eq!(body["card"]["elements"][0]["content"], "**hi**");
        assert!(body.get("sign").is_none());
        assert!(Feishu::outcome(&json!({"code": 0, "msg": "success", "data": {}})).is_ok());
        assert!(Feishu::outcome(&json!({"StatusCode": 0, "StatusMessage": "success"})).is_ok());
        assert!(matches!(
            Feishu::outcome(&json!({"code": 11232, "msg": "frequency limited"})),
            Err(SendError::RetryAfter(_))
        ));
        assert!(matches!(
            Feishu::outcome(&json!({"code": 19021, "msg": "sign match fail"})),
            Err(SendError::Permanent(_))
        ));
    }
}
