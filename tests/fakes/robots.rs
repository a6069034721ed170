//! The webhook endpoints of the WeCom group robot, the Feishu/Lark custom
//! bot and the DingTalk custom robot, checking credentials and signatures
//! as the platforms do and answering in their JSON shapes.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::routing::post;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use qunbot::clock::{Clock, VirtualClock};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;

/// One message a robot endpoint accepted.
#[derive(Clone, Debug)]
pub struct Post {
    /// `wecom`, `feishu` or `dingtalk`.
    pub platform: &'static str,
    /// The robot's credential that addressed it (key, hook, access token).
    pub robot: String,
    /// The JSON body.
    pub body: Value,
    /// When it arrived, on the test's virtual clock.
    pub at: DateTime<Utc>,
}

#[derive(Default)]
struct Inner {
    accepted: Vec<Post>,
    /// Every request, accepted or not: (platform, robot, error code).
    answered: Vec<(&'static str, String, i64)>,
    /// Scripted error codes per platform, answered before anything else.
    throttles: HashMap<&'static str, VecDeque<i64>>,
}

struct Shared {
    inner: Mutex<Inner>,
    clock: VirtualClock,
    /// Robot credential → its signing secret.
    secrets: HashMap<String, String>,
}

/// The three platforms' robot endpoints on one loopback port.
pub struct FakeRobots {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl FakeRobots {
    /// Serve, with robots signing with `secrets` (credential → secret);
    /// arrival times are read from `clock`.
    pub async fn start(clock: VirtualClock, secrets: &[(&str, &str)]) -> FakeRobots {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            clock,
            secrets: secrets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        let app = axum::Router::new()
            .route("/cgi-bin/webhook/send", post(wecom))
            .route("/robot/send", post(dingtalk))
            .route("/open-apis/bot/v2/hook/{hook}", post(feishu))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeRobots { shared, addr }
    }

    /// The `api_base` of every robot adapter.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer the next requests to `platform` with these error codes.
    pub fn throttle(&self, platform: &'static str, codes: &[i64]) {
        self.shared
            .inner
            .lock()
            .unwrap()
            .throttles
            .entry(platform)
            .or_default()
            .extend(codes);
    }

    /// The messages accepted so far.
    pub fn accepted(&self) -> Vec<Post> {
        self.shared.inner.lock().unwrap().accepted.clone()
    }

    /// Every answer so far: (platform, robot, error code; 0 for accepted).
    pub fn answered(&self) -> Vec<(&'static str, String, i64)> {
        self.shared.inner.lock().unwrap().answered.clone()
    }
}

impl Shared {
    /// Record the outcome `code` of a request; accept it when 0.
    fn answer(&self, platform: &'static str, robot: &str, body: Value, mut code: i64) -> i64 {
        let mut inner = self.inner.lock().unwrap();
        if code == 0
            && let Some(scripted) = inner.throttles.get_mut(platform).and_then(|q| q.pop_front())
        {
            code = scripted;
        }
        inner.answered.push((platform, robot.to_owned(), code));
        if code == 0 {
            inner.accepted.push(Post {
                platform,
                robot: robot.to_owned(),
                body,
                at: self.clock.now(),
            });
        }
        code
    }

    fn secret(&self, robot: &str) -> Option<&str> {
        self.secrets.get(robot).map(String::as_str)
    }
}

/// WeCom: the key is the credential; no signature.
async fn wecom(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let key = query.get("key").cloned().unwrap_or_default();
    let valid = key.starts_with("wecom-")
        && match body["msgtype"].as_str() {
            Some("text") => body["text"]["content"].is_string(),
            Some("markdown") => body["markdown"]["content"].is_string(),
            _ => false,
        };
    let code = shared.answer("wecom", &key, body, if valid { 0 } else { 93000 });
    Json(match code {
        0 => json!({"errcode": 0, "errmsg": "ok"}),
        45009 => json!({"errcode": 45009, "errmsg": "api freq out of limit"}),
        _ => json!({"errcode": code, "errmsg": "invalid webhook url"}),
    })
}

/// DingTalk: `sign` in the query is base64(HMAC-SHA256(secret,
/// "timestamp\nsecret")), the timestamp (ms) within an hour of now.
async fn dingtalk(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let token = query.get("access_token").cloned().unwrap_or_default();
    let signed = match shared.secret(&token) {
        None => true,
        Some(secret) => {
            let timestamp = query.get("timestamp").and_then(|t| t.parse::<i64>().ok());
            let fresh = timestamp.is_some_and(|t| (Utc::now().timestamp_millis() - t).abs() < 3_600_000);
            let expected =
                timestamp.map(|t| hmac_base64(secret.as_bytes(), format!("{t}\n{secret}").as_bytes()));
            fresh && expected.as_deref() == query.get("sign").map(String::as_str)
        }
    };
    let code = shared.answer("dingtalk", &token, body, if signed { 0 } else { 310000 });
    Json(match code {
        0 => json!({"errcode": 0, "errmsg": "ok"}),
        130101 => json!({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}),
        _ => json!({"errcode": code, "errmsg": "sign not match"}),
    })
}

/// Feishu: `timestamp` (seconds, a string) and `sign` in the body, sign =
/// base64(HMAC-SHA256 keyed by "timestamp\nsecret" over nothing).
async fn feishu(
    State(shared): State<Arc<Shared>>,
    Path(hook): Path<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let signed = match shared.secret(&hook) {
        None => true,
        Some(secret) => {
            let timestamp = body["timestamp"].as_str().and_then(|t| t.parse::<i64>().ok());
            let fresh = timestamp.is_some_and(|t| (Utc::now().timestamp() - t).abs() < 3600);
            let expected = timestamp.map(|t| hmac_base64(format!("{t}\n{secret}").as_bytes(), b""));
            fresh && expected.as_deref() == body["sign"].as_str()
        }
    };
    let code = shared.answer("feishu", &hook, body, if signed { 0 } else { 19021 });
    Json(match code {
        0 => json!({"code": 0, "msg": "success", "data": {}}),
        11232 => json!({"code": 11232, "msg": "frequency limited", "data": {}}),
        _ => {
            json!({"code": code, "msg": "sign match fail or timestamp is not within one hour from current time", "data": {}})
        }
    })
}
