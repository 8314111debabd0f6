//! Loads `N` synthetic memories into a running `omnex serve` through
//! `POST /api/v1/memories/batch`, with seeded random unit embeddings (so the
//! load does not wait for the embedder), spread over 100 users.
//!
//! Usage: `http_seed http://127.0.0.1:18080 100000 [dimension]`

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:18080".into());
    let total: usize = args.next().map_or(Ok(10_000), |s| s.parse())?;
    let dim: usize = args.next().map_or(Ok(384), |s| s.parse())?;
    let http = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(42);
    let started = std::time::Instant::now();
    let mut done = 0;
    while done < total {
        let n = (total - done).min(1000);
        let memories: Vec<_> = (done..done + n)
            .map(|i| {
                let mut v: Vec<f32> = (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                json!({
                    "content": format!("synthetic memory {i}: user {} noted item {}", i % 100, i * 7 % 1000),
                    "namespace": "bench",
                    "user_id": format!("user-{}", i % 100),
                    "metadata": {"i": i},
                    "embedding": v,
                })
            })
            .collect();
        let res = http
            .post(format!("{base}/api/v1/memories/batch"))
            .json(&json!({ "memories": memories }))
            .send()
            .await?;
        if !res.status().is_success() {
            return Err(format!("seeding failed: {} {}", res.status(), res.text().await?).into());
        }
        done += n;
        eprint!(
            "\rseeded {done}/{total} memories ({:.0}/s)",
            done as f64 / started.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    Ok(())
}
