//! Phrasing answers with an OpenAI-compatible chat-completions endpoint.
//!
//! The model only rephrases: it sees the member's message and the matched
//! entries (question and answer) and is told to answer from them alone. The
//! plugin asks only when an entry matched above the threshold, and any error
//! (network, status, timeout, an empty or unparsable reply) falls back to the
//! entry's own answer.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// Options of `llm:`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// The API root, e.g. `https://api.openai.com/v1`; the plugin posts to
    /// `{base_url}/chat/completions`.
    pub base_url: String,
    /// The model name sent with every request.
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set; write `${VAR}` so it
    /// comes from the environment.
    #[serde(default)]
    pub api_key: Option<String>,
    /// How long to wait for the whole request before answering with the
    /// entry's own text. Default 10s.
    #[serde(default = "default_timeout")]
    pub timeout: crate::config::Duration,
    /// How many matched entries (at or above the threshold, best first) the
    /// model sees. Default 3.
    #[serde(default = "default_max_entries")]
    pub max_entries: usize,
    /// Replaces the built-in system prompt.
    #[serde(default)]
    pub system_prompt: Option<String>,
}

fn default_timeout() -> crate::config::Duration {
    crate::config::Duration(Duration::from_secs(10))
}

fn default_max_entries() -> usize {
    3
}

/// The built-in instructions.
const SYSTEM_PROMPT: &str = "You answer members' questions in a chat group for a brand's customer \
team. Answer ONLY from the FAQ entries given; never add facts, numbers, links or promises that are \
not in them. Reply in the language of the member's message, briefly (at most three sentences), \
without greeting and without mentioning the FAQ.";

/// Why phrasing failed (the caller falls back and logs it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum LlmError {
    /// Connection, status or body errors.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A reply without text.
    #[error("the reply has no message text")]
    Empty,
}

/// A configured endpoint.
#[derive(Debug)]
pub(crate) struct Llm {
    /// Shared by every request of this plugin (its connection pool and TLS
    /// set-up are reused). One per plugin rather than per process: a
    /// client's pooled connections belong to the runtime that opened them.
    client: reqwest::Client,
    /// `{base_url}/chat/completions`.
    url: String,
    /// The model name sent with every request.
    model: String,
    /// Kept out of Debug output.
    api_key: Option<Secret>,
    /// Bound on the whole request.
    timeout: Duration,
    /// How many matched entries the model sees.
    pub(crate) max_entries: usize,
    /// The system prompt.
    system: String,
}

/// A string that does not print.
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// The part of a chat-completions reply the plugin reads.
#[derive(Deserialize)]
struct Completion {
    /// The alternatives; the first one is used.
    choices: Vec<Choice>,
}

/// One alternative of a reply.
#[derive(Deserialize)]
struct Choice {
    /// The assistant's message.
    message: ChoiceMessage,
}

/// The assistant's message.
#[derive(Deserialize)]
struct ChoiceMessage {
    /// Its text; absent or null for tool calls, which count as empty.
    #[serde(default)]
    content: Option<String>,
}

impl Llm {
    pub(crate) fn new(config: LlmConfig) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            model: config.model,
            api_key: config.api_key.filter(|k| !k.is_empty()).map(Secret),
            timeout: config.timeout.0,
            max_entries: config.max_entries.max(1),
            system: config.system_prompt.unwrap_or_else(|| SYSTEM_PROMPT.to_owned()),
        }
    }

    /// An answer to `message` phrased from `entries` (question, answer).
    pub(crate) async fn phrase(&self, message: &str, entries: &[(&str, &str)]) -> Result<String, LlmError> {
        let mut context = String::from("FAQ entries:\n");
        for (i, (q, a)) in entries.iter().enumerate() {
            context.push_str(&format!("[{}] Q: {q}\nA: {a}\n", i + 1));
        }
        let body = serde_json::json!({
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": self.system},
                {"role": "user", "content": format!("{context}\nMember's message: {message}")},
            ],
        });
        let mut request = self.client.post(&self.url).json(&body).timeout(self.timeout);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(&key.0);
        }
        let send = async {
            let reply: Completion = request.send().await?.error_for_status()?.json().await?;
            Ok::<_, LlmError>(reply)
        };
        // reqwest's own timeout covers the request; this one also bounds a
        // slow body.
        let reply = tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| LlmError::Timeout(self.timeout))??;
        reply
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or(LlmError::Empty)
    }
}
