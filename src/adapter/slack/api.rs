//! The Web API client: `POST {api_base}/{method}` with the token as
//! `Authorization: Bearer`, form-encoded arguments (every method we call
//! takes them), answers `{"ok": true, …}` or `{"ok": false, "error": "…"}`
//! (HTTP 200 for most errors, 429 with `Retry-After` when rate limited).

use std::time::Duration;

use serde_json::Value;

use crate::adapter::SendError;
use crate::adapter::http::{self, Failure};
use crate::error::BoxError;

/// The Web API of one workspace.
#[derive(Clone)]
pub(super) struct Api {
    /// The shared client (adapter::http).
    client: reqwest::Client,
    /// `{api_base}/`, without a trailing slash doubled.
    base: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// What a failed call means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// The token is refused (`invalid_auth`, `token_revoked`, …): nothing
    /// works until the config changes.
    Auth,
    /// Rate limited (HTTP 429 or `ratelimited`): wait and retry.
    RateLimited,
    /// Slack's side failed (5xx, `internal_error`, no answer): retry.
    Transient,
    /// Retrying cannot help (`channel_not_found`, `cant_delete_message`,
    /// `missing_scope`, …).
    Permanent,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApiError {
    /// Slack answered, but not `ok`.
    #[error("{method}: {error}{hint}")]
    Failed {
        /// The method called.
        method: String,
        /// Slack's error code (`channel_not_found`), or `HTTP 503`.
        error: String,
        /// A hint for the log (the scope needed, the token to check).
        hint: String,
        /// What it means.
        kind: Kind,
        /// The `Retry-After` wait, when rate limited.
        retry_after: Option<Duration>,
    },
    /// No usable answer.
    #[error("{method}: {text}")]
    Transport {
        /// The method called.
        method: String,
        /// What went wrong, without the URL.
        text: String,
        /// The cause, without its URL.
        #[source]
        error: reqwest::Error,
    },
}

impl ApiError {
    /// What it means.
    pub(super) fn kind(&self) -> Kind {
        match self {
            ApiError::Failed { kind, .. } => *kind,
            ApiError::Transport { error, .. } => match http::send_error(Failure::Transport(error)) {
                SendError::Permanent(_) => Kind::Permanent,
                _ => Kind::Transient,
            },
        }
    }

    /// What the outbox does with it (the shared mapping, fed the status
    /// each kind stands for).
    pub(super) fn send_error(&self) -> SendError {
        match self {
            ApiError::Transport { error, .. } => http::send_error(Failure::Transport(error)),
            ApiError::Failed {
                kind, retry_after, ..
            } => {
                let status = match kind {
                    Kind::Auth => 401,
                    Kind::RateLimited => 429,
                    Kind::Transient => 503,
                    Kind::Permanent => 400,
                };
                let text = self.to_string();
                http::send_error(Failure::Status {
                    status,
                    retry_after: *retry_after,
                    description: &text,
                })
            }
        }
    }
}

/// What Slack's error code means.
fn kind_of(error: &str) -> Kind {
    match error {
        "invalid_auth"
        | "not_authed"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "not_allowed_token_type" => Kind::Auth,
        "ratelimited" | "rate_limited" => Kind::RateLimited,
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => Kind::Transient,
        _ => Kind::Permanent,
    }
}

impl Api {
    /// The Web API at `api_base`.
    pub(super) fn new(api_base: &str) -> Result<Self, BoxError> {
        Ok(Self {
            client: http::client()?,
            base: api_base.trim_end_matches('/').to_owned(),
        })
    }

    /// Call `method` with `token` and form `args`; the whole answer when ok.
    pub(super) async fn call(
        &self,
        method: &str,
        token: &str,
        args: &[(&str, &str)],
    ) -> Result<Value, ApiError> {
        let transport = |error: reqwest::Error| ApiError::Transport {
            method: method.to_owned(),
            text: http::describe(&error),
            error: error.without_url(),
        };
        let response = self
            .client
            .post(format!("{}/{method}", self.base))
            .bearer_auth(token)
            .form(args)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers());
        let bytes = response.bytes().await.map_err(transport)?;
        let failed = |error: String, kind: Kind, hint: String| ApiError::Failed {
            method: method.to_owned(),
            error,
            hint,
            kind,
            retry_after,
        };
        if status == 429 {
            return Err(failed("ratelimited".into(), Kind::RateLimited, String::new()));
        }
        let body = match serde_json::from_slice::<Value>(&bytes) {
            Ok(body) if body.get("ok").is_some() => body,
            // Not the Web API's shape: a proxy's error page, a 502.
            _ => {
                let kind = if !(400..500).contains(&status) {
                    Kind::Transient
                } else {
                    Kind::Permanent
                };
                return Err(failed(format!("HTTP {status}"), kind, String::new()));
            }
        };
        if body["ok"] == Value::Bool(true) {
            return Ok(body);
        }
        let error = body["error"].as_str().unwrap_or("unknown_error").to_owned();
        let kind = if status >= 500 {
            Kind::Transient
        } else {
            kind_of(&error)
        };
        let hint = match (kind, body["needed"].as_str()) {
            (_, Some(needed)) => format!(" (the token lacks the scope {needed})"),
            (Kind::Auth, None) => " (Slack refused the token: check it in config.yaml)".to_owned(),
            _ => String::new(),
        };
        Err(failed(error, kind, hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_what_the_outbox_does() {
        assert_eq!(kind_of("invalid_auth"), Kind::Auth);
        assert_eq!(kind_of("token_revoked"), Kind::Auth);
        assert_eq!(kind_of("ratelimited"), Kind::RateLimited);
        assert_eq!(kind_of("internal_error"), Kind::Transient);
        assert_eq!(kind_of("channel_not_found"), Kind::Permanent);
        assert_eq!(kind_of("cant_delete_message"), Kind::Permanent);
        let failed = |kind, retry_after| ApiError::Failed {
            method: "chat.postMessage".into(),
            error: "x".into(),
            hint: String::new(),
            kind,
            retry_after,
        };
        assert!(matches!(
            failed(Kind::RateLimited, Some(Duration::from_secs(30))).send_error(),
            SendError::RetryAfter(d) if d == Duration::from_secs(30)
        ));
        assert!(matches!(
            failed(Kind::Transient, None).send_error(),
            SendError::Transient(_)
        ));
        assert!(matches!(
            failed(Kind::Auth, None).send_error(),
            SendError::Permanent(_)
        ));
        assert!(matches!(
            failed(Kind::Permanent, None).send_error(),
            SendError::Permanent(_)
        ));
    }
}
