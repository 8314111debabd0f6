//! # Writing a backend
//!
//! A backend is a type that implements one of the four traits (`Store`,
//! `VectorIndex`, `Embedder`, `Cache`). This example writes a vector index: a plain
//! list scanned in full, with the filter applied to every entry, so its results are
//! exact. It is done when the public conformance suite of its trait passes:
//!
//! ```sh
//! cargo test -p omnex-core --example custom_backend   # the VectorIndex suite against it
//! cargo run -p omnex-core --example custom_backend    # the index inside an engine
//! ```
//!
//! (The suite comes with omnex-core's `conformance` feature; a crate of your own adds
//! `omnex-core = { version = "…", features = ["conformance"] }` to its dev-dependencies.)

// An example prints what it shows.
#![allow(clippy::disallowed_macros)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use omnex_core::{
    index::{IndexCapabilities, VectorIndex},
    model::{FilterFields, Hit, IndexEntry, MemoryId, NewMemory, SearchRequest, VectorQuery},
    validate,
    vector::{dot, normalized},
    Omnex, Result,
};

/// Every entry in one list, behind a lock.
#[derive(Debug)]
pub struct ListIndex {
    dimension: usize,
    entries: Mutex<Vec<(MemoryId, Vec<f32>, FilterFields)>>,
}

impl ListIndex {
    /// An empty index of vectors of `dimension`.
    pub fn new(dimension: usize) -> Self {
        Self {
            dimension,
            entries: Mutex::new(Vec::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<(MemoryId, Vec<f32>, FilterFields)>> {
        // A panic while the lock was held cannot leave a half-written list here:
        // every change is one push, one retain or one clear.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl VectorIndex for ListIndex {
    fn name(&self) -> &'static str {
        "list"
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

    async fn upsert(&self, batch: &[IndexEntry]) -> Result<()> {
        // The core's rules, so the errors are the ones every backend gives.
        for e in batch {
            validate::vector("vector", &e.vector, self.dimension)?;
        }
        let mut entries = self.entries();
        for e in batch {
            // A replaced entry's old vector must never be found again.
            entries.retain(|(id, _, _)| *id != e.id);
            entries.push((e.id, normalized(&e.vector), e.fields.clone()));
        }
        Ok(())
    }

    async fn delete(&self, ids: &[MemoryId]) -> Result<()> {
        self.entries().retain(|(id, _, _)| !ids.contains(id));
        Ok(())
    }

    async fn search(&self, q: &VectorQuery) -> Result<Vec<Hit>> {
        validate::vector("vector", &q.vector, self.dimension)?;
        let query = normalized(&q.vector);
        // The filter is applied to each entry before ranking (a pre-filter), so a
        // search for one user returns that user's k best.
        let mut hits: Vec<Hit> = self
            .entries()
            .iter()
            .filter(|(_, _, fields)| q.filter.matches(fields, q.now))
            .map(|(id, v, _)| Hit {
                id: *id,
                score: dot(&query, v),
            })
            .filter(|h| q.min_score.is_none_or(|min| h.score >= min))
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(q.k);
        Ok(hits)
    }

    async fn len(&self) -> Result<usize> {
        Ok(self.entries().len())
    }

    async fn clear(&self) -> Result<()> {
        self.entries().clear();
        Ok(())
    }
}

/// The index inside an engine: a SQLite store in memory, vectors given by the caller.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let omnex = Omnex::builder()
        .store(Arc::new(
            omnex_core::backend::sqlite::SqliteStore::in_memory().await?,
        ))
        .index(Arc::new(ListIndex::new(3)))
        .build()
        .await?;
    omnex
        .add_memory(NewMemory::new("north").with_embedding(vec![0.0, 1.0, 0.0]))
        .await?;
    omnex
        .add_memory(NewMemory::new("east").with_embedding(vec![1.0, 0.0, 0.0]))
        .await?;
    let hits = omnex
        .search(SearchRequest::vector(vec![0.2, 0.9, 0.0]).with_limit(1))
        .await?;
    assert_eq!(hits[0].memory.content, "north");
    println!(
        "nearest to (0.2, 0.9, 0): {} ({:.3})",
        hits[0].memory.content, hits[0].score
    );
    Ok(())
}

/// The whole `VectorIndex` conformance suite, one test per contract.
#[cfg(test)]
mod conformance {
    omnex_core::index_conformance!(|dim| async move { Some(super::ListIndex::new(dim)) });
}
