//! The `Omnex` facade: owns the write path (embed → store → index → cache).
//!
//! One file per job: [`builder`] opens the engine, [`contexts`], [`memories`] and
//! [`search`] are the public operations, [`embed_cache`] embeds through the cache,
//! [`sync`] follows the change log into the index, [`background`] runs the sweep
//! and the sync loop, and [`restore`] writes exported records back.

use std::sync::Arc;

use crate::{
    backend,
    cache::Cache,
    config::Config,
    embed::Embedder,
    index::VectorIndex,
    model::{Permission, Principal},
    store::Store,
    Error, Result,
};

mod access;
mod background;
mod builder;
mod contexts;
mod embed_cache;
mod events;
mod jobs;
mod memories;
mod restore;
mod search;
mod sync;
mod worker;

pub use builder::OmnexBuilder;
pub use events::Changes;
pub use worker::WorkerOptions;

/// The store metadata key of the embedding model the data was made with.
const META_MODEL: &str = "embedding_model";
/// The store metadata key of the vector dimension of the data.
const META_DIMENSION: &str = "embedding_dimension";

/// Durable memory for AI applications. Cheap to clone; all clones share one engine.
///
/// Every call runs for a [`Principal`]: [`Omnex::open`] gives the local one (the
/// default tenant, every permission), and [`Omnex::with_principal`] a handle on the
/// same engine that acts for another caller, which the core holds to its tenant,
/// permission and namespaces.
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
    principal: Arc<Principal>,
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
    /// API keys checked lately.
    keys: access::KeyCache,
    /// Background tasks (expiry sweep, index sync, workers), stopped when the
    /// engine is dropped.
    tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Counts this process's writes: change-feed streams and the webhook dispatcher
    /// wake on it instead of waiting for their next poll.
    changes: tokio::sync::watch::Sender<u64>,
    /// Wakes idle workers when this process queues a job.
    work: Arc<tokio::sync::Notify>,
    /// The HTTP client of webhook deliveries, made on first use.
    #[cfg(feature = "webhooks")]
    http: std::sync::OnceLock<reqwest::Client>,
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
            .field("tenant", &self.principal.tenant)
            .finish_non_exhaustive()
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
        let store = backend::open_store(&config.store_spec()).await?;
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

    /// A handle on this engine whose calls run for `principal`: they see only its
    /// tenant's data (and only its namespaces, if it is limited to some) and may do
    /// only what its permission allows. Cheap: it shares the engine.
    pub fn with_principal(&self, principal: Principal) -> Self {
        Self {
            inner: self.inner.clone(),
            principal: Arc::new(principal),
        }
    }

    /// Who this handle's calls run for.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Fails with `Forbidden` (and an audit record) unless this handle's principal
    /// has `need`.
    async fn require(&self, need: Permission) -> Result<()> {
        self.denied_if(self.principal.require(need)).await
    }

    /// Passes `check` through, recording a refusal in the audit log.
    async fn denied_if<T>(&self, check: Result<T>) -> Result<T> {
        if let Err(e) = &check {
            self.access_denied(None, &e.reason()).await;
        }
        check
    }

    /// Whether searches by words can run: the index or the store keeps a full-text index.
    pub fn has_keyword_search(&self) -> bool {
        self.inner.index.capabilities().keyword || self.inner.store.text_analyzer().is_some()
    }

    /// Wakes what waits on this process's writes (change streams, the dispatcher).
    fn changed(&self) {
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes after each write this process makes: a change-feed
    /// stream waits on it (with a timeout, for other processes' writes) rather than
    /// polling the store.
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
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
}
