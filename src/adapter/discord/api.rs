//! The REST client: `{api_base}/…` with `Authorization: Bot TOKEN`, JSON
//! bodies, errors `{"message", "code"}`, and Discord's rate limits read
//! from the response headers.
//!
//! Rate limits: every answer names its route's bucket
//! (`X-RateLimit-Bucket`), what is left in it (`-Remaining`) and when it
//! refills (`-Reset-After`, seconds). Buckets are per route *and* major
//! parameter (the channel or guild). A call whose bucket is known to be
//! empty, or made while a global limit holds, is not sent: it fails at
//! once with the wait, which the outbox honours ([`SendError::RetryAfter`]).
//! A 429 (`{"message","retry_after","global"}`, `X-RateLimit-Global`,
//! `X-RateLimit-Scope`) does the same with the wait Discord gave.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::adapter::SendError;
use crate::adapter::http::{self, Failure};
use crate::error::BoxError;

/// One REST call.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Request {
    /// The HTTP method.
    pub(super) method: reqwest::Method,
    /// The path below `api_base`, such as `/channels/1/messages`.
    pub(super) path: String,
    /// The rate-limit route: method and path with the minor ids replaced
    /// (`POST /channels/1/messages`, `DELETE /channels/1/messages/{id}`);
    /// the major id (channel, guild) stays, as Discord's buckets do.
    pub(super) route: String,
    /// The JSON body, if any.
    pub(super) body: Option<Value>,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApiError {
    /// Discord answered with an error status.
    #[error("{route}: HTTP {status}: {message} (code {code})")]
    Failed {
        /// The route called.
        route: String,
        /// The HTTP status.
        status: u16,
        /// Discord's JSON error code (`50013` missing permissions, `10008`
        /// unknown message; 0 when absent).
        code: u64,
        /// Discord's `message`.
        message: String,
        /// The wait asked for (429).
        retry_after: Option<Duration>,
    },
    /// Not sent: the route's bucket is empty, or a global limit holds.
    #[error("{route}: rate limit bucket empty for {wait:?}")]
    Limited {
        /// The route.
        route: String,
        /// Until it refills.
        wait: Duration,
    },
    /// No usable answer.
    #[error("{route}: {text}")]
    Transport {
        /// The route called.
        route: String,
        /// What went wrong, without the URL.
        text: String,
        /// The cause.
        #[source]
        error: reqwest::Error,
    },
}

impl ApiError {
    /// What the outbox does with it (the shared mapping).
    pub(super) fn send_error(&self) -> SendError {
        match self {
            ApiError::Failed {
                status, retry_after, ..
            } => http::send_error(Failure::Status {
                status: *status,
                retry_after: *retry_after,
                description: &self.to_string(),
            }),
            ApiError::Limited { wait, .. } => SendError::RetryAfter(*wait),
            ApiError::Transport { error, .. } => http::send_error(Failure::Transport(error)),
        }
    }

    /// Whether the token itself is refused.
    pub(super) fn is_unauthorized(&self) -> bool {
        matches!(self, ApiError::Failed { status: 401, .. })
    }

    /// Discord's JSON error code, if it answered with one.
    pub(super) fn code(&self) -> Option<u64> {
        match self {
            ApiError::Failed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A REST account.
pub(super) struct Api {
    /// The shared client (adapter::http).
    client: reqwest::Client,
    /// `api_base` without a trailing slash.
    base: String,
    /// `Bot TOKEN`, marked sensitive.
    auth: HeaderValue,
    /// What the headers said about the buckets.
    limits: Mutex<Limits>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Rate-limit state learnt from answers.
#[derive(Debug, Default)]
struct Limits {
    /// Route → the bucket Discord named for it.
    buckets_of: HashMap<String, String>,
    /// Bucket and major id → its state.
    buckets: HashMap<String, Bucket>,
    /// A global limit holds until then.
    global_until: Option<Instant>,
}

/// One bucket's state.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Calls left before the reset.
    remaining: u64,
    /// When it refills.
    reset_at: Instant,
}

/// A 429's body.
#[derive(Deserialize)]
struct Limited {
    /// Seconds to wait.
    #[serde(default)]
    retry_after: Option<f64>,
    /// Whether the limit is global (every route).
    #[serde(default)]
    global: bool,
}

/// Other errors' body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<u64>,
}

/// The major id of a route: what follows `/channels/`, `/guilds/` or
/// `/webhooks/` at its start, or nothing.
fn major(route: &str) -> &str {
    let path = route.split_once(' ').map_or(route, |(_, p)| p);
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next()) {
        (Some("channels" | "guilds" | "webhooks"), Some(id)) => id,
        _ => "",
    }
}

/// A header as text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// Seconds (fractional) as a duration; nonsense as zero.
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or_default()
}

impl Api {
    /// An account on `base` with `token`.
    pub(super) fn new(base: &str, token: &str) -> Result<Self, BoxError> {
        let mut auth = HeaderValue::from_str(&format!("Bot {token}"))
            .map_err(|_| "the bot token is not a valid header value")?;
        auth.set_sensitive(true);
        Ok(Self {
            client: http::client()?,
            base: base.trim_end_matches('/').to_owned(),
            auth,
            limits: Mutex::new(Limits::default()),
        })
    }

    /// The gateway URL to connect to (`GET /gateway/bot`).
    pub(super) async fn gateway_url(&self) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct GatewayBot {
            url: String,
        }
        let answer = self
            .call(&Request {
                method: reqwest::Method::GET,
                path: "/gateway/bot".into(),
                route: "GET /gateway/bot".into(),
                body: None,
            })
            .await?;
        GatewayBot::deserialize(&answer)
            .map(|g| g.url)
            .map_err(|_| ApiError::Failed {
                route: "GET /gateway/bot".into(),
                status: 502,
                code: 0,
                message: "an answer without `url`".into(),
                retry_after: None,
            })
    }

    /// Make `request`; the answer's JSON (`null` for 204).
    pub(super) async fn call(&self, request: &Request) -> Result<Value, ApiError> {
        let route = &request.route;
        if let Some(wait) = self.wait_before(route) {
            return Err(ApiError::Limited {
                route: route.clone(),
                wait,
            });
        }
        let transport = |error: reqwest::Error| ApiError::Transport {
            route: route.clone(),
            text: http::describe(&error),
            error: error.without_url(),
        };
        let mut builder = self
            .client
            .request(request.method.clone(), format!("{}{}", self.base, request.path))
            .header(AUTHORIZATION, self.auth.clone());
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.note_bucket(route, &headers);
        let bytes = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
        }
        if status == 429 {
            let body: Option<Limited> = serde_json::from_slice(&bytes).ok();
            let wait = body
                .as_ref()
                .and_then(|b| b.retry_after)
                .map(seconds)
                .or_else(|| http::retry_after(&headers))
                .unwrap_or(Duration::from_secs(1));
            let global = body.as_ref().is_some_and(|b| b.global)
                || header(&headers, "x-ratelimit-global").is_some_and(|g| g == "true");
            let scope = header(&headers, "x-ratelimit-scope").unwrap_or("user");
            tracing::warn!(route = %route, ?wait, global, scope, "Discord rate limited a call");
            if global {
                self.lock().global_until = Some(Instant::now() + wait);
            }
            return Err(ApiError::Failed {
                route: route.clone(),
                status,
                code: 0,
                message: "rate limited".into(),
                retry_after: Some(wait),
            });
        }
        let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        Err(ApiError::Failed {
            route: route.clone(),
            status,
            code: body.as_ref().and_then(|b| b.code).unwrap_or(0),
            message: body
                .and_then(|b| b.message)
                .unwrap_or_else(|| format!("unexpected answer (HTTP {status})")),
            retry_after: http::retry_after(&headers),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long `route` must wait before a call, if it must.
    fn wait_before(&self, route: &str) -> Option<Duration> {
        let now = Instant::now();
        let limits = self.lock();
        let global = limits.global_until.filter(|t| *t > now).map(|t| t - now);
        let bucket = limits
            .buckets_of
            .get(route)
            .and_then(|hash| limits.buckets.get(&format!("{hash}:{}", major(route))))
            .filter(|b| b.remaining == 0 && b.reset_at > now)
            .map(|b| b.reset_at - now);
        global.into_iter().chain(bucket).max()
    }

    /// Remember what an answer's headers say about `route`'s bucket.
    fn note_bucket(&self, route: &str, headers: &HeaderMap) {
        let Some(hash) = header(headers, "x-ratelimit-bucket") else {
            return;
        };
        let remaining = header(headers, "x-ratelimit-remaining").and_then(|r| r.parse::<u64>().ok());
        let reset_after = header(headers, "x-ratelimit-reset-after").and_then(|r| r.parse::<f64>().ok());
        let (Some(remaining), Some(reset_after)) = (remaining, reset_after) else {
            return;
        };
        let mut limits = self.lock();
        limits.buckets_of.insert(route.to_owned(), hash.to_owned());
        limits.buckets.insert(
            format!("{hash}:{}", major(route)),
            Bucket {
                remaining,
                reset_at: Instant::now() + seconds(reset_after),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_major_id_is_the_channel_or_guild() {
        assert_eq!(major("POST /channels/12/messages"), "12");
        assert_eq!(major("PATCH /guilds/9/members/{id}"), "9");
        assert_eq!(major("POST /users/@me/channels"), "");
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_bucket_makes_its_route_wait_and_others_not() {
        let api = Api::new("http://127.0.0.1:1", "t").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-bucket", "abc".parse().unwrap());
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset-after", "2.5".parse().unwrap());
        api.note_bucket("POST /channels/1/messages", &headers);
        assert_eq!(
            api.wait_before("POST /channels/1/messages"),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(api.wait_before("POST /channels/2/messages"), None);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(api.wait_before("POST /channels/1/messages"), None);
    }

    #[test]
    fn debug_output_shows_no_token() {
        let api = Api::new("http://127.0.0.1:1", "TOPSECRET").unwrap();
        assert!(!format!("{api:?}").contains("TOPSECRET"));
    }
}
