//! Local embedder throughput (sentences/s) at batch sizes 1, 8, 32 and 128 on
//! short (~12 tokens) and paragraph (~120 tokens) inputs, and single-query latency.
//! `benches/embed-vs-python.sh` runs this and the Python baseline in one go.
//!
//! cargo bench -p omnex-benches --bench embed

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use omnex_core::backend::local_embedder::LocalEmbedder;

fn lines(name: &str) -> Vec<String> {
    let path = format!("{}/data/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let model = rt.block_on(LocalEmbedder::load(None, false)).unwrap();
    for (name, texts) in [("short", lines("short")), ("paragraph", lines("paragraph"))] {
        let mut g = c.benchmark_group(format!("embed_{name}"));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(if name == "short" { 4 } else { 12 }));
        for batch in [1usize, 8, 32, 128] {
            g.throughput(Throughput::Elements(batch as u64));
            let mut start = 0;
            g.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
                b.iter(|| {
                    start = (start + batch) % (texts.len() - batch);
                    model.embed_blocking(&texts[start..start + batch]).unwrap()
                })
            });
        }
        g.finish();
    }
    let short = lines("short");
    let mut i = 0;
    c.bench_function("single_short_query_latency", |b| {
        b.iter(|| {
            i = (i + 1) % short.len();
            model
                .embed_blocking(std::slice::from_ref(&short[i]))
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
