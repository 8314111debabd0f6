//! Brute-force vector index: exact results. The reference (oracle) for every other index,
//! and a fine choice for small datasets.

use std::collections::HashMap;

use async_trait::async_trait;
use parking_lot::RwLock;

use crate::{
    index::{IndexCapabilities, VectorIndex},
    model::{FilterFields, Hit, IndexEntry, MemoryId, VectorQuery},
    validate, Result,
};

/// Dot product of two equal-length vectors (cosine similarity for unit vectors).
/// Eight independent accumulators let the compiler vectorize the loop.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

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

/// Normalizes a vector to unit length (cosine similarity becomes a dot product).
pub(crate) fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
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
