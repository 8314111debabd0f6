//! Semantic search: the query vector, the index, then the memories from the store.

use std::collections::HashMap;

use super::Omnex;
use crate::{
    model::{now, Memory, MemoryId, SearchHit, SearchRequest, VectorQuery},
    validate, Error, Result,
};

impl Omnex {
    /// Semantic search: the best memories for a query text or vector, best first.
    pub async fn search(&self, req: SearchRequest) -> Result<Vec<SearchHit>> {
        let k = validate::search_limit(req.limit)?;
        validate::filter(&req.filter)?;
        validate::min_score(req.min_score)?;
        validate::search_query(
            req.query.as_deref(),
            req.vector.as_deref(),
            self.dimension(),
        )?;
        let vector = match req.vector {
            Some(v) => v,
            // Validated above: without a vector there is a query text.
            None => self
                .embed_texts(&[req.query.unwrap_or_default()])
                .await?
                .pop()
                .ok_or_else(|| Error::internal("embedder", "returned no vector"))?,
        };
        if !self.inner.index.capabilities().shared {
            // A local index follows other processes' writes before answering. A shared
            // index already has them: each writer updates it, and the background sync
            // repairs what failed.
            self.sync_index().await?;
        }
        let query = VectorQuery {
            vector,
            k,
            filter: req.filter,
            min_score: req.min_score,
            now: now(),
        };
        let hits = self.inner.index.search(&query).await?;
        let ids: Vec<MemoryId> = hits.iter().map(|h| h.id).collect();
        let mut memories: HashMap<MemoryId, Memory> = self
            .inner
            .store
            .get_memories(&ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                let mut memory = memories.remove(&h.id)?;
                if !req.include_embedding {
                    memory.drop_embedding();
                }
                Some(SearchHit {
                    memory,
                    // Rounding can put the dot product of unit vectors a hair past 1.
                    score: h.score.clamp(-1.0, 1.0),
                })
            })
            .collect())
    }
}
