//! A fake OneBot v11 implementation (NapCat/Lagrange stand-in) serving the
//! forward WebSocket on 127.0.0.1: pushes event frames, answers action
//! frames as the real ones do (`{"status","retcode","data","echo"}`),
//! checks the access token on the upgrade, and can close the connection
//! on an action (a disconnect mid-run).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The access token the fake expects.
pub const TOKEN: &str = "onebot-test-token";

/// The QQ account the fake plays.
pub const SELF_ID: i64 = 10_000;

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
#[derive(Default)]
struct State {
    /// Events waiting for a connection.
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
    /// Upgrades refused (token wrong).
    refused: Mutex<usize>,
    /// Wakes the connection (new event) and waiters (new action).
    changed: Notify,
    /// The last message id handed out.
    next_message_id: Mutex<i64>,
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
    /// Listen on an ephemeral 127.0.0.1 port.
    pub async fn start() -> FakeOneBot {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        *state.next_message_id.lock().unwrap() = 1000;
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
    /// does (the token as `Authorization: Bearer`, or none); `false` if the
    /// upgrade was refused. The connection is served until `stop`.
    pub async fn connect_reverse(&self, url: &str, token: Option<&str>) -> bool {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("x-self-id", SELF_ID.into());
        if let Some(token) = token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let Ok((ws, _)) = tokio_tungstenite::connect_async(request).await else {
            *self.state.refused.lock().unwrap() += 1;
            return false;
        };
        *self.state.connections.lock().unwrap() += 1;
        let (state, stop) = (self.state.clone(), self.stop.clone());
        self.tracker.spawn(connection(ws, state, stop));
        true
    }

    /// The forward WebSocket URL to configure as `ws_url`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Push a group message from `user`; returns its message id.
    pub fn push_group_message(&self, group: i64, user: i64, role: &str, message: Value) -> i64 {
        let id = self.next_id();
        self.push(json!({
            "time": 1_700_000_000, "self_id": SELF_ID, "post_type": "message",
            "message_type": "group", "sub_type": "normal", "message_id": id,
            "group_id": group, "user_id": user, "message": message, "font": 0,
            "sender": {"user_id": user, "nickname": format!("user{user}"), "card": "", "role": role},
        }));
        id
    }

    /// Push a notice such as `group_increase`.
    pub fn push_notice(&self, notice: &str, group: i64, user: i64) {
        self.push(json!({
            "time": 1_700_000_000, "self_id": SELF_ID, "post_type": "notice",
            "notice_type": notice, "sub_type": "approve", "group_id": group,
            "user_id": user, "operator_id": 1,
        }));
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

    /// Close the connection instead of answering the next `action`.
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

    /// Connections refused (wrong or missing token).
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

/// Accept connections on `listener` until the returned token fires.
fn listen(listener: TcpListener, state: Arc<State>) -> (CancellationToken, TaskTracker) {
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
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
    let lifecycle = json!({"time": 1_700_000_000, "self_id": SELF_ID, "post_type": "meta_event",
        "meta_event_type": "lifecycle", "sub_type": "connect"});
    if ws.send(Message::text(lifecycle.to_string())).await.is_err() {
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
                let close = {
                    let mut close_on = state.close_on.lock().unwrap();
                    let hit = close_on.front() == Some(&action);
                    if hit { close_on.pop_front(); }
                    hit
                };
                let failure = if close { None } else {
                    let mut fail_on = state.fail_on.lock().unwrap();
                    let hit = fail_on.front().is_some_and(|(a, _)| *a == action);
                    if hit { fail_on.pop_front().map(|(_, code)| code) } else { None }
                };
                let answered = !close && failure.is_none();
                state.actions.lock().unwrap().push(Received { action, params: frame["params"].clone(), answered });
                state.changed.notify_waiters();
                if close {
                    // Gone without an answer, as when the implementation restarts.
                    return;
                }
                match failure {
                    Some(None) => continue,
                    Some(Some(retcode)) => {
                        let answer = json!({"status": "failed", "retcode": retcode, "data": null,
                            "message": "refused", "wording": "refused by the fake", "echo": frame["echo"]});
                        if ws.send(Message::text(answer.to_string())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    None => {}
                }
                let id = {
                    let mut id = state.next_message_id.lock().unwrap();
                    *id += 1;
                    *id
                };
                let answer = json!({"status": "ok", "retcode": 0, "data": {"message_id": id}, "echo": frame["echo"]});
                if ws.send(Message::text(answer.to_string())).await.is_err() {
                    return;
                }
            }
            () = changed => {}
            () = stop.cancelled() => return,
        }
    }
}
