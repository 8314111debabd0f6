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

use std::sync::Arc;

use crate::{
    cache::Cache,
    config::{CacheSpec, Config, EmbedderSpec, IndexSpec, StoreSpec},
    embed::Embedder,
    index::VectorIndex,
    store::Store,
    Error, Result,
};

/// The error for a backend this build was compiled without.
#[allow(dead_code)]
fn not_built(kind: &'static str, spec: &dyn std::fmt::Debug, feature: &str) -> Error {
    Error::invalid_input(
        kind,
        format!(
            "{spec:?} needs the `{feature}` feature of omnex-core, which this build does not have"
        ),
    )
}

/// Opens the store `spec` names.
pub async fn open_store(spec: &StoreSpec) -> Result<Arc<dyn Store>> {
    match spec {
        #[cfg(feature = "sqlite")]
        StoreSpec::Sqlite(url) => Ok(Arc::new(sqlite::SqliteStore::open_url(url).await?)),
        #[cfg(feature = "postgres")]
        StoreSpec::Postgres(url) => Ok(Arc::new(postgres::PostgresStore::open_url(url).await?)),
        #[allow(unreachable_patterns)]
        other => Err(not_built("store", other, store_feature(other))),
    }
}

fn store_feature(spec: &StoreSpec) -> &'static str {
    match spec {
        StoreSpec::Sqlite(_) => "sqlite",
        StoreSpec::Postgres(_) => "postgres",
    }
}

/// Opens the vector index `config.index` for vectors of `dimension` made by `model`
/// (shared indexes keep one table or collection per model and dimension).
pub async fn open_index(
    config: &Config,
    dimension: usize,
    model: &str,
) -> Result<Arc<dyn VectorIndex>> {
    let _ = model;
    match &config.index {
        #[cfg(feature = "hnsw")]
        IndexSpec::Hnsw => Ok(Arc::new(match snapshot_dir(config) {
            Some(dir) => hnsw::HnswIndex::saved_at(
                dimension,
                dir.join(format!("index-{}-{dimension}.hnsw", file_slug(model))),
            ),
            None => hnsw::HnswIndex::new(dimension),
        })),
        IndexSpec::Exact => Ok(Arc::new(exact::ExactIndex::new(dimension))),
        #[cfg(feature = "pgvector")]
        IndexSpec::PgVector(None) => match config.store_spec() {
            StoreSpec::Postgres(url) => open_pgvector(&url, dimension, model).await,
            StoreSpec::Sqlite(_) => Err(Error::invalid_input(
                "index",
                "index pgvector keeps vectors in the PostgreSQL store: use a postgres:// store, \
                 or name another database as pgvector:postgres://…",
            )),
        },
        #[cfg(feature = "pgvector")]
        IndexSpec::PgVector(Some(url)) => open_pgvector(url, dimension, model).await,
        #[cfg(feature = "qdrant")]
        IndexSpec::Qdrant(url) => Ok(Arc::new(
            qdrant::QdrantIndex::connect(
                url,
                &qdrant::collection_name(model, dimension),
                dimension,
            )
            .await?,
        )),
        #[allow(unreachable_patterns)]
        other => {
            let feature = match other {
                IndexSpec::Hnsw => "hnsw",
                IndexSpec::PgVector(_) => "pgvector",
                _ => "qdrant",
            };
            Err(not_built("index", other, feature))
        }
    }
}

/// Where a local index saves its snapshot: beside a SQLite store's file, or in the
/// data directory for a server store; nowhere for an in-memory store.
#[cfg(feature = "hnsw")]
fn snapshot_dir(config: &Config) -> Option<std::path::PathBuf> {
    match config.store_spec() {
        StoreSpec::Sqlite(url) => {
            let file = crate::config::sqlite_file(&url).ok().flatten()?;
            file.parent().map(|p| {
                if p.as_os_str().is_empty() {
                    std::path::PathBuf::from(".")
                } else {
                    p.to_owned()
                }
            })
        }
        #[allow(unreachable_patterns)]
        _ => Some(config.data_dir.clone()),
    }
}

/// A model name as a file-name part: letters, digits, `-` and `_` only.
#[cfg(feature = "hnsw")]
fn file_slug(model: &str) -> String {
    model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(feature = "pgvector")]
async fn open_pgvector(url: &str, dimension: usize, model: &str) -> Result<Arc<dyn VectorIndex>> {
    Ok(Arc::new(
        pgvector::PgVectorIndex::connect(url, &pgvector::table_name(model, dimension), dimension)
            .await?,
    ))
}

/// Opens the embedder `config.embedder` names.
pub async fn open_embedder(config: &Config) -> Result<Arc<dyn Embedder>> {
    match &config.embedder {
        #[cfg(feature = "local-embedder")]
        EmbedderSpec::Local => Ok(Arc::new(
            local_embedder::LocalEmbedder::load(config.model_dir.as_deref(), config.install_model)
                .await?,
        )),
        #[cfg(feature = "openai-embedder")]
        EmbedderSpec::OpenAi => Ok(Arc::new(
            openai_embedder::OpenAiEmbedder::connect(openai_embedder::OpenAiConfig::openai(config))
                .await?,
        )),
        #[cfg(feature = "openai-embedder")]
        EmbedderSpec::Compatible(url) => Ok(Arc::new(
            openai_embedder::OpenAiEmbedder::connect(openai_embedder::OpenAiConfig::from_url(
                url, config,
            )?)
            .await?,
        )),
        #[allow(unreachable_patterns)]
        other => {
            let feature = match other {
                EmbedderSpec::Local => "local-embedder",
                _ => "openai-embedder",
            };
            Err(not_built("embedder", other, feature))
        }
    }
}

/// Opens the cache `spec` names (`None` for no cache).
pub async fn open_cache(spec: &CacheSpec) -> Result<Option<Arc<dyn Cache>>> {
    match spec {
        CacheSpec::Memory => Ok(Some(Arc::new(memory_cache::MemoryCache::default()))),
        CacheSpec::None => Ok(None),
        #[cfg(feature = "redis")]
        CacheSpec::Redis(url) => Ok(Some(Arc::new(redis::RedisCache::new(url)?))),
        #[allow(unreachable_patterns)]
        other => Err(not_built("cache", other, "redis")),
    }
}

/// Applies the store's pending schema migrations and describes the result.
pub async fn migrate_store(spec: &StoreSpec) -> Result<String> {
    match spec {
        #[cfg(feature = "postgres")]
        StoreSpec::Postgres(url) => {
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
            let store = open_store(spec).await?;
            Ok(format!("{}: up to date", store.name()))
        }
    }
}
