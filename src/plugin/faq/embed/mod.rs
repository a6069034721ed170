//! Semantic matching: sentence vectors of the entries' questions and of the
//! message, blended with the lexical score (`embedding:`).
//!
//! Vectors come from a [`VectorSource`]: a local sentence-transformers model
//! folder (`model_dir`, feature `embedding`, see `local`) or an
//! OpenAI-compatible `/embeddings` endpoint (`base_url`, see `endpoint`).
//! The entries' vectors are computed once (when the plugin starts, or at the
//! first message if that failed); each message costs one vector.
//!
//! An entry's semantic score ([`semantic_scores`]) is the probability a
//! classifier head gives the entry (a softmax regression trained on the
//! entries' questions and answers and on ordinary chatter, see `head`),
//! gated by the cosine similarity between the message and the entry's
//! centre (the mean of its questions' unit vectors: what its questions have
//! in common): at or below `floor` the entry counts as unrelated, whatever
//! the head says, and from `full` on the gate is open ([`Scale`]). The head
//! tells apart entries whose questions look alike; the gate keeps a message
//! that is near no entry silent. [`Semantic::blend`] is the one place where
//! it meets the lexical score, so the plugin's `threshold` keeps its
//! meaning.
//!
//! # Files
//!
//! - `endpoint`: the OpenAI-compatible embeddings client.
//! - `head`: the classifier head and its training.
//! - `local`: the candle BERT runner (feature `embedding`).
//! - `background_en.txt`, `background_zh.txt`: the chatter the head's none
//!   class learns from (self-written).

mod endpoint;
mod head;
#[cfg(feature = "embedding")]
mod local;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;

use super::index::{EntryText, Scored};
use crate::config::{ConfigError, Options};
use crate::text::tokenize::is_cjk;
use head::Head;

/// Options of `embedding:`: either `model_dir` or `base_url` and `model`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// A sentence-transformers model folder (BERT family, mean pooling:
    /// `model.safetensors`, `tokenizer.json`, `config.json`), relative to the
    /// bot file's folder; run on the CPU. Needs a build with the `embedding`
    /// feature.
    #[serde(default)]
    pub model_dir: Option<String>,
    /// An OpenAI-compatible API root, e.g. `https://api.openai.com/v1`; the
    /// plugin posts to `{base_url}/embeddings`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The model name sent to `base_url`.
    #[serde(default)]
    pub model: Option<String>,
    /// Sent to `base_url` as `Authorization: Bearer …` when set; write
    /// `${VAR}` so it comes from the environment.
    #[serde(default)]
    pub api_key: Option<String>,
    /// How long one request to `base_url` may take; after it the message is
    /// matched lexically. Default 10s.
    #[serde(default = "default_timeout")]
    pub timeout: crate::config::Duration,
    /// The semantic score's share of the blended score (0 to 1). Default
    /// [`DEFAULT_WEIGHT`].
    #[serde(default = "default_weight")]
    pub weight: f32,
    /// Cosine similarity (with an entry's centre) at or below which the
    /// entry counts as unrelated (semantic score 0, whatever the classifier
    /// head says). Default [`DEFAULT_FLOOR`], calibrated for
    /// all-MiniLM-L6-v2; other models spread their similarities differently.
    #[serde(default = "default_floor")]
    pub floor: f32,
    /// Cosine similarity from which the entry's semantic score is the
    /// head's probability in full (between `floor` and `full` it rises
    /// linearly from 0 to it). Default [`DEFAULT_FULL`].
    #[serde(default = "default_full")]
    pub full: f32,
    /// The model reads Chinese as well as English. When false (the default:
    /// English models such as MiniLM), the semantic score counts only for
    /// messages without Chinese characters, so Chinese messages (even ones
    /// naming an English song or brand) are matched lexically alone.
    #[serde(default)]
    pub multilingual: bool,
}

/// The default `weight`. With [`DEFAULT_FLOOR`], [`DEFAULT_FULL`] and the
/// head's [`head::C`], chosen for all-MiniLM-L6-v2 on the even-numbered dev
/// queries of clinc150 and banking77, scored at the default threshold (also
/// with out-of-scope messages counted at 18%), and on small knowledge bases
/// cut from them (1–5 entries, every other query out of scope), where the
/// gate keeps wrong answers as rare as the plain cosine did (`calibration`).
pub(crate) const DEFAULT_WEIGHT: f32 = 0.7;
/// The default `floor` (see [`EmbeddingConfig::floor`]).
pub(crate) const DEFAULT_FLOOR: f32 = 0.25;
/// The default `full` (see [`EmbeddingConfig::full`]).
pub(crate) const DEFAULT_FULL: f32 = 0.45;

fn default_timeout() -> crate::config::Duration {
    crate::config::Duration(Duration::from_secs(10))
}

fn default_weight() -> f32 {
    DEFAULT_WEIGHT
}

fn default_floor() -> f32 {
    DEFAULT_FLOOR
}

fn default_full() -> f32 {
    DEFAULT_FULL
}

/// Why vectors could not be had (the plugin logs it and matches lexically).
#[derive(Debug, thiserror::Error)]
pub(crate) enum EmbedError {
    /// Connection, status or body errors of the endpoint.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The endpoint did not answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The endpoint or model returned something unusable.
    #[error("{0}")]
    Invalid(String),
    /// The local model failed.
    #[cfg(feature = "embedding")]
    #[error("model: {0}")]
    Model(String),
}

/// Where sentence vectors come from.
#[async_trait]
pub(crate) trait VectorSource: Send + Sync + std::fmt::Debug {
    /// One vector per text, in order (any length; the caller normalises).
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// The gate of the semantic score: a cosine similarity mapped onto `0..=1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scale {
    /// Similarity that maps to 0.
    pub(crate) floor: f32,
    /// Similarity that maps to 1.
    pub(crate) full: f32,
}

impl Scale {
    /// `cos` on the calibrated scale, linear between `floor` and `full`.
    pub(crate) fn map(self, cos: f32) -> f32 {
        ((cos - self.floor) / (self.full - self.floor)).clamp(0.0, 1.0)
    }
}

/// The semantic side of the index: the source, the entries' vectors and
/// head, and how the two scores blend.
#[derive(Debug)]
pub(crate) struct Semantic {
    /// Where vectors come from; behind an `Arc` so a local model can run on
    /// a blocking thread.
    source: Arc<dyn VectorSource>,
    /// Every text the head learns from, with its role.
    texts: Vec<(Role, String)>,
    /// How many entries there are (the lexical index numbers them alike).
    entries: usize,
    /// The entries' centres and the trained head, computed once; a Tokio
    /// cell so concurrent first messages wait for one computation, and a
    /// failed one (endpoint down) is tried again at the next message.
    prepared: tokio::sync::OnceCell<Arc<Prepared>>,
    /// The semantic share of the blend.
    weight: f32,
    /// Cosine → gate.
    scale: Scale,
    /// Whether the model reads Chinese.
    multilingual: bool,
}

/// What a text of the knowledge base is to the semantic index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// A question of entry `.0`: part of its centre and of its examples.
    Question(usize),
    /// The answer of entry `.0`: one more example of it.
    Answer(usize),
    /// Ordinary chatter: an example of the none class.
    Chatter,
}

/// The knowledge base as vectors.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Each entry's centre (empty for an entry without questions).
    pub(crate) centres: Vec<Vec<f32>>,
    /// The classifier over the entries and the none class.
    pub(crate) head: Head,
}

impl Semantic {
    /// Compile `config` (located by `options`, the plugin's options, at
    /// `embedding.*`) for `entries`; relative `model_dir`s resolve from
    /// `base_dir`.
    pub(crate) fn build(
        config: EmbeddingConfig,
        entries: &[EntryText],
        options: &Options,
        base_dir: &Path,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let at = |key: &str, message: String| options.error_at(&format!("embedding.{key}"), message);
        if !(0.0..=1.0).contains(&config.weight) {
            errors.push(at("weight", "must be between 0 and 1".into()));
        }
        if !(config.floor < config.full && (-1.0..=1.0).contains(&config.floor) && config.full <= 1.0) {
            errors.push(at("full", "needs -1 ≤ floor < full ≤ 1".into()));
        }
        let source: Option<Arc<dyn VectorSource>> = match (&config.model_dir, &config.base_url) {
            (Some(_), Some(_)) => {
                errors.push(at(
                    "base_url",
                    "write either `model_dir` or `base_url`, not both".into(),
                ));
                None
            }
            (None, None) => {
                errors.push(options.error_at(
                    "embedding",
                    "needs `model_dir` (a local model folder) or `base_url` and `model` (an endpoint)",
                ));
                None
            }
            (Some(dir), None) => match local_source(&base_dir.join(dir)) {
                Ok(source) => Some(source),
                Err(message) => {
                    errors.push(at("model_dir", message));
                    None
                }
            },
            (None, Some(url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    errors.push(at("base_url", "must start with http:// or https://".into()));
                }
                match &config.model {
                    Some(model) if !model.trim().is_empty() => Some(Arc::new(endpoint::Endpoint::new(
                        url,
                        model,
                        config.api_key.as_deref(),
                        config.timeout.0,
                    ))),
                    _ => {
                        errors.push(at("base_url", "an endpoint needs `model` too".into()));
                        None
                    }
                }
            }
        };
        match source {
            Some(source) if errors.is_empty() => Ok(Self::new(
                source,
                entries,
                config.weight,
                Scale {
                    floor: config.floor,
                    full: config.full,
                },
                config.multilingual,
            )),
            _ => Err(errors),
        }
    }

    /// A semantic index over `entries` from `source`.
    pub(crate) fn new(
        source: Arc<dyn VectorSource>,
        entries: &[EntryText],
        weight: f32,
        scale: Scale,
        multilingual: bool,
    ) -> Self {
        Self {
            source,
            texts: texts_of(entries, multilingual),
            entries: entries.len(),
            prepared: tokio::sync::OnceCell::new(),
            weight,
            scale,
            multilingual,
        }
    }

    /// Compute the entries' vectors and head now if they are not yet (the
    /// plugin's start). An error leaves them to the next message.
    pub(crate) async fn prepare(&self) -> Result<(), EmbedError> {
        self.prepared().await.map(|_| ())
    }

    /// The lexical ranking `lexical` (every entry with a positive score, best
    /// first) blended with the semantic scores of `text`: the ranking the
    /// plugin answers from. Each entry scores `(1 − w)·lexical + w·semantic`
    /// (and is ranked by the same blend of its lexical `order`),
    /// where `w` is the weight, or 0 for a text the model cannot read.
    /// When vectors cannot be had the lexical ranking stands (and the
    /// failure is logged).
    pub(crate) async fn blend(&self, text: &str, lexical: Vec<Scored>) -> Vec<Scored> {
        let w = self.weight * self.coverage(text);
        if w <= 0.0 {
            return lexical;
        }
        let semantic = match self.scores(text).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "faq: embedding failed; matching lexically");
                return lexical;
            }
        };
        let mut scores: Vec<f32> = semantic.iter().map(|&s| w * s).collect();
        let mut order = scores.clone();
        for s in &lexical {
            scores[s.entry] += (1.0 - w) * s.score;
            order[s.entry] += (1.0 - w) * s.order;
        }
        rank(&scores, &order)
    }

    /// How much of `text` the model reads: all of it for a multilingual
    /// model; for an English one, an English message (see [`english`])
    /// and nothing else.
    fn coverage(&self, text: &str) -> f32 {
        if self.multilingual || english(text) {
            1.0
        } else {
            0.0
        }
    }

    /// Each entry's semantic score for `text`.
    async fn scores(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let prepared = self.prepared().await?;
        let query = self.vectors_of(std::slice::from_ref(&text.to_owned())).await?;
        let query = query
            .into_iter()
            .next()
            .ok_or_else(|| EmbedError::Invalid("no vector for the message".into()))?;
        Ok(semantic_scores(&query, &prepared, self.scale))
    }

    /// The entries' centres and head, computed at the first call: one batch
    /// of vectors, then the head's training on a blocking thread.
    async fn prepared(&self) -> Result<Arc<Prepared>, EmbedError> {
        self.prepared
            .get_or_try_init(|| async {
                let texts: Vec<String> = self.texts.iter().map(|(_, t)| t.clone()).collect();
                let started = std::time::Instant::now();
                let vectors = self.vectors_of(&texts).await?;
                let embedded = started.elapsed();
                let roles: Vec<Role> = self.texts.iter().map(|(r, _)| *r).collect();
                let entries = self.entries;
                let prepared = tokio::task::spawn_blocking(move || prepare(entries, &roles, vectors))
                    .await
                    .map_err(|e| EmbedError::Invalid(format!("training the head: {e}")))?;
                tracing::info!(
                    texts = texts.len(),
                    embed_ms = embedded.as_millis() as u64,
                    train_ms = (started.elapsed() - embedded).as_millis() as u64,
                    iterations = prepared.head.iterations,
                    "faq: embedded the knowledge base"
                );
                Ok(Arc::new(prepared))
            })
            .await
            .cloned()
    }

    /// Unit vectors of `texts`, checked for count and dimension.
    async fn vectors_of(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = self.source.embed(texts).await?;
        if vectors.len() != texts.len() {
            return Err(EmbedError::Invalid(format!(
                "{} vectors for {} texts",
                vectors.len(),
                texts.len()
            )));
        }
        for v in &mut vectors {
            normalize(v);
        }
        // Against the knowledge base's vectors once known; within the batch
        // before.
        let dim = match self.prepared.get() {
            Some(p) => Some(p.head.dim()),
            None => vectors.first().map(Vec::len),
        };
        if let Some(dim) = dim {
            if vectors.iter().any(|v| v.len() != dim) {
                return Err(EmbedError::Invalid(format!(
                    "vectors of another dimension than the knowledge base's ({dim})"
                )));
            }
        }
        Ok(vectors)
    }
}

/// The texts the semantic index embeds for `entries`: every question, every
/// answer, and the chatter of the none class (English, and Chinese too for
/// a multilingual model).
fn texts_of(entries: &[EntryText], multilingual: bool) -> Vec<(Role, String)> {
    let mut out = Vec::new();
    for (e, entry) in entries.iter().enumerate() {
        for q in entry.questions.iter().filter(|q| !q.trim().is_empty()) {
            out.push((Role::Question(e), q.clone()));
        }
    }
    for (e, entry) in entries.iter().enumerate() {
        if !entry.answer.trim().is_empty() {
            out.push((Role::Answer(e), entry.answer.clone()));
        }
    }
    let chatter = head::BACKGROUND_EN
        .lines()
        .chain(head::BACKGROUND_ZH.lines().filter(|_| multilingual));
    out.extend(
        chatter
            .filter(|l| !l.trim().is_empty())
            .map(|l| (Role::Chatter, l.to_owned())),
    );
    out
}

/// Centres and head from the unit `vectors` of texts with `roles`, for
/// `entries` entries.
fn prepare(entries: usize, roles: &[Role], vectors: Vec<Vec<f32>>) -> Prepared {
    let dim = vectors.first().map_or(0, Vec::len);
    let samples: Vec<(usize, &[f32])> = roles
        .iter()
        .zip(&vectors)
        .filter(|(_, v)| v.iter().any(|x| *x != 0.0))
        .map(|(role, v)| {
            let class = match *role {
                Role::Question(e) | Role::Answer(e) => e,
                Role::Chatter => entries,
            };
            (class, v.as_slice())
        })
        .collect();
    let head = Head::train(&samples, entries + 1, dim);
    let questions = roles.iter().zip(vectors).filter_map(|(role, v)| match role {
        Role::Question(e) => Some((*e, v)),
        _ => None,
    });
    Prepared {
        centres: centres(entries, questions),
        head,
    }
}

/// Each entry's semantic score for the unit vector `query`: the head's
/// probability of the entry, times the gate `scale` puts on its cosine
/// with the entry's centre. The one formula the plugin and its calibration
/// share.
pub(crate) fn semantic_scores(query: &[f32], prepared: &Prepared, scale: Scale) -> Vec<f32> {
    let p = prepared.head.probabilities(query);
    cosines(query, &prepared.centres)
        .iter()
        .zip(p)
        .map(|(&cos, p)| p * scale.map(cos))
        .collect()
}

/// Whether an English model can read `text`: it has a Latin word and no
/// Chinese character. In a Chinese message the English words are names (a
/// song, a brand) that say little of what it asks: blending their vector
/// cost accuracy on xsid_zh (0.761–0.779 with the semantic score counted
/// by the share of Latin words, against 0.789 lexically when it was
/// measured).
pub(crate) fn english(text: &str) -> bool {
    !text.chars().any(is_cjk) && text.chars().any(char::is_alphanumeric)
}

/// The unit mean of each entry's question vectors (`(entry, unit vector)`
/// pairs) for `entries` entries; empty for an entry without questions.
pub(crate) fn centres(entries: usize, vectors: impl IntoIterator<Item = (usize, Vec<f32>)>) -> Vec<Vec<f32>> {
    let mut sums: Vec<Vec<f32>> = vec![Vec::new(); entries];
    for (entry, v) in vectors {
        let sum = &mut sums[entry];
        if sum.is_empty() {
            *sum = v;
        } else {
            sum.iter_mut().zip(&v).for_each(|(s, x)| *s += x);
        }
    }
    for sum in &mut sums {
        normalize(sum);
    }
    sums
}

/// The cosine of the unit vector `query` with each entry's centre (-1 for
/// an entry without one).
pub(crate) fn cosines(query: &[f32], centres: &[Vec<f32>]) -> Vec<f32> {
    centres
        .iter()
        .map(|c| if c.is_empty() { -1.0 } else { dot(query, c) })
        .collect()
}

/// Entries with a positive score, best `order` first (ties: the better
/// score, then the earlier entry).
fn rank(scores: &[f32], order: &[f32]) -> Vec<Scored> {
    let mut out: Vec<Scored> = scores
        .iter()
        .zip(order)
        .enumerate()
        .filter(|&(_, (&s, _))| s > 0.0)
        .map(|(entry, (&score, &order))| Scored {
            entry,
            score: score.min(1.0),
            order: order.min(1.0),
        })
        .collect();
    Scored::sort(&mut out);
    out
}

/// Scale `v` to unit length (a zero vector stays zero).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        for x in v {
            *x /= norm;
        }
    }
}

/// The dot product (the cosine of unit vectors).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_in_lanes::<f32, 8>(a, b)
}

/// The dot product summed in `L` lanes, so that it vectorises (a plain sum
/// does not: float addition is not associative). Over the shorter length.
fn dot_in_lanes<T, const L: usize>(a: &[T], b: &[T]) -> T
where
    T: Copy + Default + std::ops::Add<Output = T> + std::ops::Mul<Output = T> + std::iter::Sum,
{
    let n = a.len().min(b.len());
    let split = n - n % L;
    let mut lanes = [T::default(); L];
    for (x, y) in a[..split].chunks_exact(L).zip(b[..split].chunks_exact(L)) {
        for i in 0..L {
            lanes[i] = lanes[i] + x[i] * y[i];
        }
    }
    let tail: T = a[split..n].iter().zip(&b[split..n]).map(|(x, y)| *x * *y).sum();
    lanes.into_iter().sum::<T>() + tail
}

/// The local model source, or why it cannot be had.
#[cfg(feature = "embedding")]
fn local_source(dir: &Path) -> Result<Arc<dyn VectorSource>, String> {
    Ok(Arc::new(local::LocalModel::load(dir)?))
}

/// Without the feature there is no local model.
#[cfg(not(feature = "embedding"))]
fn local_source(_dir: &Path) -> Result<Arc<dyn VectorSource>, String> {
    Err("this build lacks the `embedding` feature; build with `--features embedding`".into())
}

#[cfg(all(test, feature = "embedding"))]
mod calibration;
#[cfg(test)]
mod tests;
