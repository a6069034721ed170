//! The HTTP transport every adapter shares (STYLE P14): one way to build a
//! client, one mapping from HTTP outcomes to [`SendError`], and one backoff
//! for receive loops (long polls, WebSockets).
//!
//! Adapters never retry a failed action themselves: they return the
//! [`SendError`] that [`send_error`] gives and the outbox retries (after
//! `retry_after`, with backoff, or dead-letters). Receive loops, which no
//! outbox drives, wait with a [`Backoff`] between attempts.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{EventSink, SendError};
use crate::error::BoxError;
use crate::event::Event;

/// How long a connection attempt may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an ordinary request may take; long polls set their own.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The one HTTP client builder of the adapters: connect and request
/// timeouts, rustls, a `qunbot` user agent. Clone the client it builds;
/// clones share a connection pool.
pub fn client() -> Result<reqwest::Client, BoxError> {
    Ok(reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("qunbot/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// How an HTTP call to a platform went wrong.
#[derive(Debug)]
pub enum Failure<'a> {
    /// The platform answered with an error status (or an error body whose
    /// code stands for one, as Telegram's `error_code`).
    Status {
        /// The HTTP status, or the platform's error code.
        status: u16,
        /// The wait the platform asked for (`Retry-After`, `retry_after`).
        retry_after: Option<Duration>,
        /// The platform's own words, for logs (never the request URL).
        description: &'a str,
    },
    /// No answer: connect error, timeout, broken connection, bad body.
    Transport(&'a reqwest::Error),
}

/// The one mapping from HTTP outcomes to what the outbox does next:
/// 429 → [`SendError::RetryAfter`] (1 s when the platform named no wait);
/// 5xx, 408, timeouts and connection failures → [`SendError::Transient`];
/// other 4xx → [`SendError::Permanent`]. Messages never carry the URL,
/// which holds the token on some platforms.
pub fn send_error(failure: Failure<'_>) -> SendError {
    match failure {
        Failure::Status {
            status: 429,
            retry_after,
            ..
        } => SendError::RetryAfter(retry_after.unwrap_or(Duration::from_secs(1))),
        Failure::Status {
            status, description, ..
        } if status >= 500 || status == 408 => SendError::Transient(format!("HTTP {status}: {description}")),
        Failure::Status {
            status, description, ..
        } => SendError::Permanent(format!("HTTP {status}: {description}")),
        Failure::Transport(error) => {
            let text = describe(error);
            // A request we could not even build will not build next time;
            // everything else (no answer, a broken body) may pass.
            if error.is_builder() {
                return SendError::Permanent(text);
            }
            SendError::Transient(text)
        }
    }
}

/// The [`SendError`] of a platform's non-success `response`: its status,
/// `Retry-After` and the start of its body (for logs) through
/// [`send_error`].
pub async fn status_error(response: reqwest::Response) -> SendError {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    let description: String = text.chars().take(200).collect();
    send_error(Failure::Status {
        status,
        retry_after,
        description: &description,
    })
}

/// A transport error in words, without its URL (tokens live in URLs).
pub fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_decode() {
        "could not read the answer"
    } else if error.is_body() {
        "the connection broke"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    // The innermost causes (io errors, hyper) name no URL.
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The `Retry-After` header in seconds, if present (HTTP dates are rare
/// from bot APIs and are treated as absent).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A webhook adapter's receive loop: hand what its route queued to the
/// runtime until `shutdown`, then close the queue (the route then answers
/// 503 and the platform sends again) and hand over what it still holds.
pub async fn relay(mut queue: mpsc::Receiver<Event>, events: EventSink, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            event = queue.recv() => match event {
                Some(event) => {
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            () = shutdown.cancelled() => break,
        }
    }
    queue.close();
    while let Some(event) = queue.recv().await {
        if events.send(event).await.is_err() {
            break;
        }
    }
}

/// Lowercase or uppercase hex to bytes (signature headers); `None` if it
/// is not hex.
pub fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Exponential waits with a cap between attempts of a receive loop;
/// [`Backoff::reset`] after a success. Receive loops run on tokio time.
#[derive(Clone, Debug)]
pub struct Backoff {
    /// The first wait.
    initial: Duration,
    /// The longest wait.
    max: Duration,
    /// The next wait.
    next: Duration,
}

impl Backoff {
    /// Waits starting at `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
        }
    }

    /// After a success: the next failure waits `initial` again.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }

    /// The wait the next [`Backoff::wait`] will take.
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// Wait the next delay; `false` if `shutdown` fired first (stop the loop).
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = shutdown.cancelled() => false,
        }
    }
}

impl Default for Backoff {
    /// 0.5 s doubling to 30 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<u64>) -> SendError {
        send_error(Failure::Status {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            description: "x",
        })
    }

    #[test]
    fn statuses_map_to_what_the_outbox_does() {
        assert!(matches!(status(429, Some(7)), SendError::RetryAfter(d) if d == Duration::from_secs(7)));
        assert!(matches!(status(429, None), SendError::RetryAfter(d) if d == Duration::from_secs(1)));
        assert!(matches!(status(502, None), SendError::Transient(_)));
        assert!(matches!(status(408, None), SendError::Transient(_)));
        assert!(matches!(status(400, None), SendError::Permanent(_)));
        assert!(matches!(status(403, None), SendError::Permanent(_)));
    }

    #[tokio::test]
    async fn connect_errors_are_transient_and_name_no_url() {
        let client = client().unwrap();
        // Port 1 on loopback refuses connections.
        let error = client
            .get("http://127.0.0.1:1/botSECRET/getMe")
            .send()
            .await
            .unwrap_err();
        let mapped = send_error(Failure::Transport(&error));
        assert!(matches!(&mapped, SendError::Transient(_)), "{mapped:?}");
        assert!(!mapped.to_string().contains("SECRET"), "{mapped}");
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_to_its_cap_and_stops_on_shutdown() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(3));
        let token = CancellationToken::new();
        assert!(backoff.wait(&token).await);
        assert_eq!(backoff.peek(), Duration::from_secs(2));
        assert!(backoff.wait(&token).await);
        assert_eq!(backoff.peek(), Duration::from_secs(3));
        backoff.reset();
        assert_eq!(backoff.peek(), Duration::from_secs(1));
        token.cancel();
        assert!(!backoff.wait(&token).await);
    }
}
