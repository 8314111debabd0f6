//! The only place that names concrete backends: one scheme → implementation `match` per trait.

pub mod exact;
#[cfg(feature = "hnsw")]
pub mod hnsw;
#[cfg(feature = "local-embedder")]
pub mod local_embedder;
pub mod memory_cache;
#[cfg(feature = "openai-embedder")]
pub mod openai_embedder;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use std::sync::Arc;

use crate::{
    cache::Cache, config::Config, embed::Embedder, index::VectorIndex, store::Store, Error, Result,
};

/// Store URL schemes this build supports.
pub const STORE_SCHEMES: &[&str] = &[
    #[cfg(feature = "sqlite")]
    "sqlite",
];

/// Index names this build supports.
pub const INDEX_NAMES: &[&str] = &[
    #[cfg(feature = "hnsw")]
    "hnsw",
    "exact",
];

/// Embedder names this build supports (plus `http(s)://…` OpenAI-compatible URLs).
pub const EMBEDDER_NAMES: &[&str] = &[
    #[cfg(feature = "local-embedder")]
    "local",
    #[cfg(feature = "openai-embedder")]
    "openai",
    #[cfg(feature = "openai-embedder")]
    "http(s)://host/v1?model=name",
];

/// Cache names this build supports.
pub const CACHE_NAMES: &[&str] = &["memory", "none"];

/// Opens the store named by `url`.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::open_url(url).await?)),
        other => Err(Error::invalid_input(
            "store",
            format!(
                "unknown or disabled scheme {other:?}; this build supports: {}",
                STORE_SCHEMES.join(", ")
            ),
        )),
    }
}

/// Opens the vector index named `name` for vectors of `dimension`.
pub async fn open_index(name: &str, dimension: usize) -> Result<Arc<dyn VectorIndex>> {
    match name {
        #[cfg(feature = "hnsw")]
        "hnsw" => Ok(Arc::new(hnsw::HnswIndex::new(dimension))),
        "exact" => Ok(Arc::new(exact::ExactIndex::new(dimension))),
        other => Err(Error::invalid_input(
            "index",
            format!(
                "unknown or disabled index {other:?}; this build supports: {}",
                INDEX_NAMES.join(", ")
            ),
        )),
    }
}

/// Opens the embedder named by `config.embedder`.
pub async fn open_embedder(config: &Config) -> Result<Arc<dyn Embedder>> {
    let name = config.embedder.as_str();
    match name {
        #[cfg(feature = "local-embedder")]
        "local" => Ok(Arc::new(
            local_embedder::LocalEmbedder::load(config.model_dir.as_deref()).await?,
        )),
        #[cfg(feature = "openai-embedder")]
        "openai" => Ok(Arc::new(
            openai_embedder::OpenAiEmbedder::connect(openai_embedder::OpenAiConfig::openai(config))
                .await?,
        )),
        #[cfg(feature = "openai-embedder")]
        url if url.starts_with("http://") || url.starts_with("https://") => Ok(Arc::new(
            openai_embedder::OpenAiEmbedder::connect(openai_embedder::OpenAiConfig::from_url(
                url, config,
            )?)
            .await?,
        )),
        other => Err(Error::invalid_input(
            "embedder",
            format!(
                "unknown or disabled embedder {other:?}; this build supports: {}",
                EMBEDDER_NAMES.join(", ")
            ),
        )),
    }
}

/// Opens the cache named `name` (`None` for no cache).
pub async fn open_cache(name: &str) -> Result<Option<Arc<dyn Cache>>> {
    match name {
        "memory" => Ok(Some(Arc::new(memory_cache::MemoryCache::default()))),
        "none" | "" => Ok(None),
        other => Err(Error::invalid_input(
            "cache",
            format!(
                "unknown or disabled cache {other:?}; this build supports: {}",
                CACHE_NAMES.join(", ")
            ),
        )),
    }
}
