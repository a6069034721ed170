//! The HTTP transport: actions by HTTP POST to the implementation, events
//! by HTTP POST from it to a route on the daemon's listener.
//!
//! - v11: `POST {http_url}/{action}` with the params as the body; events
//!   signed `X-Signature: sha1=HEX(HMAC-SHA1(secret, body))` when `secret`
//!   is set.
//! - v12: `POST {http_url}` with `{"action", "params"}`; events carry
//!   `Authorization: Bearer TOKEN` (or `?access_token=`) and
//!   `X-OneBot-Version: 12`.
//!
//! Both answer `{"status", "retcode", "data", …}` with HTTP 200; other
//! statuses (401/403 token refused, 404 unknown action, 5xx) go through
//! the shared [`crate::adapter::http`] mapping. Events are answered 204
//! once queued (quick operations are not used).

use std::sync::Arc;

use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha1::Sha1;

use super::config::Version;
use super::{Call, OneBotAdapter, authorized};
use crate::adapter::http::{self, Failure};
use crate::adapter::{Route, SendError};

/// The v11 signature header.
const SIGNATURE_HEADER: &str = "x-signature";

/// The v12 version header.
const VERSION_HEADER: &str = "x-onebot-version";

impl OneBotAdapter {
    /// POST `call` to the implementation at `url`; its response body.
    pub(super) async fn post(&self, url: &str, call: &Call) -> Result<Value, SendError> {
        let (url, body) = match self.version {
            Version::V11 => (format!("{url}/{}", call.action), call.params.clone()),
            Version::V12 => (url.to_owned(), self.request(call, None)),
        };
        let mut request = self
            .client
            .post(url)
            .timeout(self.config.action_timeout.0)
            .json(&body);
        if let Some(token) = self.config.access_token.as_deref().filter(|t| !t.is_empty()) {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| http::send_error(Failure::Transport(&e)))?;
        if !response.status().is_success() {
            return Err(http::status_error(response).await);
        }
        response
            .json::<Value>()
            .await
            .map_err(|e| http::send_error(Failure::Transport(&e)))
    }

    /// The route events are POSTed to: checked (v11 signature, v12 token
    /// and version), converted, queued, answered 204.
    pub(super) fn event_route(&self, path: String) -> Route {
        let check = Check {
            version: self.version,
            secret: self.config.secret.clone().map(|s| Arc::from(s.into_bytes())),
            token: Arc::from(self.config.access_token.clone().unwrap_or_default()),
        };
        let converter = self.converter();
        let queue = self.http_events.0.clone();
        let handler = axum::routing::post(
            move |headers: HeaderMap, query: RawQuery, body: axum::body::Bytes| async move {
                if let Err(refusal) = check.verify(&headers, query.0.as_deref(), &body) {
                    return refusal;
                }
                let Ok(frame) = serde_json::from_slice::<Value>(&body) else {
                    return (StatusCode::BAD_REQUEST, "not JSON".to_owned());
                };
                let Some(event) = converter.event(&frame) else {
                    return (StatusCode::NO_CONTENT, String::new());
                };
                match queue.send(event).await {
                    Ok(()) => (StatusCode::NO_CONTENT, String::new()),
                    Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "stopping".to_owned()),
                }
            },
        );
        Route { path, handler }
    }
}

/// What an event request must show, by version.
#[derive(Clone)]
struct Check {
    /// Which checks apply.
    version: Version,
    /// v11: the HMAC-SHA1 key of `X-Signature`.
    secret: Option<Arc<[u8]>>,
    /// v12: the access token (empty: none).
    token: Arc<str>,
}

impl Check {
    /// `Ok` if the request may be handled, else the refusal to answer.
    fn verify(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<(), (StatusCode, String)> {
        match self.version {
            Version::V11 => {
                let Some(secret) = &self.secret else {
                    return Ok(());
                };
                let given = headers
                    .get(SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if verify_sha1(secret, body, given) {
                    Ok(())
                } else {
                    Err((StatusCode::UNAUTHORIZED, "bad signature".to_owned()))
                }
            }
            Version::V12 => {
                if !authorized(&self.token, headers, query) {
                    return Err((StatusCode::UNAUTHORIZED, "bad access token".to_owned()));
                }
                let version = headers.get(VERSION_HEADER).and_then(|v| v.to_str().ok());
                if version.is_some_and(|v| v.trim() != "12") {
                    return Err((
                        StatusCode::BAD_REQUEST,
                        "this endpoint speaks OneBot 12".to_owned(),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Whether `header` is `sha1=HEX` of `body` under `secret` (constant time).
fn verify_sha1(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(bytes) = header.trim().strip_prefix("sha1=").and_then(http::decode_hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(secret).unwrap();
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha1={hex}")
    }

    #[test]
    fn v11_signatures_verify_and_reject_changes() {
        // RFC 2202 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        let good = sign(b"key", b"{\"a\":1}");
        assert!(verify_sha1(b"key", b"{\"a\":1}", &good));
        assert!(!verify_sha1(b"key", b"{\"a\":2}", &good));
        assert!(!verify_sha1(b"other", b"{\"a\":1}", &good));
        assert!(!verify_sha1(b"key", b"{\"a\":1}", ""));
        assert!(!verify_sha1(
            b"key",
            b"{\"a\":1}",
            &good.replace("sha1=", "sha256=")
        ));
    }

    #[test]
    fn v12_events_need_the_token_and_version_12() {
        let check = Check {
            version: Version::V12,
            secret: None,
            token: Arc::from("s3cret"),
        };
        let mut headers = HeaderMap::new();
        assert!(check.verify(&headers, None, b"{}").is_err());
        headers.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(check.verify(&headers, None, b"{}").is_ok());
        headers.insert(VERSION_HEADER, "11".parse().unwrap());
        assert_eq!(
            check.verify(&headers, None, b"{}").unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
    }
}
