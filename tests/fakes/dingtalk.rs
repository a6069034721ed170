//! DingTalk's Open Platform as an app robot meets it: the access token,
//! robot messages into groups, and callbacks to the daemon signed with the
//! app secret (`timestamp`, `sign` headers).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;

pub const APP_KEY: &str = "dingappkey";
pub const APP_SECRET: &str = "dingtalk-app-secret";
const ACCESS_TOKEN: &str = "dt-access-token";

/// A group message the robot sent, accepted or not.
#[derive(Clone, Debug)]
pub struct Sent {
    pub conversation: String,
    pub text: String,
    pub ok: bool,
}

struct Shared {
    sent: Mutex<Vec<Sent>>,
    down: AtomicBool,
}

pub struct FakeDingTalk {
    shared: Arc<Shared>,
    addr: SocketAddr,
    next_id: AtomicU64,
}

/// The `sign` header of a callback at `timestamp` (ms).
pub fn sign(secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl FakeDingTalk {
    pub async fn start() -> FakeDingTalk {
        let shared = Arc::new(Shared {
            sent: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
        });
        let app = axum::Router::new()
            .route("/v1.0/oauth2/accessToken", post(token))
            .route("/v1.0/robot/groupMessages/send", post(group_send))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeDingTalk {
            shared,
            addr,
            next_id: AtomicU64::new(1),
        }
    }

    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.shared.sent.lock().unwrap().clone()
    }

    /// The callback body of a member's message in `conversation` that @s
    /// the robot, with a fresh `msgId`.
    pub fn message(&self, conversation: &str, staff: &str, text: &str) -> Value {
        let n = self.next_id.fetch_add(1, Ordering::SeqCst);
        json!({
            "msgtype": "text", "text": {"content": format!(" {text}")}, "msgId": format!("msg{n}"),
            "createAt": chrono::Utc::now().timestamp_millis(), "conversationType": "2",
            "conversationId": conversation, "conversationTitle": "福利群", "senderStaffId": staff,
            "senderNick": staff, "isAdmin": false, "robotCode": APP_KEY, "chatbotUserId": "bot",
            "sessionWebhook": "http://127.0.0.1:9/unused", "isInAtList": true
        })
    }
}

async fn token(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    if shared.down.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": "ServiceUnavailable", "message": "down"})),
        );
    }
    if body["appKey"] != APP_KEY || body["appSecret"] != APP_SECRET {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"})),
        );
    }
    (
        StatusCode::OK,
        Json(json!({"accessToken": ACCESS_TOKEN, "expireIn": 7200})),
    )
}

async fn group_send(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let param: Value = serde_json::from_str(body["msgParam"].as_str().unwrap_or("{}")).unwrap_or_default();
    let mut sent = Sent {
        conversation: body["openConversationId"].as_str().unwrap_or_default().to_owned(),
        text: param["content"].as_str().unwrap_or_default().to_owned(),
        ok: false,
    };
    let answer = if shared.down.load(Ordering::SeqCst) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": "ServiceUnavailable", "message": "down"})),
        )
    } else if headers
        .get("x-acs-dingtalk-access-token")
        .and_then(|v| v.to_str().ok())
        != Some(ACCESS_TOKEN)
    {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": "InvalidAuthentication", "message": "不合法的access_token"})),
        )
    } else if body["robotCode"] != APP_KEY || body["msgKey"] != "sampleText" {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": "invalidParameter", "message": "robotCode"})),
        )
    } else {
        sent.ok = true;
        (StatusCode::OK, Json(json!({"processQueryKey": "pqk"})))
    };
    shared.sent.lock().unwrap().push(sent);
    answer
}
