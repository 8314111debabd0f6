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
pub mod store;
pub mod transfer;
pub mod validate;
pub mod vector;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use crate::{
    api::OmnexApi,
    cache::Cache,
    config::Config,
    embed::Embedder,
    error::{Error, ErrorKind, Result},
    index::VectorIndex,
    omnex::{Omnex, OmnexBuilder},
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
