//! Contracts of [`Store`].

use std::collections::BTreeSet;

use serde_json::json;

mod access;
mod events;

pub use access::*;
pub use events::*;

use super::{unique_namespace, Rng};
use crate::{
    model::{
        now, Context, Filter, ListContexts, ListMemories, Memory, MemoryId, Metadata, Precondition,
        Scope, Tenant, TextQuery,
    },
    store::Store,
    ErrorKind,
};

fn context(ns: &str, key: &str, value: serde_json::Value) -> Context {
    let t = now();
    Context {
        tenant: Tenant::default(),
        id: uuid::Uuid::now_v7(),
        namespace: ns.into(),
        key: key.into(),
        value,
        tags: vec![],
        created_at: t,
        updated_at: t,
        version: 0,
        expires_at: None,
    }
}

fn memory(scope: Scope, content: &str, rng: &mut Rng) -> Memory {
    let t = now();
    Memory {
        id: MemoryId::new(),
        tenant: Tenant::default(),
        content: content.into(),
        embedding: rng.vector(8),
        metadata: Metadata::new(),
        scope,
        created_at: t,
        updated_at: t,
        expires_at: None,
    }
}

fn ids(ms: &[Memory]) -> Vec<MemoryId> {
    ms.iter().map(|m| m.id).collect()
}

/// A context reads back exactly as written, at version 1.
pub async fn context_roundtrip(s: &dyn Store) {
    let ns = unique_namespace();
    let mut c = context(
        &ns,
        "prefs/theme",
        json!({"dark": true, "list": [1, 2, "x"], "ünï": "✓"}),
    );
    c.tags = vec!["ui".into(), "prefs".into()];
    let stored = s.put_context(&c, Precondition::None).await.unwrap();
    assert_eq!(stored.version, 1);
    let got = s
        .get_context(&Tenant::default(), &ns, "prefs/theme")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got, stored);
    assert_eq!(got.value, c.value);
    assert_eq!(got.tags, c.tags);
    assert!(s
        .get_context(&Tenant::default(), &ns, "missing")
        .await
        .unwrap()
        .is_none());
}

/// A restored context reads back exactly as given, and replaces what was there.
pub async fn context_restore_keeps_everything(s: &dyn Store) {
    let ns = unique_namespace();
    s.put_context(&context(&ns, "k", json!("old")), Precondition::None)
        .await
        .unwrap();
    let mut restored = context(&ns, "k", json!({"restored": true}));
    restored.version = 7;
    restored.tags = vec!["imported".into()];
    restored.created_at = crate::model::from_micros(1_600_000_000_000_000);
    restored.updated_at = crate::model::from_micros(1_600_000_001_000_000);
    let other = context(&ns, "other", json!(2));
    s.restore_contexts(&[restored.clone(), other.clone()])
        .await
        .unwrap();
    assert_eq!(
        s.get_context(&Tenant::default(), &ns, "k").await.unwrap(),
        Some(restored)
    );
    assert_eq!(
        s.get_context(&Tenant::default(), &ns, "other")
            .await
            .unwrap(),
        Some(other)
    );
}

/// A replace bumps the version and keeps the id and creation time.
pub async fn context_replace_bumps_version(s: &dyn Store) {
    let ns = unique_namespace();
    let first = s
        .put_context(&context(&ns, "k", json!(1)), Precondition::None)
        .await
        .unwrap();
    let second = s
        .put_context(&context(&ns, "k", json!(2)), Precondition::None)
        .await
        .unwrap();
    assert_eq!(second.version, 2);
    assert_eq!(second.id, first.id);
    assert_eq!(second.created_at, first.created_at);
    assert_eq!(
        s.get_context(&Tenant::default(), &ns, "k")
            .await
            .unwrap()
            .unwrap()
            .value,
        json!(2)
    );
}

/// A stale version or an `Absent` precondition on an existing context is a conflict.
pub async fn context_version_conflict(s: &dyn Store) {
    let ns = unique_namespace();
    let c = context(&ns, "k", json!("v"));
    s.put_context(&c, Precondition::Absent).await.unwrap();
    let err = s.put_context(&c, Precondition::Absent).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let err = s
        .put_context(&c, Precondition::Version(7))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        s.put_context(&c, Precondition::Version(1))
            .await
            .unwrap()
            .version,
        2
    );
    let err = s
        .put_context(&context(&ns, "other", json!(0)), Precondition::Version(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(s
        .get_context(&Tenant::default(), &ns, "other")
        .await
        .unwrap()
        .is_none());
}

/// Delete reports whether something was deleted and honours versions.
pub async fn context_delete(s: &dyn Store) {
    let ns = unique_namespace();
    s.put_context(&context(&ns, "k", json!(1)), Precondition::None)
        .await
        .unwrap();
    let err = s
        .delete_context(&Tenant::default(), &ns, "k", Precondition::Version(9))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(s
        .delete_context(&Tenant::default(), &ns, "k", Precondition::Version(1))
        .await
        .unwrap());
    assert!(s
        .get_context(&Tenant::default(), &ns, "k")
        .await
        .unwrap()
        .is_none());
    assert!(!s
        .delete_context(&Tenant::default(), &ns, "k", Precondition::None)
        .await
        .unwrap());
    // Re-creating starts over at version 1.
    let again = s
        .put_context(&context(&ns, "k", json!(2)), Precondition::None)
        .await
        .unwrap();
    assert_eq!(again.version, 1);
}

/// Paging through a listing returns every item once, in order.
pub async fn context_list_pages_no_gaps(s: &dyn Store) {
    let ns = unique_namespace();
    let mut want = BTreeSet::new();
    for i in 0..23 {
        let key = format!("k{i:03}/ü{i}");
        s.put_context(&context(&ns, &key, json!(i)), Precondition::None)
            .await
            .unwrap();
        want.insert(key);
    }
    let mut got = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list_contexts(&ListContexts {
                namespace: Some(ns.clone()),
                limit: Some(5),
                cursor,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 5);
        got.extend(page.items.into_iter().map(|c| c.key));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(got, want.into_iter().collect::<Vec<_>>());
}

/// Listings filter by namespace, tag and key prefix.
pub async fn context_list_filters(s: &dyn Store) {
    let ns = unique_namespace();
    let other = unique_namespace();
    for (key, tags) in [
        ("a/1", vec!["x"]),
        ("a/2", vec!["y"]),
        ("b/1", vec!["x", "y"]),
        ("A/3", vec![]),
    ] {
        let mut c = context(&ns, key, json!(key));
        c.tags = tags.into_iter().map(String::from).collect();
        s.put_context(&c, Precondition::None).await.unwrap();
    }
    s.put_context(&context(&other, "a/1", json!(0)), Precondition::None)
        .await
        .unwrap();
    let list = |tag: Option<&str>, prefix: Option<&str>| {
        let req = ListContexts {
            namespace: Some(ns.clone()),
            tag: tag.map(String::from),
            prefix: prefix.map(String::from),
            limit: Some(100),
            cursor: None,
            ..ListContexts::default()
        };
        async move {
            s.list_contexts(&req)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|c| c.key)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(None, None).await, ["A/3", "a/1", "a/2", "b/1"]);
    assert_eq!(list(Some("x"), None).await, ["a/1", "b/1"]);
    assert_eq!(
        list(None, Some("a/")).await,
        ["a/1", "a/2"],
        "prefix is case-sensitive"
    );
    assert_eq!(list(Some("y"), Some("b")).await, ["b/1"]);
    assert!(list(Some("none"), None).await.is_empty());
}

/// Expired contexts are never returned, and the purge deletes them.
pub async fn context_expired_invisible(s: &dyn Store) {
    let ns = unique_namespace();
    let mut c = context(&ns, "gone", json!(1));
    c.expires_at = Some(now() - chrono::TimeDelta::seconds(1));
    s.put_context(&c, Precondition::None).await.unwrap();
    let mut live = context(&ns, "live", json!(2));
    live.expires_at = Some(now() + chrono::TimeDelta::hours(1));
    s.put_context(&live, Precondition::None).await.unwrap();
    assert!(s
        .get_context(&Tenant::default(), &ns, "gone")
        .await
        .unwrap()
        .is_none());
    let listed = s
        .list_contexts(&ListContexts {
            namespace: Some(ns.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].key, "live");
    // An expired context counts as absent for preconditions.
    s.put_context(&context(&ns, "gone", json!(3)), Precondition::Absent)
        .await
        .unwrap();
    let purged = s
        .purge_expired(now() + chrono::TimeDelta::hours(2))
        .await
        .unwrap();
    assert!(purged.contexts >= 1);
    assert!(s
        .get_context(&Tenant::default(), &ns, "live")
        .await
        .unwrap()
        .is_none());
}

/// A batch reads back in the order asked, with embeddings intact.
pub async fn memory_batch_roundtrip(s: &dyn Store) {
    let mut rng = Rng::new(1);
    let scope = Scope::namespace(unique_namespace()).with_user("u1");
    let mut batch: Vec<Memory> = (0..5)
        .map(|i| memory(scope.clone(), &format!("memory {i} ✓ 记忆"), &mut rng))
        .collect();
    batch[0]
        .metadata
        .insert("k".into(), json!({"nested": [1, 2]}));
    s.put_memories(&batch).await.unwrap();
    let mut asked = ids(&batch);
    asked.reverse();
    asked.push(MemoryId::new());
    let got = s.get_memories(&asked).await.unwrap();
    assert_eq!(got.len(), 5);
    let mut expect = batch.clone();
    expect.reverse();
    assert_eq!(got, expect);
}

/// Writing a memory with an existing id replaces it.
pub async fn memory_upsert_replaces(s: &dyn Store) {
    let mut rng = Rng::new(2);
    let mut m = memory(Scope::namespace(unique_namespace()), "before", &mut rng);
    s.put_memories(std::slice::from_ref(&m)).await.unwrap();
    m.content = "after".into();
    m.embedding = rng.vector(8);
    s.put_memories(std::slice::from_ref(&m)).await.unwrap();
    let got = s.get_memories(&[m.id]).await.unwrap();
    assert_eq!(got, vec![m]);
}

/// Delete counts what existed; deleting again is harmless.
pub async fn memory_delete_counts(s: &dyn Store) {
    let mut rng = Rng::new(3);
    let m = memory(Scope::namespace(unique_namespace()), "x", &mut rng);
    s.put_memories(std::slice::from_ref(&m)).await.unwrap();
    assert_eq!(
        s.delete_memories(&[m.id, MemoryId::new()]).await.unwrap(),
        1
    );
    assert_eq!(s.delete_memories(&[m.id]).await.unwrap(), 0);
    assert!(s.get_memories(&[m.id]).await.unwrap().is_empty());
}

async fn list_all(s: &dyn Store, filter: Filter) -> Vec<Memory> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list_memories(&ListMemories {
                filter: filter.clone(),
                limit: Some(3),
                cursor,
                include_embedding: true,
            })
            .await
            .unwrap();
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// Listings filter by namespace, user, agent and session.
pub async fn memory_filter_by_scope(s: &dyn Store) {
    let mut rng = Rng::new(4);
    let ns = unique_namespace();
    let base = Scope::namespace(&ns);
    let batch = vec![
        memory(base.clone().with_user("alice"), "a1", &mut rng),
        memory(
            base.clone().with_user("alice").with_agent("bot"),
            "a2",
            &mut rng,
        ),
        memory(
            base.clone().with_user("alice").with_session("s1"),
            "a3",
            &mut rng,
        ),
        memory(
            base.clone().with_user("bob").with_agent("bot"),
            "b1",
            &mut rng,
        ),
        memory(base.clone(), "n1", &mut rng),
        memory(
            Scope::namespace(unique_namespace()).with_user("alice"),
            "elsewhere",
            &mut rng,
        ),
    ];
    s.put_memories(&batch).await.unwrap();
    let contents = |ms: Vec<Memory>| ms.into_iter().map(|m| m.content).collect::<Vec<_>>();
    let f = Filter::default().with_namespace(&ns);
    assert_eq!(
        contents(list_all(s, f.clone()).await),
        ["a1", "a2", "a3", "b1", "n1"]
    );
    assert_eq!(
        contents(list_all(s, f.clone().with_user("alice")).await),
        ["a1", "a2", "a3"]
    );
    assert_eq!(
        contents(list_all(s, f.clone().with_agent("bot")).await),
        ["a2", "b1"]
    );
    assert_eq!(
        contents(list_all(s, f.clone().with_user("alice").with_session("s1")).await),
        ["a3"]
    );
    assert!(list_all(s, f.with_user("carol")).await.is_empty());
}

/// Metadata filters compare scalars by JSON type and value (numbers by value).
pub async fn memory_filter_by_metadata(s: &dyn Store) {
    let mut rng = Rng::new(5);
    let ns = unique_namespace();
    let mut with = |content: &str, md: serde_json::Value| {
        let mut m = memory(Scope::namespace(&ns), content, &mut rng);
        m.metadata = md.as_object().cloned().unwrap_or_default();
        m
    };
    let batch = vec![
        with("str", json!({"kind": "note", "n": 1})),
        with("num", json!({"kind": "fact", "n": 1.0, "ok": true})),
        with("strnum", json!({"kind": "fact", "n": "1", "ok": false})),
        with("null", json!({"kind": null})),
        with("none", json!({})),
    ];
    s.put_memories(&batch).await.unwrap();
    let find = |k: &str, v: serde_json::Value| {
        let f = Filter::default().with_namespace(&ns).with_metadata(k, v);
        async move {
            list_all(s, f)
                .await
                .into_iter()
                .map(|m| m.content)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("kind", json!("fact")).await, ["num", "strnum"]);
    assert_eq!(
        find("n", json!(1)).await,
        ["str", "num"],
        "1 == 1.0, but not \"1\""
    );
    assert_eq!(find("n", json!("1")).await, ["strnum"]);
    assert_eq!(find("ok", json!(true)).await, ["num"]);
    assert_eq!(find("ok", json!(false)).await, ["strnum"]);
    assert_eq!(find("kind", json!(null)).await, ["null"]);
    assert!(find("missing", json!("x")).await.is_empty());
}

/// Paging through memories returns every item once, in id order, even while others are added.
pub async fn memory_list_pages_no_gaps(s: &dyn Store) {
    let mut rng = Rng::new(6);
    let ns = unique_namespace();
    let batch: Vec<Memory> = (0..17)
        .map(|i| memory(Scope::namespace(&ns), &format!("m{i}"), &mut rng))
        .collect();
    s.put_memories(&batch).await.unwrap();
    let f = Filter::default().with_namespace(&ns);
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list_memories(&ListMemories {
                filter: f.clone(),
                limit: Some(4),
                cursor,
                include_embedding: true,
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|m| m.id));
        // A concurrent insert between pages must not disturb the listing.
        s.put_memories(&[memory(Scope::namespace(&ns), "late", &mut rng)])
            .await
            .unwrap();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let unique: BTreeSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no item repeated");
    assert!(
        ids(&batch).iter().all(|id| unique.contains(id)),
        "no item lost"
    );
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, seen, "ordered by id");
}

/// Expired memories are invisible to reads, listings and scans; the purge deletes them.
pub async fn memory_expired_invisible(s: &dyn Store) {
    let mut rng = Rng::new(7);
    let ns = unique_namespace();
    let mut gone = memory(Scope::namespace(&ns), "gone", &mut rng);
    gone.expires_at = Some(now() - chrono::TimeDelta::seconds(1));
    let live = memory(Scope::namespace(&ns), "live", &mut rng);
    s.put_memories(&[gone.clone(), live.clone()]).await.unwrap();
    assert!(s.get_memories(&[gone.id]).await.unwrap().is_empty());
    let listed = list_all(s, Filter::default().with_namespace(&ns)).await;
    assert_eq!(ids(&listed), vec![live.id]);
    let scanned = s.scan_index_entries(None, 100_000).await.unwrap();
    assert!(scanned.iter().all(|e| e.id != gone.id));
    assert!(scanned.iter().any(|e| e.id == live.id));
    let purged = s.purge_expired(now()).await.unwrap();
    assert!(purged.memories.contains(&gone.id));
    assert!(!purged.memories.contains(&live.id));
}

/// Every write and delete appears in the change log, in order.
pub async fn change_log_records_writes(s: &dyn Store) {
    let mut rng = Rng::new(8);
    let start = s.head_seq().await.unwrap();
    let a = memory(Scope::namespace(unique_namespace()), "a", &mut rng);
    let b = memory(Scope::namespace(unique_namespace()), "b", &mut rng);
    s.put_memories(&[a.clone(), b.clone()]).await.unwrap();
    s.delete_memories(&[a.id]).await.unwrap();
    let head = s.head_seq().await.unwrap();
    assert!(head >= start + 3);
    let feed = s.changes_since(start, 1000).await.unwrap();
    assert!(!feed.reset);
    let mine: Vec<MemoryId> = feed
        .changes
        .iter()
        .map(|c| c.id)
        .filter(|id| *id == a.id || *id == b.id)
        .collect();
    assert_eq!(mine, vec![a.id, b.id, a.id]);
    assert!(feed.changes.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(s
        .changes_since(head, 1000)
        .await
        .unwrap()
        .changes
        .is_empty());
}

/// Reading from a pruned position asks the reader to rebuild.
pub async fn change_log_prune_resets(s: &dyn Store) {
    let mut rng = Rng::new(9);
    let start = s.head_seq().await.unwrap();
    let m = memory(Scope::namespace(unique_namespace()), "x", &mut rng);
    s.put_memories(std::slice::from_ref(&m)).await.unwrap();
    s.prune_changes(now() + chrono::TimeDelta::seconds(5))
        .await
        .unwrap();
    let feed = s.changes_since(start, 10).await.unwrap();
    assert!(feed.reset, "position {start} was pruned");
    let head = s.head_seq().await.unwrap();
    assert!(!s.changes_since(head, 10).await.unwrap().reset);
}

/// Scanning index entries in pages covers every live memory once.
pub async fn scan_index_entries_pages(s: &dyn Store) {
    let mut rng = Rng::new(10);
    let batch: Vec<Memory> = (0..9)
        .map(|i| {
            memory(
                Scope::namespace(unique_namespace()),
                &format!("{i}"),
                &mut rng,
            )
        })
        .collect();
    s.put_memories(&batch).await.unwrap();
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = s.scan_index_entries(after, 4).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page);
    }
    for m in &batch {
        let e = seen.iter().find(|e| e.id == m.id).expect("scanned");
        assert_eq!(e.vector, m.embedding);
        assert_eq!(e.fields.scope, m.scope);
    }
    let unique: BTreeSet<_> = seen.iter().map(|e| e.id).collect();
    assert_eq!(unique.len(), seen.len());
}

/// Store-wide settings read back.
pub async fn meta_roundtrip(s: &dyn Store) {
    let key = unique_namespace();
    assert_eq!(s.get_meta(&key).await.unwrap(), None);
    s.set_meta(&key, "1").await.unwrap();
    s.set_meta(&key, "2").await.unwrap();
    assert_eq!(s.get_meta(&key).await.unwrap().as_deref(), Some("2"));
}

/// A cursor the store did not make is an `InvalidInput`, not a crash.
pub async fn invalid_cursor_is_invalid_input(s: &dyn Store) {
    for bad in ["zz", "not-a-cursor", "7b"] {
        let err = s
            .list_contexts(&ListContexts {
                cursor: Some(bad.into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
        let err = s
            .list_memories(&ListMemories {
                cursor: Some(bad.into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
    }
}

// ---- Full-text search ------------------------------------------------------------

/// Full-text search with the store's analyzer, as the facade runs it.
async fn text_search(s: &dyn Store, query: &str, filter: Filter, k: usize) -> Vec<MemoryId> {
    let analyzer = s
        .text_analyzer()
        .expect("the store keeps a full-text index");
    let terms = analyzer.query_terms(query);
    assert!(!terms.is_empty(), "{query:?} has no terms");
    let hits = s
        .search_text(&TextQuery {
            terms,
            k,
            filter,
            now: now(),
        })
        .await
        .unwrap();
    for pair in hits.windows(2) {
        assert!(pair[0].score >= pair[1].score, "not best first: {hits:?}");
    }
    assert!(hits.iter().all(|h| h.score.is_finite() && h.score > 0.0));
    hits.into_iter().map(|h| h.id).collect()
}

/// Memories about everyday things, and one holding a rare term.
fn corpus(scope: &Scope, rng: &mut Rng) -> (Vec<Memory>, Memory) {
    let common: Vec<Memory> = [
        "The weekly team meeting moved to Tuesday morning",
        "Alice likes green tea and short meetings",
        "The project deadline is the end of the month",
        "Bob drives to the office on rainy days",
        "Lunch with the design team on Friday",
        "The office coffee machine is broken again",
    ]
    .iter()
    .map(|t| memory(scope.clone(), t, rng))
    .collect();
    let rare = memory(
        scope.clone(),
        "The Xylophagous beetle report for the team is in folder QX-7781",
        rng,
    );
    (common, rare)
}

/// An exact rare term finds its memory first, among memories sharing common words;
/// stemming matches other forms of a word.
pub async fn text_rare_term_first(s: &dyn Store) {
    let mut rng = Rng::new(20);
    let scope = Scope::namespace(unique_namespace());
    let (common, rare) = corpus(&scope, &mut rng);
    let mut all = common.clone();
    all.push(rare.clone());
    s.put_memories(&all).await.unwrap();
    let filter = Filter::default().with_namespace(&scope.namespace);
    let found = text_search(s, "team report QX-7781", filter.clone(), 10).await;
    assert_eq!(found.first(), Some(&rare.id), "{found:?}");
    let found = text_search(s, "xylophagous", filter.clone(), 10).await;
    assert_eq!(found, vec![rare.id]);
    // "meetings" and "meeting" share a stem under the default (English) analyzer.
    let found = text_search(s, "meeting", filter.clone(), 10).await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&common[0].id) && found.contains(&common[1].id));
    // No memory holds the term: nothing, not an error.
    let found = text_search(s, "zeppelin", filter, 10).await;
    assert!(found.is_empty());
}

/// The filter applies inside the search: scope and metadata hold, and `k` is filled
/// from the memories that pass even when better matches fail it.
pub async fn text_filter_is_prefilter(s: &dyn Store) {
    let mut rng = Rng::new(21);
    let ns = unique_namespace();
    let mut batch = Vec::new();
    for i in 0..30 {
        let user = if i % 10 == 0 { "rare-user" } else { "other" };
        // The other users' memories repeat the term: they rank higher by BM25.
        let text = if user == "other" {
            "quokka quokka quokka sighting"
        } else {
            "a quokka sighting in a long note about many other unrelated things today"
        };
        let mut m = memory(Scope::namespace(&ns).with_user(user), text, &mut rng);
        m.metadata.insert("n".into(), json!(i % 2));
        batch.push(m);
    }
    s.put_memories(&batch).await.unwrap();
    let only = |user: &str| Filter::default().with_namespace(&ns).with_user(user);
    let found = text_search(s, "quokka", only("rare-user"), 3).await;
    let expect: BTreeSet<MemoryId> = batch
        .iter()
        .filter(|m| m.scope.user_id.as_deref() == Some("rare-user"))
        .map(|m| m.id)
        .collect();
    assert_eq!(found.iter().copied().collect::<BTreeSet<_>>(), expect);
    let odd = only("other").with_metadata("n", json!(1));
    let found = text_search(s, "quokka", odd, 100).await;
    let expect: BTreeSet<MemoryId> = batch
        .iter()
        .filter(|m| m.scope.user_id.as_deref() == Some("other") && m.metadata["n"] == json!(1))
        .map(|m| m.id)
        .collect();
    assert_eq!(found.iter().copied().collect::<BTreeSet<_>>(), expect);
    assert!(text_search(s, "quokka", only("nobody"), 10)
        .await
        .is_empty());
}

/// An updated memory is found by its new text and never by its old text; deleted,
/// expired and purged memories are never found.
pub async fn text_never_stale(s: &dyn Store) {
    let mut rng = Rng::new(22);
    let ns = unique_namespace();
    let filter = Filter::default().with_namespace(&ns);
    let mut m = memory(Scope::namespace(&ns), "the wombat burrow", &mut rng);
    let other = memory(Scope::namespace(&ns), "a wombat elsewhere", &mut rng);
    s.put_memories(&[m.clone(), other.clone()]).await.unwrap();
    assert!(text_search(s, "burrow", filter.clone(), 10).await == vec![m.id]);
    m.content = "the platypus pond".into();
    s.put_memories(std::slice::from_ref(&m)).await.unwrap();
    assert!(text_search(s, "burrow", filter.clone(), 10)
        .await
        .is_empty());
    assert_eq!(
        text_search(s, "wombat", filter.clone(), 10).await,
        vec![other.id]
    );
    assert_eq!(
        text_search(s, "platypus", filter.clone(), 10).await,
        vec![m.id]
    );
    s.delete_memories(&[m.id]).await.unwrap();
    assert!(text_search(s, "platypus", filter.clone(), 10)
        .await
        .is_empty());

    let mut gone = memory(Scope::namespace(&ns), "an expired echidna", &mut rng);
    gone.expires_at = Some(now() - chrono::TimeDelta::seconds(1));
    s.put_memories(std::slice::from_ref(&gone)).await.unwrap();
    assert!(text_search(s, "echidna", filter.clone(), 10)
        .await
        .is_empty());
    s.purge_expired(now()).await.unwrap();
    assert!(text_search(s, "echidna", filter.clone(), 10)
        .await
        .is_empty());
    // Writing the same id again after a purge indexes it afresh.
    gone.expires_at = None;
    s.put_memories(std::slice::from_ref(&gone)).await.unwrap();
    assert_eq!(text_search(s, "echidna", filter, 10).await, vec![gone.id]);
}

/// Unicode text is indexed and found; a word repeated more often ranks higher, a
/// longer memory with the word once ranks lower (BM25's frequency and length terms).
pub async fn text_unicode_and_bm25_order(s: &dyn Store) {
    let mut rng = Rng::new(23);
    let ns = unique_namespace();
    let filter = Filter::default().with_namespace(&ns);
    let batch = vec![
        memory(
            Scope::namespace(&ns),
            "Café in Zürich: größte Tasse",
            &mut rng,
        ),
        memory(Scope::namespace(&ns), "東京 タワー の 夜景", &mut rng),
        memory(Scope::namespace(&ns), "kestrel kestrel kestrel", &mut rng),
        memory(
            Scope::namespace(&ns),
            "a kestrel among many other birds seen over the hills and fields this morning",
            &mut rng,
        ),
    ];
    s.put_memories(&batch).await.unwrap();
    assert_eq!(
        text_search(s, "zürich", filter.clone(), 10).await,
        vec![batch[0].id]
    );
    assert_eq!(
        text_search(s, "タワー", filter.clone(), 10).await,
        vec![batch[1].id]
    );
    assert_eq!(
        text_search(s, "kestrel", filter, 10).await,
        vec![batch[2].id, batch[3].id]
    );
}
