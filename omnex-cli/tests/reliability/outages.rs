//! Backend outages: PostgreSQL, Qdrant and Redis, each a real server of the test's
//! own, stopped for `OMNEX_OUTAGE_SECS` (30) while two writers and a searcher keep
//! going against `omnex serve`, then started again.
//!
//! - while a backend is down, every failure is a 503 problem with `Retry-After`, and
//!   the server stays up;
//! - Redis down costs speed only: not one request fails;
//! - every write acknowledged before, during and after the outage is found by
//!   keyword and by meaning within 10 s of the backend's return.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{env_or, required_env, until_search_finds, with_param, Backend, Server};

/// Memories per namespace: one search (limit 100) returns a whole namespace.
const CHUNK: u64 = 50;

#[derive(Default)]
struct Tally {
    /// Acknowledged memories: id → (namespace, content).
    acked: Mutex<BTreeMap<String, (String, String)>>,
    ok: AtomicU64,
    unavailable: AtomicU64,
    /// Anything else: a status that is not 2xx or 503, a 503 without `Retry-After`
    /// or problem+json, a dropped connection.
    wrong: Mutex<Vec<String>>,
    next: AtomicU64,
}

impl Tally {
    async fn record(&self, what: &str, res: reqwest::Result<reqwest::Response>) -> Option<Value> {
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                self.wrong.lock().unwrap().push(format!("{what}: {e}"));
                return None;
            }
        };
        let status = res.status();
        if status.is_success() {
            self.ok.fetch_add(1, Ordering::Relaxed);
            return res.json().await.ok();
        }
        let retry = res.headers().contains_key("retry-after");
        let problem = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json");
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if status == StatusCode::SERVICE_UNAVAILABLE && retry && problem && body["code"].is_string()
        {
            self.unavailable.fetch_add(1, Ordering::Relaxed);
        } else {
            self.wrong.lock().unwrap().push(format!(
                "{what}: {status} (Retry-After: {retry}, problem+json: {problem}) {body}"
            ));
        }
        None
    }
}

async fn writer(http: reqwest::Client, base: String, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let n = tally.next.fetch_add(1, Ordering::Relaxed);
        let ns = format!("outage-{}", n / CHUNK);
        let content = format!("outagetoken note {n}: the lighthouse keeper logs storm {n}");
        let res = http
            .post(format!("{base}/api/v1/memories"))
            .json(&json!({"content": content, "namespace": ns}))
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        if let Some(m) = tally.record("add", res).await {
            let id = m["id"].as_str().unwrap().to_owned();
            tally.acked.lock().unwrap().insert(id, (ns, content));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn searcher(http: reqwest::Client, base: String, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let res = http
            .post(format!("{base}/api/v1/memories/search"))
            .json(&json!({"query": "storm at the lighthouse", "namespace": "outage-0", "limit": 5}))
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        tally.record("search", res).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the workload around one outage of `backend`; returns what it saw.
async fn outage(name: &str, args: Vec<String>, backend: &mut Backend, cache_only: bool) {
    let secs = env_or("OMNEX_OUTAGE_SECS", 30);
    let dir = tempfile::tempdir().unwrap();
    let mut args = args;
    args.extend([
        "--data-dir".into(),
        dir.path().to_string_lossy().into_owned(),
    ]);
    let server = Server::start(&args);
    let http = reqwest::Client::new();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = vec![
        tokio::spawn(writer(
            http.clone(),
            server.base.clone(),
            tally.clone(),
            stop.clone(),
        )),
        tokio::spawn(writer(
            http.clone(),
            server.base.clone(),
            tally.clone(),
            stop.clone(),
        )),
        tokio::spawn(searcher(
            http.clone(),
            server.base.clone(),
            tally.clone(),
            stop.clone(),
        )),
    ];
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = tally.acked.lock().unwrap().len();
    backend.stop();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let during = tally.unavailable.load(Ordering::Relaxed);
    backend.start();
    let back = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        server_alive(&http, &server).await,
        "{name}: the server died during the outage"
    );
    let wrong = tally.wrong.lock().unwrap().clone();
    assert!(
        wrong.is_empty(),
        "{name}: answers other than 2xx or a 503 problem with Retry-After: {wrong:#?}"
    );
    if cache_only {
        assert_eq!(during, 0, "{name}: a cache outage failed requests");
    } else {
        assert!(
            during > 0,
            "{name}: the outage was never noticed: is the backend really stopped?"
        );
    }

    // Every acknowledged write, by keyword and by meaning, within 10 s of recovery.
    let acked = tally.acked.lock().unwrap().clone();
    let mut by_ns: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, (ns, _)) in &acked {
        by_ns.entry(ns.clone()).or_default().push(id.clone());
    }
    for (ns, mut ids) in by_ns {
        ids.sort();
        for mode in ["keyword", "semantic"] {
            let remaining = Duration::from_secs(10).saturating_sub(back.elapsed());
            let query = "outagetoken note lighthouse storm";
            until_search_finds(&http, &server, &ns, mode, query, &ids, remaining).await;
        }
    }
    eprintln!(
        "RESULT outage {name}: {secs} s down; {} acknowledged writes ({before} before the outage), \
         {} requests answered, {during} 503 problems with Retry-After, 0 other errors, \
         all found by keyword and meaning {:.1} s after the backend's return, 0 lost",
        acked.len(),
        tally.ok.load(Ordering::Relaxed),
        back.elapsed().as_secs_f64()
    );
}

async fn server_alive(http: &reqwest::Client, server: &Server) -> bool {
    http.get(format!("{}/healthz", server.base))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_outage_gives_503_and_loses_nothing() {
    let Some(mut pg) = Backend::postgres() else {
        eprintln!("SKIPPED outages::postgres: no throw-away PostgreSQL (OMNEX_TEST_FAULT_PG_CTL)");
        return;
    };
    let store = with_param(&pg.url, "acquire_timeout_ms=2000");
    let args = vec![
        "--storage".into(),
        store,
        "--index".into(),
        "pgvector".into(),
    ];
    outage("postgres+pgvector", args, &mut pg, false).await;
}

/// The flags of a server on a fresh schema of the shared PostgreSQL, with `index` and
/// `cache`; `None` when PostgreSQL is not configured.
fn on_postgres(index: &str, cache: Option<&str>) -> Option<Vec<String>> {
    let pg = required_env("OMNEX_TEST_POSTGRES_URL", "postgres")?;
    let schema = omnex_core::conformance::unique_namespace();
    let mut args = vec![
        "--storage".to_owned(),
        with_param(&pg, &format!("schema={schema}")),
        "--index".to_owned(),
        index.to_owned(),
    ];
    if let Some(cache) = cache {
        args.extend(["--cache".to_owned(), cache.to_owned()]);
    }
    Some(args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qdrant_outage_gives_503_and_loses_nothing() {
    let Some(mut qdrant) = Backend::qdrant() else {
        eprintln!("SKIPPED outages::qdrant: ../shared/bin/qdrant is missing");
        return;
    };
    let Some(args) = on_postgres(&qdrant.url.clone(), None) else {
        eprintln!("SKIPPED outages::qdrant: OMNEX_TEST_POSTGRES_URL is not set");
        return;
    };
    outage("postgres+qdrant", args, &mut qdrant, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_outage_costs_speed_only() {
    let Some(mut redis) = Backend::redis() else {
        eprintln!("SKIPPED outages::redis: redis-server is not installed");
        return;
    };
    let Some(args) = on_postgres("pgvector", Some(&redis.url.clone())) else {
        eprintln!("SKIPPED outages::redis: OMNEX_TEST_POSTGRES_URL is not set");
        return;
    };
    outage("redis", args, &mut redis, true).await;
}
