//! The fake's Socket Mode: one connection per ticket from
//! `apps.connections.open`; hello, envelopes owed and new, acks, disconnects.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Connection, Shared, envelope};

pub(super) async fn socket(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ticket = query.get("ticket").and_then(|t| t.parse::<u64>().ok());
    let (tx, rx) = mpsc::unbounded_channel::<Value>();
    let index = {
        let mut inner = shared.inner.lock().unwrap();
        // A ticket opens one connection.
        match ticket.and_then(|t| inner.tickets.iter().position(|x| *x == t)) {
            Some(i) => {
                inner.tickets.remove(i);
            }
            None => return StatusCode::UNAUTHORIZED.into_response(),
        }
        // Counted as open from the handshake on (the client may close its
        // previous connection as soon as it has this one).
        let _ = tx.send(json!({"type": "hello", "num_connections": 1,
            "debug_info": {"host": "applink-test", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0TEST"}}));
        let owed: Vec<Value> = inner.pending.iter_mut().map(envelope).collect();
        for frame in owed {
            let _ = tx.send(frame);
        }
        inner.connections.push(Connection {
            tx: Some(tx),
            opened: Instant::now(),
            closed: None,
        });
        inner.connections.len() - 1
    };
    shared.changed.notify_waiters();
    upgrade.on_upgrade(move |socket| connection(shared, socket, index, rx))
}

/// One Socket Mode connection: hello, the envelopes owed, new ones as they
/// come; acks recorded; closed on stop, or after a `disconnect` once a newer
/// connection is open (at most 10 s later).
async fn connection(
    shared: Arc<Shared>,
    socket: WebSocket,
    index: usize,
    mut rx: mpsc::UnboundedReceiver<Value>,
) {
    let alive = shared.alive.lock().unwrap().clone();
    let (mut sink, mut source) = socket.split();
    let mut leaving: Option<tokio::time::Instant> = None;
    loop {
        let newer_open = || {
            let inner = shared.inner.lock().unwrap();
            inner.connections[index + 1..].iter().any(|c| c.live().is_some())
        };
        if leaving.is_some() && newer_open() {
            break;
        }
        let changed = shared.changed.notified();
        tokio::select! {
            frame = rx.recv() => {
                let Some(frame) = frame else { break };
                if frame["type"] == "disconnect" {
                    leaving = Some(tokio::time::Instant::now() + Duration::from_secs(10));
                }
                if sink.send(WsMessage::text(frame.to_string())).await.is_err() {
                    break;
                }
            }
            incoming = source.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    let Ok(ack) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                    let Some(id) = ack["envelope_id"].as_str() else { continue };
                    let mut inner = shared.inner.lock().unwrap();
                    if inner.lose_acks > 0 {
                        inner.lose_acks -= 1;
                        continue;
                    }
                    inner.pending.retain(|p| p.envelope_id != id);
                    inner.acks.push(id.to_owned());
                    drop(inner);
                    shared.changed.notify_waiters();
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break,
            },
            () = changed => {}
            () = async {
                match leaving {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => break,
            () = alive.cancelled() => break,
        }
    }
    let _ = sink.close().await;
    let mut inner = shared.inner.lock().unwrap();
    inner.connections[index].tx = None;
    inner.connections[index].closed = Some(Instant::now());
    drop(inner);
    shared.changed.notify_waiters();
}
