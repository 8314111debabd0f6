//! What events cost and how fast they arrive, against a running `omnex serve`.
//!
//! In one run, on one machine: writers PUT contexts as fast as they can for a fixed
//! time on a server nobody listens to (the baseline), then on a fresh server with a
//! webhook (a receiver in this process that checks every signature) and a
//! Server-Sent Events client following the change feed. It reports the write rate
//! of both (the ratio is what listening costs), the rate at which events reach each
//! consumer, and their delivery latency (receipt time minus the event's commit
//! time) under that load, plus how long the webhook queue takes to drain.
//!
//! Usage: `events [--omnex target/release/omnex] [--seconds 10] [--writers 8]
//! [--store postgres://…]` (default store: the embedded SQLite of a temp directory)

// Benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use omnex_benches::{arg, start_server, BoxResult, Server};
use serde_json::{json, Value};

const SECRET: &str = "whsec_benchmark_secret_0123";

fn serve(
    bin: &str,
    dir: &std::path::Path,
    store: Option<&str>,
    workers: usize,
) -> BoxResult<Server> {
    let mut cmd = Command::new(bin);
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--workers",
        &workers.to_string(),
    ])
    .env("OMNEX_DATA_DIR", dir)
    .env("OMNEX_LOG", "warn")
    .stdout(Stdio::piped());
    if let Some(s) = store {
        cmd.args(["--storage", s]);
    }
    start_server(cmd)
}

/// Writers PUT contexts for `secs`; returns the writes done.
async fn write_load(base: &str, writers: usize, secs: u64, tag: &str) -> BoxResult<u64> {
    let http = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (http, done, base, tag) = (http.clone(), done.clone(), base.to_owned(), tag.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < until {
                let url = format!("{base}/api/v1/contexts/load/{tag}-{w}-{}", i % 100);
                let res = http
                    .put(url)
                    .json(&json!({"value": {"writer": w, "n": i}}))
                    .send()
                    .await;
                if res.is_ok_and(|r| r.status().is_success()) {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(done.load(Ordering::Relaxed))
}

/// Latencies in milliseconds, and when the last one arrived.
#[derive(Default)]
struct Arrivals {
    latencies: Vec<f64>,
    last: Option<Instant>,
    bad_signatures: u64,
}

fn latency_ms(event: &Value) -> Option<f64> {
    let at = event.get("at")?.as_str()?;
    let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    let ms =
        (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_microseconds()? as f64 / 1000.0;
    Some(ms.max(0.0))
}

async fn receive(
    State(seen): State<Arc<Mutex<Arrivals>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let ok = omnex_core::signature::verify(
        SECRET,
        &h("omnex-timestamp"),
        &h("omnex-signature"),
        &body,
        chrono::Utc::now().timestamp(),
    );
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    if !ok {
        seen.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if let Some(ms) = serde_json::from_slice::<Value>(&body)
        .ok()
        .as_ref()
        .and_then(latency_ms)
    {
        seen.latencies.push(ms);
        seen.last = Some(Instant::now());
    }
    StatusCode::NO_CONTENT
}

/// Reads the SSE stream until `stop`, recording each event's latency.
async fn follow(
    base: String,
    seen: Arc<Mutex<Arrivals>>,
    stop: Arc<AtomicBool>,
) -> Result<(), reqwest::Error> {
    let mut res = reqwest::Client::new()
        .get(format!("{base}/api/v1/changes/stream?namespace=load"))
        .send()
        .await?;
    let mut buffer = String::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok(chunk) = tokio::time::timeout(Duration::from_millis(500), res.chunk()).await else {
            continue;
        };
        let Some(chunk) = chunk? else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    if let Some(ms) = serde_json::from_str::<Value>(data.trim())
                        .ok()
                        .as_ref()
                        .and_then(latency_ms)
                    {
                        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                        seen.latencies.push(ms);
                        seen.last = Some(Instant::now());
                    }
                }
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, arrivals: &Arrivals, window: f64, writes: u64) {
    let mut l = arrivals.latencies.clone();
    l.sort_by(f64::total_cmp);
    println!(
        "| {name} | {} of {writes} | {:.0}/s | {:.1} | {:.1} | {:.1} | {:.1} |",
        l.len(),
        l.len() as f64 / window,
        percentile(&l, 0.5),
        percentile(&l, 0.95),
        percentile(&l, 0.99),
        l.last().copied().unwrap_or(f64::NAN),
    );
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let bin = arg("--omnex").unwrap_or_else(|| "target/release/omnex".into());
    let secs: u64 = arg("--seconds").map_or(Ok(10), |s| s.parse())?;
    let writers: usize = arg("--writers").map_or(Ok(8), |s| s.parse())?;
    let store = arg("--store");
    let label = if store.is_some() {
        "PostgreSQL"
    } else {
        "embedded SQLite"
    };

    // Baseline: the same writes with no one listening and no workers.
    let dir = tempfile::tempdir()?;
    let base_store = store.as_ref().map(|s| with_schema(s, "base"));
    let server = serve(&bin, dir.path(), base_store.as_deref(), 0)?;
    let baseline = write_load(&server.base, writers, secs, "base").await?;
    drop(server);

    // Under listeners: a webhook and an SSE client.
    let dir = tempfile::tempdir()?;
    let listen_store = store.as_ref().map(|s| with_schema(s, "listen"));
    let server = serve(&bin, dir.path(), listen_store.as_deref(), 2)?;
    let hook_seen = Arc::new(Mutex::new(Arrivals::default()));
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(hook_seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let made: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks", server.base))
        .json(&json!({"url": hook_url, "secret": SECRET, "kinds": ["context.put"]}))
        .send()
        .await?
        .json()
        .await?;
    if made.get("id").is_none() {
        return Err(format!("webhook not made: {made}").into());
    }
    let sse_seen = Arc::new(Mutex::new(Arrivals::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let sse = tokio::spawn(follow(server.base.clone(), sse_seen.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let writes = write_load(&server.base, writers, secs, "listen").await?;
    let window = started.elapsed().as_secs_f64();
    // Drain: wait until every write has reached the receiver (or 120 s pass).
    let drain_started = Instant::now();
    while hook_seen
        .lock()
        .map(|s| (s.latencies.len() as u64) < writes)
        .unwrap_or(false)
        && drain_started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = sse.await;
    let hook = hook_seen.lock().map_err(|_| "poisoned")?;
    let feed = sse_seen.lock().map_err(|_| "poisoned")?;
    let drained = hook.last.map_or(f64::NAN, |t| {
        t.duration_since(started).as_secs_f64() - window
    });

    println!("\n### Events on the {label} store ({writers} writers, {secs} s)\n");
    println!("| measurement | writes/s | ratio |");
    println!("|---|---|---|");
    let rate0 = baseline as f64 / secs as f64;
    let rate1 = writes as f64 / window;
    println!("| context PUTs, no listeners, no workers (baseline) | {rate0:.0} | 1.00× |");
    println!(
        "| context PUTs with a webhook and an SSE client | {rate1:.0} | {:.2}× |",
        rate1 / rate0
    );
    println!("\n| consumer | events received | rate during the load | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    summary("webhook (signed, verified)", &hook, window, writes);
    summary("SSE /changes/stream", &feed, window, writes);
    println!(
        "\nThe webhook queue drained {drained:.1} s after the writers stopped; {} bad signatures.",
        hook.bad_signatures
    );
    Ok(())
}

/// A PostgreSQL URL with a schema of its own per phase, so each starts empty.
fn with_schema(url: &str, phase: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{url}{sep}schema=bench_{phase}_{}", &id[20..])
}
