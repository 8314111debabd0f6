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
    model::{MemoryId, SearchMode, SearchRequest},
    ErrorKind, OmnexApi,
};

mod events;

pub use events::*;

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

/// Memories that share everyday words, and one holding a rare code.
async fn rare_code_corpus(api: &dyn OmnexApi, scope: &Scope) -> Vec<crate::model::Memory> {
    api.add_memories(
        [
            "The delivery of the new office chairs is late again",
            "Alice ordered a replacement keyboard for the office",
            "Order confirmation emails go to the shared inbox",
            "The shipment tracking page was down this morning",
            "Customer order ZX-99812 was refunded after the damaged parcel",
        ]
        .iter()
        .map(|t| NewMemory::new(*t).with_scope(scope.clone()))
        .collect(),
    )
    .await
    .unwrap()
}

/// An exact rare term (an order code) is found first by keyword search and by the
/// default (hybrid) search, and `explain` tells each leg's rank.
pub async fn keyword_and_hybrid_find_rare_terms(api: &dyn OmnexApi) {
    let ns = unique_namespace();
    let scope = Scope::namespace(&ns);
    let added = rare_code_corpus(api, &scope).await;
    let code = &added[4];
    let in_ns = Filter::default().with_namespace(&ns);
    let keyword = api
        .search(
            SearchRequest::query("ZX-99812")
                .with_mode(SearchMode::Keyword)
                .with_filter(in_ns.clone()),
        )
        .await
        .unwrap();
    assert_eq!(keyword.len(), 1, "{keyword:?}");
    assert_eq!(keyword[0].memory.id, code.id);
    assert!(keyword[0].score > 0.0);
    let hybrid = api
        .search(
            SearchRequest::query("what happened to order ZX-99812?")
                .with_filter(in_ns.clone())
                .with_explain(),
        )
        .await
        .unwrap();
    assert_eq!(hybrid[0].memory.id, code.id, "{hybrid:?}");
    let why = hybrid[0].explain.clone().expect("explain was asked for");
    assert_eq!(why.keyword.map(|k| k.rank), Some(1));
    assert!(why.semantic.is_some());
    assert!(hybrid[0].score > 0.0 && hybrid[0].score <= 1.0);
    for pair in hybrid.windows(2) {
        assert!(pair[0].score >= pair[1].score);
    }
    // Without explain, no explanation travels.
    let plain = api
        .search(SearchRequest::query("ZX-99812").with_filter(in_ns.clone()))
        .await
        .unwrap();
    assert!(plain.iter().all(|h| h.explain.is_none()));
    // Semantic search alone still answers, by meaning.
    let semantic = api
        .search(
            SearchRequest::query("a parcel arrived broken and the money was returned")
                .with_mode(SearchMode::Semantic)
                .with_filter(in_ns)
                .with_limit(2),
        )
        .await
        .unwrap();
    assert_eq!(semantic[0].memory.id, code.id);
}

/// The filter holds inside both legs: another user's memory with the same rare term
/// is never returned, in any mode.
pub async fn hybrid_filters_hold_in_both_legs(api: &dyn OmnexApi) {
    let ns = unique_namespace();
    let user = |u: &str| Scope::namespace(&ns).with_user(u);
    let added = api
        .add_memories(vec![
            NewMemory::new("The vault combination is Quasar-4410").with_scope(user("alice")),
            NewMemory::new("Quasar-4410 Quasar-4410 is what Bob wrote down")
                .with_scope(user("bob")),
            NewMemory::new("Alice waters the plants on Sunday").with_scope(user("alice")),
        ])
        .await
        .unwrap();
    let alice = Filter::default().with_namespace(&ns).with_user("alice");
    for mode in [
        SearchMode::Semantic,
        SearchMode::Keyword,
        SearchMode::Hybrid,
    ] {
        let hits = api
            .search(
                SearchRequest::query("Quasar-4410")
                    .with_mode(mode)
                    .with_filter(alice.clone()),
            )
            .await
            .unwrap();
        assert!(!hits.is_empty(), "{mode}");
        assert!(
            hits.iter()
                .all(|h| h.memory.scope.user_id.as_deref() == Some("alice")),
            "{mode}: {hits:?}"
        );
        assert_eq!(hits[0].memory.id, added[0].id, "{mode}");
    }
}

/// Odd queries get a clear answer or a clear error, never an internal one: only stop
/// words, only punctuation, other scripts, a very long text; and mode rules.
pub async fn odd_queries_answer_clearly(api: &dyn OmnexApi) {
    let ns = unique_namespace();
    let scope = Scope::namespace(&ns);
    rare_code_corpus(api, &scope).await;
    api.add_memory(NewMemory::new("東京タワーの夜景はきれい").with_scope(scope.clone()))
        .await
        .unwrap();
    let in_ns = Filter::default().with_namespace(&ns);
    let search = |req: SearchRequest| api.search(req.with_filter(in_ns.clone()));
    // Nothing to match by words: keyword finds nothing, hybrid still ranks by meaning.
    for q in ["what is the", "?!… -- ...", "   ¿¡   "] {
        let hits = search(SearchRequest::query(q).with_mode(SearchMode::Keyword))
            .await
            .unwrap();
        assert!(hits.is_empty(), "{q:?}: {hits:?}");
        let hits = search(SearchRequest::query(q)).await.unwrap();
        assert!(!hits.is_empty(), "{q:?}");
        assert!(hits.iter().all(|h| h.explain.is_none()));
    }
    let hits =
        search(SearchRequest::query("東京タワーの夜景はきれい").with_mode(SearchMode::Keyword))
            .await
            .unwrap();
    assert_eq!(hits.len(), 1);
    let long = "office order delivery ".repeat(2500);
    let hits = search(SearchRequest::query(long.clone())).await.unwrap();
    assert!(!hits.is_empty());
    let too_long = "x".repeat(crate::validate::MAX_CONTENT_LEN + 1);
    let err = search(SearchRequest::query(too_long)).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("query"))
    );

    let vector = api
        .search(
            SearchRequest::query("office")
                .with_mode(SearchMode::Semantic)
                .with_limit(1)
                .with_embeddings(),
        )
        .await
        .unwrap()[0]
        .memory
        .embedding
        .clone();
    let err = search(SearchRequest::vector(vector.clone()).with_mode(SearchMode::Keyword))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("query"))
    );
    // A query and a vector: hybrid with the caller's vector.
    let hits = search(
        SearchRequest::query("ZX-99812")
            .with_vector(vector)
            .with_explain(),
    )
    .await
    .unwrap();
    assert_eq!(
        hits[0]
            .explain
            .as_ref()
            .and_then(|e| e.keyword)
            .map(|k| k.rank),
        Some(1)
    );
    let bad = [
        (SearchRequest::query("x").with_min_score(1.5), "min_score"),
        (
            SearchRequest::query("x")
                .with_mode(SearchMode::Keyword)
                .with_min_score(-1.0),
            "min_score",
        ),
        (
            SearchRequest::query("x").with_recency_half_life("soon"),
            "recency_half_life",
        ),
        (
            SearchRequest::query("x").with_boost_field(""),
            "boost_field",
        ),
        (
            SearchRequest {
                rrf_k: Some(-1.0),
                ..SearchRequest::query("x")
            },
            "rrf_k",
        ),
        (
            SearchRequest {
                keyword_weight: Some(-2.0),
                ..SearchRequest::query("x")
            },
            "keyword_weight",
        ),
    ];
    for (req, field) in bad {
        let err = search(req).await.unwrap_err();
        assert_eq!(
            (err.kind(), err.field()),
            (ErrorKind::InvalidInput, Some(field))
        );
    }
}

/// Ranking signals: a numeric metadata field boosts, and a short half-life lets a
/// newer memory overtake an older one that matches better.
pub async fn ranking_signals_reorder(api: &dyn OmnexApi) {
    let ns = unique_namespace();
    let scope = Scope::namespace(&ns);
    let older = api
        .add_memory(
            NewMemory::new("lighthouse keeper lighthouse keeper lighthouse")
                .with_scope(scope.clone())
                .with_metadata("importance", json!(0)),
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let newer = api
        .add_memory(
            NewMemory::new("a note about the lighthouse and many other small things")
                .with_scope(scope.clone())
                .with_metadata("importance", json!(3)),
        )
        .await
        .unwrap();
    let base = || {
        SearchRequest::query("lighthouse")
            .with_mode(SearchMode::Keyword)
            .with_filter(Filter::default().with_namespace(&ns))
    };
    let plain = api.search(base()).await.unwrap();
    assert_eq!(
        plain[0].memory.id, older.id,
        "BM25 alone prefers the repeated word"
    );
    let boosted = api
        .search(base().with_boost_field("importance").with_explain())
        .await
        .unwrap();
    assert_eq!(boosted[0].memory.id, newer.id);
    assert_eq!(boosted[0].explain.as_ref().and_then(|e| e.boost), Some(4.0));
    let recent = api
        .search(base().with_recency_half_life("1s").with_explain())
        .await
        .unwrap();
    assert_eq!(recent[0].memory.id, newer.id);
    let decay = recent[1].explain.as_ref().and_then(|e| e.recency).unwrap();
    assert!(decay < 0.3, "{decay}");
}
