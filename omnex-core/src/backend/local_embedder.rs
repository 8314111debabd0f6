//! The local embedder: sentence-transformers/all-MiniLM-L6-v2 in pure Rust
//! ([`omnex_bert`]).
//!
//! BERT with 6 layers and 384 dimensions; inputs are truncated at 256 tokens,
//! token vectors are mean-pooled and L2-normalised, as sentence-transformers does,
//! so vectors match those of other tools.

use std::{path::Path, sync::Arc};

use async_trait::async_trait;
use omnex_bert::{Bert, BertConfig};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::{embed::Embedder, local_model, Error, Result};

use local_model::load_error;

/// The model id recorded with the data.
pub const MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// Longest input, in tokens (including `[CLS]` and `[SEP]`); longer inputs are truncated.
pub const MAX_TOKENS: usize = 256;
/// Tokens per forward pass: bounds the working memory (about 25 KB per token).
const TOKENS_PER_PASS: usize = 8192;

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
        let bytes = std::fs::read(dir.join("model.safetensors"))
            .map_err(|e| load_error(dir, "model.safetensors", e))?;
        let bert =
            Bert::load(config, bytes).map_err(|e| load_error(dir, "model.safetensors", e))?;
        Ok(Self {
            model: Arc::new(Model {
                dimension: bert.dimension(),
                bert,
                tokenizer,
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
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        // Sequences go end to end with no padding; passes of a bounded number of
        // tokens keep the working memory small for any batch.
        let mut out = Vec::with_capacity(ids.len());
        let mut start = 0;
        while start < ids.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < ids.len() && (end == start || tokens + ids[end].len() <= TOKENS_PER_PASS) {
                tokens += ids[end].len();
                end += 1;
            }
            out.extend(self.bert.embed(&ids[start..end]));
            start = end;
        }
        Ok(out)
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
