//! Soak: a fixed-rate mixed workload against one `omnex serve` for a long time,
//! watching whether latency or memory grow.
//!
//! Every tick of a fixed clock starts one request (an open loop: a slow answer does
//! not slow the load down): hybrid searches, reads, adds, updates, deletes, lists,
//! and context races (two puts with the same `if_version` at once: exactly one must
//! win, the other must get 409). Each interval it records the p50 and p99 latency
//! and the server's resident memory; any unexpected answer is an error. At the end
//! it prints a table, writes the two curves as an SVG chart, and fails if there was
//! an error.
//!
//! Usage: `soak [--omnex target/release/omnex] [--seconds 600] [--rate 50]
//! [--interval 30] [--svg docs/reliability-soak.svg]`

// Benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{
    fmt::Write as _,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use omnex_benches::{arg, start_server, BoxResult};
use rand::{rngs::StdRng, Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Memories the workload keeps in its namespace once warmed up.
const LIVE: usize = 1000;

const WORDS: &[&str] = &[
    "coffee", "hiking", "allergy", "birthday", "meeting", "python", "flight", "garden", "invoice",
    "piano", "recipe", "deadline", "museum", "bicycle", "dentist", "novel",
];

/// What one interval saw.
#[derive(Default)]
struct Window {
    latencies_us: Vec<u64>,
    errors: Vec<String>,
}

struct Shared {
    http: reqwest::Client,
    base: String,
    window: Mutex<Window>,
    /// Ids of memories this run added and has not deleted.
    ids: Mutex<Vec<String>>,
    n: AtomicU64,
    races: AtomicU64,
}

impl Shared {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    fn record(&self, took: Duration, error: Option<String>) {
        let mut w = self.window.lock().unwrap();
        w.latencies_us.push(took.as_micros() as u64);
        if let Some(e) = error {
            w.errors.push(e);
        }
    }
}

fn sentence(rng: &mut StdRng, n: u64) -> String {
    let a = WORDS[rng.gen_range(0..WORDS.len())];
    let b = WORDS[rng.gen_range(0..WORDS.len())];
    format!("note {n}: the user talked about {a} and later about {b}")
}

/// Checks a response's status; returns its JSON body or an error text.
async fn expect(
    res: reqwest::Result<reqwest::Response>,
    ok: &[StatusCode],
    what: &str,
) -> Result<Value, String> {
    let res = res.map_err(|e| format!("{what}: {e}"))?;
    let status = res.status();
    if !ok.contains(&status) {
        let body = res.text().await.unwrap_or_default();
        return Err(format!("{what}: {status} {body}"));
    }
    Ok(res.json().await.unwrap_or(Value::Null))
}

/// One request of the mix, timed (a context race times both puts).
async fn one(s: Arc<Shared>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = s.n.fetch_add(1, Ordering::Relaxed);
    let roll: f64 = rng.gen();
    let start = Instant::now();
    let id = {
        let ids = s.ids.lock().unwrap();
        (!ids.is_empty()).then(|| ids[rng.gen_range(0..ids.len())].clone())
    };
    let result = if roll < 0.40 {
        let q = format!(
            "{} {}",
            WORDS[rng.gen_range(0..WORDS.len())],
            WORDS[rng.gen_range(0..WORDS.len())]
        );
        let res = s
            .http
            .post(s.url("/memories/search"))
            .json(&json!({"query": q, "namespace": "soak", "limit": 10}))
            .send()
            .await;
        expect(res, &[StatusCode::OK], "search").await.map(drop)
    } else if roll < 0.60 {
        match id {
            // Deleted meanwhile by another request: a 404 is right.
            Some(id) => {
                let res = s.http.get(s.url(&format!("/memories/{id}"))).send().await;
                expect(res, &[StatusCode::OK, StatusCode::NOT_FOUND], "get")
                    .await
                    .map(drop)
            }
            None => Ok(()),
        }
    } else if roll < 0.85 {
        // Adds and deletes share a fifth of the load and keep the namespace near
        // `LIVE` memories: a steady state, so memory measures leaks, not data.
        let live = s.ids.lock().unwrap().len();
        if live < LIVE {
            let res = s.http.post(s.url("/memories")).json(&json!({"content": sentence(&mut rng, n), "namespace": "soak", "user_id": format!("u{}", n % 20)})).send().await;
            match expect(res, &[StatusCode::CREATED], "add").await {
                Ok(m) => {
                    if let Some(id) = m["id"].as_str() {
                        s.ids.lock().unwrap().push(id.to_owned());
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        } else {
            let victim = {
                let mut ids = s.ids.lock().unwrap();
                let i = rng.gen_range(0..ids.len());
                ids.swap_remove(i)
            };
            let res = s
                .http
                .delete(s.url(&format!("/memories/{victim}")))
                .send()
                .await;
            expect(res, &[StatusCode::NO_CONTENT], "delete")
                .await
                .map(drop)
        }
    } else if roll < 0.87 {
        match id {
            Some(id) => {
                let res = s
                    .http
                    .patch(s.url(&format!("/memories/{id}")))
                    .json(&json!({"content": sentence(&mut rng, n)}))
                    .send()
                    .await;
                expect(res, &[StatusCode::OK, StatusCode::NOT_FOUND], "update")
                    .await
                    .map(drop)
            }
            None => Ok(()),
        }
    } else if roll < 0.90 {
        let res = s
            .http
            .get(s.url("/memories?namespace=soak&limit=50"))
            .send()
            .await;
        expect(res, &[StatusCode::OK], "list").await.map(drop)
    } else {
        race(&s, &mut rng).await
    };
    s.record(start.elapsed(), result.err());
}

/// Two puts of one context with the same `if_version`: exactly one wins.
async fn race(s: &Shared, rng: &mut StdRng) -> Result<(), String> {
    let key = format!("race-{}", rng.gen_range(0..10));
    let url = s.url(&format!("/contexts/soak/{key}"));
    let current = s.http.get(&url).send().await.map_err(|e| e.to_string())?;
    let version = if current.status() == StatusCode::NOT_FOUND {
        let res = s
            .http
            .put(&url)
            .json(&json!({"value": {"n": 0}}))
            .send()
            .await;
        // Another race may have created it first.
        match expect(res, &[StatusCode::CREATED, StatusCode::OK], "race create").await {
            Ok(v) => v["version"].as_u64().unwrap_or(1),
            Err(e) => return Err(e),
        }
    } else {
        let v: Value = current.json().await.map_err(|e| e.to_string())?;
        v["version"].as_u64().unwrap_or(1)
    };
    let put = |n: u32| {
        s.http
            .put(&url)
            .json(&json!({"value": {"n": n}, "if_version": version}))
            .send()
    };
    let (a, b) = tokio::join!(put(1), put(2));
    let a = a.map_err(|e| e.to_string())?.status();
    let b = b.map_err(|e| e.to_string())?.status();
    let wins = [a, b].iter().filter(|s| **s == StatusCode::OK).count();
    let conflicts = [a, b]
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    s.races.fetch_add(1, Ordering::Relaxed);
    // A third request may have moved the version first: then both lose.
    if wins <= 1 && wins + conflicts == 2 {
        Ok(())
    } else {
        Err(format!(
            "context race on {key} at version {version}: {a} and {b}"
        ))
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

struct Row {
    at_s: u64,
    requests: usize,
    p50_ms: f64,
    p99_ms: f64,
    rss_mib: f64,
    errors: usize,
}

/// The two curves (p99 latency and resident memory over time) as an SVG chart.
fn svg(rows: &[Row]) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 320.0, 60.0, 60.0, 30.0, 40.0);
    let max_t = rows.last().map_or(1, |r| r.at_s).max(1) as f64;
    let max_p99 = rows.iter().map(|r| r.p99_ms).fold(1.0, f64::max) * 1.2;
    let max_rss = rows.iter().map(|r| r.rss_mib).fold(1.0, f64::max) * 1.2;
    let x = |t: u64| left + (t as f64 / max_t) * (w - left - right);
    let y = |v: f64, max: f64| top + (1.0 - v / max) * (h - top - bottom);
    let line = |f: &dyn Fn(&Row) -> f64, max: f64| {
        rows.iter()
            .map(|r| format!("{:.1},{:.1}", x(r.at_s), y(f(r), max)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">
<rect width="{w}" height="{h}" fill="white"/>
<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>
<line x1="{}" y1="{top}" x2="{}" y2="{}" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">minutes</text>
<text x="10" y="{}" fill="#c0392b">p99 ms</text>
<text x="{}" y="{}" fill="#2471a3" text-anchor="end">RSS MiB</text>
<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{}"/>
<polyline fill="none" stroke="#2471a3" stroke-width="2" points="{}"/>
"##,
        h - bottom,
        w - right,
        h - bottom,
        h - bottom,
        w - right,
        w - right,
        h - bottom,
        w / 2.0,
        h - 8.0,
        top - 10.0,
        w - 10.0,
        top - 10.0,
        line(&|r| r.p99_ms, max_p99),
        line(&|r| r.rss_mib, max_rss),
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let yy = top + (1.0 - f) * (h - top - bottom);
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{yy:.0}" fill="#c0392b" text-anchor="end">{:.0}</text><text x="{}" y="{yy:.0}" fill="#2471a3">{:.0}</text>"##,
            left - 5.0,
            max_p99 * f,
            w - right + 5.0,
            max_rss * f
        );
        let t = (max_t * f) as u64;
        let _ = writeln!(
            out,
            r#"<text x="{:.0}" y="{}" text-anchor="middle">{:.1}</text>"#,
            x(t),
            h - bottom + 15.0,
            t as f64 / 60.0
        );
    }
    out.push_str("</svg>\n");
    out
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let bin = arg("--omnex").unwrap_or_else(|| "target/release/omnex".into());
    let seconds: u64 = arg("--seconds").map_or(Ok(600), |s| s.parse())?;
    let rate: u64 = arg("--rate").map_or(Ok(50), |s| s.parse())?;
    let interval: u64 = arg("--interval").map_or(Ok(30), |s| s.parse())?;
    let svg_path = arg("--svg");
    let dir = tempfile::tempdir()?;
    let mut cmd = Command::new(&bin);
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .env("OMNEX_DATA_DIR", dir.path())
        .env("OMNEX_LOG", "warn")
        .stdout(Stdio::piped());
    let server = start_server(cmd)?;
    let pid = server.child.id();
    let shared = Arc::new(Shared {
        http: reqwest::Client::new(),
        base: server.base.clone(),
        window: Mutex::new(Window::default()),
        ids: Mutex::new(Vec::new()),
        n: AtomicU64::new(0),
        races: AtomicU64::new(0),
    });
    // Seed: 300 memories, so searches and reads have something to find.
    let mut rng = StdRng::seed_from_u64(1);
    for chunk in 0..3 {
        let batch: Vec<Value> = (0..100)
            .map(|i| json!({"content": sentence(&mut rng, chunk * 100 + i), "namespace": "soak"}))
            .collect();
        let res: Value = shared
            .http
            .post(shared.url("/memories/batch"))
            .json(&json!({"memories": batch}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut ids = shared.ids.lock().unwrap();
        for m in res["items"]
            .as_array()
            .ok_or("no items in the batch answer")?
        {
            ids.push(m["id"].as_str().ok_or("no id")?.to_owned());
        }
    }
    eprintln!(
        "soak: {rate} requests/s for {seconds} s against {} (pid {pid}), a row every {interval} s",
        server.base
    );
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut next_row = Duration::from_secs(interval);
    let mut rows = Vec::new();
    let mut all_errors = Vec::new();
    let mut seed = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        seed += 1;
        tokio::spawn(one(shared.clone(), seed));
        if started.elapsed() >= next_row {
            next_row += Duration::from_secs(interval);
            let mut w = std::mem::take(&mut *shared.window.lock().unwrap());
            w.latencies_us.sort_unstable();
            let row = Row {
                at_s: started.elapsed().as_secs(),
                requests: w.latencies_us.len(),
                p50_ms: percentile(&w.latencies_us, 0.50),
                p99_ms: percentile(&w.latencies_us, 0.99),
                rss_mib: omnex_benches::rss_bytes_of(pid) as f64 / 1048576.0,
                errors: w.errors.len(),
            };
            eprintln!(
                "{:>5} s  {:>5} requests  p50 {:>7.1} ms  p99 {:>7.1} ms  RSS {:>6.1} MiB  errors {}",
                row.at_s, row.requests, row.p50_ms, row.p99_ms, row.rss_mib, row.errors
            );
            all_errors.extend(w.errors);
            rows.push(row);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    all_errors.extend(std::mem::take(&mut shared.window.lock().unwrap().errors));

    println!("| minute | requests | p50 ms | p99 ms | RSS MiB | errors |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {:.1} | {} | {:.1} | {:.1} | {:.1} | {} |",
            r.at_s as f64 / 60.0,
            r.requests,
            r.p50_ms,
            r.p99_ms,
            r.rss_mib,
            r.errors
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        println!(
            "\n{} requests ({} context races) in {seconds} s at {rate}/s; p99 first/last interval {:.1}/{:.1} ms ({:.2}x), RSS {:.1}/{:.1} MiB ({:.2}x); {} errors",
            shared.n.load(Ordering::Relaxed),
            shared.races.load(Ordering::Relaxed),
            first.p99_ms,
            last.p99_ms,
            last.p99_ms / first.p99_ms.max(0.001),
            first.rss_mib,
            last.rss_mib,
            last.rss_mib / first.rss_mib.max(0.001),
            all_errors.len()
        );
    }
    if let Some(path) = svg_path {
        std::fs::write(&path, svg(&rows))?;
        eprintln!("chart written to {path}");
    }
    if !all_errors.is_empty() {
        for e in all_errors.iter().take(20) {
            eprintln!("error: {e}");
        }
        return Err(format!("{} errors during the soak", all_errors.len()).into());
    }
    Ok(())
}
