//! Brute-force vector index: exact results. The reference (oracle) for every other index,
//! and a fine choice for small datasets.

use std::collections::HashMap;

use async_trait::async_trait;
use parking_lot::RwLock;

use crate::{
    index::{IndexCapabilities, VectorIndex},
    model::{FilterFields, Hit, IndexEntry, MemoryId, VectorQuery},
    validate,
    vector::{dot, normalized},
    Result,
};

/// Keeps the `k` best hits seen, best first.
pub(crate) struct TopK {
    k: usize,
    hits: Vec<Hit>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        Self {
            k,
            hits: Vec::with_capacity(k + 1),
        }
    }

    pub(crate) fn push(&mut self, hit: Hit) {
        if self.hits.len() == self.k && self.hits.last().is_some_and(|w| w.score >= hit.score) {
            return;
        }
        let pos = self.hits.partition_point(|h| h.score >= hit.score);
        self.hits.insert(pos, hit);
        self.hits.truncate(self.k);
    }

    pub(crate) fn into_hits(self, min_score: Option<f32>) -> Vec<Hit> {
        let mut hits = self.hits;
        if let Some(min) = min_score {
            hits.retain(|h| h.score >= min);
        }
        hits
    }
}

/// Exact search over `(id, vector, fields)` items.
pub(crate) fn brute_force<'a>(
    q: &VectorQuery,
    items: impl Iterator<Item = (MemoryId, &'a [f32], &'a FilterFields)>,
) -> Vec<Hit> {
    let mut top = TopK::new(q.k);
    for (id, v, fields) in items {
        if q.filter.matches(fields, q.now) {
            top.push(Hit {
                id,
                score: dot(&q.vector, v),
            });
        }
    }
    top.into_hits(q.min_score)
}

/// The exact index.
#[derive(Debug)]
pub struct ExactIndex {
    dimension: usize,
    items: RwLock<HashMap<MemoryId, (Vec<f32>, FilterFields)>>,
}

impl ExactIndex {
    /// An empty index of vectors of `dimension`.
    pub fn new(dimension: usize) -> Self {
        Self {
            dimension,
            items: RwLock::default(),
        }
    }
}

#[async_trait]
impl VectorIndex for ExactIndex {
    fn name(&self) -> &'static str {
        "exact"
    }
    fn dimension(&self) -> usize {
        self.dimension
    }
    fn capabilities(&self) -> IndexCapabilities {
        IndexCapabilities {
            shared: false,
            exact: true,
            ..IndexCapabilities::default()
        }
    }
    async fn upsert(&self, entries: &[IndexEntry]) -> Result<()> {
        for e in entries {
            validate::vector("vector", &e.vector, self.dimension)?;
        }
        let mut items = self.items.write();
        for e in entries {
            items.insert(e.id, (normalized(&e.vector), e.fields.clone()));
        }
        Ok(())
    }
    async fn delete(&self, ids: &[MemoryId]) -> Result<()> {
        let mut items = self.items.write();
        for id in ids {
            items.remove(id);
        }
        Ok(())
    }
    async fn search(&self, q: &VectorQuery) -> Result<Vec<Hit>> {
        validate::vector("vector", &q.vector, self.dimension)?;
        let q = VectorQuery {
            vector: normalized(&q.vector),
            ..q.clone()
        };
        let items = self.items.read();
        Ok(brute_force(
            &q,
            items.iter().map(|(id, (v, f))| (*id, v.as_slice(), f)),
        ))
    }
    async fn len(&self) -> Result<usize> {
        Ok(self.items.read().len())
    }
    async fn clear(&self) -> Result<()> {
        self.items.write().clear();
        Ok(())
    }
}

#[cfg(test)]
mod conformance {
    crate::index_conformance!(|dim| async move { Some(super::ExactIndex::new(dim)) });
}
