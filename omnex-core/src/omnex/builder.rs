//! [`OmnexBuilder`]: explicit backends, the embedding-model check, and opening the engine.

use std::sync::Arc;

use tracing::warn;

use super::{Inner, Omnex, META_DIMENSION, META_MODEL};
use crate::{
    backend, cache::Cache, config::Config, embed::Embedder, index::VectorIndex, store::Store,
    Error, Result,
};

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
    /// How memory content is split into terms for keyword search (default English).
    pub fn analyzer(mut self, analyzer: crate::text::Analyzer) -> Self {
        self.config.analyzer = analyzer;
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
            None => backend::open_store(&self.config.store_spec()).await?,
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
        let analyzer = self.config.full_text.then_some(self.config.analyzer);
        store.set_text_analyzer(analyzer).await?;
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
        index.set_text_analyzer(analyzer);
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
                keys: Default::default(),
                changes: tokio::sync::watch::channel(0).0,
                work: Arc::new(tokio::sync::Notify::new()),
                #[cfg(feature = "webhooks")]
                http: std::sync::OnceLock::new(),
            }),
            principal: Arc::new(crate::model::Principal::local()),
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
