//! The generic webhook adapter end to end: signed events posted to the real
//! daemon's listener, signed actions received by a small bridge (axum).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::util::{self, Running};

const SECRET: &str = "0123456789abcdef-bridge";

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The bridge: records each signed action; answers 503 to the first one.
#[derive(Default)]
struct Bridge {
    received: Mutex<Vec<(u16, Value)>>,
    changed: Notify,
}

async fn receive(
    State(bridge): State<Arc<Bridge>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let signature = headers.get("x-qunbot-signature").unwrap().to_str().unwrap();
    assert_eq!(signature, sign(&body), "actions are signed");
    let value: Value = serde_json::from_slice(&body).unwrap();
    let mut received = bridge.received.lock().unwrap();
    let status = if received.is_empty() { 503 } else { 200 };
    received.push((status, value));
    drop(received);
    bridge.changed.notify_waiters();
    StatusCode::from_u16(status).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_in_signed_actions_out_and_a_5xx_is_retried() {
    let bridge = Arc::new(Bridge::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bridge_addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/actions", axum::routing::post(receive))
        .with_state(bridge.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "storage: {{url: sqlite://state.db}}\nhttp: {{listen: 127.0.0.1:0}}\nadapters:\n  hook: {{kind: webhook, secret: \"{SECRET}\", url: \"http://{bridge_addr}/actions\"}}\n"
    );
    let bot = "name: b\nadapters: [hook]\nplugins:\n  - use: autoreply\n    rules:\n      - match: {keywords: [refund]}\n        reply: \"Refunds take 3 days.\"\n";
    util::write_files(dir.path(), &[("config.yaml", &config), ("bots/b.yaml", bot)]);
    let daemon = Running::start(dir.path()).await;
    let url = format!("http://{}/hooks/hook", daemon.http.unwrap());
    let event = json!({"type": "message", "group": "g1",
        "user": {"id": "u1", "name": "Ann"},
        "message": {"id": "m1", "text": "refund?"}})
    .to_string();
    let client = reqwest::Client::new();

    let unsigned = client.post(&url).body(event.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let forged = client
        .post(&url)
        .header("X-Qunbot-Signature", sign(b"something else"))
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let accepted = client
        .post(&url)
        .header("X-Qunbot-Signature", sign(event.as_bytes()))
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 204);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let notified = bridge.changed.notified();
        if bridge.received.lock().unwrap().iter().any(|(s, _)| *s == 200) {
            break;
        }
        tokio::time::timeout_at(deadline, notified)
            .await
            .expect("the reply arrives");
    }
    daemon.stop().await;
    server.abort();

    let received = bridge.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "refused once, delivered once: {received:?}");
    assert_eq!(
        received[1].1,
        json!({"action": "reply", "adapter": "hook", "group": "g1", "reply_to": "m1", "text": "Refunds take 3 days."})
    );
}
