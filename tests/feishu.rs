//! The Feishu app bot end to end: the real daemon receiving encrypted,
//! signed event callbacks from the fake platform (tests/fakes/feishu.rs)
//! and answering through its Open API.

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::behaviour::{self, Member, Peer, Said};
use crate::fakes::feishu::{self, APP_ID, APP_SECRET, ENCRYPT_KEY, FakeFeishu, VERIFICATION_TOKEN};

const CHAT: &str = "oc_group";

struct FeishuPeer {
    fake: FakeFeishu,
}

fn open_id(member: Member) -> &'static str {
    match member {
        Member::Ann => "ou_ann",
        Member::Bob => "ou_bob",
        Member::Cat => "ou_cat",
    }
}

fn text_of(body: &Value) -> String {
    let content: Value = serde_json::from_str(body["content"].as_str().unwrap_or("{}")).unwrap_or_default();
    content["text"].as_str().unwrap_or_default().to_owned()
}

#[async_trait]
impl Peer for FeishuPeer {
    fn adapter_config(&self) -> String {
        format!(
            "{{kind: feishu, app_id: {APP_ID}, app_secret: {APP_SECRET}, verification_token: {VERIFICATION_TOKEN}, encrypt_key: {ENCRYPT_KEY}, api_base: \"{}\"}}",
            self.fake.api_base()
        )
    }

    fn extra_config(&self) -> String {
        "http: {listen: \"127.0.0.1:0\"}\n".into()
    }

    fn can_mute(&self) -> bool {
        false
    }

    async fn daemon_started(&mut self, http: Option<std::net::SocketAddr>) {
        let addr = http.expect("the daemon listens");
        self.fake
            .subscribe(format!("http://{addr}/feishu/{}", behaviour::ADAPTER));
    }

    async fn post(&mut self, member: Member, text: &str) -> String {
        self.fake.push_message(CHAT, open_id(member), text)
    }

    async fn said(&self) -> Vec<Said> {
        // Replies go to the message's chat; sends name the chat.
        self.fake
            .calls()
            .into_iter()
            .filter(|c| c.ok)
            .filter_map(|c| match c.api {
                "reply" => Some(Said {
                    text: text_of(&c.body),
                    reply_to: Some(c.target),
                }),
                "send" if c.target == CHAT => Some(Said {
                    text: text_of(&c.body),
                    reply_to: None,
                }),
                _ => None,
            })
            .collect()
    }

    async fn deleted(&self) -> Vec<String> {
        self.fake
            .calls()
            .into_iter()
            .filter(|c| c.ok && c.api == "recall")
            .map(|c| c.target)
            .collect()
    }

    async fn muted(&self) -> Vec<(Member, u64)> {
        Vec::new()
    }

    async fn go_down(&mut self) {
        self.fake.set_down(true);
    }

    async fn come_back(&mut self) {
        self.fake.set_down(false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_behaviour_suite_passes_against_the_feishu_fake() {
    let mut peer = FeishuPeer {
        fake: FakeFeishu::start().await,
    };
    behaviour::run(&mut peer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_need_the_signature_and_the_url_check_gets_its_challenge() {
    let peer = FeishuPeer {
        fake: FakeFeishu::start().await,
    };
    let dir = tempfile::tempdir().unwrap();
    behaviour::write_config(dir.path(), &peer);
    let daemon = crate::util::Running::start(dir.path()).await;
    let url = format!("http://{}/feishu/{}", daemon.http.unwrap(), behaviour::ADAPTER);
    let client = reqwest::Client::new();

    // The URL check, encrypted (Feishu sends it before the subscription
    // is saved, without signature headers).
    let check = json!({"type": "url_verification", "token": VERIFICATION_TOKEN, "challenge": "c-42"});
    let (body, _) = feishu::seal(&check, 1);
    let answer: Value = client
        .post(&url)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer, json!({"challenge": "c-42"}));

    // An event with a forged signature is refused and never handled.
    let event = json!({
        "schema": "2.0",
        "header": {"event_id": "ev_x", "event_type": "im.message.receive_v1", "token": VERIFICATION_TOKEN},
        "event": {"sender": {"sender_id": {"open_id": "ou_ann"}, "sender_type": "user"},
                  "message": {"message_id": "om_x", "chat_id": CHAT, "chat_type": "group", "message_type": "text",
                              "content": json!({"text": "How do I get a refund?"}).to_string()}}
    });
    let (body, mut headers) = feishu::seal(&event, 2);
    headers[2].1 = "0".repeat(64);
    let mut request = client.post(&url).body(body.clone());
    for (name, value) in &headers {
        request = request.header(*name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 401);
    // Unsigned: refused too.
    assert_eq!(client.post(&url).body(body).send().await.unwrap().status(), 401);
    // A wrong verification token inside a well-signed event: refused.
    let mut wrong = event.clone();
    wrong["header"]["token"] = json!("forged");
    let (body, headers) = feishu::seal(&wrong, 3);
    let mut request = client.post(&url).body(body);
    for (name, value) in &headers {
        request = request.header(*name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 401);
    daemon.stop().await;
    assert!(
        peer.fake.calls().is_empty(),
        "nothing was answered: {:?}",
        peer.fake.calls()
    );
}
