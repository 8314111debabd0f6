//! The vector-index trait.

use std::fmt;

use async_trait::async_trait;

use crate::{
    model::{Hit, IndexEntry, MemoryId, TextQuery, VectorQuery},
    text::Analyzer,
    Error, Result,
};

/// What an index can do beyond the mandatory contract (pre-filtering is mandatory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexCapabilities {
    /// The index is shared between processes and durable (a server such as Qdrant):
    /// it does not need to be rebuilt from the store at startup.
    pub shared: bool,
    /// Results are exact (brute force), not approximate.
    pub exact: bool,
    /// The index also searches by words ([`VectorIndex::search_text`]), so keyword
    /// search runs in it rather than in the store.
    pub keyword: bool,
}

/// A vector index with filtered top-k search by cosine similarity.
#[async_trait]
#[allow(clippy::len_without_is_empty)]
pub trait VectorIndex: Send + Sync + fmt::Debug + 'static {
    /// A short name of the backend.
    fn name(&self) -> &'static str;
    /// Where the entries live, for a shared index (for example `qdrant://host:6334/collection`):
    /// the store records how far each shared index has caught up under this name.
    fn location(&self) -> String {
        self.name().to_owned()
    }
    /// The dimension every vector must have.
    fn dimension(&self) -> usize;
    /// What this index can do.
    fn capabilities(&self) -> IndexCapabilities;
    /// Inserts or replaces entries. A replaced entry's old vector is never returned again.
    async fn upsert(&self, entries: &[IndexEntry]) -> Result<()>;
    /// Removes entries; unknown ids are ignored.
    async fn delete(&self, ids: &[MemoryId]) -> Result<()>;
    /// The `k` best entries passing `q.filter`, best first. The filter is applied
    /// inside the search: if at least `k` entries pass it, `k` are returned.
    async fn search(&self, q: &VectorQuery) -> Result<Vec<Hit>>;
    /// Number of live entries.
    async fn len(&self) -> Result<usize>;
    /// Removes everything (a rebuild is `clear` then `upsert` from the store).
    async fn clear(&self) -> Result<()>;

    /// For a local index saved between runs (the embedded HNSW graph): loads the
    /// snapshot saved for the store named `origin`, and returns the change-log
    /// position it reflects. `None` when there is no usable snapshot (none, torn,
    /// damaged, an older format, another store's): the caller rebuilds from the store.
    /// Later [`save`](Self::save)s are made for `origin`.
    async fn restore(&self, origin: &str) -> Result<Option<i64>> {
        let _ = origin;
        Ok(None)
    }
    /// Records that the entries now reflect the store's change log up to `seq`
    /// (called after the changes are applied, so a snapshot is never ahead of them).
    fn set_applied(&self, seq: i64) {
        let _ = seq;
    }
    /// Writes a snapshot if anything changed since the last one (for an index that
    /// [`restore`](Self::restore)s); true when one was written.
    async fn save(&self) -> Result<bool> {
        Ok(false)
    }

    /// For an index with the `keyword` capability: how entries' `text` becomes terms
    /// (the store's analyzer; `None` when full-text search is off). Called when Omnex
    /// opens, before any upsert.
    fn set_text_analyzer(&self, analyzer: Option<Analyzer>) {
        let _ = analyzer;
    }
    /// For an index with the `keyword` capability: the `q.k` entries passing `q.filter`
    /// that hold any of `q.terms`, best first by a BM25 score.
    async fn search_text(&self, q: &TextQuery) -> Result<Vec<Hit>> {
        let _ = q;
        Err(Error::Unsupported {
            operation: "keyword search",
            backend: self.name(),
        })
    }
}
