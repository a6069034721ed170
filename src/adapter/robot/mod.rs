//! Send-only group robots of Chinese workplaces: a WeCom (企业微信) group
//! robot, a Feishu/Lark custom bot, a DingTalk (钉钉) custom robot. Each
//! robot is one webhook into one group, so one adapter holds many robots,
//! each a group of its own (`robots:` name → credentials); scheduled
//! promotions reach them, paced by the outbox at the platforms' per-robot
//! limits.
//!
//! - `config.rs`: [`RobotConfig`], the options shared by the three kinds.
//! - `wecom.rs`, `feishu.rs`, `dingtalk.rs`: each platform's credentials,
//!   request (signature included) and error codes ([`Platform`]).

mod config;
mod dingtalk;
mod feishu;
mod wecom;

pub use config::{Format, RobotConfig};
pub use dingtalk::DingTalk;
pub use feishu::Feishu;
pub use wecom::WeCom;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::http::{self, Failure};
use super::{Adapter, Capabilities, SendError};
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, Options};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, GroupId, Target};
use crate::outbox::RateLimits;

/// One platform's robots: their credentials, requests and answers.
pub trait Platform: DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The `kind:` value.
    const KIND: &'static str;
    /// One line for `qunbot list`.
    const ABOUT: &'static str;
    /// The API root robots post to, unless `api_base` says otherwise.
    const API_BASE: &'static str;

    /// What the platform lets one robot send.
    fn limits() -> RateLimits;

    /// Problems with this robot's credentials, located under `robots.NAME`.
    fn check(&self, name: &str, options: &Options) -> Vec<ConfigError>;

    /// The URL and JSON body that post `text` as `format`, signed at `now`.
    fn request(&self, api_base: &str, text: &str, format: Format, now: DateTime<Utc>) -> (String, Value);

    /// The outcome the platform's JSON answer reports (its error code).
    fn outcome(answer: &Value) -> Result<(), SendError>;
}

/// The robots of one platform, as one adapter.
pub struct RobotAdapter<P> {
    id: AdapterId,
    robots: BTreeMap<String, P>,
    format: Format,
    api_base: String,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl<P> std::fmt::Debug for RobotAdapter<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Robots' keys are secrets: only their names.
        f.debug_struct("RobotAdapter")
            .field("id", &self.id)
            .field("robots", &self.robots.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<P: Platform> RobotAdapter<P> {
    /// A robot adapter for `config`.
    pub fn new(id: AdapterId, config: RobotConfig<P>) -> Result<Self, BoxError> {
        Ok(Self {
            id,
            robots: config.robots,
            format: config.format,
            api_base: config
                .api_base
                .unwrap_or_else(|| P::API_BASE.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            client: http::client()?,
            clock: Arc::new(SystemClock),
        })
    }
}

#[async_trait]
impl<P: Platform> Adapter for RobotAdapter<P> {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    /// Posting into their group is all robots can do; replies become posts.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            send: true,
            reply: false,
            direct_message: false,
            delete: false,
            mute: false,
            kick: false,
            ban: false,
        }
    }

    fn limits(&self) -> RateLimits {
        P::limits()
    }

    fn groups(&self) -> Vec<GroupId> {
        self.robots
            .keys()
            .map(|name| GroupId::from(name.as_str()))
            .collect()
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let Action::Send {
            to: Target::Group(group),
            text,
        } = action
        else {
            return Err(SendError::Permanent(format!(
                "a {} robot can only post into its group, not {}",
                P::KIND,
                action.name()
            )));
        };
        let Some(robot) = self.robots.get(group.as_str()) else {
            return Err(SendError::Permanent(format!(
                "no robot named {group:?} under robots:"
            )));
        };
        let (url, body) = robot.request(&self.api_base, text, self.format, self.clock.now());
        let response = self
            .client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| http::send_error(Failure::Transport(&e)))?;
        let status = response.status();
        let retry_after = http::retry_after(response.headers());
        let answer = response.text().await.unwrap_or_default();
        if !status.is_success() && !(400..500).contains(&status.as_u16()) || status.as_u16() == 429 {
            let description: String = answer.chars().take(200).collect();
            return Err(http::send_error(Failure::Status {
                status: status.as_u16(),
                retry_after,
                description: &description,
            }));
        }
        // Error codes come in the JSON body, with 200 and with some 4xx.
        match serde_json::from_str::<Value>(&answer) {
            Ok(answer) => P::outcome(&answer),
            Err(_) if status.is_success() => Err(SendError::Transient(format!(
                "HTTP {status} without a JSON answer"
            ))),
            Err(_) => Err(SendError::Permanent(format!("HTTP {status}"))),
        }
    }
}

/// The error a platform's code `code` (with its message `message`) maps to,
/// given its rate-limit codes and how long they ask to wait.
fn coded(code: i64, message: &str, throttled: &[i64], wait: std::time::Duration, busy: &[i64]) -> SendError {
    let message: String = message.chars().take(200).collect();
    if throttled.contains(&code) {
        SendError::RetryAfter(wait)
    } else if busy.contains(&code) {
        SendError::Transient(format!("error {code}: {message}"))
    } else {
        SendError::Permanent(format!("error {code}: {message}"))
    }
}
