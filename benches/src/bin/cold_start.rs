//! How long `omnex serve` takes to be ready on a data directory of N memories: from
//! the process start to the first answered `/readyz`, then the first answered search.
//!
//! For each size, in one run: a start without an index snapshot (the index is rebuilt
//! from the store: the baseline, and what every start did before snapshots), a start
//! from the snapshot the first one saved, and a start from that snapshot after another
//! process added 1% more memories (caught up from the change log).
//!
//! The data directories are seeded once through the library with supplied vectors
//! (clustered unit vectors, 100 users) and kept under `target/cold-start/`.
//!
//! Usage: `cold_start [--omnex target/release/omnex] [--sizes 10000,100000]`

// Benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use omnex_benches::{arg, clustered, BoxResult};
use omnex_core::{
    model::{NewMemory, Scope},
    Config, Omnex,
};
use serde_json::json;

fn config(dir: &Path) -> Config {
    Config {
        install_model: true,
        ..Config::with_data_dir(dir)
    }
}

/// Adds `n` memories numbered from `from` through the library.
async fn add(dir: &Path, from: usize, n: usize) -> BoxResult<()> {
    let omnex = Omnex::open(config(dir)).await?;
    let vectors = clustered(n, 384, from as u64 + 7);
    let started = Instant::now();
    for (c, chunk) in vectors.chunks(1000).enumerate() {
        let batch = chunk
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let i = from + c * 1000 + j;
                NewMemory {
                    scope: Scope {
                        user_id: Some(format!("user-{}", i % 100)),
                        ..Scope::default()
                    },
                    embedding: Some(v.clone()),
                    ..NewMemory::new(format!("memory {i} of user {}", i % 100))
                }
            })
            .collect();
        omnex.add_memories(batch).await?;
        eprint!(
            "\r  seeding {}/{n} ({:.0}/s)",
            (c + 1) * 1000,
            ((c + 1) * 1000) as f64 / started.elapsed().as_secs_f64()
        );
    }
    eprintln!();
    Ok(())
}

fn snapshots(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "hnsw"))
                .collect()
        })
        .unwrap_or_default()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server; returns it with the seconds to the first `/readyz` 200 and to
/// the first search answered.
async fn start(omnex: &str, dir: &Path, port: u16) -> BoxResult<(Server, f64, f64)> {
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut server = Server(
        Command::new(omnex)
            .args([
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(dir)
            .env("OMNEX_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        if let Some(status) = server.0.try_wait()? {
            return Err(format!("the server exited before it was ready: {status}").into());
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the server did not become ready in 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let ready = started.elapsed().as_secs_f64();
    let vector = clustered(1, 384, 99).remove(0);
    let r = http
        .post(format!("{base}/api/v1/memories/search"))
        .json(&json!({ "vector": vector, "limit": 10 }))
        .send()
        .await?;
    if !r.status().is_success() {
        return Err(format!("search failed: {}", r.text().await?).into());
    }
    let hits = r.json::<serde_json::Value>().await?;
    if hits["hits"].as_array().is_none_or(Vec::is_empty) {
        return Err(format!("the first search found nothing: {hits}").into());
    }
    Ok((server, ready, started.elapsed().as_secs_f64()))
}

/// Stops the server with SIGTERM, as a service manager does, and waits for it.
fn stop(mut server: Server) -> BoxResult<()> {
    Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()?;
    server.0.wait()?;
    Ok(())
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let omnex = arg("--omnex").unwrap_or_else(|| "target/release/omnex".into());
    let sizes: Vec<usize> = arg("--sizes")
        .unwrap_or_else(|| "10000,100000".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let port = 18090;
    println!("| memories | start | ready (/readyz) | first search answered |");
    println!("|---|---|---|---|");
    for n in sizes {
        let dir = PathBuf::from(format!("target/cold-start/{n}"));
        let seeded = dir.join("seeded");
        if !seeded.exists() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            eprintln!("seeding {n} memories into {}", dir.display());
            add(&dir, 0, n).await?;
            std::fs::write(&seeded, b"")?;
        }
        let extra = dir.join("extra");
        if extra.exists() {
            // A previous run's extra memories: start again from a clean copy.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!(
                "{} was changed by an earlier run and has been removed; run again",
                dir.display()
            )
            .into());
        }
        for s in snapshots(&dir) {
            std::fs::remove_file(s)?;
        }
        let (server, ready, search) = start(&omnex, &dir, port).await?;
        println!("| {n} | no snapshot: index rebuilt from the store (baseline) | {ready:.2} s | {search:.2} s |");
        // The rebuilt index is saved in the background; wait for it, then stop.
        let waited = Instant::now();
        while snapshots(&dir).is_empty() && waited.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop(server)?;
        let (server, ready2, search2) = start(&omnex, &dir, port).await?;
        println!(
            "| {n} | from the snapshot | {ready2:.2} s ({:.1}× faster) | {search2:.2} s |",
            ready / ready2
        );
        stop(server)?;
        // Another process writes 1% more; the next start catches up from the change log.
        std::fs::write(&extra, b"")?;
        add(&dir, n, (n / 100).max(1000)).await?;
        let (server, ready3, search3) = start(&omnex, &dir, port).await?;
        println!("| {n} | from the snapshot, then {} changes caught up | {ready3:.2} s | {search3:.2} s |", (n / 100).max(1000));
        stop(server)?;
        // The extra memories are in the data now: reseed next time.
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
