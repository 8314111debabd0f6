//! The facade over the scale-out backends, against real servers: PostgreSQL (store),
//! pgvector and Qdrant (indexes), Redis (cache). Several engines on one database stand
//! in for several processes: each has its own connections and its own state.
//!
//! Configured by `OMNEX_TEST_POSTGRES_URL`, `OMNEX_TEST_REDIS_URL`, `OMNEX_TEST_QDRANT_URL`,
//! and for the fault test `OMNEX_TEST_FAULT_PG_URL` plus `OMNEX_TEST_FAULT_PG_CTL` (a
//! script taking `stop` and `start`). A test whose servers are not configured prints
//! `SKIPPED`, or fails when `OMNEX_TEST_REQUIRE` names them.

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::time::{Duration, Instant};

use common::nearest;
use omnex_core::{
    conformance::{required, unique_namespace, Rng},
    model::{Filter, ListMemories, NewMemory, PutContext, Scope, SearchRequest},
    Config, ErrorKind, Omnex,
};
use serde_json::json;

const DIM: usize = 16;

fn env(name: &str, backend: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                !required(backend),
                "OMNEX_TEST_REQUIRE names {backend} but {name} is not set"
            );
            None
        }
    }
}

fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// A deployment: which store, index and cache every engine of a test opens.
#[derive(Clone, Debug)]
struct Layout {
    store: String,
    index: String,
    cache: String,
}

impl Layout {
    /// PostgreSQL in a fresh schema, with `index` (`pgvector`, or a Qdrant URL).
    fn postgres(index: Option<String>, redis: bool) -> Option<Self> {
        let pg = env("OMNEX_TEST_POSTGRES_URL", "postgres")?;
        let cache = if redis {
            let url = env("OMNEX_TEST_REDIS_URL", "redis")?;
            with_param(&url, &format!("prefix={}", unique_namespace()))
        } else {
            "none".into()
        };
        Some(Self {
            store: with_param(
                &pg,
                &format!("schema={}&max_connections=4", unique_namespace()),
            ),
            index: index.unwrap_or_else(|| "pgvector".into()),
            cache,
        })
    }

    fn qdrant(redis: bool) -> Option<Self> {
        let url = env("OMNEX_TEST_QDRANT_URL", "qdrant")?;
        // A collection of its own, so parallel tests do not share points.
        Self::postgres(
            Some(with_param(
                &url,
                &format!("collection={}", unique_namespace()),
            )),
            redis,
        )
    }

    async fn open(&self) -> Omnex {
        self.open_with(|_| {}).await
    }

    fn config(&self) -> Config {
        Config {
            store: Some(self.store.parse().unwrap()),
            index: self.index.parse().unwrap(),
            cache: self.cache.parse().unwrap(),
            sweep_interval_secs: 0,
            index_sync_interval_ms: 100,
            ..Config::default()
        }
    }

    async fn open_with(&self, tweak: impl FnOnce(&mut Config)) -> Omnex {
        let mut config = self.config();
        tweak(&mut config);
        Omnex::builder()
            .config(config)
            .dimension(DIM)
            .build()
            .await
            .unwrap()
    }
}

/// Keyword and hybrid search through the facade: the keyword leg runs where the
/// deployment keeps its full-text index (PostgreSQL's tsvector beside pgvector,
/// Qdrant's sparse vectors), filters hold in both legs, and updated, deleted and
/// reopened data are searched by their current words.
async fn keyword_and_hybrid_end_to_end(layout: Layout) {
    let omnex = layout.open().await;
    let ns = unique_namespace();
    let mut rng = Rng::new(5);
    let user = |u: &str| Scope::namespace(&ns).with_user(u);
    let texts = [
        ("alice", "The weekly team meeting moved to Tuesday"),
        ("alice", "Invoice ZX-99812 was paid twice by mistake"),
        ("alice", "Lunch with the design team on Friday"),
        ("bob", "Invoice ZX-99812 ZX-99812 belongs to Bob"),
    ];
    let added = omnex
        .add_memories(
            texts
                .iter()
                .map(|(u, t)| {
                    NewMemory::new(*t)
                        .with_scope(user(u))
                        .with_embedding(rng.vector(DIM))
                })
                .collect(),
        )
        .await
        .unwrap();
    let alice = Filter::default().with_namespace(&ns).with_user("alice");
    let keyword = |q: &str, f: Filter| {
        omnex.search(
            SearchRequest::query(q)
                .with_mode(omnex_core::model::SearchMode::Keyword)
                .with_filter(f),
        )
    };
    let hits = keyword("ZX-99812", alice.clone()).await.unwrap();
    assert_eq!(
        hits.iter().map(|h| h.memory.id).collect::<Vec<_>>(),
        vec![added[1].id]
    );
    let everyone = Filter::default().with_namespace(&ns);
    let hits = keyword("ZX-99812", everyone.clone()).await.unwrap();
    assert_eq!(
        hits[0].memory.id, added[3].id,
        "more occurrences rank first"
    );
    // Hybrid with the caller's vector: the semantic leg finds the vector's memory,
    // the keyword leg the code; both are explained.
    let hits = omnex
        .search(
            SearchRequest::query("ZX-99812")
                .with_vector(added[0].embedding.clone())
                .with_filter(alice.clone())
                .with_explain(),
        )
        .await
        .unwrap();
    assert!(hits
        .iter()
        .all(|h| h.memory.scope.user_id.as_deref() == Some("alice")));
    let top: Vec<_> = hits.iter().take(2).map(|h| h.memory.id).collect();
    assert!(
        top.contains(&added[0].id) && top.contains(&added[1].id),
        "{hits:?}"
    );
    let code = hits.iter().find(|h| h.memory.id == added[1].id).unwrap();
    assert_eq!(code.explain.as_ref().unwrap().keyword.unwrap().rank, 1);

    omnex
        .update_memory(
            added[1].id,
            omnex_core::model::MemoryUpdate {
                content: Some("Invoice settled".into()),
                embedding: Some(rng.vector(DIM)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    omnex.delete_memory(added[3].id).await.unwrap();
    // A second engine (another process) sees the current words only.
    let other = layout.open().await;
    for engine in [&omnex, &other] {
        let hits = engine
            .search(
                SearchRequest::query("ZX-99812")
                    .with_mode(omnex_core::model::SearchMode::Keyword)
                    .with_filter(everyone.clone()),
            )
            .await
            .unwrap();
        assert!(hits.is_empty(), "{hits:?}");
        let hits = engine
            .search(
                SearchRequest::query("settled")
                    .with_mode(omnex_core::model::SearchMode::Keyword)
                    .with_filter(everyone.clone()),
            )
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].memory.id, added[1].id);
    }
}

/// Memories, filters, updates and deletes through the facade.
async fn memories_end_to_end(layout: Layout) {
    let omnex = layout.open().await;
    let ns = unique_namespace();
    let mut rng = Rng::new(1);
    let alice = Scope::namespace(&ns).with_user("alice");
    let bob = Scope::namespace(&ns).with_user("bob");
    let batch: Vec<NewMemory> = (0..40)
        .map(|i| {
            NewMemory::new(format!("memory {i}"))
                .with_scope(if i % 2 == 0 {
                    alice.clone()
                } else {
                    bob.clone()
                })
                .with_metadata("i", json!(i))
                .with_embedding(rng.vector(DIM))
        })
        .collect();
    let added = omnex.add_memories(batch).await.unwrap();
    for m in &added {
        assert_eq!(nearest(&omnex, &m.embedding, &ns).await.unwrap().id, m.id);
    }
    let hits = omnex
        .search(
            SearchRequest::vector(added[3].embedding.clone())
                .with_limit(50)
                .with_filter(Filter::default().with_namespace(&ns).with_user("alice")),
        )
        .await
        .unwrap();
    assert_eq!(hits.len(), 20, "the filter is applied inside the search");
    assert!(hits
        .iter()
        .all(|h| h.memory.scope.user_id.as_deref() == Some("alice")));
    let seven = omnex
        .search(
            SearchRequest::vector(added[0].embedding.clone()).with_filter(
                Filter::default()
                    .with_namespace(&ns)
                    .with_metadata("i", json!(7.0)),
            ),
        )
        .await
        .unwrap();
    assert_eq!(seven.len(), 1);
    assert_eq!(seven[0].memory.id, added[7].id);

    let moved = rng.vector(DIM);
    omnex
        .update_memory(
            added[5].id,
            omnex_core::model::MemoryUpdate {
                embedding: Some(moved.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(nearest(&omnex, &moved, &ns).await.unwrap().id, added[5].id);
    omnex.delete_memory(added[5].id).await.unwrap();
    assert_ne!(
        nearest(&omnex, &moved, &ns).await.map(|m| m.id),
        Some(added[5].id)
    );
    let listed = omnex
        .list_memories(ListMemories {
            filter: Filter::default().with_namespace(&ns),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 39);
}

/// Two engines on one deployment see each other's writes at once: memories (through
/// the shared index) and contexts (through the shared cache, invalidated on write).
async fn engines_see_each_others_writes(layout: Layout) {
    let a = layout.open().await;
    let b = layout.open().await;
    let ns = unique_namespace();
    let mut rng = Rng::new(2);
    for _ in 0..10 {
        let v = rng.vector(DIM);
        let m = a
            .add_memory(
                NewMemory::new("written by a")
                    .with_scope(Scope::namespace(&ns))
                    .with_embedding(v.clone()),
            )
            .await
            .unwrap();
        assert_eq!(nearest(&b, &v, &ns).await.unwrap().id, m.id);
        b.delete_memory(m.id).await.unwrap();
        assert_ne!(nearest(&a, &v, &ns).await.map(|x| x.id), Some(m.id));
    }
    for i in 0..5 {
        let writer = if i % 2 == 0 { &a } else { &b };
        writer
            .put_context(PutContext::new(&ns, "profile", json!({ "round": i })))
            .await
            .unwrap();
        for reader in [&a, &b] {
            // Read twice: the second read may come from the cache; both must be current.
            for _ in 0..2 {
                let got = reader.get_context(&ns, "profile").await.unwrap();
                assert_eq!(got.value, json!({ "round": i }));
                assert_eq!(got.version, i + 1);
            }
        }
    }
    a.delete_context(&ns, "profile", None).await.unwrap();
    assert_eq!(
        b.get_context(&ns, "profile").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// A second engine on a shared index resumes where the store says the index is,
/// instead of rebuilding it; `rebuild_index` (what `omnex reindex` runs) restores an
/// index that lost everything.
async fn shared_index_resumes_and_rebuilds(layout: Layout) {
    let ns = unique_namespace();
    let mut rng = Rng::new(3);
    let vectors: Vec<Vec<f32>> = (0..30).map(|_| rng.vector(DIM)).collect();
    let first = layout.open().await;
    let added = first
        .add_memories(
            vectors
                .iter()
                .map(|v| {
                    NewMemory::new("resume")
                        .with_scope(Scope::namespace(&ns))
                        .with_embedding(v.clone())
                })
                .collect(),
        )
        .await
        .unwrap();
    drop(first);
    let second = layout.open().await;
    assert_eq!(second.index_len().await.unwrap(), 30);
    // Wipe the shared index behind Omnex's back, then rebuild it from the store.
    let index = omnex_core::backend::open_index(&layout.config(), DIM, "vectors")
        .await
        .unwrap();
    index.clear().await.unwrap();
    assert_eq!(second.index_len().await.unwrap(), 0);
    let mut seen = 0;
    second.rebuild_index_with(|n| seen = n).await.unwrap();
    assert_eq!(seen, 30);
    for (m, v) in added.iter().zip(&vectors) {
        assert_eq!(nearest(&second, v, &ns).await.unwrap().id, m.id);
    }
}

macro_rules! layouts {
    ($($name:ident => $layout:expr;)+) => {$(
        mod $name {
            use super::*;
            layouts!(@tests $layout; memories_end_to_end, engines_see_each_others_writes,
                     shared_index_resumes_and_rebuilds, keyword_and_hybrid_end_to_end,
                     tenants_never_cross);
        }
    )+};
    (@tests $layout:expr; $($scenario:ident),+) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $scenario() {
            let Some(layout) = $layout else {
                eprintln!("SKIPPED scale_out::{}: servers not configured", module_path!());
                return;
            };
            super::$scenario(layout).await;
        }
    )+};
}

layouts! {
    postgres_pgvector => Layout::postgres(None, false);
    postgres_pgvector_redis => Layout::postgres(None, true);
    postgres_qdrant => Layout::qdrant(false);
    postgres_qdrant_redis => Layout::qdrant(true);
}

/// Waits until every memory is the nearest hit for its own vector, or panics after `limit`.
async fn wait_searchable(
    omnex: &Omnex,
    acked: &[(omnex_core::model::MemoryId, Vec<f32>)],
    ns: &str,
    limit: Duration,
) {
    let started = Instant::now();
    loop {
        let mut missing = 0;
        for (id, v) in acked {
            let found = omnex
                .search(
                    SearchRequest::vector(v.clone())
                        .with_limit(1)
                        .with_filter(Filter::default().with_namespace(ns)),
                )
                .await;
            if !matches!(found.as_deref(), Ok([hit]) if hit.memory.id == *id) {
                missing += 1;
            }
        }
        if missing == 0 {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{missing} of {} acknowledged memories are still not searchable after {limit:?}",
            acked.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The vector backend (a PostgreSQL server with pgvector, separate from the store)
/// is killed mid-run while writes continue; once it is back, every acknowledged
/// memory becomes searchable without anyone asking. A second engine that starts
/// after the first is gone picks up what the first could not index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_backend_outage_loses_no_acknowledged_memory() {
    let (Some(index_url), Some(ctl)) = (
        env("OMNEX_TEST_FAULT_PG_URL", "pg-fault"),
        env("OMNEX_TEST_FAULT_PG_CTL", "pg-fault"),
    ) else {
        eprintln!("SKIPPED scale_out::vector_backend_outage_loses_no_acknowledged_memory: fault server not configured");
        return;
    };
    let Some(mut layout) = Layout::postgres(None, false) else {
        eprintln!("SKIPPED scale_out::vector_backend_outage_loses_no_acknowledged_memory: PostgreSQL not configured");
        return;
    };
    layout.index = format!(
        "pgvector:{}",
        with_param(
            &index_url,
            &format!("schema={}&acquire_timeout_ms=1000", unique_namespace())
        )
    );
    let server = |action: &str| {
        let status = std::process::Command::new(&ctl)
            .arg(action)
            .status()
            .unwrap();
        assert!(status.success(), "{ctl} {action} failed");
    };
    let ns = unique_namespace();
    let mut rng = Rng::new(4);
    let omnex = layout.open().await;
    let mut acked = Vec::new();
    let mut down_writes = 0;
    for i in 0..60 {
        if i == 20 {
            server("stop");
        }
        if i == 40 {
            server("start");
        }
        let v = rng.vector(DIM);
        let m = omnex
            .add_memory(
                NewMemory::new(format!("written during the outage test, #{i}"))
                    .with_scope(Scope::namespace(&ns))
                    .with_embedding(v.clone()),
            )
            .await
            .expect("writes are acknowledged while the vector backend is down");
        if (20..40).contains(&i) {
            down_writes += 1;
        }
        if i == 30 {
            let err = omnex
                .search(SearchRequest::vector(v.clone()).with_limit(1))
                .await
                .expect_err("search needs the vector backend");
            assert_eq!(err.kind(), ErrorKind::Unavailable);
        }
        acked.push((m.id, v));
    }
    assert_eq!(down_writes, 20);
    wait_searchable(&omnex, &acked, &ns, Duration::from_secs(30)).await;

    // Again, but this engine goes away while the backend is down: a new engine
    // starting later repairs the index from the store's outbox.
    server("stop");
    let mut orphaned = Vec::new();
    for i in 0..10 {
        let v = rng.vector(DIM);
        let m = omnex
            .add_memory(
                NewMemory::new(format!("written before the writer went away, #{i}"))
                    .with_scope(Scope::namespace(&ns))
                    .with_embedding(v.clone()),
            )
            .await
            .unwrap();
        orphaned.push((m.id, v));
    }
    drop(omnex);
    server("start");
    let successor = layout.open_with(|c| c.index_sync_interval_ms = 0).await;
    acked.extend(orphaned);
    wait_searchable(&successor, &acked, &ns, Duration::from_secs(5)).await;
}

/// With Redis unreachable, every call still works: the cache only makes things faster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_only_slower() {
    let Some(mut layout) = Layout::postgres(None, false) else {
        eprintln!("SKIPPED scale_out::redis_down_is_only_slower: PostgreSQL not configured");
        return;
    };
    // Nothing listens on port 1.
    layout.cache = "redis://127.0.0.1:1/".into();
    let omnex = layout.open().await;
    let ns = unique_namespace();
    for i in 0..20 {
        omnex
            .put_context(PutContext::new(&ns, "k", json!(i)))
            .await
            .unwrap();
        assert_eq!(omnex.get_context(&ns, "k").await.unwrap().value, json!(i));
    }
    let v = Rng::new(5).vector(DIM);
    let m = omnex
        .add_memory(
            NewMemory::new("cache down")
                .with_scope(Scope::namespace(&ns))
                .with_embedding(v.clone()),
        )
        .await
        .unwrap();
    assert_eq!(nearest(&omnex, &v, &ns).await.unwrap().id, m.id);
}

/// Two tenants on one deployment never see, change or find each other's records
/// (random operations checked against a model of each tenant's data).
async fn tenants_never_cross(layout: Layout) {
    let omnex = layout.open().await;
    omnex_core::conformance::tenants::tenants_never_cross(&omnex, 7, 120).await;
}
