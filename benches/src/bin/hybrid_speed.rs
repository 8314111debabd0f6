//! What full-text search costs, on the embedded default (SQLite + HNSW), in one run:
//! ingest throughput with the full-text index against the same ingest without it (the
//! baseline), and search latency of keyword and hybrid search against semantic search
//! (the baseline) at `N` memories.
//!
//! The memories are real English text (`../shared/data`: the sentences of
//! `ann/sentences.txt`, then SciFact abstracts split into sentences, then LoCoMo turns)
//! with clustered random 384-dimensional vectors, so the embedder is not what is
//! measured. The queries are the SciFact claims and the LoCoMo questions, each with a
//! vector near a stored one. Memories are added through `Omnex::add_memories` in
//! batches of 500 and searched one at a time (top 10).
//!
//! Usage: `hybrid_speed [--data ../shared/data] [--memories 100000]`

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{
    io::BufRead,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use omnex_core::{
    config::CacheSpec,
    model::{NewMemory, Scope, SearchMode, SearchRequest},
    Config, Omnex,
};
use serde_json::Value;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

const DIM: usize = 384;
const BATCH: usize = 500;

/// Up to `n` real English texts from the evaluation data.
fn texts(data: &Path, n: usize) -> BoxResult<Vec<String>> {
    let mut out: Vec<String> = std::fs::read_to_string(data.join("ann/sentences.txt"))?
        .lines()
        .map(str::to_owned)
        .collect();
    let corpus = std::fs::File::open(data.join("scifact/corpus.jsonl"))?;
    for line in std::io::BufReader::new(corpus).lines() {
        let doc: Value = serde_json::from_str(&line?)?;
        let text = doc["text"].as_str().unwrap_or_default();
        out.extend(
            text.split(". ")
                .map(str::trim)
                .filter(|s| s.len() > 20)
                .map(str::to_owned),
        );
    }
    let locomo: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(
        data.join("locomo-dev/locomo-dev.json"),
    )?)?;
    for s in &locomo {
        for (k, session) in s["conversation"].as_object().into_iter().flatten() {
            if !k.starts_with("session_") || k.ends_with("date_time") {
                continue;
            }
            for t in session.as_array().into_iter().flatten() {
                out.push(format!(
                    "{}: {}",
                    t["speaker"].as_str().unwrap_or_default(),
                    t["text"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    if out.len() < n {
        return Err(format!("only {} texts in {}", out.len(), data.display()).into());
    }
    out.truncate(n);
    Ok(out)
}

/// The SciFact claims and LoCoMo questions.
fn queries(data: &Path) -> BoxResult<Vec<String>> {
    let mut out = Vec::new();
    let f = std::fs::File::open(data.join("scifact/queries.jsonl"))?;
    for line in std::io::BufReader::new(f).lines() {
        let q: Value = serde_json::from_str(&line?)?;
        out.push(q["text"].as_str().unwrap_or_default().to_owned());
    }
    let locomo: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(
        data.join("locomo-dev/locomo-dev.json"),
    )?)?;
    for s in &locomo {
        for q in s["qa"].as_array().into_iter().flatten() {
            out.push(q["question"].as_str().unwrap_or_default().to_owned());
        }
    }
    Ok(out)
}

async fn open(dir: &Path, full_text: bool) -> BoxResult<Omnex> {
    let config = Config {
        store: Some(format!("sqlite://{}", dir.join("omnex.db").display()).parse()?),
        index: "hnsw".parse()?,
        cache: CacheSpec::None,
        sweep_interval_secs: 0,
        full_text,
        ..Config::default()
    };
    Ok(Omnex::builder()
        .config(config)
        .dimension(DIM)
        .build()
        .await?)
}

/// Memories added per second.
async fn ingest(omnex: &Omnex, texts: &[String], vectors: &[Vec<f32>]) -> BoxResult<f64> {
    let started = Instant::now();
    for (chunk, vs) in texts.chunks(BATCH).zip(vectors.chunks(BATCH)) {
        let batch = chunk
            .iter()
            .zip(vs)
            .enumerate()
            .map(|(i, (t, v))| {
                NewMemory::new(t.clone())
                    .with_scope(Scope::default().with_user(format!("user-{}", i % 100)))
                    .with_embedding(v.clone())
            })
            .collect();
        omnex.add_memories(batch).await?;
    }
    Ok(texts.len() as f64 / started.elapsed().as_secs_f64())
}

/// p50 and p99 latency in milliseconds.
async fn latency(
    omnex: &Omnex,
    requests: impl Iterator<Item = SearchRequest>,
) -> BoxResult<(f64, f64)> {
    let mut times: Vec<Duration> = Vec::new();
    for req in requests {
        let started = Instant::now();
        let hits = omnex.search(req).await?;
        times.push(started.elapsed());
        std::hint::black_box(hits);
    }
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;
    Ok((at(0.5), at(0.99)))
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let mut data = PathBuf::from("../shared/data");
    let mut n = 100_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().ok_or("--data DIR")?.into(),
            "--memories" => n = args.next().ok_or("--memories N")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let texts = texts(&data, n)?;
    let queries = queries(&data)?;
    let vectors = omnex_benches::clustered(n, DIM, 7);
    let query_vectors = omnex_benches::near(&vectors, queries.len(), 8);

    let without_dir = tempfile::tempdir()?;
    let without = open(without_dir.path(), false).await?;
    eprintln!("ingesting {n} memories without the full-text index ...");
    let base_rate = ingest(&without, &texts, &vectors).await?;
    drop(without);
    let with_dir = tempfile::tempdir()?;
    let with = open(with_dir.path(), true).await?;
    eprintln!("ingesting {n} memories with the full-text index ...");
    let fts_rate = ingest(&with, &texts, &vectors).await?;

    let request = |mode: SearchMode, q: &String, v: &Vec<f32>| {
        let req = match mode {
            SearchMode::Semantic => SearchRequest::vector(v.clone()),
            SearchMode::Keyword => SearchRequest::query(q.clone()),
            SearchMode::Hybrid => SearchRequest::query(q.clone()).with_vector(v.clone()),
        };
        req.with_mode(mode).with_limit(10)
    };
    let mut rows = Vec::new();
    for mode in [
        SearchMode::Semantic,
        SearchMode::Keyword,
        SearchMode::Hybrid,
    ] {
        // One warm-up pass, then the measured one.
        latency(
            &with,
            queries
                .iter()
                .zip(&query_vectors)
                .take(100)
                .map(|(q, v)| request(mode, q, v)),
        )
        .await?;
        let unfiltered = latency(
            &with,
            queries
                .iter()
                .zip(&query_vectors)
                .map(|(q, v)| request(mode, q, v)),
        )
        .await?;
        let filtered = latency(
            &with,
            queries.iter().zip(&query_vectors).map(|(q, v)| {
                request(mode, q, v)
                    .with_filter(omnex_core::model::Filter::default().with_user("user-7"))
            }),
        )
        .await?;
        rows.push((mode, unfiltered, filtered));
    }

    println!("\n{n} memories (real English text, 384-dimensional vectors), SQLite + HNSW\n");
    println!("| ingest | memories/s | vs baseline |");
    println!("|---|---|---|");
    println!("| without the full-text index (baseline) | {base_rate:.0} | 1.00× |");
    println!(
        "| with the full-text index | {fts_rate:.0} | {:.2}× |",
        fts_rate / base_rate
    );
    let base_p50 = rows[0].1 .0;
    println!(
        "\n{} queries one at a time, top 10; filtered = one user of 100\n",
        queries.len()
    );
    println!("| mode | p50 | p99 | p50 vs semantic | filtered p50 | filtered p99 |");
    println!("|---|---|---|---|---|---|");
    for (mode, (p50, p99), (fp50, fp99)) in rows {
        println!(
            "| {mode} | {p50:.2} ms | {p99:.2} ms | {:.2}× | {fp50:.2} ms | {fp99:.2} ms |",
            p50 / base_p50
        );
    }
    Ok(())
}
