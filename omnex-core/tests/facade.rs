//! The whole write path on the embedded default (SQLite + HNSW + the local model).

use std::sync::Arc;

use omnex_core::{
    backend::{exact::ExactIndex, sqlite::SqliteStore},
    model::{
        Filter, ListContexts, ListMemories, MemoryUpdate, NewMemory, PutContext, Scope,
        SearchRequest,
    },
    Config, ErrorKind, Omnex,
};
use serde_json::json;

fn config(dir: &std::path::Path) -> Config {
    Config {
        sweep_interval_secs: 0,
        ..Config::with_data_dir(dir)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let omnex = Omnex::open(config(dir.path())).await.unwrap();
    let alice = Scope::namespace("app").with_user("alice");
    let bob = Scope::namespace("app").with_user("bob");
    let added = omnex
        .add_memories(vec![
            NewMemory::new("Alice is allergic to peanuts").with_scope(alice.clone()),
            NewMemory::new("Alice runs marathons")
                .with_scope(alice.clone())
                .with_metadata("topic", json!("sport")),
            NewMemory::new("Bob is allergic to cats").with_scope(bob.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(added.len(), 3);
    assert!(added[0].id < added[1].id, "UUIDv7 ids are time-ordered");

    let hits = omnex
        .search(
            SearchRequest::query("food allergy").with_filter(Filter::default().with_user("alice")),
        )
        .await
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].memory.content, "Alice is allergic to peanuts");
    assert!(hits
        .iter()
        .all(|h| h.memory.scope.user_id.as_deref() == Some("alice")));

    let sport = omnex
        .search(
            SearchRequest::query("food allergy")
                .with_filter(Filter::default().with_metadata("topic", json!("sport"))),
        )
        .await
        .unwrap();
    assert_eq!(sport.len(), 1);
    let strict = omnex
        .search(SearchRequest::query("food allergy").with_min_score(0.99))
        .await
        .unwrap();
    assert!(strict.is_empty());

    // Update re-embeds: the memory is now found by its new meaning.
    let updated = omnex
        .update_memory(
            added[2].id,
            MemoryUpdate {
                content: Some("Bob plays the cello".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_ne!(updated.embedding, added[2].embedding);
    let music = omnex
        .search(SearchRequest::query("musical instrument").with_limit(1))
        .await
        .unwrap();
    assert_eq!(music[0].memory.id, added[2].id);

    omnex.delete_memory(added[0].id).await.unwrap();
    assert_eq!(
        omnex.get_memory(added[0].id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        omnex.delete_memory(added[0].id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let left = omnex
        .search(
            SearchRequest::query("peanut allergy")
                .with_filter(Filter::default().with_user("alice")),
        )
        .await
        .unwrap();
    assert!(left.iter().all(|h| h.memory.id != added[0].id));

    let listed = omnex
        .list_memories(ListMemories {
            filter: Filter::default().with_namespace("app"),
            limit: Some(1),
            cursor: None,
            include_embedding: true,
        })
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.next_cursor.is_some());

    // A restart rebuilds the index from the store.
    drop(omnex);
    let reopened = Omnex::open(config(dir.path())).await.unwrap();
    assert_eq!(reopened.index_len().await.unwrap(), 2);
    let hits = reopened
        .search(SearchRequest::query("marathon").with_limit(1))
        .await
        .unwrap();
    assert_eq!(hits[0].memory.id, added[1].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let omnex = Omnex::open(config(dir.path())).await.unwrap();
    let v1 = omnex
        .put_context(
            PutContext::new("app", "user/alice/prefs", json!({"theme": "dark"}))
                .with_tags(["prefs"]),
        )
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    let v2 = omnex
        .put_context(
            PutContext::new("app", "user/alice/prefs", json!({"theme": "light"}))
                .with_tags(["prefs"])
                .with_if_version(1),
        )
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let stale = omnex
        .put_context(PutContext::new("app", "user/alice/prefs", json!({})).with_if_version(1))
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict);
    assert_eq!(
        omnex
            .get_context("app", "user/alice/prefs")
            .await
            .unwrap()
            .value,
        json!({"theme": "light"})
    );
    let page = omnex
        .list_contexts(ListContexts {
            tag: Some("prefs".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        omnex
            .delete_context("app", "user/alice/prefs", Some(1))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    omnex
        .delete_context("app", "user/alice/prefs", Some(2))
        .await
        .unwrap();
    assert_eq!(
        omnex
            .get_context("app", "user/alice/prefs")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_items_vanish_and_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let omnex = Omnex::open(config(dir.path())).await.unwrap();
    let short = omnex
        .add_memory(NewMemory::new("a fleeting thought about clouds").with_ttl_seconds(1))
        .await
        .unwrap();
    let kept = omnex
        .add_memory(NewMemory::new("a lasting thought about clouds"))
        .await
        .unwrap();
    omnex
        .put_context(PutContext::new("app", "session", json!(1)).with_ttl_seconds(1))
        .await
        .unwrap();
    assert_eq!(
        omnex
            .search(SearchRequest::query("clouds"))
            .await
            .unwrap()
            .len(),
        2
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        omnex.get_memory(short.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        omnex
            .get_context("app", "session")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let hits = omnex.search(SearchRequest::query("clouds")).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].memory.id, kept.id);
    let purged = omnex.sweep().await.unwrap();
    assert_eq!(purged.memories, vec![short.id]);
    assert_eq!(purged.contexts, 1);
    assert_eq!(omnex.index_len().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let omnex = Omnex::open(config(dir.path())).await.unwrap();
    let cases = vec![
        (NewMemory::new(""), "content"),
        (NewMemory::new("x".repeat(70_000)), "content"),
        (
            NewMemory::new("ok").with_scope(Scope::namespace("bad space")),
            "namespace",
        ),
        (
            NewMemory::new("ok").with_embedding(vec![0.1; 3]),
            "embedding",
        ),
        (
            NewMemory::new("ok").with_embedding(vec![f32::NAN; 384]),
            "embedding",
        ),
        (NewMemory::new("ok").with_ttl_seconds(0), "ttl_seconds"),
    ];
    for (m, field) in cases {
        // The bad item sits in the middle of a batch: nothing of the batch is stored.
        let batch = vec![NewMemory::new("fine one"), m, NewMemory::new("fine two")];
        let err = omnex.add_memories(batch).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(err.field(), Some(field), "{err}");
    }
    assert!(omnex.add_memories(vec![]).await.is_err());
    let too_many = (0..1001).map(|i| NewMemory::new(format!("m{i}"))).collect();
    assert_eq!(
        omnex.add_memories(too_many).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    for bad in [
        SearchRequest::default(),
        SearchRequest::query("x").with_limit(0),
        SearchRequest::query("x").with_limit(101),
        SearchRequest::vector(vec![1.0; 5]),
        SearchRequest::query("x").with_min_score(2.0),
    ] {
        assert_eq!(
            omnex.search(bad).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
    let page = omnex.list_memories(ListMemories::default()).await.unwrap();
    assert!(page.items.is_empty(), "nothing was written");
    assert_eq!(omnex.index_len().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_with_another_dimension_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Omnex::open(config(dir.path())).await.unwrap());
    let store = SqliteStore::open_path(&dir.path().join("omnex.db"))
        .await
        .unwrap();
    let err = Omnex::builder()
        .store(Arc::new(store))
        .index(Arc::new(ExactIndex::new(768)))
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("384"), "{err}");
}
