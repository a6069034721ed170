//! The WebSocket transport adapters share: one way to connect (with a bearer
//! token header and a connect timeout), and one reconnect loop that waits
//! with the shared [`Backoff`] between connections and stops on shutdown.
//!
//! `ws://` and `wss://` URLs are supported (TLS with rustls and the webpki
//! roots, as the HTTP client): OneBot implementations run next to the
//! daemon, Discord's gateway and Slack's Socket Mode are `wss://` on the
//! internet.

use std::future::Future;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::http::{Backoff, CONNECT_TIMEOUT};
use crate::error::BoxError;

pub use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A connected client WebSocket.
pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connect to `url`, sending `Authorization: Bearer TOKEN` when `token` is
/// given. Errors name neither the token nor the URL's query (which may hold
/// one).
pub async fn connect(url: &str, token: Option<&str>) -> Result<WsStream, BoxError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("bad WebSocket URL: {e}"))?;
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the access token is not a valid header value")?;
        value.set_sensitive(true);
        request.headers_mut().insert("authorization", value);
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request)).await {
        Err(_) => Err("WebSocket connect timed out".into()),
        Ok(Err(error)) => Err(describe(&error).into()),
        Ok(Ok((stream, _response))) => Ok(stream),
    }
}

/// A tungstenite error in words, without the request (its headers hold
/// the token).
pub fn describe(error: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    match error {
        E::Http(response) => format!("the server refused the WebSocket: HTTP {}", response.status()),
        E::Io(io) => format!("could not connect: {io}"),
        E::ConnectionClosed | E::AlreadyClosed => "the connection closed".into(),
        E::Url(url) => format!("bad WebSocket URL: {url}"),
        other => format!("WebSocket error: {other}"),
    }
}

/// Why [`reconnect_loop_with`]'s `dial` found no connection.
#[derive(Debug)]
pub enum DialError {
    /// It may work later: wait with the backoff and dial again.
    Retry(String),
    /// It never will (a refused token): stop the loop with this error.
    Fatal(BoxError),
}

/// Keep a connection to `url` until `shutdown` fires: connect, run
/// `session` on the stream until it ends, wait with `backoff` (reset after
/// each successful connect) and connect again. `session` should itself
/// return soon after `shutdown` fires. `name` labels the logs.
pub async fn reconnect_loop<F, Fut>(
    name: &str,
    url: &str,
    token: Option<&str>,
    backoff: Backoff,
    shutdown: &CancellationToken,
    session: F,
) where
    F: FnMut(WsStream) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let dial = || async move {
        connect(url, token)
            .await
            .map_err(|e| DialError::Retry(e.to_string()))
    };
    // `dial` never gives a fatal error, so neither does the loop.
    let _ = reconnect_loop_with(name, dial, backoff, shutdown, session).await;
}

/// [`reconnect_loop`], asking `url` for the URL before each connection
/// (a gateway that names where to resume a session). `session` may cancel
/// `shutdown` (a child token of the adapter's) to stop for good.
pub async fn reconnect_loop_to<U, F, Fut>(
    name: &str,
    mut url: U,
    token: Option<&str>,
    backoff: Backoff,
    shutdown: &CancellationToken,
    session: F,
) where
    U: FnMut() -> String,
    F: FnMut(WsStream) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let dial = || {
        let url = url();
        async move {
            connect(&url, token)
                .await
                .map_err(|e| DialError::Retry(e.to_string()))
        }
    };
    // `dial` never gives a fatal error, so neither does the loop.
    let _ = reconnect_loop_with(name, dial, backoff, shutdown, session).await;
}

/// [`reconnect_loop`] for platforms that hand out a fresh URL for every
/// connection (Slack's Socket Mode): `dial` finds the URL and connects. A
/// [`DialError::Fatal`] stops the loop with its error; shutdown stops it
/// with `Ok`.
pub async fn reconnect_loop_with<D, DFut, F, Fut>(
    name: &str,
    mut dial: D,
    mut backoff: Backoff,
    shutdown: &CancellationToken,
    mut session: F,
) -> Result<(), BoxError>
where
    D: FnMut() -> DFut,
    DFut: Future<Output = Result<WsStream, DialError>>,
    F: FnMut(WsStream) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    loop {
        let connected = tokio::select! {
            connected = dial() => connected,
            () = shutdown.cancelled() => return Ok(()),
        };
        match connected {
            Ok(stream) => {
                backoff.reset();
                tracing::info!(adapter = %name, "WebSocket connected");
                match session(stream).await {
                    Ok(()) => tracing::info!(adapter = %name, "WebSocket closed"),
                    Err(error) => tracing::warn!(adapter = %name, %error, "WebSocket lost"),
                }
                if shutdown.is_cancelled() {
                    return Ok(());
                }
            }
            Err(DialError::Fatal(error)) => return Err(error),
            Err(DialError::Retry(error)) => {
                tracing::warn!(adapter = %name, %error, retry_in = ?backoff.peek(), "WebSocket connect failed; retrying");
            }
        }
        if !backoff.wait(shutdown).await {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_connects_name_no_token() {
        let error = connect("ws://127.0.0.1:1/?access_token=SECRET", Some("SECRET"))
            .await
            .err()
            .unwrap();
        assert!(!error.to_string().contains("SECRET"), "{error}");
    }

    #[tokio::test]
    async fn wss_urls_are_supported() {
        // Refused before any TLS, but not for want of TLS support.
        let error = connect("wss://127.0.0.1:1/link", None).await.err().unwrap();
        let text = error.to_string();
        assert!(text.starts_with("could not connect"), "{text}");
    }

    #[tokio::test]
    async fn the_loop_stops_on_shutdown() {
        let token = CancellationToken::new();
        token.cancel();
        let bounded = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            reconnect_loop(
                "t",
                "ws://127.0.0.1:1/",
                None,
                Backoff::default(),
                &token,
                |_s| async { Ok(()) },
            ),
        )
        .await;
        assert!(bounded.is_ok());
    }
}
