//! The embedded HNSW index: our own graph over contiguous storage (`omnex_ann`),
//! cosine similarity on unit vectors, saved to the data directory and loaded at
//! start.
//!
//! Deletes and updates remove a node from the results at once; the node keeps
//! routing searches until an insert reuses its slot, so churn never grows memory
//! and never rebuilds the graph. Filters are applied inside the search: small
//! filtered sets (found through posting lists on the scope fields) are searched
//! exactly, larger ones by walking the graph with the filter as a predicate, with
//! an exact fallback whenever the walk yields fewer than `k` hits.

mod file;
mod state;

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::{
    index::{IndexCapabilities, VectorIndex},
    model::{Hit, IndexEntry, MemoryId, VectorQuery},
    validate, Error, Result,
};

use state::State;

/// Tuning of the HNSW graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HnswParams {
    /// Neighbours kept per node on upper layers (`M`, 2 to 32); twice as many on layer 0.
    pub m: usize,
    /// Candidates explored while inserting.
    pub ef_construction: usize,
    /// Candidates explored while searching (at least `k`).
    pub ef_search: usize,
    /// Filtered sets at most this large are searched exactly.
    pub exact_threshold: usize,
    /// Threads that insert a batch (at most the machine's cores).
    pub threads: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            exact_threshold: 2048,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// The embedded HNSW index.
#[derive(Clone)]
pub struct HnswIndex {
    dimension: usize,
    ef_search: Arc<AtomicUsize>,
    state: Arc<RwLock<State>>,
    /// Where snapshots are saved, and the store they were made for.
    file: Option<PathBuf>,
    origin: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dimension", &self.dimension)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl HnswIndex {
    /// An empty index of `dimension`-long vectors with default parameters, never saved.
    pub fn new(dimension: usize) -> Self {
        Self::with_params(dimension, HnswParams::default())
    }

    /// An empty index with explicit parameters, never saved.
    pub fn with_params(dimension: usize, mut params: HnswParams) -> Self {
        params.m = params.m.clamp(2, omnex_ann::MAX_M);
        params.threads = params.threads.max(1);
        Self {
            dimension,
            ef_search: Arc::new(AtomicUsize::new(params.ef_search.max(1))),
            state: Arc::new(RwLock::new(State::new(params, dimension))),
            file: None,
            origin: Arc::new(Mutex::new(None)),
        }
    }

    /// An index saved to (and restored from) the snapshot file `file`.
    pub fn saved_at(dimension: usize, file: impl Into<PathBuf>) -> Self {
        Self {
            file: Some(file.into()),
            ..Self::new(dimension)
        }
    }

    /// Candidates explored per search from now on: higher is more accurate and slower.
    pub fn set_ef_search(&self, ef: usize) {
        self.ef_search.store(ef.max(1), Ordering::Relaxed);
    }

    /// Bytes held by the graph and its vectors (not counting the memories' fields).
    pub fn graph_bytes(&self) -> usize {
        self.state.read().graph.bytes()
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
        self.blocking(move |s| {
            let mut s = s.write();
            let threads = s.params.threads;
            s.upsert(entries, threads);
        })
        .await
    }
    async fn delete(&self, ids: &[MemoryId]) -> Result<()> {
        let ids = ids.to_vec();
        self.blocking(move |s| {
            let mut s = s.write();
            let threads = s.params.threads;
            s.delete(&ids, threads);
        })
        .await
    }
    async fn search(&self, q: &VectorQuery) -> Result<Vec<Hit>> {
        validate::vector("vector", &q.vector, self.dimension)?;
        // Fast enough (well under a millisecond) to run on the async thread.
        let ef = self.ef_search.load(Ordering::Relaxed);
        Ok(self.state.read().search(q, ef))
    }
    async fn len(&self) -> Result<usize> {
        Ok(self.state.read().live())
    }
    async fn clear(&self) -> Result<()> {
        self.blocking(|s| s.write().clear()).await
    }

    async fn restore(&self, origin: &str) -> Result<Option<i64>> {
        *self.origin.lock() = Some(origin.to_owned());
        let Some(path) = self.file.clone() else {
            return Ok(None);
        };
        let (origin, dim) = (origin.to_owned(), self.dimension);
        let params = self.state.read().params;
        let loaded = tokio::task::spawn_blocking(move || file::read(&path, &origin, params, dim))
            .await
            .map_err(|e| Error::internal("hnsw", e))?;
        match loaded {
            Ok(state) => {
                let applied = state.applied;
                info!(memories = state.live(), applied, "index snapshot loaded");
                *self.state.write() = state;
                Ok(Some(applied))
            }
            Err(file::Refused::Missing(_)) => Ok(None),
            Err(why) => {
                warn!(file = ?self.file, %why, "index snapshot not used; rebuilding the index from the store");
                Ok(None)
            }
        }
    }

    fn set_applied(&self, seq: i64) {
        self.state.write().applied = seq;
    }

    async fn save(&self) -> Result<bool> {
        let (Some(path), Some(origin)) = (self.file.clone(), self.origin.lock().clone()) else {
            return Ok(false);
        };
        let state = Arc::clone(&self.state);
        tokio::task::spawn_blocking(move || {
            let (bytes, applied) = {
                let s = state.read();
                if s.applied == s.saved || s.applied == 0 {
                    return Ok(false);
                }
                (file::encode(&s, &origin), s.applied)
            };
            file::write(&path, &bytes).map_err(|e| Error::internal("hnsw snapshot", e))?;
            let mut s = state.write();
            s.saved = s.saved.max(applied);
            Ok(true)
        })
        .await
        .map_err(|e| Error::internal("hnsw", e))?
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
#[allow(clippy::disallowed_methods)] // tests read and damage the file directly
mod snapshots {
    use super::*;
    use crate::conformance::{entry, Rng};
    use crate::model::{Filter, Scope};

    async fn filled(path: &std::path::Path, rng: &mut Rng) -> (HnswIndex, Vec<IndexEntry>) {
        let index = HnswIndex::saved_at(8, path);
        assert_eq!(index.restore("store-1").await.unwrap(), None, "no file yet");
        let entries: Vec<_> = (0..3000)
            .map(|i| {
                let scope = Scope {
                    user_id: Some(format!("u{}", i % 7)),
                    ..Scope::namespace("ns")
                };
                entry(rng.vector(8), scope)
            })
            .collect();
        index.upsert(&entries).await.unwrap();
        let gone: Vec<_> = entries.iter().step_by(9).map(|e| e.id).collect();
        index.delete(&gone).await.unwrap();
        index.set_applied(42);
        assert!(index.save().await.unwrap());
        assert!(!index.save().await.unwrap(), "nothing changed since");
        (index, entries)
    }

    async fn answers(index: &HnswIndex, queries: &[Vec<f32>]) -> Vec<Vec<Hit>> {
        let mut out = Vec::new();
        for q in queries {
            for filter in [Filter::default(), Filter::default().with_user("u3")] {
                let mut vq = VectorQuery::new(q.clone(), 10);
                vq.filter = filter;
                out.push(index.search(&vq).await.unwrap());
            }
        }
        out
    }

    #[tokio::test]
    async fn a_loaded_snapshot_answers_as_the_saved_index_did() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.hnsw");
        let mut rng = Rng::new(3);
        let (index, _) = filled(&path, &mut rng).await;
        let queries: Vec<_> = (0..20).map(|_| rng.vector(8)).collect();
        let loaded = HnswIndex::saved_at(8, &path);
        assert_eq!(loaded.restore("store-1").await.unwrap(), Some(42));
        assert_eq!(loaded.len().await.unwrap(), index.len().await.unwrap());
        assert_eq!(
            answers(&loaded, &queries).await,
            answers(&index, &queries).await
        );
        // The loaded index keeps working: churn reuses removed nodes.
        let more: Vec<_> = (0..200)
            .map(|_| entry(rng.vector(8), Scope::default()))
            .collect();
        loaded.upsert(&more).await.unwrap();
        assert_eq!(loaded.state.read().allocated(), 3000);
    }

    #[tokio::test]
    async fn a_damaged_or_foreign_snapshot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.hnsw");
        let (_, _) = filled(&path, &mut Rng::new(4)).await;
        let good = std::fs::read(&path).unwrap();
        let refused = |bytes: Vec<u8>, origin: &'static str| {
            let path = path.clone();
            async move {
                std::fs::write(&path, bytes).unwrap();
                let index = HnswIndex::saved_at(8, &path);
                let got = index.restore(origin).await.unwrap();
                if got.is_none() {
                    assert_eq!(index.len().await.unwrap(), 0, "nothing half-loaded");
                }
                got
            }
        };
        assert_eq!(refused(good.clone(), "store-1").await, Some(42));
        assert_eq!(refused(good.clone(), "another store").await, None);
        // Torn: every cut is refused, never a panic.
        for cut in [0, 7, 12, 100, good.len() / 2, good.len() - 1] {
            assert_eq!(
                refused(good[..cut].to_vec(), "store-1").await,
                None,
                "cut at {cut}"
            );
        }
        // Damaged anywhere: the checksum refuses it.
        for at in [20, good.len() / 3, good.len() - 10] {
            let mut bad = good.clone();
            bad[at] ^= 0x40;
            assert_eq!(refused(bad, "store-1").await, None, "flipped byte {at}");
        }
        // An older (or newer) format.
        let mut other = good.clone();
        other[8..12].copy_from_slice(&(file::VERSION + 1).to_le_bytes());
        assert_eq!(refused(other, "store-1").await, None);
        // Another dimension.
        std::fs::write(&path, &good).unwrap();
        assert_eq!(
            HnswIndex::saved_at(16, &path)
                .restore("store-1")
                .await
                .unwrap(),
            None
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
