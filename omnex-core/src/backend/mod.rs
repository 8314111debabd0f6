//! The only place that names concrete backends: one scheme → implementation `match` per trait.

pub mod exact;
#[cfg(feature = "hnsw")]
pub mod hnsw;
#[cfg(feature = "local-embedder")]
pub mod local_embedder;
pub mod memory_cache;
#[cfg(feature = "openai-embedder")]
pub mod openai_embedder;
#[cfg(feature = "pgvector")]
pub mod pgvector;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "qdrant")]
pub mod qdrant;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub(crate) mod vector_bytes;

use std::sync::Arc;

use crate::{
    cache::Cache, config::Config, embed::Embedder, index::VectorIndex, store::Store, Error, Result,
};

/// Store URL schemes this build supports.
pub const STORE_SCHEMES: &[&str] = &[
    #[cfg(feature = "sqlite")]
    "sqlite",
    #[cfg(feature = "postgres")]
    "postgres",
];

/// Index names this build supports.
pub const INDEX_NAMES: &[&str] = &[
    #[cfg(feature = "hnsw")]
    "hnsw",
    "exact",
    #[cfg(feature = "pgvector")]
    "pgvector",
    #[cfg(feature = "pgvector")]
    "pgvector:postgres://…",
    #[cfg(feature = "qdrant")]
    "qdrant://host:6334",
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
pub const CACHE_NAMES: &[&str] = &[
    "memory",
    "none",
    #[cfg(feature = "redis")]
    "redis://host:6379",
];

/// Opens the store named by `url`.
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::open_url(url).await?)),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Arc::new(postgres::PostgresStore::open_url(url).await?)),
        other => Err(Error::invalid_input(
            "store",
            format!(
                "unknown or disabled scheme {other:?}; this build supports: {}",
                STORE_SCHEMES.join(", ")
            ),
        )),
    }
}

/// Opens the vector index `config.index` for vectors of `dimension` made by `model`
/// (shared indexes keep one table or collection per model and dimension).
pub async fn open_index(
    config: &Config,
    dimension: usize,
    model: &str,
) -> Result<Arc<dyn VectorIndex>> {
    let spec = config.index.as_str();
    let _ = model;
    match spec {
        #[cfg(feature = "hnsw")]
        "hnsw" => Ok(Arc::new(hnsw::HnswIndex::new(dimension))),
        "exact" => Ok(Arc::new(exact::ExactIndex::new(dimension))),
        #[cfg(feature = "pgvector")]
        "pgvector" => {
            let url = config.store_url();
            if !url.starts_with("postgres") {
                return Err(Error::invalid_input(
                    "index",
                    "index pgvector keeps vectors in the PostgreSQL store: use a postgres:// store, \
                     or name another database as pgvector:postgres://…",
                ));
            }
            open_pgvector(&url, dimension, model).await
        }
        #[cfg(feature = "pgvector")]
        url if url.starts_with("pgvector:postgres") => {
            open_pgvector(&url["pgvector:".len()..], dimension, model).await
        }
        #[cfg(feature = "qdrant")]
        url if url.starts_with("qdrant://") || url.starts_with("qdrants://") => Ok(Arc::new(
            qdrant::QdrantIndex::connect(
                url,
                &qdrant::collection_name(model, dimension),
                dimension,
            )
            .await?,
        )),
        other => Err(Error::invalid_input(
            "index",
            format!(
                "unknown or disabled index {other:?}; this build supports: {}",
                INDEX_NAMES.join(", ")
            ),
        )),
    }
}

#[cfg(feature = "pgvector")]
async fn open_pgvector(url: &str, dimension: usize, model: &str) -> Result<Arc<dyn VectorIndex>> {
    Ok(Arc::new(
        pgvector::PgVectorIndex::connect(url, &pgvector::table_name(model, dimension), dimension)
            .await?,
    ))
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
        #[cfg(feature = "redis")]
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            Ok(Some(Arc::new(redis::RedisCache::new(url)?)))
        }
        other => Err(Error::invalid_input(
            "cache",
            format!(
                "unknown or disabled cache {other:?}; this build supports: {}",
                CACHE_NAMES.join(", ")
            ),
        )),
    }
}

/// Applies the store's pending schema migrations and describes the result.
pub async fn migrate_store(url: &str) -> Result<String> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let store = postgres::PostgresStore::connect(url).await?;
            let target = store.target().clone();
            let applied = store.migrate().await?;
            let all = store.applied_migrations().await?;
            Ok(format!(
                "{target:?}: schema at version {} ({} applied now: {applied:?})",
                all.last().copied().unwrap_or_default(),
                applied.len()
            ))
        }
        _ => {
            // SQLite (and any store without separate migrations) migrates when opened.
            let store = open_store(url).await?;
            Ok(format!("{}: up to date", store.name()))
        }
    }
}
