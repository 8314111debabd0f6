//! # omnex-core
//!
//! Durable memory for AI applications: **contexts** (JSON values under
//! `namespace/key`, with tags, versions and expiry) and **memories** (text with
//! metadata and an embedding, searchable by meaning within a user / agent /
//! session / namespace scope).
//!
//! Everything goes through the [`Omnex`] facade, which owns the write path:
//! embed → store (the source of truth) → vector index → cache. Backends sit
//! behind four traits ([`Store`], [`VectorIndex`], [`Embedder`], [`Cache`]) and
//! are chosen by URL or name in [`Config`]. The embedded default needs no server:
//! SQLite in `./omnex-data`, an in-memory HNSW index rebuilt from it at startup,
//! and the local all-MiniLM-L6-v2 embedder.
//!
//! ## Quick start
//!
//! ```no_run
//! use omnex_core::{Config, Omnex, model::{Filter, NewMemory, PutContext, Scope, SearchRequest}};
//!
//! # async fn demo() -> omnex_core::Result<()> {
//! let omnex = Omnex::open(Config::default()).await?;
//!
//! // Contexts: structured JSON with optimistic concurrency.
//! let ctx = omnex.put_context(PutContext::new("app", "settings", serde_json::json!({"theme": "dark"}))).await?;
//! omnex.put_context(PutContext::new("app", "settings", serde_json::json!({"theme": "light"})).with_if_version(ctx.version)).await?;
//!
//! // Memories: text, searchable by meaning, scoped to a user.
//! let alice = Scope::default().with_user("alice");
//! omnex.add_memory(NewMemory::new("Alice is allergic to peanuts").with_scope(alice.clone())).await?;
//! let hits = omnex
//!     .search(SearchRequest::query("what food should Alice avoid?").with_filter(Filter::default().with_user("alice")))
//!     .await?;
//! assert_eq!(hits[0].memory.content, "Alice is allergic to peanuts");
//! # Ok(()) }
//! ```
//!
//! ## Bring your own vectors
//!
//! Without an embedder, give each memory its embedding and search by vector:
//!
//! ```
//! use std::sync::Arc;
//! use omnex_core::{Omnex, backend::{exact::ExactIndex, sqlite::SqliteStore}, model::{NewMemory, SearchRequest}};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> omnex_core::Result<()> {
//! let omnex = Omnex::builder()
//!     .store(Arc::new(SqliteStore::in_memory().await?))
//!     .index(Arc::new(ExactIndex::new(3)))
//!     .build()
//!     .await?;
//! omnex.add_memory(NewMemory::new("north").with_embedding(vec![0.0, 1.0, 0.0])).await?;
//! omnex.add_memory(NewMemory::new("east").with_embedding(vec![1.0, 0.0, 0.0])).await?;
//! let hits = omnex.search(SearchRequest::vector(vec![0.1, 0.9, 0.0]).with_limit(1)).await?;
//! assert_eq!(hits[0].memory.content, "north");
//! # Ok(()) }
//! ```
//!
//! ## Choosing backends by URL
//!
//! [`Config`] names each backend by a URL or a name, parsed when the configuration is
//! built; an unknown one is refused with the forms that are accepted.
//!
//! ```
//! use omnex_core::{config::{IndexSpec, StoreSpec}, Config, ErrorKind};
//!
//! let mut config = Config::with_data_dir("./omnex-data");
//! config.store = Some("postgres://omnex@db:5432/omnex".parse()?);
//! config.index = "qdrant://qdrant:6334".parse()?;
//! config.cache = "redis://redis:6379".parse()?;
//! assert!(matches!(config.store_spec(), StoreSpec::Postgres(_)));
//! assert!(matches!(config.index, IndexSpec::Qdrant(_)));
//!
//! let err = "faiss".parse::<IndexSpec>().unwrap_err();
//! assert_eq!((err.kind(), err.field()), (ErrorKind::InvalidInput, Some("index")));
//! # Ok::<(), omnex_core::Error>(())
//! ```
//!
//! ## One API, two engines
//!
//! [`OmnexApi`] is what [`Omnex`] does, as a trait; `omnex_client::Client` implements
//! it against an `omnex serve`. Write against `&dyn OmnexApi` and choose the engine at
//! run time:
//!
//! ```
//! use omnex_core::{model::{ListMemories, NewMemory, Scope}, OmnexApi};
//!
//! async fn remember(api: &dyn OmnexApi, user: &str, text: &str) -> omnex_core::Result<usize> {
//!     api.add_memory(NewMemory::new(text).with_scope(Scope::default().with_user(user))).await?;
//!     let page = api.list_memories(ListMemories::default()).await?;
//!     Ok(page.items.len())
//! }
//! ```
//!
//! ## Writing a backend
//!
//! Implement [`Store`], [`VectorIndex`], [`Embedder`] or [`Cache`], then run the
//! trait's conformance suite (feature `conformance`) from your tests, one test per
//! contract. `examples/custom_backend.rs` is a complete vector index that passes it:
//!
//! ```text
//! omnex_core::index_conformance!(|dim| async move { Some(MyIndex::new(dim)) });
//! ```

#![warn(missing_docs)]

mod api;
pub mod backend;
pub mod cache;
pub mod config;
pub mod embed;
pub mod error;
pub mod index;
#[cfg(feature = "local-embedder")]
pub mod local_model;
pub mod model;
mod omnex;
pub mod queue;
pub mod signature;
pub mod store;
pub mod text;
pub mod transfer;
pub mod validate;
pub mod vector;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use crate::{
    api::{follow, OmnexApi},
    cache::Cache,
    config::Config,
    embed::Embedder,
    error::{Error, ErrorKind, Result},
    index::VectorIndex,
    omnex::{Changes, Omnex, OmnexBuilder, WorkerOptions},
    store::Store,
};

pub use crate::backend::open_embedder;

/// Applies the configured store's pending schema migrations and describes the
/// result (`omnex migrate`). SQLite migrates whenever it is opened.
pub async fn migrate(config: &Config) -> Result<String> {
    backend::migrate_store(&config.store_spec()).await
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
