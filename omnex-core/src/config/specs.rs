//! Backend choices as types: each parses from the URL or name a user writes (in
//! code, a configuration file, `OMNEX_*` variables or flags) and prints back as it.
//! A spec that does not parse is refused when the [`Config`](super::Config) is
//! built, with the forms that are accepted; `backend::open_*` match on them.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The database file a SQLite URL names (`sqlite://path` or `sqlite:path`, query
/// options dropped); `None` for an in-memory database (`sqlite::memory:`).
#[cfg(any(feature = "sqlite", feature = "hnsw"))]
pub(crate) fn sqlite_file(url: &str) -> Result<Option<&std::path::Path>> {
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        return Ok(None);
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| Error::invalid_input("store", format!("{url:?} is not a sqlite URL")))?;
    Ok(Some(std::path::Path::new(
        path.split('?').next().unwrap_or(path),
    )))
}

/// Where the store lives (the source of truth).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum StoreSpec {
    /// `sqlite://path/omnex.db`, or `sqlite::memory:` for a throw-away store.
    Sqlite(String),
    /// `postgres://user@host:5432/db?…` (also `postgresql://`).
    Postgres(String),
}

/// Which vector index answers searches.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum IndexSpec {
    /// `hnsw`: in memory, rebuilt from the store at startup (the default).
    Hnsw,
    /// `exact`: brute force, exact results.
    Exact,
    /// `pgvector` (in the PostgreSQL store) or `pgvector:postgres://…` (another database).
    PgVector(Option<String>),
    /// `qdrant://host:6334?collection=&api_key=` (`qdrants://` for TLS).
    Qdrant(String),
}

/// Which embedder turns text into vectors.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EmbedderSpec {
    /// `local`: all-MiniLM-L6-v2 in this process (the default).
    Local,
    /// `openai`: the OpenAI embeddings API.
    OpenAi,
    /// `http(s)://host/v1?model=name`: any OpenAI-compatible server.
    Compatible(String),
}

/// Which cache sits in front of the store and the embedder.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CacheSpec {
    /// `memory`: in this process (the default).
    Memory,
    /// `none`: no cache.
    None,
    /// `redis://host:6379` (`rediss://` for TLS): shared by every process.
    Redis(String),
}

/// The forms each spec accepts, for error messages and documentation.
pub const STORE_FORMS: &str = "sqlite://PATH, sqlite::memory:, postgres://USER@HOST:5432/DB";
/// See [`STORE_FORMS`].
pub const INDEX_FORMS: &str =
    "hnsw, exact, pgvector, pgvector:postgres://USER@HOST/DB, qdrant://HOST:6334";
/// See [`STORE_FORMS`].
pub const EMBEDDER_FORMS: &str = "local, openai, http(s)://HOST/v1?model=NAME";
/// See [`STORE_FORMS`].
pub const CACHE_FORMS: &str = "memory, none, redis://HOST:6379";

fn refused(field: &'static str, given: &str, forms: &str) -> Error {
    Error::invalid_input(
        field,
        format!("{given:?} is not a {field} Omnex knows; use one of: {forms}"),
    )
}

impl FromStr for StoreSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Ok(Self::Sqlite(s.to_owned())),
            Some("postgres" | "postgresql") => Ok(Self::Postgres(s.to_owned())),
            _ => Err(refused("store", s, STORE_FORMS)),
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(url) | Self::Postgres(url) => f.write_str(url),
        }
    }
}

impl FromStr for IndexSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "hnsw" => Ok(Self::Hnsw),
            "exact" => Ok(Self::Exact),
            "pgvector" => Ok(Self::PgVector(None)),
            _ => match s.split_once(':') {
                Some(("pgvector", url)) if url.starts_with("postgres") => {
                    Ok(Self::PgVector(Some(url.to_owned())))
                }
                Some(("qdrant" | "qdrants", _)) if s.contains("://") => {
                    Ok(Self::Qdrant(s.to_owned()))
                }
                _ => Err(refused("index", s, INDEX_FORMS)),
            },
        }
    }
}

impl fmt::Display for IndexSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hnsw => f.write_str("hnsw"),
            Self::Exact => f.write_str("exact"),
            Self::PgVector(None) => f.write_str("pgvector"),
            Self::PgVector(Some(url)) => write!(f, "pgvector:{url}"),
            Self::Qdrant(url) => f.write_str(url),
        }
    }
}

impl FromStr for EmbedderSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "local" => Ok(Self::Local),
            "openai" => Ok(Self::OpenAi),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Ok(Self::Compatible(url.to_owned()))
            }
            _ => Err(refused("embedder", s, EMBEDDER_FORMS)),
        }
    }
}

impl fmt::Display for EmbedderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("local"),
            Self::OpenAi => f.write_str("openai"),
            Self::Compatible(url) => f.write_str(url),
        }
    }
}

impl FromStr for CacheSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "memory" => Ok(Self::Memory),
            "none" | "" => Ok(Self::None),
            url if url.starts_with("redis://") || url.starts_with("rediss://") => {
                Ok(Self::Redis(url.to_owned()))
            }
            _ => Err(refused("cache", s, CACHE_FORMS)),
        }
    }
}

impl fmt::Display for CacheSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::None => f.write_str("none"),
            Self::Redis(url) => f.write_str(url),
        }
    }
}

/// `TryFrom<String>` (for serde), `From<Spec> for String` and a `Debug` that hides
/// credentials, for each spec.
macro_rules! string_forms {
    ($($spec:ident),+) => {$(
        impl TryFrom<String> for $spec {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                s.parse()
            }
        }

        impl From<$spec> for String {
            fn from(spec: $spec) -> Self {
                spec.to_string()
            }
        }

        impl fmt::Debug for $spec {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&super::redact_url(&self.to_string()))
            }
        }
    )+};
}

string_forms!(StoreSpec, IndexSpec, EmbedderSpec, CacheSpec);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_through_text() {
        for s in [
            "sqlite://./omnex-data/omnex.db",
            "sqlite::memory:",
            "postgres://u@h:5432/db",
        ] {
            assert_eq!(s.parse::<StoreSpec>().unwrap().to_string(), s);
        }
        for s in [
            "hnsw",
            "exact",
            "pgvector",
            "pgvector:postgres://u@h/db",
            "qdrant://h:6334?collection=c",
        ] {
            assert_eq!(s.parse::<IndexSpec>().unwrap().to_string(), s);
        }
        for s in ["local", "openai", "http://127.0.0.1:1/v1?model=m"] {
            assert_eq!(s.parse::<EmbedderSpec>().unwrap().to_string(), s);
        }
        for s in ["memory", "none", "redis://127.0.0.1:6379/"] {
            assert_eq!(s.parse::<CacheSpec>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn unknown_specs_name_the_accepted_forms() {
        let e = "mysql://x".parse::<StoreSpec>().unwrap_err();
        assert_eq!(e.field(), Some("store"));
        assert!(e.to_string().contains("postgres://"), "{e}");
        let e = "faiss".parse::<IndexSpec>().unwrap_err();
        assert!(e.to_string().contains("qdrant://"), "{e}");
        assert!("pgvector:mysql://x".parse::<IndexSpec>().is_err());
        assert!("bert".parse::<EmbedderSpec>().is_err());
        assert!("memcached://x".parse::<CacheSpec>().is_err());
        let c: Result<crate::Config, _> = toml_like("index", "faiss");
        assert!(c.is_err());
    }

    /// A config deserialized from one field, as a file would give it.
    fn toml_like(
        field: &str,
        value: &str,
    ) -> std::result::Result<crate::Config, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ field: value }))
    }
}
