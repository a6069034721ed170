//! The client-server API client: `{homeserver}/_matrix/client/v3/…` with
//! `Authorization: Bearer TOKEN`; errors are `{"errcode","error"}` with
//! `retry_after_ms` on `M_LIMIT_EXCEEDED`.
//!
//! Path segments (room ids, event ids, transaction ids) are percent-encoded
//! here, once. The token is only ever in a sensitive header.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::adapter::SendError;
use crate::adapter::http::{self, Failure};
use crate::error::BoxError;

/// A bot account on a homeserver.
#[derive(Clone)]
pub(super) struct Client {
    /// The shared client (adapter::http).
    http: reqwest::Client,
    /// The homeserver's base URL.
    base: reqwest::Url,
    /// `Bearer TOKEN`, marked sensitive so it never shows in debug output.
    auth: HeaderValue,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApiError {
    /// The homeserver answered with an error.
    #[error("{what}: HTTP {status} {errcode}: {message}")]
    Failed {
        /// The endpoint, without ids (for logs).
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// `errcode`, such as `M_FORBIDDEN` (empty if the body had none).
        errcode: String,
        /// `error`, the server's words.
        message: String,
        /// `retry_after_ms`, or the `Retry-After` header.
        retry_after: Option<Duration>,
    },
    /// No usable answer.
    #[error("{what}: {text}")]
    Transport {
        /// The endpoint, without ids.
        what: &'static str,
        /// What went wrong, without the URL.
        text: String,
        /// The cause, for the outbox's mapping.
        #[source]
        error: reqwest::Error,
    },
}

impl ApiError {
    /// What the outbox does with it: `M_LIMIT_EXCEEDED` waits as told, the
    /// rest is the shared HTTP mapping.
    pub(super) fn send_error(&self) -> SendError {
        match self {
            ApiError::Failed {
                errcode, retry_after, ..
            } if errcode == "M_LIMIT_EXCEEDED" => {
                SendError::RetryAfter(retry_after.unwrap_or(Duration::from_secs(1)))
            }
            ApiError::Failed {
                status, retry_after, ..
            } => http::send_error(Failure::Status {
                status: *status,
                retry_after: *retry_after,
                description: &self.to_string(),
            }),
            ApiError::Transport { error, .. } => http::send_error(Failure::Transport(error)),
        }
    }

    /// Whether the access token itself is refused (401: `M_UNKNOWN_TOKEN`,
    /// `M_MISSING_TOKEN`).
    pub(super) fn is_unauthorized(&self) -> bool {
        matches!(self, ApiError::Failed { status: 401, .. })
    }

    /// The `errcode`, if the server gave one.
    pub(super) fn errcode(&self) -> Option<&str> {
        match self {
            ApiError::Failed { errcode, .. } if !errcode.is_empty() => Some(errcode),
            _ => None,
        }
    }
}

/// The error body of every endpoint.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errcode: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

/// One request: the endpoint's name for logs, its method, path segments
/// after `/_matrix/client/v3/`, query and body.
#[derive(Debug)]
pub(super) struct Request<'a> {
    /// A name for logs, without ids (`"send"`, `"sync"`).
    pub(super) what: &'static str,
    /// GET, PUT or POST.
    pub(super) method: Method,
    /// Path segments, encoded by the client.
    pub(super) path: Vec<&'a str>,
    /// Query parameters.
    pub(super) query: Vec<(&'a str, String)>,
    /// The JSON body, if any.
    pub(super) body: Option<Value>,
    /// A timeout other than the client's (long polls).
    pub(super) timeout: Option<Duration>,
}

impl<'a> Request<'a> {
    /// A request without query, body or own timeout.
    pub(super) fn new(what: &'static str, method: Method, path: Vec<&'a str>) -> Self {
        Self {
            what,
            method,
            path,
            query: Vec::new(),
            body: None,
            timeout: None,
        }
    }

    /// With a JSON body.
    pub(super) fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

impl Client {
    /// An account on `homeserver` with `token`.
    pub(super) fn new(homeserver: &str, token: &str) -> Result<Self, BoxError> {
        let base = reqwest::Url::parse(homeserver)?;
        if base.cannot_be_a_base() {
            return Err("the homeserver URL cannot have paths".into());
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the access token is not a valid header value")?;
        auth.set_sensitive(true);
        Ok(Self {
            http: http::client()?,
            base,
            auth,
        })
    }

    /// Send `request`; the answer's JSON as `T`.
    pub(super) async fn call<T: DeserializeOwned>(&self, request: Request<'_>) -> Result<T, ApiError> {
        let what = request.what;
        let transport = |error: reqwest::Error| ApiError::Transport {
            what,
            text: http::describe(&error),
            error: error.without_url(),
        };
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["_matrix", "client", "v3"])
                .extend(&request.path);
        }
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        let mut builder = self
            .http
            .request(request.method, url)
            .header(AUTHORIZATION, self.auth.clone());
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        if let Some(timeout) = request.timeout {
            builder = builder.timeout(timeout);
        }
        let response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let header_wait = http::retry_after(response.headers());
        let bytes = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice::<T>(&bytes).map_err(|e| ApiError::Failed {
                what,
                status: 502,
                errcode: String::new(),
                message: format!("unreadable answer: {e}"),
                retry_after: None,
            });
        }
        let body = serde_json::from_slice::<ErrorBody>(&bytes).unwrap_or(ErrorBody {
            errcode: String::new(),
            error: format!("unexpected answer (HTTP {status})"),
            retry_after_ms: None,
        });
        Err(ApiError::Failed {
            what,
            status,
            errcode: body.errcode,
            message: body.error,
            retry_after: body.retry_after_ms.map(Duration::from_millis).or(header_wait),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(status: u16, errcode: &str, retry_ms: Option<u64>) -> ApiError {
        ApiError::Failed {
            what: "send",
            status,
            errcode: errcode.into(),
            message: "m".into(),
            retry_after: retry_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn matrix_errors_map_to_what_the_outbox_does() {
        assert!(matches!(
            failed(429, "M_LIMIT_EXCEEDED", Some(1500)).send_error(),
            SendError::RetryAfter(d) if d == Duration::from_millis(1500)
        ));
        assert!(matches!(
            failed(429, "M_LIMIT_EXCEEDED", None).send_error(),
            SendError::RetryAfter(d) if d == Duration::from_secs(1)
        ));
        assert!(matches!(
            failed(403, "M_FORBIDDEN", None).send_error(),
            SendError::Permanent(_)
        ));
        assert!(matches!(
            failed(502, "", None).send_error(),
            SendError::Transient(_)
        ));
        assert!(failed(401, "M_UNKNOWN_TOKEN", None).is_unauthorized());
        assert!(!failed(403, "M_FORBIDDEN", None).is_unauthorized());
    }

    #[test]
    fn debug_output_hides_the_token() {
        let client = Client::new("http://127.0.0.1:1", "SECRET").unwrap();
        assert!(!format!("{client:?}").contains("SECRET"));
    }
}
