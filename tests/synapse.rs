//! A real Synapse homeserver for the Matrix tests, started once per test
//! run from the virtualenv `scripts/synapse.sh` sets up (path in
//! `QUNBOT_SYNAPSE_VENV`, default `~/.cache/qunbot/synapse-venv`): a fresh
//! config and SQLite database in a temporary folder, the client API on a
//! free 127.0.0.1 port, no federation. A watchdog shell stops it (by its
//! PID) when the test process ends. Without the virtualenv the tests fail
//! and say how to get it.
//!
//! Users are registered through the shared-secret admin API; [`User`]
//! wraps the client-server calls the tests make as members.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};

/// The shared secret of the test server's admin registration.
const SHARED_SECRET: &str = "qunbot-test-shared-secret";

/// The server name (user ids end in `:localhost`).
pub const SERVER_NAME: &str = "localhost";

/// The pinned version `scripts/synapse.sh` installs.
pub const VERSION: &str = "1.163.2";

/// The running server.
pub struct Synapse {
    /// Its client API address.
    pub addr: SocketAddr,
    /// The watchdog shell; it outlives this process on purpose (it stops
    /// Synapse once we are gone), so nobody waits for it.
    _watchdog: std::process::Child,
}

impl Synapse {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn venv() -> PathBuf {
    if let Ok(dir) = std::env::var("QUNBOT_SYNAPSE_VENV") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache"));
    cache.join("qunbot/synapse-venv")
}

/// The server of this test run, started on first use.
pub fn synapse() -> &'static Synapse {
    static SERVER: OnceLock<Synapse> = OnceLock::new();
    SERVER.get_or_init(start)
}

fn start() -> Synapse {
    let python = venv().join("bin/python");
    assert!(
        python.exists(),
        "the Matrix tests need Synapse {VERSION}, which is not installed at {}: run `scripts/synapse.sh` \
         (or point QUNBOT_SYNAPSE_VENV at a virtualenv with matrix-synapse=={VERSION}); .ci/run installs it",
        venv().display()
    );
    // A leaked folder: the watchdog removes it after stopping the server.
    let dir = tempfile::Builder::new()
        .prefix("qunbot-synapse-")
        .tempdir()
        .unwrap()
        .keep();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    let config = format!(
        r#"server_name: "{SERVER_NAME}"
pid_file: {d}/homeserver.pid
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {d}/homeserver.db
media_store_path: {d}/media_store
signing_key_path: {d}/localhost.signing.key
log_config: {d}/log.yaml
report_stats: false
registration_shared_secret: "{SHARED_SECRET}"
macaroon_secret_key: "qunbot-test-macaroon"
form_secret: "qunbot-test-form"
enable_registration: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
url_preview_enabled: false
presence:
  enabled: false
rc_message: {{per_second: 1000, burst_count: 1000}}
rc_registration: {{per_second: 1000, burst_count: 1000}}
rc_login:
  address: {{per_second: 1000, burst_count: 1000}}
  account: {{per_second: 1000, burst_count: 1000}}
  failed_attempts: {{per_second: 1000, burst_count: 1000}}
rc_joins:
  local: {{per_second: 1000, burst_count: 1000}}
  remote: {{per_second: 1000, burst_count: 1000}}
rc_invites:
  per_room: {{per_second: 1000, burst_count: 1000}}
  per_user: {{per_second: 1000, burst_count: 1000}}
rc_admin_redaction: {{per_second: 1000, burst_count: 1000}}
"#
    );
    std::fs::write(dir.join("homeserver.yaml"), config).unwrap();
    let log = format!(
        "version: 1\nformatters:\n  f:\n    format: '%(asctime)s %(levelname)s %(name)s %(message)s'\n\
         handlers:\n  file:\n    class: logging.FileHandler\n    filename: {d}/homeserver.log\n    formatter: f\n\
         root:\n  level: WARNING\n  handlers: [file]\ndisable_existing_loggers: false\n"
    );
    std::fs::write(dir.join("log.yaml"), log).unwrap();
    let cfg = dir.join("homeserver.yaml");
    let keys = Command::new(&python)
        .args(["-m", "synapse.app.homeserver", "-c"])
        .arg(&cfg)
        .arg("--generate-keys")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(keys.success(), "synapse --generate-keys failed");
    // The watchdog: starts Synapse, and once this test process is gone
    // stops it by its PID and removes its folder.
    let script = format!(
        "\"$1\" -m synapse.app.homeserver -c \"$2\" >\"$3/stdout.log\" 2>&1 & pid=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 1; done; \
         kill -TERM $pid 2>/dev/null; wait $pid; rm -rf \"$3\"",
        parent = std::process::id()
    );
    let watchdog = Command::new("sh")
        .args(["-c", &script, "watchdog"])
        .arg(&python)
        .arg(&cfg)
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answers(addr) {
        assert!(
            Instant::now() < deadline,
            "Synapse did not start within 60 s; see {d}/stdout.log and homeserver.log"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Synapse {
        addr,
        _watchdog: watchdog,
    }
}

/// Whether the client API answers `/versions` (a plain HTTP/1.0 request:
/// this runs outside any async runtime).
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /_matrix/client/versions HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

/// A registered user and their access token.
#[derive(Clone, Debug)]
pub struct User {
    /// `@name:localhost`.
    pub id: String,
    /// Their access token.
    pub token: String,
    http: reqwest::Client,
    base: String,
}

/// Register a new user whose name starts with `name` (a counter keeps
/// names unique within the run).
pub async fn register(name: &str) -> User {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!("{name}{}", N.fetch_add(1, Ordering::Relaxed));
    let base = format!("{}/_synapse/admin/v1/register", synapse().url());
    let http = reqwest::Client::new();
    let nonce: Value = http.get(&base).send().await.unwrap().json().await.unwrap();
    let nonce = nonce["nonce"].as_str().unwrap();
    let password = format!("pw-{name}");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SHARED_SECRET.as_bytes()).unwrap();
    mac.update(format!("{nonce}\0{name}\0{password}\0notadmin").as_bytes());
    let mac: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let answer: Value = http
        .post(&base)
        .json(&json!({"nonce": nonce, "username": name, "password": password, "admin": false, "mac": mac}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    User {
        id: answer["user_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"))
            .to_owned(),
        token: answer["access_token"].as_str().unwrap().to_owned(),
        http,
        base: synapse().url(),
    }
}

impl User {
    /// A client-server call; panics unless it succeeds.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.try_call(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        answer
    }

    /// A client-server call: status and JSON answer.
    pub async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/_matrix/client/v3/{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Create a room (room version 12, the default) where `users` get
    /// power levels and `invite` are invited.
    pub async fn create_room(&self, levels: &[(&str, i64)], invite: &[&str]) -> String {
        let mut users = serde_json::Map::new();
        for (user, level) in levels {
            users.insert((*user).to_owned(), json!(level));
        }
        let answer = self
            .call(
                reqwest::Method::POST,
                "createRoom",
                Some(json!({"preset": "private_chat", "invite": invite,
                    "power_level_content_override": {"users": users}})),
            )
            .await;
        answer["room_id"].as_str().unwrap().to_owned()
    }

    /// Join `room`.
    pub async fn join(&self, room: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("join/{}", enc(room)),
            Some(json!({})),
        )
        .await;
    }

    /// Post a text message; its event id.
    pub async fn say(&self, room: &str, text: &str) -> String {
        static TXN: AtomicU64 = AtomicU64::new(0);
        let txn = TXN.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .call(
                reqwest::Method::PUT,
                &format!("rooms/{}/send/m.room.message/t{txn}", enc(room)),
                Some(json!({"msgtype": "m.text", "body": text})),
            )
            .await;
        answer["event_id"].as_str().unwrap().to_owned()
    }

    /// A state event's content (`None` if absent).
    pub async fn state(&self, room: &str, kind: &str, key: &str) -> Option<Value> {
        let (status, answer) = self
            .try_call(
                reqwest::Method::GET,
                &format!("rooms/{}/state/{kind}/{}", enc(room), enc(key)),
                None,
            )
            .await;
        status.is_success().then_some(answer)
    }

    /// `user`'s membership in `room` (`join`, `leave`, `ban`, …).
    pub async fn membership(&self, room: &str, user: &str) -> Option<String> {
        let content = self.state(room, "m.room.member", user).await?;
        content["membership"].as_str().map(str::to_owned)
    }

    /// Every event of `room`'s timeline, oldest first.
    pub async fn timeline(&self, room: &str) -> Vec<Value> {
        let answer = self
            .call(
                reqwest::Method::GET,
                &format!("rooms/{}/messages?dir=f&limit=1000", enc(room)),
                None,
            )
            .await;
        answer["chunk"].as_array().cloned().unwrap_or_default()
    }

    /// The room messages `sender` posted in `room`: (event, content).
    pub async fn messages_of(&self, room: &str, sender: &str) -> Vec<Value> {
        self.timeline(room)
            .await
            .into_iter()
            .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
            .collect()
    }

    /// Ids of `room`'s events that `by` redacted.
    pub async fn redacted_by(&self, room: &str, by: &str) -> Vec<String> {
        self.timeline(room)
            .await
            .into_iter()
            .filter(|e| e["unsigned"]["redacted_because"]["sender"] == by)
            .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
            .collect()
    }
}

/// Percent-encode a path segment (room and event ids hold `!`, `$`, `:`).
pub fn enc(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
