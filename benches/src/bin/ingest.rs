//! Ingest through the HTTP API against the embedder alone: `COUNT` real sentences
//! (`ann/sentences.txt` of the evaluation data) embedded in-process by the local
//! model in batches of `BATCH` (the baseline), then sent to a running `omnex serve`
//! through `POST /api/v1/memories/batch` in the same batches, without embeddings,
//! so the server embeds, stores and indexes them (two requests in flight).
//!
//! `benches/ingest.sh` starts the server on a fresh data directory and runs this.
//!
//! Usage: `ingest --url http://127.0.0.1:18081 [--data ../shared/data] [--count 10000] [--batch 100]`

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::time::Instant;

use futures::{stream, StreamExt, TryStreamExt};
use omnex_benches::{arg, BoxResult};
use omnex_core::backend::local_embedder::LocalEmbedder;
use serde_json::json;

#[tokio::main]
async fn main() -> BoxResult<()> {
    let url = arg("--url").unwrap_or_else(|| "http://127.0.0.1:18081".into());
    let data = arg("--data").unwrap_or_else(|| "../shared/data".into());
    let count: usize = arg("--count").map_or(Ok(10_000), |s| s.parse())?;
    let batch: usize = arg("--batch").map_or(Ok(100), |s| s.parse())?;
    let texts: Vec<String> = std::fs::read_to_string(format!("{data}/ann/sentences.txt"))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(count)
        .map(String::from)
        .collect();
    if texts.len() < count {
        return Err(format!(
            "{data}/ann/sentences.txt has only {} sentences",
            texts.len()
        )
        .into());
    }

    // Baseline: the embedder alone, same batches.
    let embedder = LocalEmbedder::load(None, false).await?;
    embedder.embed_blocking(&texts[..batch.min(count)])?; // warm-up
    let started = Instant::now();
    for chunk in texts.chunks(batch) {
        embedder.embed_blocking(chunk)?;
    }
    let embed_secs = started.elapsed().as_secs_f64();
    drop(embedder);

    // Through the server: it embeds, stores (SQLite, full-text) and indexes (HNSW).
    let http = reqwest::Client::new();
    let endpoint = format!("{url}/api/v1/memories/batch");
    let started = Instant::now();
    let mut sent = 0usize;
    let mut responses = stream::iter(texts.chunks(batch).map(|chunk| {
        let body = json!({
            "memories": chunk
                .iter()
                .map(|t| json!({"content": t, "namespace": "ingest"}))
                .collect::<Vec<_>>(),
        });
        let req = http.post(&endpoint).json(&body);
        async move {
            let res = req.send().await?;
            if !res.status().is_success() {
                return Err(
                    format!("ingest failed: {} {}", res.status(), res.text().await?).into(),
                );
            }
            BoxResult::Ok(chunk.len())
        }
    }))
    .buffer_unordered(2);
    while let Some(n) = responses.try_next().await? {
        sent += n;
        eprint!(
            "\ringested {sent}/{count} ({:.0}/s)",
            sent as f64 / started.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    let http_secs = started.elapsed().as_secs_f64();
    let (embed_rate, http_rate) = (count as f64 / embed_secs, count as f64 / http_secs);
    println!("| path | memories/s | vs the embedder alone |");
    println!("|---|---|---|");
    println!("| embedder alone, batches of {batch} (baseline) | {embed_rate:.0} | 1.00× |");
    println!(
        "| `POST /memories/batch`, batches of {batch}, server embeds | {http_rate:.0} | {:.2}× |",
        http_rate / embed_rate
    );
    Ok(())
}
