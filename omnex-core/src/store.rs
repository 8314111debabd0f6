//! The storage trait: the source of truth for contexts and memories.

use std::fmt;

use async_trait::async_trait;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
use crate::error::Entity;
use crate::{
    model::{
        ApiKey, AuditEvent, ChangeFeed, Context, Event, EventPage, Hit, IndexEntry, Job, ListAudit,
        ListContexts, ListEvents, ListMemories, Memory, MemoryId, Page, Precondition, Tenant,
        TextQuery, Timestamp,
    },
    text::Analyzer,
    Error, Result,
};

pub use crate::queue::JobQueue;

/// What [`JobQueue::dispatch_events`] asks of its caller: the jobs to queue for a
/// slice of events.
pub type Plan<'a> = dyn for<'e> Fn(&'e [Event]) -> Vec<Job> + Send + Sync + 'a;

/// What a sweep of expired items removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Number of contexts removed.
    pub contexts: u64,
    /// Ids of the memories removed.
    pub memories: Vec<MemoryId>,
}

/// What a tenant holds, as [`Store::tenant_usage`] counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Memories.
    pub memories: u64,
    /// Contexts.
    pub contexts: u64,
    /// Bytes of memory content and metadata and of context values.
    pub bytes: u64,
}

/// Durable storage of contexts and memories (rows, embeddings, metadata).
///
/// Every memory write also appends to a change log in the same transaction, so
/// vector indexes (in this process or another) can catch up with the store.
///
/// Its job queue and webhook subscriptions are the supertrait [`JobQueue`].
#[async_trait]
pub trait Store: JobQueue + Send + Sync + fmt::Debug + 'static {
    /// A short name of the backend, for errors and logs.
    fn name(&self) -> &'static str;

    /// Creates or replaces a context. The store assigns `version` (previous + 1,
    /// or 1 on create) and keeps `id` and `created_at` of a replaced context.
    /// A failed precondition is a `Conflict`.
    async fn put_context(&self, ctx: &Context, expect: Precondition) -> Result<Context> {
        self.put_context_by(ctx, expect, None).await
    }
    /// [`put_context`](Self::put_context), recording `actor` in its event.
    async fn put_context_by(
        &self,
        ctx: &Context,
        expect: Precondition,
        actor: Option<&str>,
    ) -> Result<Context>;
    /// Reads a context of `tenant`; expired contexts are absent.
    async fn get_context(
        &self,
        tenant: &Tenant,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Context>>;
    /// Deletes a context of `tenant`; returns whether it existed.
    async fn delete_context(
        &self,
        tenant: &Tenant,
        namespace: &str,
        key: &str,
        expect: Precondition,
    ) -> Result<bool> {
        self.delete_context_by(tenant, namespace, key, expect, None)
            .await
    }
    /// [`delete_context`](Self::delete_context), recording `actor` in its event.
    async fn delete_context_by(
        &self,
        tenant: &Tenant,
        namespace: &str,
        key: &str,
        expect: Precondition,
        actor: Option<&str>,
    ) -> Result<bool>;
    /// Lists contexts ordered by `(namespace, key)` with a keyset cursor.
    async fn list_contexts(&self, req: &ListContexts) -> Result<Page<Context>>;

    /// Writes contexts exactly as given (id, version, timestamps), replacing any
    /// stored under the same `namespace/key`, all or nothing. Used by import.
    async fn restore_contexts(&self, batch: &[Context]) -> Result<()>;

    /// Inserts or replaces memories, all or nothing.
    async fn put_memories(&self, batch: &[Memory]) -> Result<()> {
        self.put_memories_by(batch, None).await
    }
    /// [`put_memories`](Self::put_memories), recording `actor` in their events
    /// (`memory.add` for a new id, `memory.update` for a replaced one).
    async fn put_memories_by(&self, batch: &[Memory], actor: Option<&str>) -> Result<()>;
    /// Reads memories by id, in the order asked; missing and expired ids are skipped.
    async fn get_memories(&self, ids: &[MemoryId]) -> Result<Vec<Memory>>;
    /// Deletes memories; returns how many existed.
    async fn delete_memories(&self, ids: &[MemoryId]) -> Result<u64> {
        self.delete_memories_by(ids, None).await
    }
    /// [`delete_memories`](Self::delete_memories), recording `actor` in their events.
    async fn delete_memories_by(&self, ids: &[MemoryId], actor: Option<&str>) -> Result<u64>;
    /// Lists memories ordered by id with a keyset cursor.
    async fn list_memories(&self, req: &ListMemories) -> Result<Page<Memory>>;
    /// Live (unexpired) index entries with ids greater than `after`, ordered by id.
    async fn scan_index_entries(
        &self,
        after: Option<MemoryId>,
        limit: usize,
    ) -> Result<Vec<IndexEntry>>;

    /// The newest position of the change log (0 when empty).
    async fn head_seq(&self) -> Result<i64>;
    /// Up to `limit` changes after position `after`.
    async fn changes_since(&self, after: i64, limit: usize) -> Result<ChangeFeed>;
    /// Removes change-log entries older than `before`.
    async fn prune_changes(&self, before: Timestamp) -> Result<u64>;

    /// Deletes every context and memory that expired at or before `now`, with a
    /// `*.expire` event for each.
    async fn purge_expired(&self, now: Timestamp) -> Result<Purged>;

    /// Events after `req.since` matching `req`, oldest first. Every write of this
    /// trait appends its events in its own transaction, and positions become
    /// visible in order: a reader that resumes after the last position it saw
    /// misses nothing.
    async fn list_events(&self, req: &ListEvents) -> Result<EventPage>;
    /// The newest event position (0 when there is none).
    async fn event_head(&self) -> Result<i64>;
    /// Removes events older than `before`; returns how many.
    async fn prune_events(&self, before: Timestamp) -> Result<u64>;

    /// Full-text search over memory content: the `q.k` memories passing `q.filter` that
    /// hold any of `q.terms`, best first by a BM25 score (higher is better). The index
    /// is written in the same transaction as the memory, so an update or delete is
    /// never found by its old text. Stores without full-text search return `Unsupported`.
    async fn search_text(&self, q: &TextQuery) -> Result<Vec<Hit>> {
        let _ = q;
        Err(Error::Unsupported {
            operation: "keyword search",
            backend: self.name(),
        })
    }
    /// The analyzer of the full-text index (what [`search_text`](Self::search_text)
    /// expects its terms made with); `None` when the store keeps no full-text index.
    fn text_analyzer(&self) -> Option<Analyzer> {
        None
    }
    /// Makes `analyzer` the full-text index's analyzer, re-indexing every memory when
    /// the store was indexed with another one; `None` drops the index and stops
    /// maintaining it. Called once, when Omnex opens.
    async fn set_text_analyzer(&self, analyzer: Option<Analyzer>) -> Result<()> {
        let _ = analyzer;
        Ok(())
    }

    /// What `tenant` holds: live memories and contexts, and their bytes (content and
    /// metadata of memories, values of contexts, as stored).
    async fn tenant_usage(&self, tenant: &Tenant) -> Result<Usage>;

    /// Every tenant that holds a memory or a context, by name.
    async fn tenants(&self) -> Result<Vec<Tenant>>;

    /// Stores a new API key (its hash; never the key).
    async fn put_api_key(&self, key: &ApiKey) -> Result<()>;
    /// The key with this SHA-256 hash, revoked and expired ones included.
    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>>;
    /// The keys of `tenant` (of every tenant for `None`), newest first.
    async fn api_keys(&self, tenant: Option<&Tenant>) -> Result<Vec<ApiKey>>;
    /// Marks key `id` revoked at `at` (kept if it already was); `None` if there is none.
    async fn revoke_api_key(&self, id: &str, at: Timestamp) -> Result<Option<ApiKey>>;
    /// Records the first use of key `id`; `true` if this call was the first.
    async fn mark_api_key_used(&self, id: &str, at: Timestamp) -> Result<bool>;
    /// Appends an event to the audit log (its `seq` is given by the store).
    async fn append_audit(&self, event: &AuditEvent) -> Result<()>;
    /// A page of the audit log, newest first.
    async fn list_audit(&self, req: &ListAudit) -> Result<Page<AuditEvent>>;

    /// Reads a store-wide setting (for example the embedding model the data was made with).
    async fn get_meta(&self, key: &str) -> Result<Option<String>>;
    /// Writes a store-wide setting.
    async fn set_meta(&self, key: &str, value: &str) -> Result<()>;
}

/// A `Conflict` on a context.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn conflict(ctx_ns: &str, key: &str, detail: String) -> Error {
    Error::Conflict {
        entity: Entity::Context,
        id: format!("{ctx_ns}/{key}"),
        detail,
    }
}

/// Checks a write precondition against the stored version (`None` when absent).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn check_precondition(
    ns: &str,
    key: &str,
    expect: Precondition,
    current: Option<u64>,
) -> Result<()> {
    match (expect, current) {
        (Precondition::None, _) | (Precondition::Absent, None) => Ok(()),
        (Precondition::Absent, Some(v)) => {
            Err(conflict(ns, key, format!("already exists at version {v}")))
        }
        (Precondition::Version(want), Some(have)) if want == have => Ok(()),
        (Precondition::Version(want), Some(have)) => Err(conflict(
            ns,
            key,
            format!("if_version is {want} but the stored version is {have}"),
        )),
        (Precondition::Version(want), None) => Err(conflict(
            ns,
            key,
            format!("if_version is {want} but nothing is stored"),
        )),
    }
}
