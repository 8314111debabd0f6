//! Following the store's change log into the vector index.

use std::{collections::HashSet, time::Duration};

use tracing::warn;

use super::Omnex;
use crate::{
    model::{Memory, MemoryId},
    Result,
};

/// Change-log entries (or index entries on a rebuild) read at a time.
const SYNC_BATCH: usize = 1000;
/// The store's identity, recorded in saved index snapshots.
const META_STORE_ID: &str = "store_id";

impl Omnex {
    pub(super) async fn sync_after_write(&self) {
        self.changed();
        let now = std::time::Instant::now();
        if self.inner.index_down_until.lock().is_some_and(|t| now < t) {
            return;
        }
        match self.sync_index().await {
            Ok(()) => *self.inner.index_down_until.lock() = None,
            Err(e) => {
                warn!(error = %e, "index update failed; the background sync repairs it from the store");
                self.index_failed();
            }
        }
    }

    /// Inline index updates pause for a while after a failure; the background sync
    /// keeps retrying and lifts the pause once it succeeds.
    pub(super) fn index_failed(&self) {
        *self.inner.index_down_until.lock() =
            Some(std::time::Instant::now() + Duration::from_secs(2));
    }

    /// This store's identity, made once: a saved index is only loaded for the store
    /// it was made from.
    async fn store_origin(&self) -> Result<String> {
        if let Some(id) = self.inner.store.get_meta(META_STORE_ID).await? {
            return Ok(id);
        }
        let id = uuid::Uuid::now_v7().to_string();
        self.inner.store.set_meta(META_STORE_ID, &id).await?;
        Ok(id)
    }

    /// Syncs the index with the store and writes its snapshot (for an index saved
    /// between runs): the next start loads it instead of rebuilding. Servers call
    /// this when they shut down; it also runs every 30 seconds after changes.
    pub async fn save_index(&self) -> Result<()> {
        self.sync_index().await?;
        self.inner.index.save().await?;
        Ok(())
    }

    /// The store key under which a shared index's position is recorded. Its `v2`
    /// marks entries that carry their tenant: an index built before tenants has no
    /// position under it, so it is rebuilt once.
    fn applied_key(&self) -> String {
        format!("index_applied:v2:{}", self.inner.index.location())
    }

    /// At startup: a local index loads its snapshot and catches up from the change
    /// log, or is rebuilt from the store when it has none; a shared index resumes from
    /// the position recorded in the store (or is rebuilt if there is none).
    pub(super) async fn open_index(&self) -> Result<()> {
        if !self.inner.index.capabilities().shared {
            let origin = self.store_origin().await?;
            let head = self.inner.store.head_seq().await?;
            // A snapshot ahead of the store's log (the store was restored from an older
            // backup) may hold memories the store no longer has: rebuild instead.
            if let Some(seq) = self
                .inner
                .index
                .restore(&origin)
                .await?
                .filter(|&s| s <= head)
            {
                *self.inner.applied.lock().await = seq;
                return self.sync_index().await;
            }
            self.rebuild_index().await?;
            // Saved in the background, so the next start loads instead of rebuilding.
            let index = self.inner.index.clone();
            tokio::spawn(async move {
                if let Err(e) = index.save().await {
                    warn!(error = %e, "cannot save the index snapshot");
                }
            });
            return Ok(());
        }
        // An index that searches by words holds terms made by the analyzer of its
        // last build: another analyzer (or none) means rebuilding it.
        let analyzer_key = format!("index_text_analyzer:{}", self.inner.index.location());
        // Asked again after a rebuild: clearing a collection made before keyword
        // search recreates it with the sparse vector.
        let analyzer = || {
            self.inner
                .store
                .text_analyzer()
                .filter(|_| self.inner.index.capabilities().keyword)
                .map_or("none", |a| a.as_str())
        };
        let same_terms =
            self.inner.store.get_meta(&analyzer_key).await?.as_deref() == Some(analyzer());
        let recorded = self.inner.store.get_meta(&self.applied_key()).await?;
        match recorded.and_then(|v| v.parse::<i64>().ok()) {
            Some(seq) if same_terms => {
                *self.inner.applied.lock().await = seq;
                *self.inner.recorded.lock().await = seq;
                self.sync_index().await
            }
            _ => {
                self.rebuild_index().await?;
                self.inner.store.set_meta(&analyzer_key, analyzer()).await
            }
        }
    }

    /// Brings the index up to date with the store's change log (this process's
    /// writes and other processes' writes alike).
    pub async fn sync_index(&self) -> Result<()> {
        let mut applied = self.inner.applied.lock().await;
        loop {
            let feed = self.inner.store.changes_since(*applied, SYNC_BATCH).await?;
            if feed.reset {
                drop(applied);
                return self.rebuild_index().await;
            }
            let Some(last) = feed.changes.last().map(|c| c.seq) else {
                return Ok(());
            };
            let mut seen = HashSet::new();
            let ids: Vec<MemoryId> = feed
                .changes
                .iter()
                .map(|c| c.id)
                .filter(|id| seen.insert(*id))
                .collect();
            let present = self.inner.store.get_memories(&ids).await?;
            let present_ids: HashSet<MemoryId> = present.iter().map(|m| m.id).collect();
            let gone: Vec<MemoryId> = ids
                .into_iter()
                .filter(|id| !present_ids.contains(id))
                .collect();
            let entries: Vec<_> = present.iter().map(Memory::index_entry).collect();
            if !entries.is_empty() {
                self.inner.index.upsert(&entries).await?;
            }
            if !gone.is_empty() {
                self.inner.index.delete(&gone).await?;
            }
            *applied = last;
            self.inner.index.set_applied(last);
            if feed.changes.len() < SYNC_BATCH {
                return Ok(());
            }
        }
    }

    /// Rebuilds the vector index from the store (startup, `omnex reindex`, or after
    /// the change log was pruned past this index's position).
    pub async fn rebuild_index(&self) -> Result<()> {
        self.rebuild_index_with(|_| {}).await
    }

    /// [`rebuild_index`](Self::rebuild_index), calling `progress` with the number of
    /// memories indexed so far after every batch.
    pub async fn rebuild_index_with(&self, mut progress: impl FnMut(u64) + Send) -> Result<()> {
        let mut applied = self.inner.applied.lock().await;
        let head = self.inner.store.head_seq().await?;
        self.inner.index.clear().await?;
        let mut after = None;
        let mut done = 0u64;
        loop {
            let entries = self
                .inner
                .store
                .scan_index_entries(after, SYNC_BATCH)
                .await?;
            let Some(last) = entries.last().map(|e| e.id) else {
                break;
            };
            self.inner.index.upsert(&entries).await?;
            done += entries.len() as u64;
            progress(done);
            after = Some(last);
        }
        *applied = head;
        self.inner.index.set_applied(head);
        drop(applied);
        self.record_applied().await
    }

    /// For a shared index, records in the store how far it has caught up, so the next
    /// process to start resumes there instead of rebuilding.
    pub(super) async fn record_applied(&self) -> Result<()> {
        if !self.inner.index.capabilities().shared {
            return Ok(());
        }
        let applied = *self.inner.applied.lock().await;
        let mut recorded = self.inner.recorded.lock().await;
        if applied != *recorded {
            self.inner
                .store
                .set_meta(&self.applied_key(), &applied.to_string())
                .await?;
            *recorded = applied;
        }
        Ok(())
    }
}
