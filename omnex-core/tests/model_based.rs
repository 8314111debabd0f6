//! Property tests: random operation sequences against a `BTreeMap` model, and
//! pagination under concurrent inserts.

use std::{collections::BTreeMap, sync::Arc};

use omnex_core::{
    backend::{hnsw::HnswIndex, sqlite::SqliteStore},
    conformance::Rng,
    model::{Filter, ListMemories, MemoryId, MemoryUpdate, NewMemory, Scope, SearchRequest},
    Omnex,
};
use proptest::prelude::*;

const DIM: usize = 8;

#[derive(Clone, Debug)]
enum Op {
    Add { user: u8, seed: u64 },
    Update { pick: usize, seed: u64 },
    Delete { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, any::<u64>()).prop_map(|(user, seed)| Op::Add { user, seed }),
        2 => (any::<usize>(), any::<u64>()).prop_map(|(pick, seed)| Op::Update { pick, seed }),
        1 => any::<usize>().prop_map(|pick| Op::Delete { pick }),
    ]
}

async fn engine() -> Omnex {
    Omnex::builder()
        .store(Arc::new(SqliteStore::in_memory().await.unwrap()))
        .index(Arc::new(HnswIndex::new(DIM)))
        .build()
        .await
        .unwrap()
}

async fn run(ops: Vec<Op>) {
    let omnex = engine().await;
    // id -> (user, vector)
    let mut model: BTreeMap<MemoryId, (u8, Vec<f32>)> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Add { user, seed } => {
                let v = Rng::new(seed).vector(DIM);
                let m = omnex
                    .add_memory(
                        NewMemory::new(format!("seed {seed}"))
                            .with_scope(Scope::default().with_user(format!("u{user}")))
                            .with_embedding(v.clone()),
                    )
                    .await
                    .unwrap();
                model.insert(m.id, (user, v));
            }
            Op::Update { pick, seed } if !model.is_empty() => {
                let id = *model.keys().nth(pick % model.len()).unwrap();
                let v = Rng::new(seed).vector(DIM);
                omnex
                    .update_memory(
                        id,
                        MemoryUpdate {
                            embedding: Some(v.clone()),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                model.get_mut(&id).unwrap().1 = v;
            }
            Op::Delete { pick } if !model.is_empty() => {
                let id = *model.keys().nth(pick % model.len()).unwrap();
                omnex.delete_memory(id).await.unwrap();
                model.remove(&id);
            }
            _ => {}
        }
    }
    // Store agrees with the model.
    let page = omnex
        .list_memories(ListMemories {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    let stored: Vec<MemoryId> = page.items.iter().map(|m| m.id).collect();
    assert_eq!(stored, model.keys().copied().collect::<Vec<_>>());
    // Index agrees with the store: every live memory is found by its current vector
    // within its user's scope, and nothing else is there.
    assert_eq!(omnex.index_len().await.unwrap(), model.len());
    for (id, (user, v)) in &model {
        let hits = omnex
            .search(
                SearchRequest::vector(v.clone())
                    .with_limit(1)
                    .with_filter(Filter::default().with_user(format!("u{user}"))),
            )
            .await
            .unwrap();
        assert_eq!(hits[0].memory.id, *id);
        assert!((hits[0].score - 1.0).abs() < 1e-4);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn store_and_index_agree(ops in proptest::collection::vec(op(), 1..60)) {
        tokio::runtime::Runtime::new().unwrap().block_on(run(ops));
    }

    #[test]
    fn pagination_loses_and_repeats_nothing(initial in 1usize..60, page in 1usize..12, concurrent in 0usize..30) {
        tokio::runtime::Runtime::new().unwrap().block_on(async move {
            let omnex = engine().await;
            let mut rng = Rng::new(initial as u64);
            let batch = (0..initial)
                .map(|i| NewMemory::new(format!("m{i}")).with_embedding(rng.vector(DIM)))
                .collect();
            let existing: Vec<MemoryId> = omnex.add_memories(batch).await.unwrap().iter().map(|m| m.id).collect();
            let writer = {
                let omnex = omnex.clone();
                tokio::spawn(async move {
                    let mut rng = Rng::new(99);
                    for i in 0..concurrent {
                        omnex.add_memory(NewMemory::new(format!("late {i}")).with_embedding(rng.vector(DIM))).await.unwrap();
                    }
                })
            };
            let mut seen = Vec::new();
            let mut cursor = None;
            loop {
                let p = omnex.list_memories(ListMemories { limit: Some(page), cursor, ..Default::default() }).await.unwrap();
                seen.extend(p.items.iter().map(|m| m.id));
                match p.next_cursor { Some(c) => cursor = Some(c), None => break }
            }
            writer.await.unwrap();
            let mut dedup = seen.clone();
            dedup.sort();
            dedup.dedup();
            assert_eq!(dedup.len(), seen.len(), "an item was repeated");
            assert!(existing.iter().all(|id| seen.contains(id)), "an item was lost");
        });
    }
}
