//! OneBot v12 over WebSockets against the fake: v12 event and action
//! shapes end to end (string ids, `self`, `send_message`), joins from
//! `group_member_increase`, and the reverse WebSocket's subprotocol and
//! token checks.

use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::fakes::onebot::{FakeOneBot, TOKEN, Transport, text_of};
use crate::onebot::{BOT, GROUP, text};
use crate::util::{self, Running};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v12_events_and_actions_over_the_forward_websocket() {
    let fake = FakeOneBot::start_with(12, Transport::Ws).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "storage: {{url: sqlite://state.db}}\nadapters:\n  qq: {{kind: onebot, version: 12, ws_url: \"{}\", access_token: \"{TOKEN}\", action_timeout: 3s}}\n",
        fake.ws_url()
    );
    util::write_files(dir.path(), &[("config.yaml", &config), ("bots/shop.yaml", BOT)]);
    let daemon = Running::start(dir.path()).await;

    fake.push_notice("group_increase", GROUP, 44);
    let welcome = fake
        .wait_for(|r| r.action == "send_message" && text_of(&r.params["message"]) == "Welcome, 44!")
        .await;
    assert_eq!(welcome.params["group_id"], json!(GROUP.to_string()));
    // Once an event named the bot, actions name it too.
    fake.push_group_message(GROUP, 42, "member", text("refund?"));
    let answer = fake
        .wait_for(|r| r.action == "send_message" && text_of(&r.params["message"]) == "Refunds take 3 days.")
        .await;
    assert_eq!(answer.params["message"][0]["type"], "reply");
    daemon.stop().await;
    assert!(fake.actions().iter().all(|r| r.answered), "{:?}", fake.actions());
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v12_reverse_websocket_echoes_the_subprotocol_and_checks_the_token() {
    let fake = FakeOneBot::start_with(12, Transport::Ws).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "storage: {{url: sqlite://state.db}}\nhttp: {{listen: 127.0.0.1:0}}\nadapters:\n  qq: {{kind: onebot, version: 12, path: /onebot/v12/ws, access_token: \"{TOKEN}\"}}\n"
    );
    util::write_files(dir.path(), &[("config.yaml", &config), ("bots/shop.yaml", BOT)]);
    let daemon = Running::start(dir.path()).await;
    let url = format!("ws://{}/onebot/v12/ws", daemon.http.unwrap());

    assert!(!fake.connect_reverse(&url, Some("wrong")).await);
    // A v11 implementation knocking on a v12 endpoint is turned away.
    let mut request = url.as_str().into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("sec-websocket-protocol", "11.napcat".parse().unwrap());
    headers.insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
    // The fake asserts the echoed `12.fake`.
    assert!(fake.connect_reverse(&url, Some(TOKEN)).await);

    fake.push_group_message(GROUP, 42, "member", text("refund?"));
    fake.wait_for(|r| r.action == "send_message" && text_of(&r.params["message"]) == "Refunds take 3 days.")
        .await;
    daemon.stop().await;
    tokio::time::timeout(Duration::from_secs(10), fake.stop())
        .await
        .unwrap();
}
