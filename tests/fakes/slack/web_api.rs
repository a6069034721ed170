//! The fake's Web API: `POST /api/<method>`, tokens checked per method,
//! scripted failures, Slack's answer shapes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{APP_TOKEN, BOT_TOKEN, BOT_USER, CHANNEL, Call, Failure, Shared, USER_TOKEN, next_ts};

fn answer(status: u16, body: Value) -> (Response, u16, Option<String>) {
    let error = body["error"].as_str().map(str::to_owned);
    (
        (StatusCode::from_u16(status).unwrap(), Json(body)).into_response(),
        status,
        error,
    )
}

fn slack_error(error: &str) -> (Response, u16, Option<String>) {
    answer(200, json!({"ok": false, "error": error}))
}

pub(super) async fn web_api(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let args: Value = if body.is_empty() {
        json!({})
    } else if json_body {
        serde_json::from_slice(&body).unwrap_or(json!({}))
    } else {
        let pairs: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        json!(pairs)
    };
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let (response, status, error) = respond(&shared, &method, &token, &args);
    shared.inner.lock().unwrap().calls.push(Call {
        method,
        token,
        args,
        status,
        error,
        at: Instant::now(),
    });
    shared.changed.notify_waiters();
    response
}

fn respond(shared: &Shared, method: &str, token: &str, args: &Value) -> (Response, u16, Option<String>) {
    let mut inner = shared.inner.lock().unwrap();
    let arg = |key: &str| args[key].as_str().unwrap_or_default().to_owned();
    if token.is_empty() {
        return slack_error("not_authed");
    }
    let allowed: &[&str] = match method {
        "apps.connections.open" => &[APP_TOKEN],
        "chat.delete" => &[BOT_TOKEN, USER_TOKEN],
        _ => &[BOT_TOKEN],
    };
    if !allowed.contains(&token) {
        let known = [BOT_TOKEN, APP_TOKEN, USER_TOKEN].contains(&token);
        return slack_error(if known {
            "not_allowed_token_type"
        } else {
            "invalid_auth"
        });
    }
    if let Some(failure) = inner.failures.get_mut(method).and_then(VecDeque::pop_front) {
        return match failure {
            Failure::Status(429, retry_after) => {
                let (mut response, status, error) = answer(429, json!({"ok": false, "error": "ratelimited"}));
                if let Some(secs) = retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", secs.to_string().parse().unwrap());
                }
                (response, status, error)
            }
            Failure::Status(status, _) => (
                (
                    StatusCode::from_u16(status).unwrap(),
                    "<html>upstream unavailable</html>",
                )
                    .into_response(),
                status,
                None,
            ),
            Failure::Error(error) => slack_error(error),
        };
    }
    match method {
        "auth.test" => answer(
            200,
            json!({"ok": true, "url": "https://test.slack.com/", "team": "Test", "user": "qunbot",
                   "team_id": "T0TEST", "user_id": BOT_USER, "bot_id": "B0QUNBOT"}),
        ),
        "apps.connections.open" => {
            inner.next += 1;
            let ticket = inner.next;
            inner.tickets.push(ticket);
            answer(
                200,
                json!({"ok": true, "url": format!("ws://{}/socket?ticket={ticket}", shared.addr)}),
            )
        }
        "users.info" => match inner.users.get(&arg("user")) {
            Some(user) => answer(200, json!({"ok": true, "user": user})),
            None => slack_error("user_not_found"),
        },
        "chat.postMessage" => {
            let channel = arg("channel");
            if !(channel == CHANNEL || channel.starts_with('D')) {
                return slack_error("channel_not_found");
            }
            if arg("text").is_empty() {
                return slack_error("no_text");
            }
            let ts = next_ts(&mut inner);
            inner
                .messages
                .insert((channel.clone(), ts.clone()), BOT_USER.to_owned());
            let mut message = json!({"type": "message", "user": BOT_USER, "bot_id": "B0QUNBOT", "text": arg("text"), "ts": ts});
            if let Some(thread) = args["thread_ts"].as_str() {
                message["thread_ts"] = json!(thread);
            }
            answer(
                200,
                json!({"ok": true, "channel": channel, "ts": ts, "message": message}),
            )
        }
        "chat.delete" => {
            let key = (arg("channel"), arg("ts"));
            let Some(author) = inner.messages.get(&key).cloned() else {
                return slack_error("message_not_found");
            };
            // A bot token deletes only the bot's own messages.
            if token == BOT_TOKEN && author != BOT_USER {
                return slack_error("cant_delete_message");
            }
            inner.messages.remove(&key);
            answer(200, json!({"ok": true, "channel": key.0, "ts": key.1}))
        }
        "conversations.kick" => {
            if arg("user") == BOT_USER {
                return slack_error("cant_kick_self");
            }
            if arg("channel") != CHANNEL {
                return slack_error("channel_not_found");
            }
            answer(200, json!({"ok": true}))
        }
        "conversations.open" => {
            let user = arg("users");
            if !inner.users.contains_key(&user) {
                return slack_error("user_not_found");
            }
            answer(200, json!({"ok": true, "channel": {"id": format!("D{user}")}}))
        }
        _ => slack_error("unknown_method"),
    }
}
