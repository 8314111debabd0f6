//! SQLite store: batch insert of 1000 memories (one transaction) against the
//! baseline of 1000 single-memory writes, on a file in WAL mode with fsync.
//!
//! cargo bench -p omnex-benches --bench store

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use omnex_core::{
    backend::sqlite::SqliteStore,
    conformance::Rng,
    model::{now, Memory, MemoryId, Metadata, Scope},
    Store,
};

fn memories(n: usize, rng: &mut Rng) -> Vec<Memory> {
    let t = now();
    (0..n)
        .map(|i| Memory {
            tenant: Default::default(),
            id: MemoryId::new(),
            content: format!("benchmark memory number {i} with a sentence of ordinary length"),
            embedding: rng.vector(384),
            metadata: Metadata::from_iter([("i".to_string(), serde_json::json!(i))]),
            scope: Scope::namespace("bench").with_user(format!("u{}", i % 10)),
            created_at: t,
            updated_at: t,
            expires_at: None,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt
        .block_on(SqliteStore::open_path(&dir.path().join("bench.db")))
        .unwrap();
    let mut rng = Rng::new(1);
    let mut g = c.benchmark_group("sqlite_insert_1000");
    g.throughput(Throughput::Elements(1000));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("batch", |b| {
        b.iter_batched(
            || memories(1000, &mut rng),
            |batch| rt.block_on(store.put_memories(&batch)).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    let mut rng = Rng::new(2);
    g.bench_function("one_by_one_baseline", |b| {
        b.iter_batched(
            || memories(1000, &mut rng),
            |batch| {
                for m in &batch {
                    rt.block_on(store.put_memories(std::slice::from_ref(m)))
                        .unwrap();
                }
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
