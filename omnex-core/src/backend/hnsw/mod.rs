//! In-memory HNSW index through hnsw_rs (cosine similarity on unit vectors).
//!
//! hnsw_rs cannot remove points, so deletes and updates leave tombstones that
//! searches skip; when tombstones outnumber live points the graph is rebuilt from
//! the live ones, so add/delete cycles never grow memory without bound.
//! Filters are applied inside the search: small filtered sets (found through
//! posting lists on the scope fields) are searched exactly, larger ones through
//! the graph with the filter as a predicate, with an exact fallback whenever the
//! graph yields fewer than `k` hits.

mod graph;

use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;

use crate::{
    index::{IndexCapabilities, VectorIndex},
    model::{Hit, IndexEntry, MemoryId, VectorQuery},
    validate, Error, Result,
};

use graph::State;

/// Tuning of the HNSW graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HnswParams {
    /// Neighbours kept per node and layer (`M`).
    pub m: usize,
    /// Candidates explored while inserting.
    pub ef_construction: usize,
    /// Candidates explored while searching (at least `k`).
    pub ef_search: usize,
    /// Filtered sets at most this large are searched exactly.
    pub exact_threshold: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            exact_threshold: 2048,
        }
    }
}

/// The in-memory HNSW index.
#[derive(Clone)]
pub struct HnswIndex {
    dimension: usize,
    state: Arc<RwLock<State>>,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

impl HnswIndex {
    /// An empty index of `dimension`-long vectors with default parameters.
    pub fn new(dimension: usize) -> Self {
        Self::with_params(dimension, HnswParams::default())
    }

    /// An empty index with explicit parameters.
    pub fn with_params(dimension: usize, params: HnswParams) -> Self {
        Self {
            dimension,
            state: Arc::new(RwLock::new(State::new(params))),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Arc<RwLock<State>>) -> T + Send + 'static,
    ) -> Result<T> {
        let state = Arc::clone(&self.state);
        tokio::task::spawn_blocking(move || f(&state))
            .await
            .map_err(|e| Error::internal("hnsw", e))
    }
}

#[async_trait]
impl VectorIndex for HnswIndex {
    fn name(&self) -> &'static str {
        "hnsw"
    }
    fn dimension(&self) -> usize {
        self.dimension
    }
    fn capabilities(&self) -> IndexCapabilities {
        IndexCapabilities::default()
    }
    async fn upsert(&self, entries: &[IndexEntry]) -> Result<()> {
        for e in entries {
            validate::vector("vector", &e.vector, self.dimension)?;
        }
        let entries = entries.to_vec();
        self.blocking(move |s| s.write().upsert(entries)).await
    }
    async fn delete(&self, ids: &[MemoryId]) -> Result<()> {
        let ids = ids.to_vec();
        self.blocking(move |s| s.write().delete(&ids)).await
    }
    async fn search(&self, q: &VectorQuery) -> Result<Vec<Hit>> {
        validate::vector("vector", &q.vector, self.dimension)?;
        // Fast enough (well under a millisecond) to run on the async thread.
        Ok(self.state.read().search(q))
    }
    async fn len(&self) -> Result<usize> {
        Ok(self.state.read().live())
    }
    async fn clear(&self) -> Result<()> {
        self.blocking(|s| s.write().clear()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{entry, Rng};
    use crate::model::Scope;

    #[tokio::test]
    async fn add_delete_cycles_do_not_grow_without_bound() {
        let index = HnswIndex::new(8);
        let mut rng = Rng::new(5);
        let keep: Vec<_> = (0..500)
            .map(|_| entry(rng.vector(8), Scope::default()))
            .collect();
        index.upsert(&keep).await.unwrap();
        for _ in 0..20 {
            let churn: Vec<_> = (0..1000)
                .map(|_| entry(rng.vector(8), Scope::default()))
                .collect();
            index.upsert(&churn).await.unwrap();
            let ids: Vec<_> = churn.iter().map(|e| e.id).collect();
            index.delete(&ids).await.unwrap();
            // Updates churn too: re-upsert the kept entries with new vectors.
            let moved: Vec<_> = keep
                .iter()
                .map(|e| IndexEntry {
                    vector: rng.vector(8),
                    ..e.clone()
                })
                .collect();
            index.upsert(&moved).await.unwrap();
        }
        assert_eq!(index.len().await.unwrap(), 500);
        let allocated = index.state.read().allocated();
        assert!(
            allocated <= 2 * 500 + 2 * 1024 + 1000,
            "{allocated} slots for 500 live entries"
        );
    }
}

#[cfg(test)]
mod conformance {
    crate::index_conformance!(|dim| async move { Some(super::HnswIndex::new(dim)) });

    mod tiny_exact_threshold {
        // Forces every filtered search through the graph path.
        crate::index_conformance!(|dim| async move {
            Some(super::super::HnswIndex::with_params(
                dim,
                super::super::HnswParams {
                    exact_threshold: 0,
                    ..Default::default()
                },
            ))
        });
    }
}
