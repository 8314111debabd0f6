//! Tenant isolation through the facade, as a property: random operations by two
//! tenants on one engine, each answer checked against a model of that tenant's own
//! data. A record, hit or listing entry of the other tenant is a failure, and so is
//! a change the other tenant made to this one's data.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{unique_tenant, Rng};
use crate::{
    model::{
        Filter, ListContexts, ListMemories, MemoryId, MemoryUpdate, NewMemory, Permission,
        Principal, PutContext, Scope, SearchMode, SearchRequest,
    },
    ErrorKind, Omnex,
};

const WORDS: [&str; 8] = [
    "apple", "river", "violin", "granite", "harbor", "pepper", "saturn", "meadow",
];
const NAMESPACES: [&str; 2] = ["shared", "other"];
const KEYS: [&str; 3] = ["a", "b/c", "d"];

/// What one tenant holds, as the test believes it.
#[derive(Default)]
struct Model {
    memories: BTreeMap<MemoryId, (String, Vec<f32>)>,
    contexts: BTreeMap<(String, String), serde_json::Value>,
}

/// Runs `ops` random operations for two new tenants on `omnex` (an engine of
/// dimension `omnex.dimension()`, with or without an embedder: vectors are given).
pub async fn tenants_never_cross(omnex: &Omnex, seed: u64, ops: usize) {
    let mut rng = Rng::new(seed);
    let dim = omnex.dimension();
    let tenants = [unique_tenant(), unique_tenant()];
    let handles: Vec<Omnex> = tenants
        .iter()
        .map(|t| omnex.with_principal(Principal::new(t.clone(), Permission::Write, "test")))
        .collect();
    let mut models = [Model::default(), Model::default()];
    let pick = |rng: &mut Rng, n: usize| (rng.next_u64() % n as u64) as usize;
    for step in 0..ops {
        let me = pick(&mut rng, 2);
        let other = 1 - me;
        let api = &handles[me];
        let at = format!("step {step}, tenant {}", tenants[me]);
        match pick(&mut rng, 9) {
            0 | 1 => {
                let words: Vec<&str> = (0..3).map(|_| WORDS[pick(&mut rng, WORDS.len())]).collect();
                let content = format!("{} note {step}", words.join(" "));
                let vector = rng.vector(dim);
                let ns = NAMESPACES[pick(&mut rng, 2)];
                let m = api
                    .add_memory(
                        NewMemory::new(&content)
                            .with_scope(Scope::namespace(ns))
                            .with_embedding(vector.clone()),
                    )
                    .await
                    .unwrap();
                assert_eq!(m.tenant, tenants[me], "{at}");
                models[me].memories.insert(m.id, (content, vector));
            }
            2 => {
                // Read, update and delete the other tenant's memories by id: never found.
                if let Some((&id, (content, _))) = models[other].memories.iter().next() {
                    let content = content.clone();
                    let err = api.get_memory(id).await.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::NotFound, "{at}: read across");
                    let upd = MemoryUpdate {
                        metadata: Some(json!({"x": 1}).as_object().cloned().unwrap_or_default()),
                        ..MemoryUpdate::default()
                    };
                    let err = api.update_memory(id, upd).await.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::NotFound, "{at}: update across");
                    let err = api.delete_memory(id).await.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::NotFound, "{at}: delete across");
                    let still = handles[other].get_memory(id).await.unwrap();
                    assert_eq!(still.content, content, "{at}: the owner's memory changed");
                    assert!(
                        still.metadata.is_empty(),
                        "{at}: the owner's memory changed"
                    );
                }
            }
            3 => {
                if let Some(&id) = models[me].memories.keys().next() {
                    api.delete_memory(id).await.unwrap();
                    models[me].memories.remove(&id);
                }
            }
            4 => {
                // Search with the words and the exact vector of the other's memories.
                let probe = models[other]
                    .memories
                    .values()
                    .next()
                    .or_else(|| models[me].memories.values().next())
                    .cloned();
                if let Some((content, vector)) = probe {
                    let mut requests = vec![SearchRequest::vector(vector.clone()).with_limit(50)];
                    if omnex.has_keyword_search() {
                        requests.push(
                            SearchRequest::query(&content)
                                .with_mode(SearchMode::Keyword)
                                .with_limit(50),
                        );
                        requests.push(
                            SearchRequest::query(&content)
                                .with_vector(vector)
                                .with_mode(SearchMode::Hybrid)
                                .with_limit(50),
                        );
                    }
                    for req in requests {
                        for hit in api.search(req).await.unwrap() {
                            assert_eq!(hit.memory.tenant, tenants[me], "{at}: search across");
                            assert!(
                                models[me].memories.contains_key(&hit.memory.id),
                                "{at}: a hit not of this tenant's live memories"
                            );
                        }
                    }
                }
            }
            5 => {
                let ns = NAMESPACES[pick(&mut rng, 2)];
                let key = KEYS[pick(&mut rng, KEYS.len())];
                let value = json!({"by": tenants[me].as_str(), "step": step});
                api.put_context(PutContext::new(ns, key, value.clone()))
                    .await
                    .unwrap();
                models[me]
                    .contexts
                    .insert((ns.to_owned(), key.to_owned()), value);
            }
            6 => {
                let ns = NAMESPACES[pick(&mut rng, 2)];
                let key = KEYS[pick(&mut rng, KEYS.len())];
                let id = (ns.to_owned(), key.to_owned());
                match api.get_context(ns, key).await {
                    Ok(c) => assert_eq!(Some(&c.value), models[me].contexts.get(&id), "{at}"),
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::NotFound, "{at}");
                        assert!(!models[me].contexts.contains_key(&id), "{at}: lost");
                    }
                }
                if pick(&mut rng, 2) == 0 {
                    let deleted = api.delete_context(ns, key, None).await;
                    assert_eq!(
                        deleted.is_ok(),
                        models[me].contexts.remove(&id).is_some(),
                        "{at}: delete of {ns}/{key}"
                    );
                }
            }
            _ => check_listings(api, &models[me], &at).await,
        }
    }
    for (api, model) in handles.iter().zip(&models) {
        check_listings(api, model, "at the end").await;
    }
}

/// Every listing of a tenant holds exactly its own records.
async fn check_listings(api: &Omnex, model: &Model, at: &str) {
    let mut ids = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = api
            .list_memories(ListMemories {
                filter: Filter::default(),
                limit: Some(7),
                cursor: cursor.take(),
                ..ListMemories::default()
            })
            .await
            .unwrap();
        ids.extend(page.items.iter().map(|m| m.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let want: BTreeSet<MemoryId> = model.memories.keys().copied().collect();
    assert_eq!(ids, want, "{at}: memory listing");
    let mut contexts = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = api
            .list_contexts(ListContexts {
                limit: Some(2),
                cursor: cursor.take(),
                ..ListContexts::default()
            })
            .await
            .unwrap();
        for c in page.items {
            contexts.insert((c.namespace, c.key), c.value);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(contexts, model.contexts, "{at}: context listing");
}
