//! The `omnex` binary as users run it: `serve` with flags, a config file and a
//! graceful shutdown on SIGTERM; `export` then `import` reproducing the data.

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use omnex_core::{
    model::{ListContexts, ListMemories, NewMemory, PutContext, Scope},
    Config, Omnex,
};
use serde_json::json;

fn omnex() -> Command {
    Command::new(env!("CARGO_BIN_EXE_omnex"))
}

/// Starts `omnex serve` and returns it with the base URL it prints.
fn spawn_server(mut cmd: Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("serve prints its address").unwrap();
    let base = first
        .strip_prefix("Omnex is listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_finishes_in_flight_requests_on_sigterm_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("omnex.toml");
    // The file sets a port that the flag overrides (flags win).
    std::fs::write(
        &config,
        "[server]\naddr = \"127.0.0.1:1\"\nbody_limit = 4194304\n",
    )
    .unwrap();
    let mut cmd = omnex();
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("OMNEX_DATA_DIR", dir.path().join("data"))
        .env("OMNEX_LOG", "warn");
    let (mut child, base) = spawn_server(cmd);
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // A batch that takes a while to embed is in flight when SIGTERM arrives.
    let batch: Vec<_> = (0..600)
        .map(|i| json!({"content": format!("memory number {i} written just before shutdown")}))
        .collect();
    let request = tokio::spawn({
        let http = http.clone();
        let url = format!("{base}/api/v1/memories/batch");
        async move {
            http.post(url)
                .json(&json!({"memories": batch}))
                .send()
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sigterm(&child);
    let res = request
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(res.status(), 201);
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "no longer accepting"
    );

    // Everything acknowledged is there after a restart.
    let omnex = Omnex::open(Config::with_data_dir(dir.path().join("data")))
        .await
        .unwrap();
    let page = omnex
        .list_memories(ListMemories {
            limit: Some(1000),
            include_embedding: true,
            ..ListMemories::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 600);
}

async fn dump(
    omnex: &Omnex,
) -> (
    Vec<omnex_core::model::Context>,
    Vec<omnex_core::model::Memory>,
) {
    let contexts = omnex
        .list_contexts(ListContexts {
            limit: Some(1000),
            ..ListContexts::default()
        })
        .await
        .unwrap()
        .items;
    let memories = omnex
        .list_memories(ListMemories {
            limit: Some(1000),
            include_embedding: true,
            ..ListMemories::default()
        })
        .await
        .unwrap()
        .items;
    (contexts, memories)
}

fn run(args: &[&str], data: &Path) {
    let out = omnex()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "omnex {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_reproduces_ids_timestamps_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let before = {
        let omnex = Omnex::open(Config::with_data_dir(&a)).await.unwrap();
        for i in 0..30 {
            let put = PutContext::new(
                "export",
                format!("k{i}"),
                json!({"i": i, "nested": {"ok": true}}),
            )
            .with_tags(["t", "u"]);
            omnex.put_context(put.clone()).await.unwrap();
            if i % 3 == 0 {
                omnex.put_context(put.with_ttl_seconds(3600)).await.unwrap();
            }
        }
        let batch = (0..40)
            .map(|i| {
                NewMemory::new(format!("exported memory {i}"))
                    .with_scope(
                        Scope::namespace("export")
                            .with_user(format!("u{}", i % 4))
                            .with_session("s"),
                    )
                    .with_metadata("i", json!(i))
                    .with_metadata("tags", json!(["a", "b"]))
            })
            .collect();
        omnex.add_memories(batch).await.unwrap();
        dump(&omnex).await
    };
    assert_eq!((before.0.len(), before.1.len()), (30, 40));
    let file = dir.path().join("export.jsonl");
    let file = file.to_str().unwrap();
    run(&["export", file], &a);
    let lines = std::fs::read_to_string(file).unwrap().lines().count();
    assert_eq!(lines, 1 + 30 + 40, "a header and one line per record");
    run(&["import", file], &b);

    let omnex = Omnex::open(Config::with_data_dir(&b)).await.unwrap();
    let after = dump(&omnex).await;
    assert_eq!(
        after.0, before.0,
        "contexts: ids, versions, tags, timestamps, expiry"
    );
    assert_eq!(
        after.1, before.1,
        "memories: ids, embeddings, metadata, scope, timestamps"
    );
    // The imported memories are searchable in the new instance.
    let hits = omnex
        .search(omnex_core::model::SearchRequest::query("exported memory 7").with_limit(1))
        .await
        .unwrap();
    assert_eq!(hits[0].memory.content, "exported memory 7");
}

/// Two `omnex serve` processes on one PostgreSQL database (pgvector for vectors, Redis
/// when configured): each sees the other's writes at once. Then `omnex migrate` and
/// `omnex reindex` on the same database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_postgres_see_each_others_writes() {
    let Some(pg) = std::env::var("OMNEX_TEST_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        assert!(
            !omnex_core::conformance::required("postgres"),
            "OMNEX_TEST_REQUIRE names postgres but OMNEX_TEST_POSTGRES_URL is not set"
        );
        eprintln!(
            "SKIPPED two_servers_on_postgres_see_each_others_writes: PostgreSQL not configured"
        );
        return;
    };
    let schema = omnex_core::conformance::unique_namespace();
    let store = format!(
        "{pg}{}schema={schema}",
        if pg.contains('?') { '&' } else { '?' }
    );
    let cache = std::env::var("OMNEX_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .map_or_else(|| "none".to_owned(), |r| format!("{r}?prefix={schema}"));
    let dir = tempfile::tempdir().unwrap();
    let backend = |cmd: &mut Command| {
        cmd.args([
            "--storage",
            &store,
            "--index",
            "pgvector",
            "--cache",
            &cache,
        ])
        .env("OMNEX_DATA_DIR", dir.path())
        .env("OMNEX_LOG", "warn");
    };
    let out = {
        let mut cmd = omnex();
        cmd.arg("migrate");
        backend(&mut cmd);
        cmd.output().unwrap()
    };
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("schema at version 4"), "{printed}");

    let start = || {
        let mut cmd = omnex();
        cmd.args(["serve", "--addr", "127.0.0.1:0"]);
        backend(&mut cmd);
        spawn_server(cmd)
    };
    let (mut a, url_a) = start();
    let (mut b, url_b) = start();
    let http = reqwest::Client::new();
    let post = |url: String, body: serde_json::Value| {
        let http = http.clone();
        async move {
            let res = http.post(url).json(&body).send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.unwrap())
        }
    };
    for (i, fact) in [
        "Alice prefers green tea in the morning",
        "The deploy key rotates every ninety days",
        "Bob's flight to Lisbon leaves on Friday",
    ]
    .into_iter()
    .enumerate()
    {
        let (writer, reader) = if i % 2 == 0 {
            (&url_a, &url_b)
        } else {
            (&url_b, &url_a)
        };
        let (status, added) = post(
            format!("{writer}/api/v1/memories"),
            json!({ "content": fact, "namespace": "shared" }),
        )
        .await;
        assert_eq!(status, 201, "{added}");
        let (status, hits) = post(
            format!("{reader}/api/v1/memories/search"),
            json!({ "query": fact, "namespace": "shared", "limit": 1 }),
        )
        .await;
        assert_eq!(status, 200, "{hits}");
        assert_eq!(hits["hits"][0]["memory"]["id"], added["id"], "{hits}");
    }
    for round in 1..=3 {
        let (writer, reader) = if round % 2 == 0 {
            (&url_a, &url_b)
        } else {
            (&url_b, &url_a)
        };
        let res = http
            .put(format!("{writer}/api/v1/contexts/shared/settings"))
            .json(&json!({ "value": { "round": round } }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let got: serde_json::Value = http
            .get(format!("{reader}/api/v1/contexts/shared/settings"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got["value"]["round"], round, "{got}");
    }
    sigterm(&a);
    sigterm(&b);
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());

    let out = {
        let mut cmd = omnex();
        cmd.arg("reindex");
        backend(&mut cmd);
        cmd.output().unwrap()
    };
    let printed = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("Reindexed 3 memories"), "{printed}");
}

/// Keys never reach the server's log: the bootstrap key, a made key and wrong keys
/// are sent while the server logs at debug level, and its whole log is searched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_never_appear_in_the_server_log() {
    const BOOT: &str = "Boot-Key-9f8e7d6c5b4a";
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let mut cmd = omnex();
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--api-key", BOOT])
        .env("OMNEX_DATA_DIR", dir.path().join("data"))
        .env("OMNEX_LOG", "debug")
        .stderr(std::fs::File::create(&log_path).unwrap());
    let (child, base) = spawn_server(cmd);
    let http = reqwest::Client::new();
    let made: serde_json::Value = http
        .post(format!("{base}/api/v1/keys"))
        .bearer_auth(BOOT)
        .json(&json!({"name": "log test"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = made["key"].as_str().unwrap().to_owned();
    let wrong = format!("{}WRONGWRONG", &key[..20]);
    for (bearer, want) in [(key.as_str(), 201), (wrong.as_str(), 401), (BOOT, 201)] {
        let res = http
            .put(format!("{base}/api/v1/contexts/app/k"))
            .bearer_auth(bearer)
            .json(&json!({"value": 1}))
            .send()
            .await
            .unwrap();
        assert!(
            res.status().as_u16() == want || res.status() == 200,
            "{}",
            res.status()
        );
    }
    sigterm(&child);
    let mut child = child;
    assert!(child.wait().unwrap().success());
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("/api/v1/contexts"),
        "the log has the requests: {log}"
    );
    for secret in [BOOT, key.as_str(), wrong.as_str(), &key[12..]] {
        assert!(!log.contains(secret), "a key is in the log");
    }
}
