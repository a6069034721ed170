//! The Events API: Slack posts each event as a signed JSON request to the
//! daemon's HTTP listener.
//!
//! A request is taken only if `X-Slack-Signature` is
//! `v0=HEX(HMAC-SHA256(signing_secret, "v0:{X-Slack-Request-Timestamp}:{body}"))`
//! (compared in constant time) and the timestamp is within five minutes of
//! the daemon's clock (older requests may be replays); others get 401. The
//! `url_verification` handshake is answered with its challenge. An event is
//! answered 200 once queued for the receive loop (Slack wants an answer
//! within 3 s and otherwise retries, with `X-Slack-Retry-Num`); the loop
//! hands each `event_id` over once.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::SlackAdapter;
use super::convert::{Payload, SlackEvent};
use crate::adapter::{EventSink, sign};
use crate::clock::Clock;
use crate::error::BoxError;

/// The signature header.
const SIGNATURE: &str = "x-slack-signature";

/// The header with the request's Unix time, part of what is signed.
const TIMESTAMP: &str = "x-slack-request-timestamp";

/// The header Slack numbers its retries in.
const RETRY_NUM: &str = "x-slack-retry-num";

/// How far a request's timestamp may be from the daemon's clock.
const WINDOW_SECS: i64 = 300;

/// An event taken by the listener, on its way to the receive loop.
#[derive(Debug)]
pub(super) struct Delivery {
    /// The dedupe key.
    pub(super) event_id: String,
    /// The event.
    pub(super) event: SlackEvent,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No or malformed timestamp, or one outside the window.
    Stale,
    /// No signature, or the wrong one.
    BadSignature,
}

/// Check a request's timestamp (against `now`, Unix seconds) and signature.
pub(super) fn verify(secret: &str, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let stamp = header(TIMESTAMP).ok_or(Refusal::Stale)?;
    let time = stamp.parse::<i64>().map_err(|_| Refusal::Stale)?;
    if (now - time).abs() > WINDOW_SECS {
        return Err(Refusal::Stale);
    }
    let given = header(SIGNATURE)
        .and_then(|s| s.strip_prefix("v0="))
        .ok_or(Refusal::BadSignature)?;
    if sign::verify_hex(secret.as_bytes(), &[b"v0:", stamp.as_bytes(), b":", body], given) {
        Ok(())
    } else {
        Err(Refusal::BadSignature)
    }
}

/// The route's handler: verify, answer handshakes, queue events.
pub(super) fn handler(
    secret: String,
    clock: Arc<dyn Clock>,
    queue: mpsc::Sender<Delivery>,
) -> axum::routing::MethodRouter {
    let secret: Arc<str> = Arc::from(secret);
    axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| async move {
        if let Err(refusal) = verify(&secret, &headers, &body, clock.now().timestamp()) {
            tracing::warn!(?refusal, "a Slack Events API request refused");
            return (StatusCode::UNAUTHORIZED, "invalid request signature").into_response();
        }
        let payload = match serde_json::from_slice::<Payload>(&body) {
            Ok(payload) => payload,
            // Signed JSON qunbot cannot read (an event of a shape it does
            // not know): taken and skipped, or Slack would retry it.
            Err(error) if serde_json::from_slice::<serde_json::Value>(&body).is_ok() => {
                tracing::warn!(%error, "a Slack event qunbot cannot read; skipped");
                return StatusCode::OK.into_response();
            }
            Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
        };
        match payload {
            Payload::UrlVerification { challenge } => challenge_answer(challenge),
            Payload::EventCallback { event_id, event } => {
                if let Some(retry) = headers.get(RETRY_NUM).and_then(|v| v.to_str().ok()) {
                    tracing::debug!(%event_id, retry, "Slack delivers an event again");
                }
                match queue.send(Delivery { event_id, event }).await {
                    Ok(()) => StatusCode::OK.into_response(),
                    // Stopping: Slack retries later.
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                }
            }
            Payload::Other => StatusCode::OK.into_response(),
        }
    })
}

/// The `url_verification` answer: the challenge as plain text.
fn challenge_answer(challenge: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], challenge).into_response()
}

impl SlackAdapter {
    /// Events API mode: hand over what the listener queues until shutdown;
    /// then close the queue (the listener answers 503 and Slack retries)
    /// and hand over what it still holds.
    pub(super) async fn events(
        &self,
        events: EventSink,
        shutdown: CancellationToken,
    ) -> Result<(), BoxError> {
        let taken = self.queue_rx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut queue) = taken else {
            return Err("slack adapter is already running".into());
        };
        if !self.learn_own_id(&shutdown).await? {
            return Ok(());
        }
        loop {
            tokio::select! {
                delivery = queue.recv() => match delivery {
                    Some(d) => {
                        if !self.deliver(&d.event_id, &d.event, &events).await {
                            return Ok(());
                        }
                    }
                    None => return Ok(()),
                },
                () = shutdown.cancelled() => break,
            }
        }
        queue.close();
        while let Some(d) = queue.recv().await {
            if !self.deliver(&d.event_id, &d.event, &events).await {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &str, stamp: &str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let sig = sign::hmac_hex(secret.as_bytes(), &[b"v0:", stamp.as_bytes(), b":", body]);
        headers.insert(TIMESTAMP, stamp.parse().unwrap());
        headers.insert(SIGNATURE, format!("v0={sig}").parse().unwrap());
        headers
    }

    #[test]
    fn slacks_documented_example_verifies() {
        // The example request of Slack's "Verifying requests from Slack".
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP, "1531420618".parse().unwrap());
        headers.insert(
            SIGNATURE,
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
                .parse()
                .unwrap(),
        );
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        assert_eq!(verify(secret, &headers, body, 1_531_420_618 + 10), Ok(()));
    }

    #[test]
    fn wrong_signatures_and_stale_timestamps_are_refused() {
        let body = br#"{"type":"event_callback"}"#;
        let headers = signed("s3cret", "1000", body);
        assert_eq!(verify("s3cret", &headers, body, 1000), Ok(()));
        assert_eq!(verify("other", &headers, body, 1000), Err(Refusal::BadSignature));
        assert_eq!(
            verify("s3cret", &headers, br#"{"type":"x"}"#, 1000),
            Err(Refusal::BadSignature)
        );
        // Five minutes each way, not more.
        assert_eq!(verify("s3cret", &headers, body, 1300), Ok(()));
        assert_eq!(verify("s3cret", &headers, body, 1301), Err(Refusal::Stale));
        assert_eq!(verify("s3cret", &headers, body, 699), Err(Refusal::Stale));
        assert_eq!(
            verify("s3cret", &HeaderMap::new(), body, 1000),
            Err(Refusal::Stale)
        );
    }
}
