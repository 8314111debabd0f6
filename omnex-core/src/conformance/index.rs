//! Contracts of [`VectorIndex`], checked against exact search as the oracle.

use std::collections::HashSet;

use serde_json::json;

use super::{entry, unique_namespace, unique_tenant, Rng};
use crate::{
    backend::exact::brute_force,
    index::VectorIndex,
    model::{now, Filter, FilterFields, Hit, IndexEntry, MemoryId, Scope, TextQuery, VectorQuery},
    text::Analyzer,
    ErrorKind,
};

fn query(vector: Vec<f32>, k: usize, filter: Filter) -> VectorQuery {
    VectorQuery::new(vector, k).with_filter(filter)
}

fn hit_ids(hits: &[Hit]) -> Vec<MemoryId> {
    hits.iter().map(|h| h.id).collect()
}

fn oracle(entries: &[IndexEntry], q: &VectorQuery) -> Vec<Hit> {
    brute_force(
        q,
        entries
            .iter()
            .map(|e| (e.id, e.vector.as_slice(), &e.fields)),
    )
}

/// The nearest entry comes first with score ≈ 1, and scores descend.
pub async fn nearest_first(ix: &dyn VectorIndex) {
    let mut rng = Rng::new(11);
    let dim = ix.dimension();
    let scope = Scope::namespace(unique_namespace());
    let entries: Vec<_> = (0..200)
        .map(|_| entry(rng.vector(dim), scope.clone()))
        .collect();
    ix.upsert(&entries).await.unwrap();
    for e in entries.iter().step_by(37) {
        let hits = ix
            .search(&query(e.vector.clone(), 5, Filter::default()))
            .await
            .unwrap();
        assert_eq!(hits.len(), 5);
        assert_eq!(hits[0].id, e.id);
        assert!(
            (hits[0].score - 1.0).abs() < 1e-4,
            "score {}",
            hits[0].score
        );
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
}

/// An updated entry is found by its new vector only, never its old one.
pub async fn update_never_stale(ix: &dyn VectorIndex) {
    let mut rng = Rng::new(12);
    let dim = ix.dimension();
    let scope = Scope::namespace(unique_namespace());
    let others: Vec<_> = (0..100)
        .map(|_| entry(rng.vector(dim), scope.clone()))
        .collect();
    ix.upsert(&others).await.unwrap();
    let mut e = entry(rng.vector(dim), scope.clone());
    let old = e.vector.clone();
    ix.upsert(std::slice::from_ref(&e)).await.unwrap();
    e.vector = rng.vector(dim);
    e.fields.metadata.insert("v".into(), json!(2));
    ix.upsert(std::slice::from_ref(&e)).await.unwrap();
    assert_eq!(ix.len().await.unwrap(), 101);
    let old_query = old.clone();
    let hits = ix
        .search(&query(old, 101, Filter::default()))
        .await
        .unwrap();
    let mine: Vec<_> = hits.iter().filter(|h| h.id == e.id).collect();
    assert_eq!(mine.len(), 1, "exactly one hit for the updated id");
    let expected = crate::vector::dot(
        &crate::vector::normalized(&e.vector),
        &crate::vector::normalized(&old_query),
    );
    assert!(
        (mine[0].score - expected).abs() < 1e-4,
        "scored with the new vector"
    );
    let hits = ix
        .search(&query(e.vector.clone(), 1, Filter::default()))
        .await
        .unwrap();
    assert_eq!(hits[0].id, e.id);
    let by_md = ix
        .search(&query(
            e.vector.clone(),
            5,
            Filter::default().with_metadata("v", json!(2)),
        ))
        .await
        .unwrap();
    assert_eq!(hit_ids(&by_md), vec![e.id], "filters see the new fields");
}

/// Deleted entries are never returned.
pub async fn delete_removes(ix: &dyn VectorIndex) {
    let mut rng = Rng::new(13);
    let dim = ix.dimension();
    let scope = Scope::namespace(unique_namespace());
    let entries: Vec<_> = (0..150)
        .map(|_| entry(rng.vector(dim), scope.clone()))
        .collect();
    ix.upsert(&entries).await.unwrap();
    let gone: Vec<MemoryId> = entries.iter().step_by(2).map(|e| e.id).collect();
    ix.delete(&gone).await.unwrap();
    ix.delete(&[MemoryId::new()]).await.unwrap();
    assert_eq!(ix.len().await.unwrap(), 75);
    let gone: HashSet<_> = gone.into_iter().collect();
    for e in entries.iter().step_by(10) {
        let hits = ix
            .search(&query(e.vector.clone(), 20, Filter::default()))
            .await
            .unwrap();
        assert_eq!(hits.len(), 20);
        assert!(hits.iter().all(|h| !gone.contains(&h.id)));
    }
}

/// A filtered search returns the filter's k best even when other scopes crowd the
/// neighbourhood, and never anything outside the filter.
pub async fn filter_is_prefilter(ix: &dyn VectorIndex) {
    let mut rng = Rng::new(14);
    let dim = ix.dimension();
    let ns = unique_namespace();
    let target = rng.vector(dim);
    let mut entries: Vec<_> = (0..3000)
        .map(|_| {
            entry(
                rng.near(&target, 0.3),
                Scope::namespace(&ns).with_user("alice"),
            )
        })
        .collect();
    entries.extend((0..15).map(|_| entry(rng.vector(dim), Scope::namespace(&ns).with_user("bob"))));
    for chunk in entries.chunks(500) {
        ix.upsert(chunk).await.unwrap();
    }
    let q = query(target.clone(), 10, Filter::default().with_user("bob"));
    let hits = ix.search(&q).await.unwrap();
    assert_eq!(
        hit_ids(&hits),
        hit_ids(&oracle(&entries, &q)),
        "bob's 10 best"
    );
    let q = query(
        target,
        30,
        Filter::default().with_namespace(&ns).with_user("bob"),
    );
    assert_eq!(
        ix.search(&q).await.unwrap().len(),
        15,
        "all of bob's, nothing else"
    );
}

/// Namespace, agent, session and metadata conditions all apply.
pub async fn filter_by_namespace_and_metadata(ix: &dyn VectorIndex) {
    let mut rng = Rng::new(15);
    let dim = ix.dimension();
    let (a, b) = (unique_namespace(), unique_namespace());
    let mut entries = Vec::new();
    for i in 0..120 {
        let scope = if i % 2 == 0 {
            Scope::namespace(&a)
        } else {
            Scope::namespace(&b)
        };
        let scope = if i % 3 == 0 {
            scope.with_agent("bot").with_session("s1")
        } else {
            scope
        };
        let mut e = entry(rng.vector(dim), scope);
        e.fields.metadata.insert("bucket".into(), json!(i % 4));
        e.fields.metadata.insert(
            "tag".into(),
            json!(if i % 5 == 0 { "five" } else { "other" }),
        );
        entries.push(e);
    }
    ix.upsert(&entries).await.unwrap();
    let filters = [
        Filter::default().with_namespace(&a),
        Filter::default().with_namespace(&b).with_agent("bot"),
        Filter::default()
            .with_namespace(&a)
            .with_session("s1")
            .with_metadata("bucket", json!(2.0)),
        Filter::default().with_metadata("tag", json!("five")),
        Filter::default()
            .with_namespace(&a)
            .with_metadata("bucket", json!("2")),
    ];
    for f in filters {
        let q = query(rng.vector(dim), 7, f.clone());
        let got = ix.search(&q).await.unwrap();
        let want = oracle(&entries, &q);
        assert_eq!(hit_ids(&got), hit_ids(&want), "filter {f:?}");
    }
}

/// A search sees only its filter's tenant: with no other condition (the default
/// tenant's plain search), with a namespace, and with metadata.
pub async fn filter_by_tenant(ix: &dyn VectorIndex) {
    let mut rng = Rng::new(18);
    let dim = ix.dimension();
    let tenants = [
        crate::model::Tenant::default(),
        unique_tenant(),
        unique_tenant(),
    ];
    let ns = unique_namespace();
    let mut entries = Vec::new();
    for i in 0..150 {
        let mut e = entry(rng.vector(dim), Scope::namespace(&ns));
        e.fields.tenant = tenants[i % 3].clone();
        e.fields.metadata.insert("even".into(), json!(i % 2 == 0));
        entries.push(e);
    }
    ix.upsert(&entries).await.unwrap();
    for t in &tenants {
        let only = Filter {
            tenant: t.clone(),
            ..Filter::default()
        };
        for f in [
            only.clone(),
            only.clone().with_namespace(&ns),
            only.clone().with_metadata("even", json!(true)),
        ] {
            let q = query(rng.vector(dim), 10, f.clone());
            let got = ix.search(&q).await.unwrap();
            for h in &got {
                let e = entries.iter().find(|e| e.id == h.id).unwrap();
                assert_eq!(&e.fields.tenant, t, "a hit of another tenant for {f:?}");
            }
            assert_eq!(
                hit_ids(&got),
                hit_ids(&oracle(&entries, &q)),
                "filter {f:?}"
            );
        }
    }
}

/// Entries past their expiry are not returned.
pub async fn expired_excluded(ix: &dyn VectorIndex) {
    let mut rng = Rng::new(16);
    let dim = ix.dimension();
    let scope = Scope::namespace(unique_namespace());
    let v = rng.vector(dim);
    let mut old = entry(v.clone(), scope.clone());
    old.fields.expires_at = Some(now() - chrono::TimeDelta::seconds(1));
    let mut later = entry(rng.near(&v, 0.1), scope.clone());
    later.fields.expires_at = Some(now() + chrono::TimeDelta::hours(1));
    ix.upsert(&[old.clone(), later.clone()]).await.unwrap();
    let hits = ix
        .search(&query(
            v,
            5,
            Filter::default().with_namespace(&scope.namespace),
        ))
        .await
        .unwrap();
    assert_eq!(hit_ids(&hits), vec![later.id]);
}

/// Hits below `min_score` are dropped.
pub async fn min_score_applied(ix: &dyn VectorIndex) {
    let mut rng = Rng::new(17);
    let dim = ix.dimension();
    let scope = Scope::namespace(unique_namespace());
    let v = rng.vector(dim);
    let close = entry(rng.near(&v, 0.05), scope.clone());
    let far = entry(v.iter().map(|x| -x).collect(), scope.clone());
    ix.upsert(&[close.clone(), far]).await.unwrap();
    let mut q = query(v, 10, Filter::default().with_namespace(&scope.namespace));
    q.min_score = Some(0.5);
    assert_eq!(hit_ids(&ix.search(&q).await.unwrap()), vec![close.id]);
}

/// Vectors of the wrong dimension are rejected with `InvalidInput`.
pub async fn dimension_mismatch_is_invalid_input(ix: &dyn VectorIndex) {
    let dim = ix.dimension();
    let bad = entry(vec![0.5; dim + 1], Scope::default());
    assert_eq!(
        ix.upsert(&[bad]).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let err = ix
        .search(&query(vec![0.5; dim - 1], 3, Filter::default()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let nan = entry(vec![f32::NAN; dim], Scope::default());
    assert_eq!(
        ix.upsert(&[nan]).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

/// `len` counts live entries and `clear` empties the index.
pub async fn clear_and_len(ix: &dyn VectorIndex) {
    let mut rng = Rng::new(18);
    let dim = ix.dimension();
    let scope = Scope::namespace(unique_namespace());
    let entries: Vec<_> = (0..40)
        .map(|_| entry(rng.vector(dim), scope.clone()))
        .collect();
    ix.upsert(&entries).await.unwrap();
    ix.upsert(&entries[..10]).await.unwrap();
    assert_eq!(ix.len().await.unwrap(), 40);
    ix.clear().await.unwrap();
    assert_eq!(ix.len().await.unwrap(), 0);
    let hits = ix
        .search(&query(rng.vector(dim), 5, Filter::default()))
        .await
        .unwrap();
    assert!(hits.is_empty());
}

/// Recall@10 against exact search is at least 0.95, unfiltered and filtered.
pub async fn matches_exact(ix: &dyn VectorIndex) {
    let mut rng = Rng::new(19);
    let dim = ix.dimension();
    let ns = unique_namespace();
    // Clustered data, like real embeddings.
    let centers: Vec<Vec<f32>> = (0..40).map(|_| rng.vector(dim)).collect();
    let entries: Vec<IndexEntry> = (0..6000)
        .map(|i| {
            let mut e = entry(
                rng.near(&centers[i % centers.len()], 0.6),
                Scope::namespace(&ns).with_user(format!("u{}", i % 3)),
            );
            e.fields = FilterFields {
                metadata: [("i".to_string(), json!(i % 2))].into_iter().collect(),
                ..e.fields
            };
            e
        })
        .collect();
    for chunk in entries.chunks(1000) {
        ix.upsert(chunk).await.unwrap();
    }
    let mut found = 0usize;
    let mut total = 0usize;
    for qi in 0..60 {
        let filter = match qi % 3 {
            0 => Filter::default(),
            1 => Filter::default().with_namespace(&ns).with_user("u1"),
            _ => Filter::default().with_metadata("i", json!(1)),
        };
        let q = query(rng.near(&centers[qi % centers.len()], 0.6), 10, filter);
        let want: HashSet<_> = hit_ids(&oracle(&entries, &q)).into_iter().collect();
        let got = ix.search(&q).await.unwrap();
        assert_eq!(got.len(), 10);
        found += got.iter().filter(|h| want.contains(&h.id)).count();
        total += want.len();
    }
    let recall = found as f64 / total as f64;
    assert!(recall >= 0.95, "recall@10 = {recall:.3}");
}

// ---- Keyword search, for indexes with the `keyword` capability -----------------

/// An entry with `text`, in `scope`.
fn text_entry(rng: &mut Rng, dim: usize, scope: &Scope, text: &str) -> IndexEntry {
    IndexEntry {
        text: text.to_owned(),
        ..entry(rng.vector(dim), scope.clone())
    }
}

async fn text_ids(ix: &dyn VectorIndex, query: &str, filter: Filter, k: usize) -> Vec<MemoryId> {
    let hits = ix
        .search_text(&TextQuery {
            terms: Analyzer::English.query_terms(query),
            k,
            filter,
            now: now(),
        })
        .await
        .unwrap();
    for pair in hits.windows(2) {
        assert!(pair[0].score >= pair[1].score, "not best first: {hits:?}");
    }
    hit_ids(&hits)
}

/// The index searches by words once told the analyzer: a rare term's entry comes
/// first, stemming matches other forms, the filter holds inside the search.
pub async fn text_rare_term_first_within_filter(ix: &dyn VectorIndex) {
    ix.set_text_analyzer(Some(Analyzer::English));
    assert!(ix.capabilities().keyword);
    let mut rng = Rng::new(30);
    let dim = ix.dimension();
    let ns = unique_namespace();
    let alice = Scope::namespace(&ns).with_user("alice");
    let bob = Scope::namespace(&ns).with_user("bob");
    let mut entries: Vec<IndexEntry> = [
        "The weekly team meeting moved to Tuesday",
        "Alice likes short meetings and green tea",
        "The project deadline is the end of the month",
        "The office coffee machine is broken again",
    ]
    .iter()
    .map(|t| text_entry(&mut rng, dim, &alice, t))
    .collect();
    let rare = text_entry(
        &mut rng,
        dim,
        &alice,
        "The team report is in folder QX-7781",
    );
    let bobs = text_entry(&mut rng, dim, &bob, "QX-7781 QX-7781 is Bob's folder too");
    entries.extend([rare.clone(), bobs.clone()]);
    ix.upsert(&entries).await.unwrap();
    let only_alice = Filter::default().with_namespace(&ns).with_user("alice");
    let found = text_ids(ix, "team folder QX-7781", only_alice.clone(), 10).await;
    assert_eq!(found.first(), Some(&rare.id), "{found:?}");
    assert!(!found.contains(&bobs.id));
    let found = text_ids(ix, "meeting", only_alice.clone(), 10).await;
    assert_eq!(
        found.iter().copied().collect::<HashSet<_>>(),
        HashSet::from([entries[0].id, entries[1].id])
    );
    let everyone = Filter::default().with_namespace(&ns);
    let found = text_ids(ix, "QX-7781", everyone, 10).await;
    assert_eq!(
        found.first(),
        Some(&bobs.id),
        "more occurrences rank higher"
    );
    assert!(text_ids(ix, "zeppelin", only_alice, 10).await.is_empty());
}

/// Replacing an entry's text forgets the old words; deleting forgets it; expired
/// entries are never found.
pub async fn text_never_stale(ix: &dyn VectorIndex) {
    ix.set_text_analyzer(Some(Analyzer::English));
    let mut rng = Rng::new(31);
    let dim = ix.dimension();
    let ns = unique_namespace();
    let scope = Scope::namespace(&ns);
    let filter = Filter::default().with_namespace(&ns);
    let mut e = text_entry(&mut rng, dim, &scope, "the wombat burrow");
    let mut gone = text_entry(&mut rng, dim, &scope, "an expired wombat");
    gone.fields.expires_at = Some(now() - chrono::TimeDelta::seconds(1));
    ix.upsert(&[e.clone(), gone.clone()]).await.unwrap();
    assert_eq!(text_ids(ix, "wombat", filter.clone(), 10).await, vec![e.id]);
    e.text = "the platypus pond".into();
    ix.upsert(std::slice::from_ref(&e)).await.unwrap();
    assert!(text_ids(ix, "wombat burrow", filter.clone(), 10)
        .await
        .is_empty());
    assert_eq!(
        text_ids(ix, "platypus", filter.clone(), 10).await,
        vec![e.id]
    );
    ix.delete(&[e.id]).await.unwrap();
    assert!(text_ids(ix, "platypus", filter, 10).await.is_empty());
}
