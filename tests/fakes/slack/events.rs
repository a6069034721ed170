//! The fake's Events API delivery: signed requests to the daemon, retried.

use std::sync::Arc;
use std::time::Duration;

use super::{Delivery, FakeSlack, Shared};

/// Events API: post owed events to the daemon in order, signed; retry the
/// ones not answered 2xx (after 200 ms here; Slack waits minutes). Holds
/// while the fake is stopped.
pub(super) async fn deliver_loop(shared: Arc<Shared>) {
    let client = reqwest::Client::new();
    loop {
        let changed = shared.changed.notified();
        let next = {
            let inner = shared.inner.lock().unwrap();
            let up = !shared.alive.lock().unwrap().is_cancelled();
            match (&inner.events_url, inner.pending.first()) {
                (Some(url), Some(p)) if up => Some((url.clone(), p.clone())),
                _ => None,
            }
        };
        let Some((url, pending)) = next else {
            let _ = tokio::time::timeout(Duration::from_millis(200), changed).await;
            continue;
        };
        let body = pending.payload.to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (stamp, signature) = FakeSlack::sign(&body, now);
        let mut request = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", stamp)
            .header("x-slack-signature", signature)
            .timeout(Duration::from_secs(3))
            .body(body);
        if pending.sent > 0 {
            request = request
                .header("x-slack-retry-num", pending.sent.to_string())
                .header("x-slack-retry-reason", "http_error");
        }
        let status = match request.send().await {
            Ok(response) => response.status().as_u16(),
            Err(_) => 0,
        };
        {
            let mut inner = shared.inner.lock().unwrap();
            inner.deliveries.push(Delivery {
                event_id: pending.event_id.clone(),
                retry: pending.sent,
                status,
            });
            if (200..300).contains(&status) {
                inner.pending.retain(|p| p.event_id != pending.event_id);
            } else if let Some(p) = inner.pending.iter_mut().find(|p| p.event_id == pending.event_id) {
                p.sent += 1;
            }
        }
        shared.changed.notify_waiters();
        if !(200..300).contains(&status) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
