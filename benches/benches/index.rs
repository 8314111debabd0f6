//! Vector index: search (k = 10) and insert at 10k and 100k vectors of dimension 384.
//! Baseline: exact (brute-force) search over the same vectors, in the same run.
//!
//! cargo bench -p omnex-benches --bench index

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use omnex_core::{
    backend::{exact::ExactIndex, hnsw::HnswIndex},
    conformance::{entry, Rng},
    model::{IndexEntry, Scope, VectorQuery},
    VectorIndex,
};

const DIM: usize = 384;

fn data(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<IndexEntry>) {
    let mut rng = Rng::new(seed);
    let centers: Vec<Vec<f32>> = (0..200).map(|_| rng.vector(DIM)).collect();
    let entries = (0..n)
        .map(|i| entry(rng.near(&centers[i % centers.len()], 0.2), Scope::default()))
        .collect();
    let queries = (0..256)
        .map(|i| rng.near(&centers[(i * 13) % centers.len()], 0.2))
        .collect();
    (queries, entries)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for n in [10_000usize, 100_000] {
        let (queries, entries) = data(n, n as u64);
        let hnsw = HnswIndex::new(DIM);
        let exact = ExactIndex::new(DIM);
        let t = Instant::now();
        for chunk in entries.chunks(5000) {
            rt.block_on(hnsw.upsert(chunk)).unwrap();
        }
        let build = t.elapsed();
        eprintln!(
            "hnsw build {n}: {:.1} s ({:.0} vectors/s)",
            build.as_secs_f64(),
            n as f64 / build.as_secs_f64()
        );
        rt.block_on(exact.upsert(&entries)).unwrap();
        // Recall of the configuration being timed.
        let mut found = 0;
        for q in queries.iter().take(100) {
            let query = VectorQuery::new(q.clone(), 10);
            let want: Vec<_> = rt
                .block_on(exact.search(&query))
                .unwrap()
                .iter()
                .map(|h| h.id)
                .collect();
            let got = rt.block_on(hnsw.search(&query)).unwrap();
            found += got.iter().filter(|h| want.contains(&h.id)).count();
        }
        eprintln!("hnsw recall@10 at {n}: {:.4}", found as f64 / 1000.0);

        let mut g = c.benchmark_group(format!("search_k10_{n}"));
        g.throughput(Throughput::Elements(1));
        let mut i = 0;
        g.bench_function("hnsw", |b| {
            b.iter(|| {
                i = (i + 1) % queries.len();
                rt.block_on(hnsw.search(&VectorQuery::new(queries[i].clone(), 10)))
                    .unwrap()
            })
        });
        g.bench_function("exact_baseline", |b| {
            b.iter(|| {
                i = (i + 1) % queries.len();
                rt.block_on(exact.search(&VectorQuery::new(queries[i].clone(), 10)))
                    .unwrap()
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("insert_1000_into_{n}"));
        g.sample_size(10).measurement_time(Duration::from_secs(10));
        g.throughput(Throughput::Elements(1000));
        let (_, extra) = data(1000, 7);
        g.bench_with_input(BenchmarkId::new("hnsw", n), &extra, |b, extra| {
            b.iter(|| {
                // Fresh ids each time so the index really grows.
                let batch: Vec<IndexEntry> = extra
                    .iter()
                    .map(|e| IndexEntry {
                        id: omnex_core::model::MemoryId::new(),
                        ..e.clone()
                    })
                    .collect();
                rt.block_on(hnsw.upsert(&batch)).unwrap()
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
