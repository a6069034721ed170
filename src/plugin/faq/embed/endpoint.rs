//! Sentence vectors from an OpenAI-compatible embeddings endpoint
//! (`POST {base_url}/embeddings` with `{"model", "input": [...]}`).

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use super::{EmbedError, VectorSource};

/// How many texts one request carries (the knowledge base goes in batches;
/// OpenAI accepts up to 2048 inputs, smaller servers less).
const BATCH: usize = 64;

/// A configured endpoint.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// One per plugin, like `llm`'s: its pooled connections belong to the
    /// runtime that opened them.
    client: reqwest::Client,
    /// `{base_url}/embeddings`.
    url: String,
    /// The model name sent with every request.
    model: String,
    /// Kept out of Debug output.
    api_key: Option<Secret>,
    /// Bound on each request.
    timeout: Duration,
}

/// A string that does not print.
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// The part of an embeddings reply the plugin reads.
#[derive(Deserialize)]
struct Reply {
    /// One item per input.
    data: Vec<Item>,
}

/// One input's vector.
#[derive(Deserialize)]
struct Item {
    /// Which input it belongs to (servers may reorder).
    index: usize,
    /// The vector (`encoding_format` float, the default).
    embedding: Vec<f32>,
}

impl Endpoint {
    pub(crate) fn new(base_url: &str, model: &str, api_key: Option<&str>, timeout: Duration) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: format!("{}/embeddings", base_url.trim_end_matches('/')),
            model: model.to_owned(),
            api_key: api_key.filter(|k| !k.is_empty()).map(|k| Secret(k.to_owned())),
            timeout,
        }
    }

    /// The vectors of one batch, in input order.
    async fn batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = serde_json::json!({
            "model": self.model,
            "input": texts,
            "encoding_format": "float",
        });
        let mut request = self.client.post(&self.url).json(&body).timeout(self.timeout);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(&key.0);
        }
        let send = async {
            let reply: Reply = request.send().await?.error_for_status()?.json().await?;
            Ok::<_, EmbedError>(reply)
        };
        // reqwest's own timeout covers the request; this one also bounds a
        // slow body.
        let reply = tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| EmbedError::Timeout(self.timeout))??;
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for item in reply.data {
            match out.get_mut(item.index) {
                Some(slot @ None) => *slot = Some(item.embedding),
                _ => {
                    return Err(EmbedError::Invalid(format!(
                        "the endpoint answered index {} twice or out of range",
                        item.index
                    )));
                }
            }
        }
        out.into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.filter(|v| !v.is_empty())
                    .ok_or_else(|| EmbedError::Invalid(format!("no vector for input {i}")))
            })
            .collect()
    }
}

#[async_trait]
impl VectorSource for Endpoint {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.batch(chunk).await?);
        }
        Ok(out)
    }
}
