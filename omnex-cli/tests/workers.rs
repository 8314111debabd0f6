//! `omnex worker` processes as users run them: a worker killed with SIGKILL in the
//! middle of a job leaves it to another, which finishes it without adding anything
//! twice. On the embedded default (SQLite) and on PostgreSQL (+ Redis) when
//! `OMNEX_TEST_POSTGRES_URL` is set.

// Tests run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{
    collections::HashSet,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

fn omnex() -> Command {
    Command::new(env!("CARGO_BIN_EXE_omnex"))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The backend flags of every process of one run: a data directory, and for
/// PostgreSQL a fresh schema (with Redis as the cache when configured).
fn backends(dir: &std::path::Path) -> Vec<(&'static str, Vec<String>)> {
    let data = dir.to_string_lossy().into_owned();
    let mut all = vec![("sqlite", vec!["--data-dir".to_owned(), data.clone()])];
    match env("OMNEX_TEST_POSTGRES_URL") {
        Some(pg) => {
            let schema = omnex_core::conformance::unique_namespace();
            let sep = if pg.contains('?') { '&' } else { '?' };
            let mut args = vec![
                "--data-dir".to_owned(),
                format!("{data}/pg"),
                "--storage".to_owned(),
                format!("{pg}{sep}schema={schema}"),
            ];
            if let Some(redis) = env("OMNEX_TEST_REDIS_URL") {
                args.extend(["--cache".to_owned(), format!("{redis}?prefix={schema}")]);
            }
            all.push(("postgres", args));
        }
        None => {
            assert!(
                !omnex_core::conformance::required("postgres"),
                "OMNEX_TEST_REQUIRE names postgres but OMNEX_TEST_POSTGRES_URL is not set"
            );
            eprintln!("SKIPPED the PostgreSQL worker test: PostgreSQL not configured");
        }
    }
    all
}

/// Starts `omnex serve` without workers; returns it with its base URL.
fn serve(backend: &[String]) -> (Child, String) {
    let mut child = omnex()
        .args(["serve", "--addr", "127.0.0.1:0", "--workers", "0"])
        .args(backend)
        .env("OMNEX_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("serve prints its address").unwrap();
    let base = first
        .strip_prefix("Omnex is listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

fn worker(backend: &[String]) -> Child {
    omnex()
        .args(["worker", "--concurrency", "1", "--lease-secs", "2"])
        .args(backend)
        .env("OMNEX_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_leaves_it_to_another_and_nothing_is_added_twice() {
    const N: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    for (name, backend) in backends(dir.path()) {
        let (mut server, base) = serve(&backend);
        let http = reqwest::Client::new();
        let batch: Vec<Value> = (0..N)
            .map(|i| json!({"content": format!("note {i}: the worker test writes this once"), "namespace": "bulk"}))
            .collect();
        let res = http
            .post(format!("{base}/api/v1/memories/batch"))
            .json(&json!({"memories": batch, "async": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let job: Value = res.json().await.unwrap();
        let id = job["id"].as_str().unwrap().to_owned();
        let job_url = format!("{base}/api/v1/jobs/{id}");

        // The first worker makes progress, then dies without a word.
        let mut first = worker(&backend);
        let started = Instant::now();
        let at_kill = loop {
            let j = get(&http, job_url.clone()).await;
            if j["done"].as_u64().unwrap_or(0) >= 128 {
                // Into the next chunk, so the kill lands between two checkpoints.
                tokio::time::sleep(Duration::from_millis(150)).await;
                signal(&first, "-KILL");
                break get(&http, job_url.clone()).await;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no progress: {j}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let _ = first.wait();
        assert_eq!(
            at_kill["status"], "running",
            "{name}: killed mid-job: {at_kill}"
        );
        let done_at_kill = at_kill["done"].as_u64().unwrap();
        assert!(done_at_kill < N as u64, "{name}: {at_kill}");

        // Another worker takes the job over once the dead one's lease runs out.
        let mut second = worker(&backend);
        let started = Instant::now();
        let finished = loop {
            let j = get(&http, job_url.clone()).await;
            if j["status"] == "done" {
                break j;
            }
            assert!(j["status"] != "dead", "{name}: {j}");
            assert!(started.elapsed() < Duration::from_secs(180), "{name}: {j}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(finished["attempts"], 2, "{name}: one takeover: {finished}");
        assert_eq!(finished["done"], N, "{name}: {finished}");
        assert_eq!(finished["output"]["added"], N, "{name}: {finished}");

        // Every memory once: N memories, N distinct texts, N `memory.add` events.
        let mut contents = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{base}/api/v1/memories?namespace=bulk&limit=1000");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = get(&http, url).await;
            for m in page["items"].as_array().unwrap() {
                contents.push(m["content"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(contents.len(), N, "{name}");
        assert_eq!(contents.iter().collect::<HashSet<_>>().len(), N, "{name}");
        let mut adds = 0;
        let mut updates = 0;
        let mut since = 0;
        loop {
            let page = get(
                &http,
                format!("{base}/api/v1/changes?namespace=bulk&since={since}&limit=1000"),
            )
            .await;
            for e in page["events"].as_array().unwrap() {
                match e["kind"].as_str().unwrap() {
                    "memory.add" => adds += 1,
                    "memory.update" => updates += 1,
                    other => panic!("{name}: unexpected {other}"),
                }
            }
            since = page["next"].as_i64().unwrap();
            if page["more"] != true {
                break;
            }
        }
        assert_eq!(adds, N, "{name}: each memory added once");
        // The takeover may write again what the dead worker wrote after its last
        // checkpoint (at most one chunk), as the same memories.
        assert!(updates <= 64, "{name}: {updates} rewritten");
        println!(
            "{name}: killed at {done_at_kill}/{N}; the second worker finished; {updates} rewritten in place"
        );
        signal(&second, "-TERM");
        let _ = second.wait();
        signal(&server, "-TERM");
        let _ = server.wait();
    }
}
