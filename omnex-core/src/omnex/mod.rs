//! The `Omnex` facade: owns the write path (embed → store → index → cache).

use std::{
    collections::HashSet,
    sync::{Arc, Weak},
    time::Duration,
};

use bytes::Bytes;
use tracing::{debug, warn};
use uuid::Uuid;

use crate::{
    backend,
    cache::Cache,
    config::Config,
    embed::Embedder,
    error::Entity,
    index::VectorIndex,
    model::{
        now, Context, ListContexts, ListMemories, Memory, MemoryId, MemoryUpdate, NewMemory, Page,
        Precondition, PutContext, SearchHit, SearchRequest, Timestamp, VectorQuery,
    },
    store::{Purged, Store},
    validate, Error, Result,
};

mod transfer;

const META_MODEL: &str = "embedding_model";
const META_DIMENSION: &str = "embedding_dimension";
const SYNC_BATCH: usize = 1000;
/// Contexts stay in a shared cache at most this long (bounds staleness if an
/// invalidation is lost while the cache is unreachable).
const CONTEXT_CACHE_TTL: Duration = Duration::from_secs(30);

/// Durable memory for AI applications. Cheap to clone; all clones share one engine.
///
/// ```no_run
/// # async fn demo() -> omnex_core::Result<()> {
/// use omnex_core::{Config, Omnex, model::{NewMemory, SearchRequest, Scope}};
/// let omnex = Omnex::open(Config::with_data_dir("./omnex-data")).await?;
/// omnex.add_memory(NewMemory::new("Alice prefers green tea").with_scope(Scope::default().with_user("alice"))).await?;
/// for hit in omnex.search(SearchRequest::query("what does alice drink?")).await? {
///     println!("{:.3} {}", hit.score, hit.memory.content);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Omnex {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    index: Arc<dyn VectorIndex>,
    embedder: Option<Arc<dyn Embedder>>,
    cache: Option<Arc<dyn Cache>>,
    config: Config,
    /// The change-log position the index reflects.
    applied: tokio::sync::Mutex<i64>,
    /// Until when inline index updates are skipped after one failed (the background
    /// sync keeps retrying), so writes do not wait on a vector backend that is down.
    index_down_until: parking_lot::Mutex<Option<std::time::Instant>>,
    /// For a shared index: the position last recorded in the store for other processes.
    recorded: tokio::sync::Mutex<i64>,
    /// Background tasks (expiry sweep, index sync), stopped when the engine is dropped.
    tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Omnex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Omnex")
            .field("store", &self.inner.store)
            .field("index", &self.inner.index)
            .field("embedder", &self.inner.embedder)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Omnex`] from explicit backends (tests, custom backends).
#[derive(Default)]
pub struct OmnexBuilder {
    config: Config,
    store: Option<Arc<dyn Store>>,
    index: Option<Arc<dyn VectorIndex>>,
    embedder: Option<Arc<dyn Embedder>>,
    cache: Option<Arc<dyn Cache>>,
    dimension: Option<usize>,
}

impl OmnexBuilder {
    /// Uses this config for whatever is not given explicitly.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
    /// Uses this store.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }
    /// Uses this index.
    pub fn index(mut self, index: Arc<dyn VectorIndex>) -> Self {
        self.index = Some(index);
        self
    }
    /// Uses this embedder.
    pub fn embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }
    /// Uses this cache.
    pub fn cache(mut self, cache: Arc<dyn Cache>) -> Self {
        self.cache = Some(cache);
        self
    }
    /// The vector dimension, when there is neither an embedder nor an index to tell it.
    pub fn dimension(mut self, dimension: usize) -> Self {
        self.dimension = Some(dimension);
        self
    }

    /// Opens the engine: checks the embedding model against the data, rebuilds
    /// the index from the store and starts the expiry sweep.
    pub async fn build(self) -> Result<Omnex> {
        let store = match self.store {
            Some(s) => s,
            None => backend::open_store(&self.config.store_url()).await?,
        };
        let dimension = self
            .embedder
            .as_ref()
            .map(|e| e.dimension())
            .or_else(|| self.index.as_ref().map(|i| i.dimension()))
            .or(self.dimension)
            .ok_or_else(|| {
                Error::invalid_input(
                    "dimension",
                    "give an embedder, an index or an explicit dimension",
                )
            })?;
        check_model(&*store, self.embedder.as_deref(), dimension).await?;
        let index = match self.index {
            Some(i) => i,
            None => {
                let model = match &self.embedder {
                    Some(e) => e.model_id().to_owned(),
                    None => store
                        .get_meta(META_MODEL)
                        .await?
                        .unwrap_or_else(|| "vectors".to_owned()),
                };
                backend::open_index(&self.config, dimension, &model).await?
            }
        };
        if index.dimension() != dimension {
            return Err(Error::invalid_input(
                "index",
                format!(
                    "the index holds {}-dimensional vectors but the embedder makes {dimension}",
                    index.dimension()
                ),
            ));
        }
        let cache = match self.cache {
            Some(c) => Some(c),
            None => backend::open_cache(&self.config.cache).await?,
        };
        let omnex = Omnex {
            inner: Arc::new(Inner {
                store,
                index,
                embedder: self.embedder,
                cache,
                config: self.config,
                applied: tokio::sync::Mutex::new(0),
                recorded: tokio::sync::Mutex::new(0),
                index_down_until: parking_lot::Mutex::new(None),
                tasks: parking_lot::Mutex::new(Vec::new()),
            }),
        };
        omnex.open_index().await?;
        omnex.start_background();
        Ok(omnex)
    }
}

/// Records the embedding model with the data on first use; refuses a different dimension later.
async fn check_model(
    store: &dyn Store,
    embedder: Option<&dyn Embedder>,
    dimension: usize,
) -> Result<()> {
    let stored_dim = store.get_meta(META_DIMENSION).await?;
    let stored_model = store.get_meta(META_MODEL).await?;
    let model = embedder.map(|e| e.model_id().to_owned());
    match stored_dim.and_then(|d| d.parse::<usize>().ok()) {
        Some(d) if d != dimension => {
            return Err(Error::invalid_input(
                "embedder",
                format!(
                    "this data was embedded with {} ({d} dimensions) but the configured embedder makes {dimension}-dimensional vectors; \
                     configure the same embedder, or use a new data directory",
                    stored_model.as_deref().unwrap_or("another model"),
                ),
            ))
        }
        Some(_) => {
            if let (Some(old), Some(new)) = (&stored_model, &model) {
                if old != new {
                    warn!(stored = %old, configured = %new, "embedding model differs from the one the data was made with");
                }
            }
        }
        None => {
            store.set_meta(META_DIMENSION, &dimension.to_string()).await?;
            if let Some(m) = &model {
                store.set_meta(META_MODEL, m).await?;
            }
        }
    }
    Ok(())
}

/// The cache key of a context.
fn context_cache_key(namespace: &str, key: &str) -> String {
    format!("ctx\u{0}{namespace}\u{0}{key}")
}

fn expiry(
    expires_at: Option<Timestamp>,
    ttl_seconds: Option<u64>,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    match (expires_at, ttl_seconds) {
        (Some(_), Some(_)) => Err(Error::invalid_input(
            "ttl_seconds",
            "give either expires_at or ttl_seconds, not both",
        )),
        (Some(t), None) if t <= now => Err(Error::invalid_input("expires_at", "is in the past")),
        (Some(t), None) => Ok(Some(t)),
        (None, Some(0)) => Err(Error::invalid_input("ttl_seconds", "must be at least 1")),
        (None, Some(s)) => i64::try_from(s)
            .ok()
            .and_then(chrono::TimeDelta::try_seconds)
            .and_then(|d| now.checked_add_signed(d))
            .map(Some)
            .ok_or_else(|| Error::invalid_input("ttl_seconds", "is too large")),
        (None, None) => Ok(None),
    }
}

impl Omnex {
    /// Opens Omnex with the backends named in `config`.
    pub async fn open(config: Config) -> Result<Self> {
        let embedder = backend::open_embedder(&config).await?;
        Self::builder()
            .config(config)
            .embedder(embedder)
            .build()
            .await
    }

    /// Opens Omnex without an embedder, for vectors of the dimension recorded in the
    /// store (maintenance such as `omnex reindex`; adding text needs an embedder).
    pub async fn open_stored(config: Config) -> Result<Self> {
        let store = backend::open_store(&config.store_url()).await?;
        let dimension = store
            .get_meta(META_DIMENSION)
            .await?
            .and_then(|d| d.parse::<usize>().ok())
            .ok_or_else(|| {
                Error::invalid_input(
                    "store",
                    "this store holds no memories yet, so it records no vector dimension",
                )
            })?;
        Self::builder()
            .config(config)
            .store(store)
            .dimension(dimension)
            .build()
            .await
    }

    /// Where the vector index keeps its entries (for logs and `omnex reindex`).
    pub fn index_location(&self) -> String {
        self.inner.index.location()
    }

    /// A builder for explicit backends.
    pub fn builder() -> OmnexBuilder {
        OmnexBuilder::default()
    }

    /// The config this engine was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The embedder, if one is configured.
    pub fn embedder(&self) -> Option<&Arc<dyn Embedder>> {
        self.inner.embedder.as_ref()
    }

    /// The vector dimension of this engine.
    pub fn dimension(&self) -> usize {
        self.inner.index.dimension()
    }

    /// Number of memories in the vector index.
    pub async fn index_len(&self) -> Result<usize> {
        self.inner.index.len().await
    }

    // ----- contexts -----

    /// Creates or replaces a context. With `if_version`, the write only happens if the
    /// stored version matches (else a `Conflict`); `if_version: 0` means "create only,
    /// never replace".
    pub async fn put_context(&self, req: PutContext) -> Result<Context> {
        validate::namespace(&req.namespace)?;
        validate::key(&req.key)?;
        validate::value(&req.value)?;
        validate::tags(&req.tags)?;
        let now = now();
        let ctx = Context {
            id: Uuid::now_v7(),
            namespace: req.namespace,
            key: req.key,
            value: req.value,
            tags: req.tags,
            created_at: now,
            updated_at: now,
            version: 0,
            expires_at: expiry(req.expires_at, req.ttl_seconds, now)?,
        };
        let expect = req.if_version.map_or(Precondition::None, |v| match v {
            0 => Precondition::Absent,
            v => Precondition::Version(v),
        });
        let stored = self.inner.store.put_context(&ctx, expect).await?;
        self.forget_context(&stored.namespace, &stored.key).await;
        Ok(stored)
    }

    /// Reads a context (`NotFound` if absent or expired).
    pub async fn get_context(&self, namespace: &str, key: &str) -> Result<Context> {
        validate::namespace(namespace)?;
        validate::key(key)?;
        let cache = self.shared_cache();
        if let Some(cache) = cache {
            match cache.get(&context_cache_key(namespace, key)).await {
                Ok(Some(bytes)) => match serde_json::from_slice::<Context>(&bytes) {
                    Ok(ctx) if ctx.expires_at.is_none_or(|t| t > now()) => return Ok(ctx),
                    _ => {}
                },
                Ok(None) => {}
                Err(e) => debug!(error = %e, "cache read failed; treated as a miss"),
            }
        }
        let ctx = self
            .inner
            .store
            .get_context(namespace, key)
            .await?
            .ok_or_else(|| Error::not_found(Entity::Context, format!("{namespace}/{key}")))?;
        if let Some(cache) = cache {
            let ttl = ctx
                .expires_at
                .and_then(|t| (t - now()).to_std().ok())
                .map_or(CONTEXT_CACHE_TTL, |left| left.min(CONTEXT_CACHE_TTL));
            if let Ok(bytes) = serde_json::to_vec(&ctx) {
                if let Err(e) = cache
                    .set(
                        &context_cache_key(namespace, key),
                        Bytes::from(bytes),
                        Some(ttl),
                    )
                    .await
                {
                    debug!(error = %e, "cache write failed");
                }
            }
        }
        Ok(ctx)
    }

    /// The cache, when it is shared between processes (only then are contexts cached:
    /// an in-process cache would miss other processes' writes).
    fn shared_cache(&self) -> Option<&Arc<dyn Cache>> {
        self.inner.cache.as_ref().filter(|c| c.shared())
    }

    /// Drops a context from the shared cache after a write.
    async fn forget_context(&self, namespace: &str, key: &str) {
        if let Some(cache) = self.shared_cache() {
            if let Err(e) = cache.delete(&context_cache_key(namespace, key)).await {
                warn!(error = %e, "cache invalidation failed; the cached copy expires within 30 s");
            }
        }
    }

    /// Deletes a context (`NotFound` if absent; `Conflict` on a stale `if_version`).
    pub async fn delete_context(
        &self,
        namespace: &str,
        key: &str,
        if_version: Option<u64>,
    ) -> Result<()> {
        validate::namespace(namespace)?;
        validate::key(key)?;
        let expect = if_version.map_or(Precondition::None, Precondition::Version);
        let deleted = self
            .inner
            .store
            .delete_context(namespace, key, expect)
            .await?;
        self.forget_context(namespace, key).await;
        if deleted {
            Ok(())
        } else {
            Err(Error::not_found(
                Entity::Context,
                format!("{namespace}/{key}"),
            ))
        }
    }

    /// Lists contexts by `(namespace, key)`, a page at a time.
    pub async fn list_contexts(&self, req: ListContexts) -> Result<Page<Context>> {
        if let Some(ns) = &req.namespace {
            validate::namespace(ns)?;
        }
        validate::page_limit(req.limit)?;
        self.inner.store.list_contexts(&req).await
    }

    // ----- memories -----

    /// Adds one memory.
    pub async fn add_memory(&self, new: NewMemory) -> Result<Memory> {
        let mut added = self.add_memories(vec![new]).await?;
        added
            .pop()
            .ok_or_else(|| Error::internal("omnex", "a batch of one added nothing"))
    }

    /// Adds up to 1000 memories, all or nothing, returned in input order.
    pub async fn add_memories(&self, batch: Vec<NewMemory>) -> Result<Vec<Memory>> {
        validate::batch_len(batch.len())?;
        let now = now();
        let dim = self.dimension();
        for (i, m) in batch.iter().enumerate() {
            let check = || -> Result<()> {
                validate::content(&m.content)?;
                validate::metadata(&m.metadata)?;
                validate::scope(&m.scope)?;
                if let Some(e) = &m.embedding {
                    validate::vector("embedding", e, dim)?;
                }
                expiry(m.expires_at, m.ttl_seconds, now)?;
                Ok(())
            };
            check().map_err(|e| if batch.len() > 1 { e.at_item(i) } else { e })?;
        }
        let to_embed: Vec<String> = batch
            .iter()
            .filter(|m| m.embedding.is_none())
            .map(|m| m.content.clone())
            .collect();
        let mut computed = self.embed_texts(&to_embed).await?.into_iter();
        let mut memories = Vec::with_capacity(batch.len());
        for m in batch {
            let embedding = match m.embedding {
                Some(e) => e,
                None => computed
                    .next()
                    .ok_or_else(|| Error::internal("embedder", "returned too few vectors"))?,
            };
            memories.push(Memory {
                id: MemoryId::new(),
                content: m.content,
                embedding,
                metadata: m.metadata,
                scope: m.scope,
                created_at: now,
                updated_at: now,
                expires_at: expiry(m.expires_at, m.ttl_seconds, now)?,
            });
        }
        self.inner.store.put_memories(&memories).await?;
        self.sync_after_write().await;
        Ok(memories)
    }

    /// Reads a memory (`NotFound` if absent or expired).
    pub async fn get_memory(&self, id: MemoryId) -> Result<Memory> {
        self.inner
            .store
            .get_memories(&[id])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found(Entity::Memory, id.to_string()))
    }

    /// Updates a memory; new content is re-embedded.
    pub async fn update_memory(&self, id: MemoryId, update: MemoryUpdate) -> Result<Memory> {
        if let Some(c) = &update.content {
            validate::content(c)?;
        }
        if let Some(m) = &update.metadata {
            validate::metadata(m)?;
        }
        if let Some(e) = &update.embedding {
            validate::vector("embedding", e, self.dimension())?;
        }
        let now = now();
        let new_expiry = expiry(update.expires_at, update.ttl_seconds, now)?;
        let mut memory = self.get_memory(id).await?;
        if let Some(content) = update.content {
            if content != memory.content || update.embedding.is_some() {
                memory.embedding = match update.embedding {
                    Some(e) => e,
                    None => self
                        .embed_texts(std::slice::from_ref(&content))
                        .await?
                        .pop()
                        .ok_or_else(|| Error::internal("embedder", "returned no vector"))?,
                };
            }
            memory.content = content;
        } else if let Some(e) = update.embedding {
            memory.embedding = e;
        }
        if let Some(metadata) = update.metadata {
            memory.metadata = metadata;
        }
        if new_expiry.is_some() {
            memory.expires_at = new_expiry;
        }
        memory.updated_at = now;
        self.inner
            .store
            .put_memories(std::slice::from_ref(&memory))
            .await?;
        self.sync_after_write().await;
        Ok(memory)
    }

    /// Deletes a memory (`NotFound` if absent).
    pub async fn delete_memory(&self, id: MemoryId) -> Result<()> {
        let n = self.inner.store.delete_memories(&[id]).await?;
        self.sync_after_write().await;
        if n == 0 {
            return Err(Error::not_found(Entity::Memory, id.to_string()));
        }
        Ok(())
    }

    /// Lists memories by id (creation order), a page at a time.
    pub async fn list_memories(&self, req: ListMemories) -> Result<Page<Memory>> {
        validate::filter(&req.filter)?;
        validate::page_limit(req.limit)?;
        self.inner.store.list_memories(&req).await
    }

    /// Semantic search: the best memories for a query text or vector, best first.
    pub async fn search(&self, req: SearchRequest) -> Result<Vec<SearchHit>> {
        let k = validate::search_limit(req.limit)?;
        validate::filter(&req.filter)?;
        validate::min_score(req.min_score)?;
        let vector = match (req.query, req.vector) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid_input(
                    "query",
                    "give either query or vector, not both",
                ))
            }
            (None, None) => {
                return Err(Error::invalid_input(
                    "query",
                    "give a query text or a vector",
                ))
            }
            (Some(q), None) => {
                if q.trim().is_empty() {
                    return Err(Error::invalid_input("query", "must not be empty"));
                }
                validate::content(&q).map_err(|e| match e {
                    Error::InvalidInput { reason, .. } => Error::invalid_input("query", reason),
                    other => other,
                })?;
                self.embed_texts(&[q])
                    .await?
                    .pop()
                    .ok_or_else(|| Error::internal("embedder", "returned no vector"))?
            }
            (None, Some(v)) => {
                validate::vector("vector", &v, self.dimension())?;
                v
            }
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
        let mut memories: std::collections::HashMap<MemoryId, Memory> = self
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
                memories.remove(&h.id).map(|memory| SearchHit {
                    memory,
                    // Rounding can put the dot product of unit vectors a hair past 1.
                    score: h.score.clamp(-1.0, 1.0),
                })
            })
            .collect())
    }

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
                        *slot = Some(backend::vector_bytes::decode(&bytes));
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
                        let bytes = backend::vector_bytes::encode(&v);
                        if let Err(e) = cache
                            .set(&key(t), Bytes::from(bytes), Some(Duration::from_secs(3600)))
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

    // ----- index maintenance -----

    async fn sync_after_write(&self) {
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
    fn index_failed(&self) {
        *self.inner.index_down_until.lock() =
            Some(std::time::Instant::now() + Duration::from_secs(2));
    }

    /// The store key under which a shared index's position is recorded.
    fn applied_key(&self) -> String {
        format!("index_applied:{}", self.inner.index.location())
    }

    /// At startup: a local index is rebuilt from the store; a shared index resumes
    /// from the position recorded in the store (or is rebuilt if there is none).
    async fn open_index(&self) -> Result<()> {
        if !self.inner.index.capabilities().shared {
            return self.rebuild_index().await;
        }
        let recorded = self.inner.store.get_meta(&self.applied_key()).await?;
        match recorded.and_then(|v| v.parse::<i64>().ok()) {
            Some(seq) => {
                *self.inner.applied.lock().await = seq;
                *self.inner.recorded.lock().await = seq;
                self.sync_index().await
            }
            None => self.rebuild_index().await,
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
        drop(applied);
        self.record_applied().await
    }

    /// For a shared index, records in the store how far it has caught up, so the next
    /// process to start resumes there instead of rebuilding.
    async fn record_applied(&self) -> Result<()> {
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

    /// Deletes expired contexts and memories and prunes the change log; the
    /// background sweep calls this every `sweep_interval_secs`.
    pub async fn sweep(&self) -> Result<Purged> {
        let now = now();
        let purged = self.inner.store.purge_expired(now).await?;
        let retention = chrono::TimeDelta::try_seconds(
            i64::try_from(self.inner.config.change_retention_secs).unwrap_or(i64::MAX),
        )
        .unwrap_or_default();
        self.inner.store.prune_changes(now - retention).await?;
        self.sync_index().await?;
        Ok(purged)
    }

    /// Starts the expiry sweep and the index sync loop, which retries index updates
    /// that failed (a vector server that was down) and follows other processes' writes.
    fn start_background(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let sweep = self.inner.config.sweep_interval_secs;
        if sweep > 0 {
            self.every(Duration::from_secs(sweep), |omnex| async move {
                if let Err(e) = omnex.sweep().await {
                    warn!(error = %e, "expiry sweep failed; retrying at the next interval");
                }
            });
        }
        let sync = self.inner.config.index_sync_interval_ms;
        if sync > 0 {
            let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
            self.every(Duration::from_millis(sync), move |omnex| {
                let failing = failing.clone();
                async move {
                    use std::sync::atomic::Ordering;
                    let result = match omnex.sync_index().await {
                        Ok(()) => {
                            *omnex.inner.index_down_until.lock() = None;
                            omnex.record_applied().await
                        }
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(()) => {
                            if failing.swap(false, Ordering::Relaxed) {
                                warn!(
                                    "index sync recovered; the index is up to date with the store"
                                );
                            }
                        }
                        Err(e) => {
                            omnex.index_failed();
                            if !failing.swap(true, Ordering::Relaxed) {
                                warn!(error = %e, "index sync failed; retrying in the background");
                            }
                        }
                    }
                }
            });
        }
    }

    /// Runs `job` every `period` while the engine is alive.
    fn every<F, Fut>(&self, period: Duration, job: F)
    where
        F: Fn(Omnex) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                job(Omnex { inner }).await;
            }
        });
        self.inner.tasks.lock().push(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_rules() {
        let now = now();
        assert_eq!(expiry(None, None, now).unwrap(), None);
        assert!(expiry(None, Some(0), now).is_err());
        assert!(expiry(Some(now), None, now).is_err());
        assert!(expiry(Some(now), Some(5), now).is_err());
        assert!(expiry(None, Some(u64::MAX), now).is_err());
        assert_eq!(
            expiry(None, Some(10), now).unwrap(),
            Some(now + chrono::TimeDelta::seconds(10))
        );
    }
}
