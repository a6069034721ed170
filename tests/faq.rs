//! The faq plugin's `llm` path against a local chat-completions server that
//! speaks the OpenAI wire format: the phrased answer is sent, the request
//! carries the model, the key and the matched entries only, and any failure
//! (an error status, a timeout) falls back to the entry's own answer.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::util;

/// How the fake server answers.
#[derive(Clone)]
enum Mode {
    /// 200 with a chat completion whose message is this text.
    Answer(&'static str),
    /// This status with an OpenAI-style error body.
    Status(u16),
    /// Read the request and never answer.
    Hang,
}

/// One request the server received.
#[derive(Debug, Clone)]
struct Seen {
    /// `POST /v1/chat/completions HTTP/1.1`.
    request_line: String,
    /// The Authorization header, if sent.
    authorization: Option<String>,
    /// The JSON body.
    body: Value,
}

/// A chat-completions server on 127.0.0.1:0.
struct FakeLlm {
    /// What the bot's `llm.base_url` is set to.
    base_url: String,
    /// Every request received, in order.
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The accept loop; aborted on drop.
    task: JoinHandle<()>,
}

impl FakeLlm {
    async fn start(mode: Mode) -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            // Hung connections stay open until the server is dropped.
            let mut held = Vec::new();
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let Some(request) = read_request(&mut stream).await else {
                    continue;
                };
                log.lock().unwrap().push(request);
                match &mode {
                    Mode::Answer(text) => {
                        let body = serde_json::json!({
                            "id": "chatcmpl-1",
                            "object": "chat.completion",
                            "created": 1_764_000_000,
                            "model": "test-model",
                            "choices": [{
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }],
                            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                        });
                        respond(&mut stream, 200, &body).await;
                    }
                    Mode::Status(code) => {
                        let body =
                            serde_json::json!({"error": {"message": "overloaded", "type": "server_error"}});
                        respond(&mut stream, *code, &body).await;
                    }
                    Mode::Hang => held.push(stream),
                }
            }
        });
        FakeLlm { base_url, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Read one HTTP/1.1 request (headers and a Content-Length body).
async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.lines();
    let request_line = lines.next()?.to_owned();
    let mut length = 0;
    let mut authorization = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().ok()?,
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[header_end..header_end + length]).ok()?;
    Some(Seen {
        request_line,
        authorization,
        body,
    })
}

async fn respond(stream: &mut TcpStream, status: u16, body: &Value) {
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

const REFUND_ANSWER: &str = "退款原路退回，一般 1–3 个工作日到账。";

/// A bot whose FAQ phrases answers through `base_url`.
fn bot_dir(base_url: &str, timeout: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bot = format!(
        r#"name: welfare
adapters: [console]
plugins:
  - use: faq
    llm:
      base_url: "{base_url}"
      model: test-model
      api_key: "${{QUNBOT_TEST_LLM_KEY:-sk-test}}"
      timeout: {timeout}
    entries:
      - id: refund_time
        questions: [退款多久到账, 退款什么时候能退回来]
        answer: "{REFUND_ANSWER}"
      - id: service_hours
        questions: [客服几点上班, 人工客服什么时候有人]
        answer: "人工客服每天 9:00–21:00。"
"#
    );
    util::write_files(
        dir.path(),
        &[
            (
                "config.yaml",
                "storage: {url: \"sqlite::memory:\"}\nadapters:\n  console: {kind: console}\n",
            ),
            ("bots/welfare.yaml", &bot),
        ],
    );
    dir
}

const TRANSCRIPT: &str = r#"{"at":"2026-11-24T11:00:00+08:00","kind":"message","group":"g1","user":"alice","text":"今天天气真不错"}
{"at":"2026-11-24T11:00:10+08:00","kind":"message","group":"g1","user":"bob","text":"退款几天能到账？"}
"#;

/// The texts the bot replied with.
fn replies(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["action"] == "reply")
        .map(|v| v["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn llm_phrases_the_answer_from_the_matched_entry() {
    let llm = FakeLlm::start(Mode::Answer("一般 1 到 3 个工作日就原路退回啦。")).await;
    let dir = bot_dir(&llm.base_url, "5s");
    let out = util::simulate(dir.path(), TRANSCRIPT).await;
    assert_eq!(replies(&out), ["一般 1 到 3 个工作日就原路退回啦。"], "{out}");

    let seen = llm.seen();
    assert_eq!(
        seen.len(),
        1,
        "chatter below the threshold asks nothing: {seen:?}"
    );
    let request = &seen[0];
    assert_eq!(request.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(request.authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(request.body["model"], "test-model");
    let messages = request.body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let user = messages[1]["content"].as_str().unwrap();
    assert_eq!(messages[1]["role"], "user");
    assert!(user.contains("退款几天能到账？"), "the member's message: {user}");
    assert!(user.contains(REFUND_ANSWER), "the matched entry: {user}");
    assert!(
        !user.contains("9:00–21:00"),
        "entries below the threshold stay out: {user}"
    );
}

#[tokio::test]
async fn llm_error_status_falls_back_to_the_entry_answer() {
    let llm = FakeLlm::start(Mode::Status(503)).await;
    let dir = bot_dir(&llm.base_url, "5s");
    let out = util::simulate(dir.path(), TRANSCRIPT).await;
    assert_eq!(replies(&out), [REFUND_ANSWER], "{out}");
    assert_eq!(llm.seen().len(), 1);
}

#[tokio::test]
async fn llm_timeout_falls_back_to_the_entry_answer() {
    let llm = FakeLlm::start(Mode::Hang).await;
    let dir = bot_dir(&llm.base_url, "300ms");
    // Without the plugin's timeout this would wait forever; fail instead.
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        util::simulate(dir.path(), TRANSCRIPT),
    )
    .await
    .expect("the llm timeout did not fire");
    assert_eq!(replies(&out), [REFUND_ANSWER], "{out}");
    assert_eq!(llm.seen().len(), 1, "the request was made, then abandoned");
}

#[tokio::test]
async fn llm_unreachable_falls_back_to_the_entry_answer() {
    // A port nothing listens on: bind one, then free it.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = bot_dir(&format!("http://{addr}/v1"), "5s");
    let out = util::simulate(dir.path(), TRANSCRIPT).await;
    assert_eq!(replies(&out), [REFUND_ANSWER], "{out}");
}
