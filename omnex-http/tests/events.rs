//! Events over HTTP with real clients and a real receiver: the change feed as a
//! page, as Server-Sent Events and over a WebSocket, resumed across reconnects and
//! restarts; histories; signed webhooks that are retried, dead-lettered and
//! delivered after a restart; asynchronous batches. Each runs on the embedded
//! default (SQLite) and on PostgreSQL (+ Redis) when `OMNEX_TEST_POSTGRES_URL` is set.

// Tests run outside any server: a skipped one says so on the test output.
#![allow(clippy::disallowed_macros)]

mod common;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
    Router,
};
use common::{call, TestServer};
use futures::StreamExt;
use omnex_core::{Config, Omnex};
use omnex_http::ServerOptions;
use serde_json::{json, Value};

/// Where a test's data lives: a SQLite file, or a fresh PostgreSQL schema (with
/// Redis as the cache when configured).
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The backends this machine has; PostgreSQL is skipped (and said so) when not set.
fn backends() -> Vec<Backend> {
    match env("OMNEX_TEST_POSTGRES_URL") {
        Some(_) => vec![Backend::Sqlite, Backend::Postgres],
        None => {
            assert!(
                !omnex_core::conformance::required("postgres"),
                "OMNEX_TEST_REQUIRE names postgres but OMNEX_TEST_POSTGRES_URL is not set"
            );
            eprintln!("SKIPPED the PostgreSQL half of the event tests: PostgreSQL not configured");
            vec![Backend::Sqlite]
        }
    }
}

/// A configuration of `backend` in `dir`, the same for every engine of one test
/// (so a second engine is a restart of the first).
fn config(backend: Backend, dir: &std::path::Path, schema: &str) -> Config {
    let mut config = Config::with_data_dir(dir);
    config.apply_env().unwrap();
    config.data_dir = dir.to_owned();
    if let Backend::Postgres = backend {
        let pg = env("OMNEX_TEST_POSTGRES_URL").unwrap();
        let sep = if pg.contains('?') { '&' } else { '?' };
        config.store = Some(format!("{pg}{sep}schema={schema}").parse().unwrap());
        if let Some(redis) = env("OMNEX_TEST_REDIS_URL") {
            config.cache = format!("{redis}?prefix={schema}").parse().unwrap();
        }
    }
    config
}

/// A server on `config` that can be stopped, to start another on the same data.
struct Running {
    server: TestServer,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

async fn start(config: Config, opts: ServerOptions) -> Running {
    let omnex = Omnex::open(config).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (server, done) = TestServer::serve_until(omnex, opts, async {
        let _ = stopped.await;
    })
    .await;
    Running {
        server,
        stop: Some(stop),
        done,
    }
}

impl Running {
    /// Stops the server and drops its engine (its workers stop with it).
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.done).await;
        self.server.omnex.save_index().await.unwrap();
    }
}

async fn put_context(s: &TestServer, ns: &str, key: &str, value: Value) {
    let (status, body) = s
        .put(
            &format!("/api/v1/contexts/{ns}/{key}"),
            json!({ "value": value }),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
}

/// A Server-Sent Events client: reads `id`/`event`/`data` blocks off the stream.
struct SseClient {
    res: reqwest::Response,
    buffer: String,
}

impl SseClient {
    async fn connect(s: &TestServer, query: &str, last_event_id: Option<i64>) -> Self {
        let mut req = s
            .http
            .get(s.url(&format!("/api/v1/changes/stream?{query}")))
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Self {
            res,
            buffer: String::new(),
        }
    }

    /// The next event as (id, kind, data); comments (keep-alives) are skipped.
    async fn next(&mut self) -> (i64, String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(id) = id {
                    return (id, kind, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.res.chunk())
                .await
                .expect("an event within 20 s")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_feed_resumes_without_gap_or_duplicate_across_reconnects_and_restarts() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let schema = omnex_core::conformance::unique_namespace();
        let first = start(
            config(backend, dir.path(), &schema),
            ServerOptions::default(),
        )
        .await;
        let s = &first.server;

        // A page first: the position to start streaming from.
        let (status, page) = s.get("/api/v1/changes?namespace=feed").await;
        assert_eq!(status, 200, "{page}");
        let start_at = page["next"].as_i64().unwrap();

        // Live: events written after the stream opens arrive as they commit.
        let mut sse =
            SseClient::connect(s, &format!("since={start_at}&namespace=feed"), None).await;
        for i in 0..5 {
            put_context(s, "feed", &format!("k{i}"), json!(i)).await;
        }
        put_context(s, "elsewhere", "k", json!("filtered out")).await;
        let mut seen = Vec::new();
        for _ in 0..5 {
            let (id, kind, data) = sse.next().await;
            assert_eq!(kind, "context.put");
            assert_eq!(data["seq"], id);
            assert_eq!(data["namespace"], "feed");
            assert!(
                data.get("data").is_none(),
                "no content unless asked: {data}"
            );
            seen.push(id);
        }
        drop(sse);

        // Written while disconnected; the client resumes with Last-Event-ID.
        for i in 5..8 {
            put_context(s, "feed", &format!("k{i}"), json!(i)).await;
        }
        let mut sse = SseClient::connect(s, "namespace=feed", seen.last().copied()).await;
        for _ in 5..8 {
            seen.push(sse.next().await.0);
        }
        drop(sse);
        first.stop().await;

        // Across a restart: a new engine on the same data, events written before
        // it and after it, one after the other.
        let second = start(
            config(backend, dir.path(), &schema),
            ServerOptions::default(),
        )
        .await;
        let s = &second.server;
        for i in 8..10 {
            put_context(s, "feed", &format!("k{i}"), json!(i)).await;
        }
        let mut sse = SseClient::connect(s, "namespace=feed", seen.last().copied()).await;
        for _ in 8..10 {
            seen.push(sse.next().await.0);
        }
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), 10, "no duplicate: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");

        // The page API agrees: the ten events, in the same order.
        let (_, page) = s
            .get(&format!(
                "/api/v1/changes?since={start_at}&namespace=feed&kind=context.*&include_data=true"
            ))
            .await;
        let seqs: Vec<i64> = page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, seen, "{backend:?}");
        assert_eq!(page["events"][9]["data"]["value"], json!(9));

        // Bad parameters are problems, not broken streams.
        let (status, body) = s.get("/api/v1/changes/stream?kind=memory.nope").await;
        common::assert_problem(status, &body, 400, "invalid_input");
        drop(sse);
        second.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_feed_streams_events_and_resumes_from_since() {
    use tokio_tungstenite::tungstenite::Message;
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let schema = omnex_core::conformance::unique_namespace();
        let run = start(
            config(backend, dir.path(), &schema),
            ServerOptions::default(),
        )
        .await;
        let s = &run.server;
        let ws_url = |since: i64| {
            format!(
                "{}/api/v1/changes/ws?since={since}&namespace=ws&include_data=true",
                s.base.replacen("http", "ws", 1)
            )
        };
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(0)).await.unwrap();
        for i in 0..4 {
            put_context(s, "ws", &format!("k{i}"), json!({"n": i})).await;
        }
        let mut got = Vec::new();
        while got.len() < 4 {
            let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
                .await
                .expect("a message within 20 s")
                .unwrap()
                .unwrap();
            if let Message::Text(text) = msg {
                let e: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(e["data"]["value"]["n"], json!(got.len()));
                got.push(e["seq"].as_i64().unwrap());
            }
        }
        ws.close(None).await.unwrap();
        put_context(s, "ws", "k4", json!({"n": 4})).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(got[1]))
            .await
            .unwrap();
        let mut again = Vec::new();
        while again.len() < 3 {
            if let Message::Text(text) = ws.next().await.unwrap().unwrap() {
                again.push(
                    serde_json::from_str::<Value>(&text).unwrap()["seq"]
                        .as_i64()
                        .unwrap(),
                );
            }
        }
        assert_eq!(&again[..2], &got[2..], "{backend:?}");
        assert!(again[2] > got[3]);
        // A plain GET is told to upgrade.
        let (status, body) = s.get("/api/v1/changes/ws").await;
        common::assert_problem(status, &body, 400, "invalid_input");
        run.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_shows_who_changed_what_and_stays_in_its_tenant() {
    const BOOT: &str = "bootstrap-key-for-events";
    let s = TestServer::start_with(ServerOptions {
        api_key: Some(BOOT.into()),
        ..ServerOptions::default()
    })
    .await;
    let key = |tenant: &'static str| {
        let s = &s;
        async move {
            let (status, made) = call(
                s,
                BOOT,
                "POST",
                "/api/v1/keys",
                Some(json!({"tenant": tenant, "permission": "admin", "name": format!("{tenant}-bot")})),
            )
            .await;
            assert_eq!(status, 201, "{made}");
            (
                made["key"].as_str().unwrap().to_owned(),
                made["prefix"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (a, a_prefix) = key("acme").await;
    let (b, _) = key("globex").await;
    let embedding: Vec<f32> = (0..384).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect();
    let (status, m) = call(
        &s,
        &a,
        "POST",
        "/api/v1/memories",
        Some(
            json!({"content": "Acme ships on Fridays", "namespace": "ops", "embedding": embedding}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &s,
        &a,
        "PATCH",
        &format!("/api/v1/memories/{id}"),
        Some(json!({"metadata": {"source": "standup"}})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&s, &a, "DELETE", &format!("/api/v1/memories/{id}"), None).await;
    assert_eq!(status, 204);

    let (status, h) = call(
        &s,
        &a,
        "GET",
        &format!("/api/v1/memories/{id}/history"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{h}");
    let events = h["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["memory.add", "memory.update", "memory.delete"]);
    assert!(events.iter().all(|e| e["actor"] == json!(a_prefix)), "{h}");
    assert_eq!(events[1]["data"]["metadata"]["source"], "standup");
    assert_eq!(events[1]["version"], 2);
    // Another tenant learns nothing, not even that the id exists.
    let (status, body) = call(
        &s,
        &b,
        "GET",
        &format!("/api/v1/memories/{id}/history"),
        None,
    )
    .await;
    common::assert_problem(status, &body, 404, "not_found");

    for v in 1..=3 {
        let (status, _) = call(
            &s,
            &a,
            "PUT",
            "/api/v1/contexts/ops/plan",
            Some(json!({"value": {"step": v}})),
        )
        .await;
        assert!(status == 200 || status == 201);
    }
    let (_, h) = call(
        &s,
        &a,
        "GET",
        "/api/v1/history/contexts/ops/plan?limit=2",
        None,
    )
    .await;
    assert_eq!(h["events"].as_array().unwrap().len(), 2);
    assert_eq!(h["more"], true);
    let (_, rest) = call(
        &s,
        &a,
        "GET",
        &format!("/api/v1/history/contexts/ops/plan?since={}", h["next"]),
        None,
    )
    .await;
    assert_eq!(rest["events"][0]["data"]["value"]["step"], 3);
    assert_eq!(rest["events"][0]["version"], 3);

    // The feed of one tenant holds none of the other's events.
    let (_, feed) = call(&s, &b, "GET", "/api/v1/changes", None).await;
    assert_eq!(feed["events"].as_array().unwrap().len(), 0, "{feed}");
    let (_, feed) = call(&s, &a, "GET", "/api/v1/changes", None).await;
    assert_eq!(feed["events"].as_array().unwrap().len(), 6, "{feed}");
}

/// What the receiver saw.
#[derive(Default)]
struct Received {
    /// (delivery id, event seq) of each accepted delivery.
    accepted: Vec<(String, i64)>,
    /// Delivery ids of every attempt, failed ones included.
    attempts: Vec<String>,
    /// Deliveries whose signature did not verify.
    bad_signatures: usize,
    /// Attempts still to fail on purpose.
    fail_next: usize,
}

#[derive(Clone)]
struct Receiver {
    secret: String,
    seen: Arc<Mutex<Received>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let now = chrono::Utc::now().timestamp();
    let ok = omnex_core::signature::verify(
        &r.secret,
        &header("omnex-timestamp"),
        &header("omnex-signature"),
        &body,
        now,
    );
    let mut seen = r.seen.lock().unwrap();
    let delivery = header("omnex-delivery");
    assert_eq!(delivery, header("idempotency-key"));
    seen.attempts.push(delivery.clone());
    if !ok {
        seen.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    if seen.fail_next > 0 {
        seen.fail_next -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["kind"].as_str().unwrap(), header("omnex-event"));
    seen.accepted
        .push((delivery, event["seq"].as_i64().unwrap()));
    StatusCode::NO_CONTENT
}

/// A webhook receiver on 127.0.0.1 that checks signatures; `stop` makes it go away.
async fn receiver(secret: &str) -> (String, Receiver, tokio::sync::oneshot::Sender<()>) {
    let r = Receiver {
        secret: secret.to_owned(),
        seen: Arc::default(),
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (url, r, stop)
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const SECRET: &str = "whsec_test_secret_0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_and_dead_lettered() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let schema = omnex_core::conformance::unique_namespace();
        let mut cfg = config(backend, dir.path(), &schema);
        cfg.webhook_attempts = 3;
        let run = start(cfg, ServerOptions::default()).await;
        let s = &run.server;
        let (url, rx, stop_receiver) = receiver(SECRET).await;
        rx.seen.lock().unwrap().fail_next = 2;

        let (status, hook) = s
            .post(
                "/api/v1/webhooks",
                json!({"url": url, "kinds": ["context.*"], "namespaces": ["hooks"], "secret": SECRET}),
            )
            .await;
        assert_eq!(status, 201, "{hook}");
        assert_eq!(hook["secret"], SECRET);
        let hook_id = hook["id"].as_str().unwrap().to_owned();
        let (_, listed) = s.get("/api/v1/webhooks").await;
        assert!(
            listed[0].get("secret").is_none(),
            "listings hide the secret: {listed}"
        );

        put_context(s, "hooks", "a", json!(1)).await;
        put_context(s, "other", "x", json!("not subscribed")).await;
        put_context(s, "hooks", "b", json!(2)).await;
        let memory = json!({"content": "memories are not subscribed", "namespace": "hooks",
                            "embedding": (0..384).map(|i| if i == 1 { 1.0 } else { 0.0 }).collect::<Vec<f32>>()});
        assert_eq!(s.post("/api/v1/memories", memory).await.0, 201);

        // The first delivery fails twice, then succeeds on its third attempt.
        let seen = rx.seen.clone();
        wait_for("two deliveries", Duration::from_secs(30), || {
            seen.lock().unwrap().accepted.len() == 2
        })
        .await;
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.bad_signatures, 0);
            let delivered: HashSet<&String> = seen.accepted.iter().map(|(d, _)| d).collect();
            assert_eq!(delivered.len(), 2, "each event once: {:?}", seen.accepted);
            // Retries of one delivery carry one idempotency key.
            let first = &seen.attempts[0];
            assert!(
                seen.attempts.iter().filter(|a| *a == first).count() >= 2,
                "{:?}",
                seen.attempts
            );
        }
        let (_, page) = s
            .get(&format!(
                "/api/v1/webhooks/{hook_id}/deliveries?status=done"
            ))
            .await;
        let done = page["items"].as_array().unwrap();
        assert_eq!(done.len(), 2, "{page}");
        assert!(
            done.iter().any(|d| d["attempts"].as_u64() >= Some(2)),
            "{page}"
        );

        // The receiver goes away: the next delivery ends on the dead-letter list.
        let _ = stop_receiver.send(());
        tokio::time::sleep(Duration::from_millis(200)).await;
        put_context(s, "hooks", "c", json!(3)).await;
        let mut dead = Value::Null;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(40) {
            let (_, page) = s
                .get(&format!(
                    "/api/v1/webhooks/{hook_id}/deliveries?status=dead"
                ))
                .await;
            if page["items"].as_array().is_some_and(|i| !i.is_empty()) {
                dead = page;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let item = &dead["items"][0];
        assert_eq!(item["attempts"], 3, "{dead}");
        assert!(
            !item["error"].as_str().unwrap_or_default().is_empty(),
            "{dead}"
        );

        // The queue's state is in the metrics.
        let text = s
            .http
            .get(s.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(r#"omnex_jobs{kind="webhook",status="dead"} 1"#),
            "{text}"
        );
        assert!(text.contains("omnex_webhook_deliveries_total"), "{text}");

        // Deleting the webhook ends its deliveries.
        assert_eq!(
            s.delete(&format!("/api/v1/webhooks/{hook_id}")).await.0,
            204
        );
        assert_eq!(s.get(&format!("/api/v1/webhooks/{hook_id}")).await.0, 404);
        run.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_deliveries_survive_a_restart() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let schema = omnex_core::conformance::unique_namespace();
        let (url, rx, _stop) = receiver(SECRET).await;

        // A server without workers queues the delivery and stops before sending it.
        let mut cfg = config(backend, dir.path(), &schema);
        cfg.workers = 0;
        let first = start(cfg, ServerOptions::default()).await;
        let s = &first.server;
        let (status, _) = s
            .post("/api/v1/webhooks", json!({"url": url, "secret": SECRET}))
            .await;
        assert_eq!(status, 201);
        put_context(s, "durable", "k", json!("kept")).await;
        assert_eq!(s.omnex.dispatch_webhooks().await.unwrap(), 1);
        let (_, jobs) = s.get("/api/v1/jobs?kind=webhook&status=queued").await;
        assert_eq!(jobs["items"].as_array().unwrap().len(), 1, "{jobs}");
        first.stop().await;
        assert!(rx.seen.lock().unwrap().attempts.is_empty());

        // The next process delivers it.
        let second = start(
            config(backend, dir.path(), &schema),
            ServerOptions::default(),
        )
        .await;
        let seen = rx.seen.clone();
        wait_for(
            "the delivery after the restart",
            Duration::from_secs(20),
            || !seen.lock().unwrap().accepted.is_empty(),
        )
        .await;
        assert_eq!(seen.lock().unwrap().accepted.len(), 1, "{backend:?}");
        second.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_batch_is_a_job_that_adds_each_memory_once() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let schema = omnex_core::conformance::unique_namespace();
        let run = start(
            config(backend, dir.path(), &schema),
            ServerOptions::default(),
        )
        .await;
        let s = &run.server;
        let memories: Vec<Value> = (0..300)
            .map(|i| json!({"content": format!("async memory {i}"), "namespace": "bulk",
                            "embedding": (0..384).map(|d| if d == i % 384 { 1.0 } else { 0.0 }).collect::<Vec<f32>>()}))
            .collect();
        let (status, job) = s
            .post(
                "/api/v1/memories/batch",
                json!({"memories": memories, "async": true}),
            )
            .await;
        assert_eq!(status, 202, "{job}");
        assert_eq!(
            (job["kind"].as_str(), job["total"].as_u64()),
            (Some("embed"), Some(300))
        );
        let id = job["id"].as_str().unwrap().to_owned();
        let started = Instant::now();
        let done = loop {
            let (_, j) = s.get(&format!("/api/v1/jobs/{id}")).await;
            if j["status"] == "done" {
                break j;
            }
            assert!(j["status"] != "dead", "{j}");
            assert!(started.elapsed() < Duration::from_secs(60), "{j}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(done["done"], 300);
        assert_eq!(done["output"]["added"], 300);
        let (items, _) = common::all_pages(s, "/api/v1/memories?namespace=bulk", 1000).await;
        assert_eq!(items.len(), 300, "{backend:?}");
        // Checked before queueing: a bad item is refused, nothing queued.
        let (status, body) = s
            .post(
                "/api/v1/memories/batch",
                json!({"memories": [{"content": "ok"}, {"content": ""}], "async": true}),
            )
            .await;
        common::assert_problem(status, &body, 400, "invalid_input");
        let (_, jobs) = s.get("/api/v1/jobs?kind=embed").await;
        assert_eq!(jobs["items"].as_array().unwrap().len(), 1, "{jobs}");
        run.stop().await;
    }
}
