//! Retrieval quality on BEIR SciFact: dense retrieval with the local
//! all-MiniLM-L6-v2 embedder through the full Omnex write and search path.
//!
//! ```sh
//! cargo run --release -p omnex-core --example scifact -- ../shared/data/scifact
//! ```
//!
//! Embeds the 5,183 abstracts (`title text`, as BEIR does), runs the 300 test
//! queries with k = 10 and prints nDCG@10 and Recall@10. Exits non-zero when
//! nDCG@10 is below 0.64 (published figures for this model: 0.645–0.674).

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{
    collections::{HashMap, HashSet},
    io::BufRead,
    path::PathBuf,
    sync::Arc,
    time::Instant,
};

use omnex_core::{
    backend::{hnsw::HnswIndex, local_embedder::LocalEmbedder, sqlite::SqliteStore},
    model::{NewMemory, SearchRequest},
    Omnex,
};

fn read_jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::io::BufReader::new(f)
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

#[tokio::main]
async fn main() -> omnex_core::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "../shared/data/scifact".into()),
    );
    let corpus = read_jsonl(&dir.join("corpus.jsonl"));
    let queries: HashMap<String, String> = read_jsonl(&dir.join("queries.jsonl"))
        .into_iter()
        .map(|q| {
            (
                q["_id"].as_str().unwrap().to_owned(),
                q["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut qrels: HashMap<String, HashSet<String>> = HashMap::new();
    let qrels_text = std::fs::read_to_string(dir.join("qrels/test.tsv")).expect("qrels/test.tsv");
    for line in qrels_text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() >= 3 && cols[2].trim() != "0" {
            qrels
                .entry(cols[0].to_owned())
                .or_default()
                .insert(cols[1].to_owned());
        }
    }

    let embedder = LocalEmbedder::load(None, false).await?;
    let omnex = Omnex::builder()
        .store(Arc::new(SqliteStore::in_memory().await?))
        .index(Arc::new(HnswIndex::new(384)))
        .embedder(Arc::new(embedder))
        .build()
        .await?;

    let started = Instant::now();
    for (n, chunk) in corpus.chunks(256).enumerate() {
        let batch = chunk
            .iter()
            .map(|d| {
                let text = format!(
                    "{} {}",
                    d["title"].as_str().unwrap_or(""),
                    d["text"].as_str().unwrap_or("")
                );
                NewMemory::new(text.trim().to_owned()).with_metadata("doc", d["_id"].clone())
            })
            .collect();
        omnex.add_memories(batch).await?;
        eprint!(
            "\rembedded {}/{} abstracts",
            ((n + 1) * 256).min(corpus.len()),
            corpus.len()
        );
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "\rembedded {} abstracts in {secs:.0} s ({:.1}/s)",
        corpus.len(),
        corpus.len() as f64 / secs
    );

    let mut ndcg_sum = 0.0;
    let mut recall_sum = 0.0;
    let mut ids: Vec<&String> = qrels.keys().collect();
    ids.sort();
    for qid in &ids {
        let relevant = &qrels[*qid];
        let hits = omnex
            .search(SearchRequest::query(queries[*qid].clone()).with_limit(10))
            .await?;
        let mut dcg = 0.0;
        let mut found = 0;
        for (rank, h) in hits.iter().enumerate() {
            let doc = h.memory.metadata["doc"].as_str().unwrap_or_default();
            if relevant.contains(doc) {
                dcg += 1.0 / ((rank + 2) as f64).log2();
                found += 1;
            }
        }
        let ideal: f64 = (0..relevant.len().min(10))
            .map(|r| 1.0 / ((r + 2) as f64).log2())
            .sum();
        ndcg_sum += dcg / ideal;
        recall_sum += found as f64 / relevant.len() as f64;
    }
    let ndcg = ndcg_sum / ids.len() as f64;
    let recall = recall_sum / ids.len() as f64;
    println!(
        "SciFact test ({} queries): nDCG@10 = {ndcg:.4}, Recall@10 = {recall:.4}",
        ids.len()
    );
    if ndcg < 0.64 {
        eprintln!("FAILED: nDCG@10 {ndcg:.4} is below 0.64");
        std::process::exit(1);
    }
    Ok(())
}
