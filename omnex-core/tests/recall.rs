//! HNSW against exact search on 10,000 vectors of dimension 384.

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::collections::HashSet;

use omnex_core::{
    backend::{exact::ExactIndex, hnsw::HnswIndex},
    conformance::{entry, Rng},
    model::{Scope, VectorQuery},
    VectorIndex,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hnsw_recall_at_10_is_at_least_095() {
    const N: usize = 10_000;
    const DIM: usize = 384;
    let mut rng = Rng::new(42);
    // Clustered unit vectors: real embeddings are far from uniform.
    let centers: Vec<Vec<f32>> = (0..100).map(|_| rng.vector(DIM)).collect();
    let entries: Vec<_> = (0..N)
        .map(|i| entry(rng.near(&centers[i % centers.len()], 0.2), Scope::default()))
        .collect();
    let hnsw = HnswIndex::new(DIM);
    let exact = ExactIndex::new(DIM);
    for chunk in entries.chunks(2000) {
        hnsw.upsert(chunk).await.unwrap();
        exact.upsert(chunk).await.unwrap();
    }
    let queries = 200;
    let mut found = 0;
    for q in 0..queries {
        let v = rng.near(&centers[(q * 7) % centers.len()], 0.2);
        let query = VectorQuery::new(v, 10);
        let want: HashSet<_> = exact
            .search(&query)
            .await
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        let got = hnsw.search(&query).await.unwrap();
        assert_eq!(got.len(), 10);
        found += got.iter().filter(|h| want.contains(&h.id)).count();
    }
    let recall = found as f64 / (queries * 10) as f64;
    eprintln!("HNSW recall@10 on {N} vectors: {recall:.4}");
    assert!(recall >= 0.95, "recall@10 = {recall:.4}");
}
