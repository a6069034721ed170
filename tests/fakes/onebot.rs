//! A fake OneBot implementation (NapCat/Lagrange for v11, ComWeChat-like
//! for v12) on 127.0.0.1, speaking either version over the forward
//! WebSocket (and connecting to the daemon's reverse WebSocket) or HTTP:
//!
//! - pushes event frames (v11 `post_type`, v12 `type`/`detail_type` with
//!   string ids and `self`), or in HTTP mode POSTs them to the daemon's
//!   route signed as the real ones sign them (v11 `X-Signature:
//!   sha1=HMAC`, v12 `Authorization: Bearer` with `X-OneBot-Version: 12`
//!   and `X-Impl`), retrying while the daemon does not answer;
//! - answers action frames as the real ones do (`{"status", "retcode",
//!   "data", "message", "echo"}`; v12 refuses actions outside its core
//!   standard with 10002 and numeric ids with 10003), and in HTTP mode
//!   serves `POST /{action}` (v11: 401 without the token, 403 with a wrong
//!   one) or `POST /` (v12: 401, 415 without JSON);
//! - checks the access token on the upgrade and can close the connection
//!   on an action (a disconnect mid-run), or be killed and restarted.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The access token the fake expects.
pub const TOKEN: &str = "onebot-test-token";

/// The v11 HTTP `secret` events are signed with.
pub const SECRET: &str = "onebot-test-secret";

/// The account the fake plays.
pub const SELF_ID: i64 = 10_000;

/// The actions of v12's core standard the fake implements.
const V12_ACTIONS: [&str; 5] = [
    "send_message",
    "delete_message",
    "get_status",
    "get_version",
    "get_self_info",
];

/// How the fake talks to the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A WebSocket server (and reverse connections on request).
    Ws,
    /// An HTTP API server; events POSTed to the daemon's route.
    Http,
}

/// One action frame the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    /// `action`.
    pub action: String,
    /// `params`.
    pub params: Value,
    /// Whether it was answered `ok` (not failed, ignored or dropped by a
    /// disconnect).
    pub answered: bool,
}

/// What the fake's connections share.
struct State {
    /// `11` or `12`.
    version: u32,
    /// WebSocket or HTTP.
    transport: Transport,
    /// Events waiting for a connection (or to be POSTed).
    events: Mutex<VecDeque<Value>>,
    /// Actions received, in order.
    actions: Mutex<Vec<Received>>,
    /// Actions to answer by closing the connection instead.
    close_on: Mutex<VecDeque<String>>,
    /// Actions to answer `failed` with a retcode (`None`: not at all).
    fail_on: Mutex<VecDeque<(String, Option<i64>)>>,
    /// Connections accepted (token right).
    connections: Mutex<usize>,
    /// Connections that ended.
    closed: Mutex<usize>,
    /// Upgrades or HTTP requests refused (token wrong).
    refused: Mutex<usize>,
    /// HTTP mode: the daemon's event route and the secret (v11) or token
    /// (v12) to present there.
    webhook: Mutex<Option<(String, String)>>,
    /// HTTP mode: the status of every event POST the daemon answered.
    pushes: Mutex<Vec<u16>>,
    /// Wakes the connection (new event) and waiters (new action).
    changed: Notify,
    /// The last message id handed out.
    next_message_id: Mutex<i64>,
}

/// What the fake does with one action request.
enum Reply {
    /// Close the connection without answering.
    Close,
    /// Never answer.
    Silent,
    /// Answer with this response (without `echo`).
    Answer(Value),
}

/// The fake implementation, listening until stopped; [`FakeOneBot::kill`] and
/// [`FakeOneBot::restart`] take it down and up again on the same port.
pub struct FakeOneBot {
    /// Where it listens (kept across restarts).
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl FakeOneBot {
    /// A v11 WebSocket server on an ephemeral 127.0.0.1 port.
    pub async fn start() -> FakeOneBot {
        Self::start_with(11, Transport::Ws).await
    }

    /// A fake of OneBot `version` (11 or 12) serving `transport`.
    pub async fn start_with(version: u32, transport: Transport) -> FakeOneBot {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            version,
            transport,
            events: Mutex::default(),
            actions: Mutex::default(),
            close_on: Mutex::default(),
            fail_on: Mutex::default(),
            connections: Mutex::default(),
            closed: Mutex::default(),
            refused: Mutex::default(),
            webhook: Mutex::default(),
            pushes: Mutex::default(),
            changed: Notify::new(),
            next_message_id: Mutex::new(1000),
        });
        let (stop, tracker) = listen(listener, state.clone());
        FakeOneBot {
            addr,
            state,
            stop,
            tracker,
        }
    }

    /// Take the implementation down: the listener and every connection
    /// close (events pushed meanwhile wait for the next connection).
    pub async fn kill(&mut self) {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(10), self.tracker.wait())
            .await
            .expect("fake stops");
    }

    /// Listen again on the same port.
    pub async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        (self.stop, self.tracker) = listen(listener, self.state.clone());
    }

    /// Reverse mode: connect to the daemon at `url` as the implementation
    /// does (the token as `Authorization: Bearer`, or none; v12 names
    /// `12.fake` as the subprotocol); `false` if the upgrade was refused.
    /// The connection is served until `stop`.
    pub async fn connect_reverse(&self, url: &str, token: Option<&str>) -> bool {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("x-self-id", SELF_ID.into());
        if self.state.version == 12 {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", "12.fake".parse().unwrap());
        }
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let Ok((ws, response)) = tokio_tungstenite::connect_async(request).await else {
            *self.state.refused.lock().unwrap() += 1;
            return false;
        };
        if self.state.version == 12 {
            assert_eq!(
                response.headers().get("sec-websocket-protocol").unwrap(),
                "12.fake",
                "the daemon echoes the subprotocol"
            );
        }
        *self.state.connections.lock().unwrap() += 1;
        let (state, stop) = (self.state.clone(), self.stop.clone());
        self.tracker.spawn(connection(ws, state, stop));
        true
    }

    /// The forward WebSocket URL to configure as `ws_url`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The HTTP API URL to configure as `http_url`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// HTTP mode: POST events to `url`, signed with (v11) or carrying (v12)
    /// `credential`.
    pub fn set_webhook(&self, url: &str, credential: &str) {
        *self.state.webhook.lock().unwrap() = Some((url.into(), credential.into()));
        self.state.changed.notify_waiters();
    }

    /// HTTP mode: the statuses the daemon answered event POSTs with.
    pub fn pushes(&self) -> Vec<u16> {
        self.state.pushes.lock().unwrap().clone()
    }

    /// Push a group message from `user` (`role` is v11's `sender.role`;
    /// v12 has none); returns its message id.
    pub fn push_group_message(&self, group: i64, user: i64, role: &str, message: Value) -> i64 {
        let id = self.next_id();
        let frame = if self.state.version == 12 {
            json!({
                "id": format!("event-{id}"), "time": 1_700_000_000.25, "type": "message",
                "detail_type": "group", "sub_type": "", "message_id": id.to_string(),
                "message": message, "alt_message": text_of(&message),
                "group_id": group.to_string(), "user_id": user.to_string(),
                "self": {"platform": "wechat", "user_id": SELF_ID.to_string()},
            })
        } else {
            json!({
                "time": 1_700_000_000, "self_id": SELF_ID, "post_type": "message",
                "message_type": "group", "sub_type": "normal", "message_id": id,
                "group_id": group, "user_id": user, "message": message, "font": 0,
                "sender": {"user_id": user, "nickname": format!("user{user}"), "card": "", "role": role},
            })
        };
        self.push(frame);
        id
    }

    /// Push a notice such as `group_increase` (v12: `group_member_increase`).
    pub fn push_notice(&self, notice: &str, group: i64, user: i64) {
        let frame = if self.state.version == 12 {
            let detail = notice.replace("group_", "group_member_");
            json!({
                "id": "notice", "time": 1_700_000_000.0, "type": "notice", "detail_type": detail,
                "sub_type": "join", "group_id": group.to_string(), "user_id": user.to_string(),
                "operator_id": "1", "self": {"platform": "wechat", "user_id": SELF_ID.to_string()},
            })
        } else {
            json!({
                "time": 1_700_000_000, "self_id": SELF_ID, "post_type": "notice",
                "notice_type": notice, "sub_type": "approve", "group_id": group,
                "user_id": user, "operator_id": 1,
            })
        };
        self.push(frame);
    }

    fn push(&self, frame: Value) {
        self.state.events.lock().unwrap().push_back(frame);
        self.state.changed.notify_waiters();
    }

    fn next_id(&self) -> i64 {
        let mut id = self.state.next_message_id.lock().unwrap();
        *id += 1;
        *id
    }

    /// Close the connection instead of answering the next `action` (HTTP:
    /// answer 503, as a proxy in front of a restarting implementation).
    pub fn close_on_next(&self, action: &str) {
        self.state.close_on.lock().unwrap().push_back(action.into());
    }

    /// Answer the next `action` with `status: failed` and `retcode`, or
    /// (`None`) not at all.
    pub fn fail_next(&self, action: &str, retcode: Option<i64>) {
        self.state
            .fail_on
            .lock()
            .unwrap()
            .push_back((action.into(), retcode));
    }

    /// Every action frame received so far.
    pub fn actions(&self) -> Vec<Received> {
        self.state.actions.lock().unwrap().clone()
    }

    /// Connections established (token accepted), either way round.
    pub fn connections(&self) -> usize {
        *self.state.connections.lock().unwrap()
    }

    /// Connections that have ended.
    pub fn closed(&self) -> usize {
        *self.state.closed.lock().unwrap()
    }

    /// Connections or HTTP requests refused (wrong or missing token).
    pub fn refused(&self) -> usize {
        *self.state.refused.lock().unwrap()
    }

    /// Wait (at most 20 s) for an answered action matching `pred`.
    pub async fn wait_for(&self, pred: impl Fn(&Received) -> bool) -> Received {
        let wait = async {
            loop {
                let changed = self.state.changed.notified();
                if let Some(found) = self.actions().into_iter().find(|r| r.answered && pred(r)) {
                    return found;
                }
                let _ = tokio::time::timeout(Duration::from_millis(100), changed).await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(20), wait).await {
            Ok(found) => found,
            Err(_) => panic!("no such action; received {:?}", self.actions()),
        }
    }

    /// Wait (at most 20 s) for an `action` the fake closed the connection on.
    pub async fn wait_for_unanswered(&self, action: &str) {
        let wait = async {
            while !self.actions().iter().any(|r| !r.answered && r.action == action) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("the action arrives");
    }

    /// Stop listening and close every connection.
    pub async fn stop(self) {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout(Duration::from_secs(10), self.tracker.wait())
            .await
            .expect("fake stops");
    }
}

/// The text of a segment array.
pub fn text_of(message: &Value) -> String {
    message
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["type"] == "text")
        .filter_map(|s| s["data"]["text"].as_str())
        .collect()
}

/// The answered message's id of a segment array (v11 `reply.id`, v12
/// `reply.message_id`), as a string.
pub fn reply_of(message: &Value) -> Option<String> {
    let reply = message.as_array()?.iter().find(|s| s["type"] == "reply")?;
    let id = &reply["data"];
    match id.get("message_id").or_else(|| id.get("id"))? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Serve `listener` until the returned token fires.
fn listen(listener: TcpListener, state: Arc<State>) -> (CancellationToken, TaskTracker) {
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    if state.transport == Transport::Http {
        let router = http_router(state.clone(), stop.clone());
        let st = stop.clone();
        tracker.spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(st.cancelled_owned())
                .await;
        });
        tracker.spawn(pusher(state, stop.clone()));
        return (stop, tracker);
    }
    let (st, tr) = (stop.clone(), tracker.clone());
    tracker.spawn(async move {
        loop {
            let socket = tokio::select! {
                accepted = listener.accept() => match accepted { Ok((socket, _)) => socket, Err(_) => continue },
                () = st.cancelled() => return,
            };
            let (s, st) = (state.clone(), st.clone());
            tr.spawn(async move { serve(socket, s, st).await });
        }
    });
    (stop, tracker)
}

/// The action a request names, and what to answer, recorded.
fn handle(state: &State, action: &str, params: &Value) -> Reply {
    let close = {
        let mut close_on = state.close_on.lock().unwrap();
        let hit = close_on.front().is_some_and(|a| a == action);
        if hit {
            close_on.pop_front();
        }
        hit
    };
    let failure = if close {
        None
    } else {
        let mut fail_on = state.fail_on.lock().unwrap();
        let hit = fail_on.front().is_some_and(|(a, _)| a == action);
        if hit {
            fail_on.pop_front().map(|(_, code)| code)
        } else {
            None
        }
    };
    let refusal = if state.version == 12 {
        v12_refusal(action, params)
    } else {
        None
    };
    let failure = failure.or(refusal.map(Some));
    let answered = !close && failure.is_none();
    state.actions.lock().unwrap().push(Received {
        action: action.to_owned(),
        params: params.clone(),
        answered,
    });
    state.changed.notify_waiters();
    if close {
        return Reply::Close;
    }
    match failure {
        Some(None) => Reply::Silent,
        Some(Some(retcode)) => Reply::Answer(json!({"status": "failed", "retcode": retcode, "data": null,
            "message": "refused by the fake", "wording": "refused by the fake"})),
        None => {
            let id = {
                let mut id = state.next_message_id.lock().unwrap();
                *id += 1;
                *id
            };
            let id = if state.version == 12 {
                json!(id.to_string())
            } else {
                json!(id)
            };
            Reply::Answer(json!({"status": "ok", "retcode": 0, "data": {"message_id": id}, "message": ""}))
        }
    }
}

/// What a v12 implementation refuses: actions outside the core standard
/// (10002) and ids that are not strings (10003).
fn v12_refusal(action: &str, params: &Value) -> Option<i64> {
    if !V12_ACTIONS.contains(&action) {
        return Some(10_002);
    }
    let string = |key: &str| params[key].is_string();
    let ok = match action {
        "send_message" => {
            let target = match params["detail_type"].as_str() {
                Some("group") => string("group_id"),
                Some("private") => string("user_id"),
                _ => false,
            };
            let segments = params["message"].as_array().is_some_and(|segments| {
                segments
                    .iter()
                    .all(|s| s["type"] != "reply" || s["data"]["message_id"].is_string())
            });
            target && segments
        }
        "delete_message" => string("message_id"),
        _ => true,
    };
    (!ok).then_some(10_003)
}

/// The HTTP API: v11 `POST /{action}`, v12 `POST /`.
fn http_router(state: Arc<State>, stop: CancellationToken) -> axum::Router {
    let answer = move |headers: HeaderMap, action: Option<String>, body: axum::body::Bytes| {
        let (state, stop) = (state.clone(), stop.clone());
        async move {
            let given = headers.get("authorization").and_then(|v| v.to_str().ok());
            if given != Some(&format!("Bearer {TOKEN}")) {
                *state.refused.lock().unwrap() += 1;
                // v11: 401 without a token, 403 with a wrong one; v12: 401.
                let status = if state.version == 11 && given.is_some() {
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::UNAUTHORIZED
                };
                return (status, String::new());
            }
            let json = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if !json {
                return (StatusCode::UNSUPPORTED_MEDIA_TYPE, String::new());
            }
            let Ok(body) = serde_json::from_slice::<Value>(&body) else {
                return (StatusCode::BAD_REQUEST, String::new());
            };
            let echo = body.get("echo").cloned();
            let (action, params) = match action {
                Some(action) => (action, body),
                None => (
                    body["action"].as_str().unwrap_or_default().to_owned(),
                    body["params"].clone(),
                ),
            };
            if state.version == 11 && action == "unknown_action" {
                return (StatusCode::NOT_FOUND, String::new());
            }
            match handle(&state, &action, &params) {
                Reply::Close => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
                Reply::Silent => {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(Duration::from_secs(60)) => {}
                    }
                    (StatusCode::SERVICE_UNAVAILABLE, String::new())
                }
                Reply::Answer(mut response) => {
                    if let Some(echo) = echo.filter(|_| state.version == 12) {
                        response["echo"] = echo;
                    }
                    (StatusCode::OK, response.to_string())
                }
            }
        }
    };
    let v11 = answer.clone();
    axum::Router::new()
        .route(
            "/{action}",
            axum::routing::post(
                move |axum::extract::Path(action): axum::extract::Path<String>, headers: HeaderMap, body| {
                    v11(headers, Some(action), body)
                },
            ),
        )
        .route(
            "/",
            axum::routing::post(move |headers: HeaderMap, body| answer(headers, None, body)),
        )
}

/// HTTP mode: POST queued events to the daemon's route, in order; an event
/// the daemon does not take (no answer, 5xx) is posted again, one it
/// refuses (4xx) is dropped, as implementations log and move on.
async fn pusher(state: Arc<State>, stop: CancellationToken) {
    let client = reqwest::Client::new();
    loop {
        let changed = state.changed.notified();
        let webhook = state.webhook.lock().unwrap().clone();
        let next = state.events.lock().unwrap().front().cloned();
        let (Some((url, credential)), Some(event)) = (webhook, next) else {
            tokio::select! {
                () = changed => continue,
                () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                () = stop.cancelled() => return,
            }
        };
        let body = event.to_string();
        let mut request = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone());
        if state.version == 12 {
            request = request
                .header("user-agent", "OneBot/12 (wechat) fake/0.1")
                .header("x-onebot-version", "12")
                .header("x-impl", "fake")
                .bearer_auth(&credential);
        } else {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(credential.as_bytes()).unwrap();
            mac.update(body.as_bytes());
            let hex: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            request = request
                .header("x-self-id", SELF_ID.to_string())
                .header("x-signature", format!("sha1={hex}"));
        }
        let sent = tokio::select! {
            sent = request.send() => sent,
            () = stop.cancelled() => return,
        };
        let status = sent.ok().map(|r| r.status().as_u16());
        if let Some(status) = status {
            state.pushes.lock().unwrap().push(status);
        }
        match status {
            Some(status) if status < 500 => {
                state.events.lock().unwrap().pop_front();
                state.changed.notify_waiters();
            }
            _ => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }
}

/// Accept one forward connection if its token is right, then serve it.
async fn serve(socket: tokio::net::TcpStream, state: Arc<State>, stop: CancellationToken) {
    // The callback's signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let given = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if given == Some(&format!("Bearer {TOKEN}")) {
            Ok(response)
        } else {
            let mut refused = ErrorResponse::new(Some("token".into()));
            *refused.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::UNAUTHORIZED;
            Err(refused)
        }
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(socket, check).await else {
        *state.refused.lock().unwrap() += 1;
        return;
    };
    *state.connections.lock().unwrap() += 1;
    connection(ws, state, stop).await;
}

/// One connection, either way round: push events, answer actions; counted
/// in `closed` when it ends.
async fn connection<S>(ws: tokio_tungstenite::WebSocketStream<S>, state: Arc<State>, stop: CancellationToken)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    exchange(ws, &state, stop).await;
    *state.closed.lock().unwrap() += 1;
}

/// The connection's work: events out, actions in, answers out.
async fn exchange<S>(mut ws: tokio_tungstenite::WebSocketStream<S>, state: &State, stop: CancellationToken)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let hello = if state.version == 12 {
        json!({"id": "connect", "time": 1_700_000_000.0, "type": "meta", "detail_type": "connect",
            "sub_type": "", "version": {"impl": "fake", "version": "0.1", "onebot_version": "12"}})
    } else {
        json!({"time": 1_700_000_000, "self_id": SELF_ID, "post_type": "meta_event",
            "meta_event_type": "lifecycle", "sub_type": "connect"})
    };
    if ws.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    loop {
        let changed = state.changed.notified();
        let pending: Vec<Value> = state.events.lock().unwrap().drain(..).collect();
        for event in pending {
            if ws.send(Message::text(event.to_string())).await.is_err() {
                return;
            }
        }
        tokio::select! {
            frame = ws.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    match frame { Some(Ok(_)) => continue, _ => return }
                };
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                let action = frame["action"].as_str().unwrap_or_default().to_owned();
                match handle(state, &action, &frame["params"]) {
                    // Gone without an answer, as when the implementation restarts.
                    Reply::Close => return,
                    Reply::Silent => continue,
                    Reply::Answer(mut answer) => {
                        answer["echo"] = frame["echo"].clone();
                        if ws.send(Message::text(answer.to_string())).await.is_err() {
                            return;
                        }
                    }
                }
            }
            () = changed => {}
            () = stop.cancelled() => return,
        }
    }
}
