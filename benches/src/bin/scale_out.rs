//! Memory add throughput and search latency of each deployment, in one run:
//! SQLite + HNSW (the embedded default, the baseline), PostgreSQL + pgvector, and
//! PostgreSQL + Qdrant (when `--qdrant` is given).
//!
//! Every configuration gets the same memories: `N` clustered 384-dimensional unit
//! vectors with explicit embeddings (so the embedder is not what is measured), spread
//! over 100 users, added through `Omnex::add_memories` in batches of 500. Then 1,000
//! searches by vector (top 10) one at a time, unfiltered and filtered to one user, and
//! recall@10 of the unfiltered ones against exact search.
//!
//! Usage:
//! `scale_out --postgres postgres://postgres@127.0.0.1/omnex_bench [--qdrant qdrant://127.0.0.1:6334] [--memories 100000]`

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::time::{Duration, Instant};

use omnex_core::{
    model::{Filter, NewMemory, Scope, SearchRequest},
    Config, Omnex,
};

const DIM: usize = 384;
const BATCH: usize = 500;
const QUERIES: usize = 1000;
const RECALL_QUERIES: usize = 200;

/// Clustered data: 1,000 centres, each point a centre plus noise.
fn dataset(n: usize) -> Vec<Vec<f32>> {
    omnex_benches::clustered(n, DIM, 7)
}

fn queries(data: &[Vec<f32>]) -> Vec<Vec<f32>> {
    omnex_benches::near(data, QUERIES, 8)
}

/// Indexes of the exact top 10 of `q` in `data`.
fn exact_top10(data: &[Vec<f32>], q: &[f32]) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum(), i))
        .collect();
    scored.select_nth_unstable_by(10, |a, b| b.0.total_cmp(&a.0));
    scored.truncate(10);
    scored.into_iter().map(|(_, i)| i).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Row {
    name: String,
    adds_per_sec: f64,
    search: (f64, f64),
    filtered: (f64, f64),
    recall: f64,
}

async fn measure(
    name: &str,
    config: Config,
    data: &[Vec<f32>],
    qs: &[Vec<f32>],
    truth: &[Vec<usize>],
) -> Result<Row, Box<dyn std::error::Error>> {
    let omnex = Omnex::builder()
        .config(config)
        .dimension(DIM)
        .build()
        .await?;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(data.len());
    for (b, chunk) in data.chunks(BATCH).enumerate() {
        let batch = chunk
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let i = b * BATCH + j;
                NewMemory::new(format!("memory {i} of user {}", i % 100))
                    .with_scope(Scope::namespace("bench").with_user(format!("user-{}", i % 100)))
                    .with_embedding(v.clone())
            })
            .collect();
        ids.extend(omnex.add_memories(batch).await?.into_iter().map(|m| m.id));
        eprint!(
            "\r{name}: added {}/{} ({:.0}/s)   ",
            ids.len(),
            data.len(),
            ids.len() as f64 / started.elapsed().as_secs_f64()
        );
    }
    let adds_per_sec = data.len() as f64 / started.elapsed().as_secs_f64();
    eprintln!();
    let mut plain = Vec::with_capacity(qs.len());
    let mut found = 0usize;
    for (i, q) in qs.iter().enumerate() {
        let t = Instant::now();
        let hits = omnex
            .search(SearchRequest::vector(q.clone()).with_limit(10))
            .await?;
        plain.push(t.elapsed());
        if let Some(want) = truth.get(i) {
            found += want
                .iter()
                .filter(|w| hits.iter().any(|h| h.memory.id == ids[**w]))
                .count();
        }
    }
    let mut filtered = Vec::with_capacity(qs.len());
    for (i, q) in qs.iter().enumerate() {
        let t = Instant::now();
        let hits = omnex
            .search(
                SearchRequest::vector(q.clone())
                    .with_limit(10)
                    .with_filter(Filter::default().with_user(format!("user-{}", i % 100))),
            )
            .await?;
        filtered.push(t.elapsed());
        assert_eq!(
            hits.len(),
            10,
            "{name}: a filtered search returned {}",
            hits.len()
        );
    }
    plain.sort();
    filtered.sort();
    Ok(Row {
        name: name.to_owned(),
        adds_per_sec,
        search: (percentile(&plain, 0.5), percentile(&plain, 0.99)),
        filtered: (percentile(&filtered, 0.5), percentile(&filtered, 0.99)),
        recall: found as f64 / (truth.len() * 10) as f64,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut postgres = None;
    let mut qdrant = None;
    let mut n = 100_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--postgres" => postgres = args.next(),
            "--qdrant" => qdrant = args.next(),
            "--memories" => n = args.next().ok_or("--memories N")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let data = dataset(n);
    let qs = queries(&data);
    eprintln!("computing exact answers for {RECALL_QUERIES} queries ...");
    let truth: Vec<Vec<usize>> = qs[..RECALL_QUERIES]
        .iter()
        .map(|q| exact_top10(&data, q))
        .collect();
    let base = |store: String, index: &str| Config {
        store: Some(store.parse().expect("a store URL")),
        index: index.parse().expect("an index spec"),
        cache: omnex_core::config::CacheSpec::None,
        sweep_interval_secs: 0,
        ..Config::default()
    };
    let dir = tempfile::tempdir()?;
    let mut rows = vec![
        measure(
            "SQLite + HNSW (embedded default)",
            base(
                format!("sqlite://{}", dir.path().join("bench.db").display()),
                "hnsw",
            ),
            &data,
            &qs,
            &truth,
        )
        .await?,
    ];
    if let Some(pg) = &postgres {
        let schema = |s: &str| {
            let sep = if pg.contains('?') { '&' } else { '?' };
            format!("{pg}{sep}schema={s}_{}", std::process::id())
        };
        rows.push(
            measure(
                "PostgreSQL + pgvector",
                base(schema("bench_pgvector"), "pgvector"),
                &data,
                &qs,
                &truth,
            )
            .await?,
        );
        if let Some(q) = &qdrant {
            let sep = if q.contains('?') { '&' } else { '?' };
            let index = format!("{q}{sep}collection=omnex_bench_{}", std::process::id());
            rows.push(
                measure(
                    "PostgreSQL + Qdrant",
                    base(schema("bench_qdrant"), &index),
                    &data,
                    &qs,
                    &truth,
                )
                .await?,
            );
        }
    }
    let baseline = rows[0].adds_per_sec;
    let base_p50 = rows[0].search.0;
    println!("\n{n} memories, {DIM} dimensions, {QUERIES} searches (top 10) one at a time\n");
    println!("| deployment | adds/s | vs baseline | search p50 | p99 | vs baseline (p50) | filtered p50 | p99 | recall@10 |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.2}× | {:.2} ms | {:.2} ms | {:.2}× | {:.2} ms | {:.2} ms | {:.3} |",
            r.name,
            r.adds_per_sec,
            r.adds_per_sec / baseline,
            r.search.0,
            r.search.1,
            r.search.0 / base_p50,
            r.filtered.0,
            r.filtered.1,
            r.recall
        );
    }
    Ok(())
}
