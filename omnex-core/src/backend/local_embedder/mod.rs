//! The local embedder: sentence-transformers/all-MiniLM-L6-v2 in pure Rust (candle).
//!
//! BERT with 6 layers and 384 dimensions; inputs are truncated at 256 tokens,
//! token vectors are mean-pooled over the attention mask and L2-normalised, as
//! sentence-transformers does, so vectors match those of other tools.

mod bert;

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use bert::{Bert, BertConfig};
use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::{embed::Embedder, local_model, Error, Result};

use local_model::load_error;

/// The model id recorded with the data.
pub const MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// Longest input, in tokens (including `[CLS]` and `[SEP]`); longer inputs are truncated.
pub const MAX_TOKENS: usize = 256;
/// Sequences per forward pass.
const BATCH: usize = 32;

struct Model {
    bert: Bert,
    tokenizer: Tokenizer,
    dimension: usize,
}

/// The local all-MiniLM-L6-v2 embedder.
#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<Model>,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("model", &MODEL_ID)
            .finish_non_exhaustive()
    }
}

fn candle_err(e: candle_core::Error) -> Error {
    Error::internal("local embedder", e)
}

impl LocalEmbedder {
    /// Finds the model and loads it, off the async runtime. When it is not found,
    /// `install` installs it ([`local_model::install_model`]); without it, the
    /// error says how to.
    pub async fn load(explicit_dir: Option<&Path>, install: bool) -> Result<Self> {
        let explicit = explicit_dir.map(Path::to_path_buf);
        tokio::task::spawn_blocking(move || {
            let dir = if install {
                local_model::install_model(explicit.as_deref())?
            } else {
                local_model::model_dir(explicit.as_deref())?
            };
            Self::load_dir(&dir)
        })
        .await
        .map_err(|e| Error::internal("local embedder", e))?
    }

    /// Loads the model from a directory holding `config.json`, `tokenizer.json`
    /// and `model.safetensors` (blocking: [`load`](Self::load) runs it on the
    /// blocking pool).
    #[allow(clippy::disallowed_methods)]
    pub fn load_dir(dir: &Path) -> Result<Self> {
        let config: BertConfig = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| load_error(dir, "config.json", e))
            .and_then(|s| {
                serde_json::from_str(&s).map_err(|e| load_error(dir, "config.json", e))
            })?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| load_error(dir, "tokenizer.json", e))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| load_error(dir, "tokenizer.json", e))?;
        tokenizer.with_padding(None);
        let weights = dir.join("model.safetensors");
        // Safety is not a concern here: the file is read, not mapped.
        let bytes = std::fs::read(&weights).map_err(|e| load_error(dir, "model.safetensors", e))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &bert::device())
            .map_err(|e| load_error(dir, "model.safetensors", e))?;
        let bert = Bert::load(vb, &config).map_err(|e| load_error(dir, "model.safetensors", e))?;
        Ok(Self {
            model: Arc::new(Model {
                bert,
                tokenizer,
                dimension: config.hidden_size,
            }),
        })
    }

    /// Embeds texts on the calling thread (blocking; uses every core for large batches).
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.model.embed(texts)
    }
}

impl Model {
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| Error::internal("local embedder", format!("tokenizer: {e}")))?;
        // Sort by length so each forward pass pads as little as possible.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].get_ids().len());
        // Split into one sub-batch per core (at most BATCH sequences each) and run
        // them in parallel: the element-wise parts of the forward pass are
        // single-threaded, so this keeps every core busy.
        let threads = rayon::current_num_threads().max(1);
        let per = texts.len().div_ceil(threads).clamp(1, BATCH);
        let chunks: Vec<&[usize]> = order.chunks(per).collect();
        let results: Vec<Result<Vec<Vec<f32>>>> = chunks
            .par_iter()
            .map(|chunk| {
                let max_len = chunk
                    .iter()
                    .map(|&i| encodings[i].get_ids().len())
                    .max()
                    .unwrap_or(1)
                    .max(1);
                let mut ids = Vec::with_capacity(chunk.len() * max_len);
                let mut mask = Vec::with_capacity(chunk.len() * max_len);
                for &i in chunk.iter() {
                    let e = encodings[i].get_ids();
                    ids.extend_from_slice(e);
                    ids.extend(std::iter::repeat_n(0u32, max_len - e.len()));
                    mask.extend(std::iter::repeat_n(1u32, e.len()));
                    mask.extend(std::iter::repeat_n(0u32, max_len - e.len()));
                }
                self.forward(ids, mask, chunk.len(), max_len)
                    .map_err(candle_err)
            })
            .collect();
        let mut out = vec![Vec::new(); texts.len()];
        for (chunk, vectors) in chunks.iter().zip(results) {
            for (&i, v) in chunk.iter().zip(vectors?) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn forward(
        &self,
        ids: Vec<u32>,
        mask: Vec<u32>,
        batch: usize,
        len: usize,
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let device = bert::device();
        let input_ids = Tensor::from_vec(ids, (batch, len), &device)?;
        let attention_mask = Tensor::from_vec(mask, (batch, len), &device)?;
        let hidden = self.bert.forward(&input_ids, &attention_mask)?;
        // Mean pooling over real tokens, then L2 normalisation.
        let mask_f = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask_f)?.sum(1)?;
        let counts = mask_f.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        mean.broadcast_div(&norms)?.to_vec2::<f32>()
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        MODEL_ID
    }

    fn dimension(&self) -> usize {
        self.model.dimension
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let model = Arc::clone(&self.model);
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || model.embed(&texts))
            .await
            .map_err(|e| Error::internal("local embedder", e))?
    }
}
