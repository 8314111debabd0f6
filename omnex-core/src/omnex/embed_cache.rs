//! Embedding through the cache: keyed by model and a SHA-256 of the text.

use std::time::Duration;

use bytes::Bytes;
use tracing::debug;

use super::Omnex;
use crate::{validate, vector, Error, Result};

/// How long an embedding stays in the cache.
const EMBEDDING_TTL: Duration = Duration::from_secs(3600);

impl Omnex {
    /// Embeds texts with the configured embedder, through the cache.
    pub async fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let embedder = self.inner.embedder.as_ref().ok_or_else(|| {
            Error::invalid_input(
                "embedding",
                "no embedder is configured; supply embeddings or vectors",
            )
        })?;
        // Keyed by model and a SHA-256 of the text: short keys, and no text in the cache's keyspace.
        let key = |t: &str| {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(t.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("emb:{}:{hex}", embedder.model_id())
        };
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        if let Some(cache) = &self.inner.cache {
            for (slot, t) in out.iter_mut().zip(texts) {
                match cache.get(&key(t)).await {
                    Ok(Some(bytes)) if bytes.len() == embedder.dimension() * 4 => {
                        *slot = Some(vector::decode(&bytes));
                    }
                    Ok(_) => {}
                    Err(e) => debug!(error = %e, "cache read failed; treated as a miss"),
                }
            }
        }
        let missing: Vec<String> = out
            .iter()
            .zip(texts)
            .filter(|(v, _)| v.is_none())
            .map(|(_, t)| t.clone())
            .collect();
        if !missing.is_empty() {
            let started = std::time::Instant::now();
            let vectors = embedder.embed(&missing).await?;
            metrics::histogram!("omnex_embed_seconds").record(started.elapsed().as_secs_f64());
            metrics::counter!("omnex_embedded_texts_total").increment(missing.len() as u64);
            if vectors.len() != missing.len() {
                return Err(Error::internal(
                    "embedder",
                    "returned a different number of vectors",
                ));
            }
            let mut fresh = vectors.into_iter();
            for (slot, t) in out.iter_mut().zip(texts) {
                if slot.is_none() {
                    let v = fresh.next().unwrap_or_default();
                    validate::vector("embedding", &v, embedder.dimension())
                        .map_err(|e| Error::internal("embedder", e))?;
                    if let Some(cache) = &self.inner.cache {
                        let bytes = vector::encode(&v);
                        if let Err(e) = cache
                            .set(&key(t), Bytes::from(bytes), Some(EMBEDDING_TTL))
                            .await
                        {
                            debug!(error = %e, "cache write failed");
                        }
                    }
                    *slot = Some(v);
                }
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}
