//! The Bot API client: `POST {api_base}/bot{token}/{method}` with a JSON
//! body, answers `{"ok":true,"result":…}` or
//! `{"ok":false,"error_code":…,"description":…,"parameters":{…}}`.
//!
//! The token is part of every URL, so errors never carry a URL.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::adapter::SendError;
use crate::adapter::http::{self, Failure};
use crate::error::BoxError;

/// A Bot API account.
#[derive(Clone)]
pub(super) struct Api {
    /// The shared client (adapter::http).
    client: reqwest::Client,
    /// `{api_base}/bot{token}/`, secret: never logged or put in errors.
    prefix: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Api { .. }")
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApiError {
    /// Telegram answered `ok: false`.
    #[error("{method}: error {code}: {description}")]
    Failed {
        /// The method called.
        method: String,
        /// `error_code` (the HTTP status).
        code: u16,
        /// `description`.
        description: String,
        /// `parameters.retry_after` (429), or the `Retry-After` header.
        retry_after: Option<Duration>,
        /// `parameters.migrate_to_chat_id`: the group became this supergroup.
        migrate_to: Option<i64>,
    },
    /// No usable answer.
    #[error("{method}: {text}")]
    Transport {
        /// The method called.
        method: String,
        /// What went wrong, without the URL.
        text: String,
        /// What the outbox should do.
        #[source]
        error: reqwest::Error,
    },
}

impl ApiError {
    /// What the outbox does with it (the shared mapping).
    pub(super) fn send_error(&self) -> SendError {
        match self {
            ApiError::Failed {
                code,
                description,
                retry_after,
                ..
            } => http::send_error(Failure::Status {
                status: *code,
                retry_after: *retry_after,
                description,
            }),
            ApiError::Transport { error, .. } => http::send_error(Failure::Transport(error)),
        }
    }

    /// Whether the token itself is refused (401, or 404 for an unknown bot).
    pub(super) fn is_unauthorized(&self) -> bool {
        matches!(self, ApiError::Failed { code: 401 | 404, .. })
    }
}

/// The envelope of every answer.
#[derive(Deserialize)]
struct Envelope<T> {
    ok: bool,
    result: Option<T>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

/// `ResponseParameters`.
#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    migrate_to_chat_id: Option<i64>,
}

impl Api {
    /// An account on `api_base` with `token`.
    pub(super) fn new(api_base: &str, token: &str) -> Result<Self, BoxError> {
        Ok(Self {
            client: http::client()?,
            prefix: format!("{}/bot{token}/", api_base.trim_end_matches('/')),
        })
    }

    /// Call `method` with `body`; `timeout` overrides the client's (long polls).
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &serde_json::Value,
        timeout: Option<Duration>,
    ) -> Result<T, ApiError> {
        let transport = |error: reqwest::Error| ApiError::Transport {
            method: method.to_owned(),
            text: http::describe(&error),
            error: error.without_url(),
        };
        let mut request = self.client.post(format!("{}{method}", self.prefix)).json(body);
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let header_wait = http::retry_after(response.headers());
        let bytes = response.bytes().await.map_err(transport)?;
        match serde_json::from_slice::<Envelope<T>>(&bytes) {
            Ok(Envelope {
                ok: true,
                result: Some(result),
                ..
            }) => Ok(result),
            Ok(envelope) => {
                let parameters = envelope.parameters;
                Err(ApiError::Failed {
                    method: method.to_owned(),
                    code: envelope.error_code.unwrap_or(status),
                    description: envelope.description.unwrap_or_else(|| "no description".into()),
                    retry_after: parameters
                        .as_ref()
                        .and_then(|p| p.retry_after)
                        .map(Duration::from_secs)
                        .or(header_wait),
                    migrate_to: parameters.and_then(|p| p.migrate_to_chat_id),
                })
            }
            // Not the Bot API's shape: a proxy's error page, a 502 from a
            // load balancer. The status decides.
            Err(_) => Err(ApiError::Failed {
                method: method.to_owned(),
                code: if status < 400 { 502 } else { status },
                description: format!("unexpected answer (HTTP {status})"),
                retry_after: header_wait,
                migrate_to: None,
            }),
        }
    }
}
