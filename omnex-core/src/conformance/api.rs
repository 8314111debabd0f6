//! The [`OmnexApi`] suite: the facade's contract, run against every engine (the
//! embedded [`Omnex`](crate::Omnex) and a client of a real `omnex serve`), so both
//! give the same results and the same errors. Each test works in a namespace of its
//! own, so engines can be shared between tests.
//!
//! The engine must embed text with a real model (the suite searches by meaning).

use std::collections::HashSet;

use serde_json::json;

use super::unique_namespace;
use crate::{
    error::Entity,
    model::{Filter, ListContexts, ListMemories, MemoryUpdate, NewMemory, PutContext, Scope},
    model::{MemoryId, SearchRequest},
    ErrorKind, OmnexApi,
};

/// Contexts: create, read, replace (the version goes up), list, delete.
pub async fn contexts_roundtrip(api: &dyn OmnexApi) {
    let ns = unique_namespace();
    let put = PutContext::new(&ns, "a b/c", json!({"x": 1})).with_tags(["t"]);
    let created = api.put_context(put).await.unwrap();
    assert_eq!((created.version, created.was_created()), (1, true));
    assert_eq!(api.get_context(&ns, "a b/c").await.unwrap(), created);
    let replaced = api
        .put_context(PutContext::new(&ns, "a b/c", json!({"x": 2})))
        .await
        .unwrap();
    assert_eq!((replaced.version, replaced.was_created()), (2, false));
    assert_eq!(replaced.value, json!({"x": 2}));
    let page = api
        .list_contexts(ListContexts {
            namespace: Some(ns.clone()),
            ..ListContexts::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items, vec![replaced]);
    api.delete_context(&ns, "a b/c", Some(2)).await.unwrap();
    let err = api.get_context(&ns, "a b/c").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.entity(), Some(Entity::Context));
    assert_eq!(err.id(), Some(format!("{ns}/a b/c").as_str()));
}

/// `if_version`: a stale version conflicts, `0` creates only, and of two writers
/// racing on one version exactly one wins.
pub async fn context_if_version_races(api: &dyn OmnexApi) {
    let ns = unique_namespace();
    let first = api
        .put_context(PutContext::new(&ns, "k", json!(0)).with_if_version(0))
        .await
        .unwrap();
    let err = api
        .put_context(PutContext::new(&ns, "k", json!(1)).with_if_version(0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        (err.entity(), err.id()),
        (Some(Entity::Context), Some(format!("{ns}/k").as_str()))
    );
    let stale = api
        .put_context(PutContext::new(&ns, "k", json!(1)).with_if_version(7))
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict);

    let racers = (0..4).map(|i| {
        api.put_context(PutContext::new(&ns, "k", json!(i)).with_if_version(first.version))
    });
    let results = futures::future::join_all(racers).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| e.kind() == ErrorKind::Conflict));
    assert_eq!(api.get_context(&ns, "k").await.unwrap().version, 2);
    let err = api.delete_context(&ns, "k", Some(1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

/// Memories: add one and a batch, read, update, delete.
pub async fn memories_roundtrip(api: &dyn OmnexApi) {
    let ns = unique_namespace();
    let alice = Scope::namespace(&ns).with_user("alice");
    let m = api
        .add_memory(NewMemory::new("Alice is allergic to peanuts").with_scope(alice.clone()))
        .await
        .unwrap();
    assert_eq!(m.scope, alice);
    let batch = api
        .add_memories(vec![
            NewMemory::new("Alice runs marathons").with_scope(alice.clone()),
            NewMemory::new("Bob plays cello").with_scope(Scope::namespace(&ns).with_user("bob")),
        ])
        .await
        .unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[1].content, "Bob plays cello");
    let got = api.get_memory(m.id).await.unwrap();
    assert_eq!((got.id, &got.content), (m.id, &m.content));
    let updated = api
        .update_memory(
            m.id,
            MemoryUpdate {
                metadata: Some(json!({"k": "v"}).as_object().unwrap().clone()),
                ..MemoryUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.metadata["k"], "v");
    assert_eq!(updated.content, m.content);
    api.delete_memory(m.id).await.unwrap();
    let err = api.get_memory(m.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.entity(), Some(Entity::Memory));
    assert_eq!(err.id(), Some(m.id.to_string().as_str()));
    let err = api.delete_memory(m.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

/// Search finds by meaning inside the filter, best first, and returns embeddings
/// only when asked.
pub async fn search_by_meaning_within_scope(api: &dyn OmnexApi) {
    let ns = unique_namespace();
    let user = |u: &str| Scope::namespace(&ns).with_user(u);
    let added = api
        .add_memories(vec![
            NewMemory::new("Alice is allergic to peanuts").with_scope(user("alice")),
            NewMemory::new("Alice runs marathons").with_scope(user("alice")),
            NewMemory::new("Bob is allergic to shellfish").with_scope(user("bob")),
        ])
        .await
        .unwrap();
    let in_ns = Filter::default().with_namespace(&ns);
    let hits = api
        .search(
            SearchRequest::query("food allergy")
                .with_filter(in_ns.clone().with_user("alice"))
                .with_limit(2),
        )
        .await
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].memory.id, added[0].id);
    assert!(hits[0].score > hits[1].score);
    assert!(hits.iter().all(|h| h.memory.embedding.is_empty()));
    let with = api
        .search(
            SearchRequest::query("food allergy")
                .with_filter(in_ns.clone())
                .with_limit(1)
                .with_embeddings(),
        )
        .await
        .unwrap();
    assert_eq!(with[0].memory.embedding.len(), added[0].embedding.len());
    let by_vector = api
        .search(SearchRequest::vector(added[2].embedding.clone()).with_filter(in_ns.clone()))
        .await
        .unwrap();
    assert_eq!(by_vector[0].memory.id, added[2].id);
    let none = api
        .search(
            SearchRequest::query("food allergy")
                .with_filter(in_ns.with_user("nobody"))
                .with_limit(5),
        )
        .await
        .unwrap();
    assert!(none.is_empty());
}

/// Listing memories by scope and metadata, a page at a time, with no gap and no
/// duplicate; contexts page the same way.
pub async fn listing_with_filters_and_pages(api: &dyn OmnexApi) {
    let ns = unique_namespace();
    let batch: Vec<NewMemory> = (0..7)
        .map(|i| {
            NewMemory::new(format!("note number {i}"))
                .with_scope(Scope::namespace(&ns))
                .with_metadata("topic", json!(if i % 2 == 0 { "even" } else { "odd" }))
        })
        .collect();
    let added = api.add_memories(batch).await.unwrap();
    let even = api
        .list_memories(ListMemories {
            filter: Filter::default()
                .with_namespace(&ns)
                .with_metadata("topic", json!("even")),
            ..ListMemories::default()
        })
        .await
        .unwrap();
    assert_eq!(even.items.len(), 4);
    assert!(even.items.iter().all(|m| m.metadata["topic"] == "even"));
    assert!(even.items.iter().all(|m| m.embedding.is_empty()));

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = api
            .list_memories(ListMemories {
                filter: Filter::default().with_namespace(&ns),
                limit: Some(3),
                cursor,
                include_embedding: true,
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        assert!(page.items.iter().all(|m| !m.embedding.is_empty()));
        seen.extend(page.items.iter().map(|m| m.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let want: Vec<MemoryId> = added.iter().map(|m| m.id).collect();
    assert_eq!(seen, want, "creation order, every memory once");

    for i in 0..5 {
        api.put_context(PutContext::new(&ns, format!("k{i}"), json!(i)))
            .await
            .unwrap();
    }
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = api
            .list_contexts(ListContexts {
                namespace: Some(ns.clone()),
                limit: Some(2),
                cursor,
                ..ListContexts::default()
            })
            .await
            .unwrap();
        keys.extend(page.items.into_iter().map(|c| c.key));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4"]);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 5);
}

/// Bad input: the same kind and field from every engine, and nothing written.
pub async fn invalid_input_names_the_field(api: &dyn OmnexApi) {
    let ns = unique_namespace();
    let cases = [
        (
            api.add_memory(NewMemory::new("  ").with_scope(Scope::namespace(&ns)))
                .await
                .map(drop),
            "content",
        ),
        (
            api.search(SearchRequest::query("x").with_limit(500))
                .await
                .map(drop),
            "limit",
        ),
        (
            api.search(SearchRequest::default()).await.map(drop),
            "query",
        ),
        (
            api.put_context(PutContext::new("bad ns", "k", json!(1)))
                .await
                .map(drop),
            "namespace",
        ),
        (
            api.list_memories(ListMemories {
                filter: Filter::default().with_metadata("k", json!([1])),
                ..ListMemories::default()
            })
            .await
            .map(drop),
            "filter",
        ),
        (
            api.list_contexts(ListContexts {
                limit: Some(0),
                ..ListContexts::default()
            })
            .await
            .map(drop),
            "limit",
        ),
    ];
    for (result, field) in cases {
        let err = result.unwrap_err();
        assert_eq!(
            (err.kind(), err.field()),
            (ErrorKind::InvalidInput, Some(field)),
            "{err}"
        );
        assert!(!err.reason().is_empty());
    }
    let err = api
        .add_memories(vec![
            NewMemory::new("fine").with_scope(Scope::namespace(&ns)),
            NewMemory::new("").with_scope(Scope::namespace(&ns)),
        ])
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("content"));
    assert!(err.to_string().contains("batch item 1"), "{err}");
    let left = api
        .list_memories(ListMemories {
            filter: Filter::default().with_namespace(&ns),
            ..ListMemories::default()
        })
        .await
        .unwrap();
    assert!(left.items.is_empty(), "a refused batch writes nothing");
}
