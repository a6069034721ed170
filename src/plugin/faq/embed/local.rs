//! A sentence-transformers model folder run on the CPU with candle: BERT,
//! mean pooling over the tokens (what all-MiniLM-L6-v2 and its family do).
//!
//! The folder needs `config.json` (the BERT configuration),
//! `tokenizer.json` (a Hugging Face tokenizer) and `model.safetensors`;
//! `1_Pooling/config.json` and `sentence_bert_config.json`, when present,
//! must ask for mean pooling and may bound the sequence length.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{EmbedError, VectorSource};

/// The files a model folder must hold.
const REQUIRED: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Texts per forward pass: large enough to use the matrix kernels well,
/// small enough that padding to the longest stays cheap.
const BATCH: usize = 32;

/// A loaded model.
#[derive(Debug, Clone)]
pub(crate) struct LocalModel {
    /// Shared with the blocking thread each call runs on.
    inner: Arc<Inner>,
}

/// The model proper.
struct Inner {
    /// The BERT encoder, weights in memory.
    model: BertModel,
    /// Word pieces, padded to the longest text of a batch.
    tokenizer: Tokenizer,
    /// The CPU.
    device: Device,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalModel")
    }
}

/// `1_Pooling/config.json`, the part read.
#[derive(Deserialize)]
struct Pooling {
    /// Must be true: the only pooling implemented.
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
}

/// `sentence_bert_config.json`, the part read.
#[derive(Deserialize)]
struct SentenceConfig {
    /// Longer texts are cut to this many word pieces.
    max_seq_length: Option<usize>,
}

impl LocalModel {
    /// Load the folder `dir`; the error says what is missing or wrong.
    pub(crate) fn load(dir: &Path) -> Result<Self, String> {
        let shown = dir.display();
        if !dir.is_dir() {
            return Err(format!("no model folder at {shown}"));
        }
        let missing: Vec<&str> = REQUIRED.into_iter().filter(|f| !dir.join(f).is_file()).collect();
        if !missing.is_empty() {
            return Err(format!(
                "{shown} is not a sentence-transformers model folder: no {}",
                missing.join(", ")
            ));
        }
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| format!("{shown}/config.json is not a BERT configuration: {e}"))?;
        if dir.join("1_Pooling/config.json").is_file() {
            let pooling: Pooling = serde_json::from_slice(&read("1_Pooling/config.json")?)
                .map_err(|e| format!("{shown}/1_Pooling/config.json: {e}"))?;
            if !pooling.pooling_mode_mean_tokens {
                return Err(format!(
                    "{shown}: only mean pooling is supported (1_Pooling/config.json)"
                ));
            }
        }
        let mut max_len = config.max_position_embeddings;
        if dir.join("sentence_bert_config.json").is_file() {
            let sentence: SentenceConfig = serde_json::from_slice(&read("sentence_bert_config.json")?)
                .map_err(|e| format!("{shown}/sentence_bert_config.json: {e}"))?;
            max_len = sentence.max_seq_length.map_or(max_len, |m| m.min(max_len));
        }
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| format!("{shown}/tokenizer.json: {e}"))?;
        let pad_id = tokenizer
            .get_padding()
            .map_or(config.pad_token_id as u32, |p| p.pad_id);
        tokenizer
            .with_padding(Some(PaddingParams {
                strategy: PaddingStrategy::BatchLongest,
                pad_id,
                ..PaddingParams::default()
            }))
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..TruncationParams::default()
            }))
            .map_err(|e| format!("{shown}/tokenizer.json: {e}"))?;
        let device = Device::Cpu;
        let weights = VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &device)
            .map_err(|e| format!("{shown}/model.safetensors: {e}"))?;
        let model = BertModel::load(weights, &config)
            .map_err(|e| format!("{shown}/model.safetensors does not fit config.json: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                model,
                tokenizer,
                device,
            }),
        })
    }
}

impl Inner {
    /// Mean-pooled vectors of `texts`, in order; texts of similar length are
    /// batched together so padding stays short.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = |e: &dyn std::fmt::Display| EmbedError::Model(e.to_string());
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
            let encodings = self.tokenizer.encode_batch(batch, true).map_err(|e| model(&e))?;
            let rows = |f: fn(&tokenizers::Encoding) -> &[u32]| {
                let rows: Vec<Tensor> = encodings
                    .iter()
                    .map(|e| Tensor::new(f(e), &self.device))
                    .collect::<candle_core::Result<_>>()?;
                Tensor::stack(&rows, 0)
            };
            let ids = rows(tokenizers::Encoding::get_ids).map_err(|e| model(&e))?;
            let types = rows(tokenizers::Encoding::get_type_ids).map_err(|e| model(&e))?;
            let mask = rows(tokenizers::Encoding::get_attention_mask).map_err(|e| model(&e))?;
            let hidden = self
                .model
                .forward(&ids, &types, Some(&mask))
                .map_err(|e| model(&e))?;
            let pooled = mean_pool(&hidden, &mask).map_err(|e| model(&e))?;
            let vectors: Vec<Vec<f32>> = pooled.to_vec2().map_err(|e| model(&e))?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

/// The mean of `hidden` (batch × tokens × dims) over the tokens whose `mask`
/// (batch × tokens, 1 or 0) is 1: padding does not count.
pub(crate) fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
    let count = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    sum.broadcast_div(&count)
}

#[async_trait]
impl VectorSource for LocalModel {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // Seconds of arithmetic for a knowledge base: off the async workers.
        let inner = self.inner.clone();
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || inner.embed(&texts))
            .await
            .map_err(|e| EmbedError::Model(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pool_ignores_padding() {
        let hidden = Tensor::new(
            &[
                [[1.0f32, 2.0], [3.0, 4.0], [100.0, 100.0]],
                [[5.0, 6.0], [0.0, 0.0], [0.0, 0.0]],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0], [1, 0, 0]], &Device::Cpu).unwrap();
        let pooled: Vec<Vec<f32>> = mean_pool(&hidden, &mask).unwrap().to_vec2().unwrap();
        assert_eq!(pooled, vec![vec![2.0, 3.0], vec![5.0, 6.0]]);
    }

    /// The real all-MiniLM-L6-v2 (`QUNBOT_TEST_MINILM`, required in a build
    /// with this feature: see tests/faq_embed.rs): paraphrases are closer
    /// than unrelated sentences, and batching does not change a vector.
    #[tokio::test]
    async fn minilm_ranks_paraphrases_above_unrelated_sentences() {
        let dir = std::env::var_os("QUNBOT_TEST_MINILM")
            .expect("set QUNBOT_TEST_MINILM to the all-MiniLM-L6-v2 folder (see .ci/run)");
        let model = LocalModel::load(Path::new(&dir)).unwrap();
        let texts: Vec<String> = [
            "How do I get a refund?",
            "I want my money back",
            "Can I return this for a refund of the full price please",
            "What will the weather be like tomorrow?",
        ]
        .map(String::from)
        .to_vec();
        let mut v = model.embed(&texts).await.unwrap();
        assert!(v.iter().all(|v| v.len() == 384), "MiniLM has 384 dimensions");
        v.iter_mut().for_each(|v| super::super::normalize(v));
        let cos = |a: usize, b: usize| super::super::dot(&v[a], &v[b]);
        assert!(cos(0, 1) > cos(0, 3) + 0.2, "{} vs {}", cos(0, 1), cos(0, 3));
        assert!(cos(0, 2) > cos(2, 3), "{} vs {}", cos(0, 2), cos(2, 3));
        // Alone (no padding) equals in a batch (padded to the longest).
        let mut alone = model.embed(&texts[1..2]).await.unwrap();
        super::super::normalize(&mut alone[0]);
        assert!(super::super::dot(&alone[0], &v[1]) > 0.9999);
    }

    #[test]
    fn load_names_the_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let err = LocalModel::load(dir.path()).unwrap_err();
        assert!(err.contains("no tokenizer.json, model.safetensors"), "{err}");
        let err = LocalModel::load(&dir.path().join("nope")).unwrap_err();
        assert!(err.starts_with("no model folder at "), "{err}");
    }
}
