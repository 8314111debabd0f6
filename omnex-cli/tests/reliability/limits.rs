//! Resource limits: a full disk, oversized and deeply nested JSON, slow clients
//! (slowloris) and thousands of idle connections, each against `omnex serve`.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{get_json, rss_kib, until_search_finds, Server};

/// A small tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `path` until a write fails; returns the filler's path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5a_u8; 64 * 1024];
    while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
    // Then byte by byte, so not even a page is left.
    while f
        .write_all(&chunk[..512])
        .and_then(|()| f.sync_all())
        .is_ok()
    {}
    path
}

async fn add(http: &reqwest::Client, server: &Server, content: &str) -> reqwest::Response {
    http.post(server.url("/memories"))
        .json(&json!({"content": content, "namespace": "disk"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_a_clear_error_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("mnt"), "32m") else {
        assert!(
            !omnex_core::conformance::required("tmpfs"),
            "OMNEX_TEST_REQUIRE names tmpfs but mounting one failed (the test needs root)"
        );
        eprintln!("SKIPPED limits::a_full_disk: cannot mount a tmpfs (needs root)");
        return;
    };
    let args = vec![
        "--data-dir".to_owned(),
        disk.0.join("data").to_string_lossy().into_owned(),
    ];
    let server = Server::start(&args);
    let http = reqwest::Client::new();
    let mut acked: Vec<(String, String)> = Vec::new();
    for i in 0..20 {
        let content = format!("disktoken memory {i} written before the disk filled");
        let res = add(&http, &server, &content).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let m: Value = res.json().await.unwrap();
        acked.push((m["id"].as_str().unwrap().to_owned(), content));
    }
    let ctx = http
        .put(server.url("/contexts/disk/settings"))
        .json(&json!({"value": {"theme": "dark"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ctx.status(), StatusCode::CREATED);

    let filler = fill(&disk.0);
    let mut refused = 0;
    for i in 0..40 {
        let content = format!(
            "disktoken memory {i} written on a full disk {}",
            "pad ".repeat(400)
        );
        let res = add(&http, &server, &content).await;
        match res.status() {
            StatusCode::CREATED => {
                let m: Value = res.json().await.unwrap();
                acked.push((m["id"].as_str().unwrap().to_owned(), content));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(res.headers().contains_key("retry-after"));
                let p: Value = res.json().await.unwrap();
                assert_eq!(p["code"], "unavailable", "{p}");
                let detail = p["detail"].as_str().unwrap();
                assert!(
                    detail.contains("disk is full"),
                    "not a clear error: {detail}"
                );
                refused += 1;
            }
            s => panic!(
                "a write on a full disk answered {s}: {}",
                res.text().await.unwrap()
            ),
        }
    }
    assert!(refused > 0, "the disk never filled");
    // Reads go on while the disk is full.
    for (id, content) in &acked {
        let (status, m) = get_json(&http, server.url(&format!("/memories/{id}"))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(m["content"], content.as_str());
    }

    // Space returns: writes work again, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let res = add(
        &http,
        &server,
        "disktoken memory written after space returned",
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let m: Value = res.json().await.unwrap();
    acked.push((
        m["id"].as_str().unwrap().to_owned(),
        m["content"].as_str().unwrap().to_owned(),
    ));

    // And everything is there after a crash and a restart, found by words and meaning.
    server.kill();
    let server = Server::start(&args);
    let mut ids: Vec<String> = acked.iter().map(|(id, _)| id.clone()).collect();
    ids.sort();
    for mode in ["keyword", "semantic"] {
        until_search_finds(
            &http,
            &server,
            "disk",
            mode,
            "disktoken memory",
            &ids,
            Duration::from_secs(10),
        )
        .await;
    }
    let ctx = get_json(&http, server.url("/contexts/disk/settings"))
        .await
        .1;
    assert_eq!(ctx["value"], json!({"theme": "dark"}));
    eprintln!(
        "RESULT full disk: {refused} writes refused with 503 while full, {} acknowledged writes intact after space returned and a SIGKILL",
        acked.len()
    );
    drop(server);
    drop(disk);
}

#[tokio::test]
async fn oversized_and_deeply_nested_json_are_refused_with_problems() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[
        "--data-dir".to_owned(),
        dir.path().to_string_lossy().into_owned(),
    ]);
    let http = reqwest::Client::new();
    let problem = |res: reqwest::Response, status: StatusCode| async move {
        assert_eq!(res.status(), status);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        res.json::<Value>().await.unwrap()
    };

    // Twice the body limit (1 MiB by default).
    let big = "x".repeat(2 * 1024 * 1024);
    let raw = |path: &str, body: String| {
        http.request(
            if path.starts_with("/contexts") {
                reqwest::Method::PUT
            } else {
                reqwest::Method::POST
            },
            server.url(path),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
    };
    let res = raw("/contexts/limits/big", format!("{{\"value\": \"{big}\"}}"))
        .await
        .unwrap();
    let p = problem(res, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(p["code"], "payload_too_large", "{p}");

    // 100,000 levels of nesting: refused, and the server does not overflow its stack.
    for depth in [129, 100_000] {
        let body = format!("{{\"value\": {}{}}}", "[".repeat(depth), "]".repeat(depth));
        let res = raw("/contexts/limits/deep", body).await.unwrap();
        let p = problem(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(p["code"], "malformed_json", "{p}");
        assert!(
            p["detail"].as_str().unwrap().contains("recursion limit"),
            "{p}"
        );
    }
    // 100 levels are fine, and come back as they went in.
    let value: Value =
        serde_json::from_str(&format!("{}1{}", "[".repeat(100), "]".repeat(100))).unwrap();
    let res = http
        .put(server.url("/contexts/limits/deep"))
        .json(&json!({"value": value}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let back = get_json(&http, server.url("/contexts/limits/deep")).await.1;
    assert_eq!(back["value"], value);
    // A memory's metadata nested too deep is refused the same way.
    let meta = format!("{}{}", "{\"a\":".repeat(200), "}".repeat(200));
    let res = raw(
        "/memories",
        format!("{{\"content\": \"deep\", \"metadata\": {meta}}}"),
    )
    .await
    .unwrap();
    let p = problem(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(p["code"], "malformed_json", "{p}");
    assert!(http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
}

/// Reads from `stream` until the server closes it; returns what it sent and when.
fn until_closed(mut stream: TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (got, start.elapsed()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (got, start.elapsed())
            }
            Err(e) => panic!("the server kept a slow connection open past {limit:?}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[
        "--data-dir".to_owned(),
        dir.path().to_string_lossy().into_owned(),
        "--header-timeout-ms".to_owned(),
        "2000".to_owned(),
        "--request-timeout-ms".to_owned(),
        "3000".to_owned(),
    ]);
    let addr = server.base.trim_start_matches("http://").to_owned();

    // Slowloris: headers one byte at a time, never finished.
    let slow = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /api/v1/contexts HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            let start = Instant::now();
            for b in b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if s.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
                if start.elapsed() > Duration::from_secs(8) {
                    break;
                }
            }
            start.elapsed()
        })
    };
    // An idle connection: nothing at all is sent.
    let idle = TcpStream::connect(&addr).unwrap();
    let (_, idle_for) = until_closed(idle, Duration::from_secs(6));
    assert!(
        idle_for < Duration::from_secs(4),
        "idle connection kept {idle_for:?}"
    );
    let slow_for = slow.join().unwrap();
    assert!(
        slow_for < Duration::from_secs(4),
        "slowloris connection kept {slow_for:?}"
    );

    // A slow body: the headers promise 1000 bytes, 10 arrive.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(
        b"PUT /api/v1/contexts/slow/body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"value\": ",
    )
    .unwrap();
    let (answer, took) = until_closed(s, Duration::from_secs(8));
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        took < Duration::from_secs(6),
        "a slow body held the connection {took:?}"
    );
    assert!(
        answer.starts_with("HTTP/1.1 408") || answer.starts_with("HTTP/1.1 503"),
        "{answer}"
    );
    assert!(answer.contains("application/problem+json"), "{answer}");
    eprintln!("RESULT slow clients: idle connection closed after {idle_for:.1?}, slowloris after {slow_for:.1?}, a slow body answered after {took:.1?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_are_bounded() {
    const ATTEMPTS: usize = 4000;
    const THREADS: usize = 32;
    const MAX: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[
        "--data-dir".to_owned(),
        dir.path().to_string_lossy().into_owned(),
        "--max-connections".to_owned(),
        MAX.to_string(),
        "--header-timeout-ms".to_owned(),
        "8000".to_owned(),
    ]);
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let pid = server.child.id();
    let rss_before = rss_kib(pid);
    // 32 clients open idle connections for four seconds (a connect the kernel does
    // not take within 100 ms counts as refused).
    let start = Instant::now();
    let openers: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut open = Vec::new();
                let mut tried = 0;
                while tried < ATTEMPTS / THREADS && start.elapsed() < Duration::from_secs(4) {
                    tried += 1;
                    if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                        open.push(s);
                    }
                }
                (tried, open)
            })
        })
        .collect();
    let mut conns = Vec::new();
    let mut tried = 0;
    for t in openers {
        let (n, open) = t.join().unwrap();
        tried += n;
        conns.extend(open);
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let rss_during = rss_kib(pid);
    assert!(
        fds < MAX + 50,
        "{fds} descriptors open with {} idle clients",
        conns.len()
    );
    assert!(
        fds > MAX * 9 / 10,
        "only {fds} descriptors open: the limit was never reached"
    );
    // A real client gets through once the idle ones time out.
    let start = Instant::now();
    let res = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let waited = start.elapsed();
    let taken = conns.len();
    drop(conns);
    assert!(
        rss_during < rss_before + 64 * 1024,
        "RSS grew from {rss_before} KiB to {rss_during} KiB"
    );
    eprintln!(
        "RESULT idle connections: {tried} connects tried, {taken} taken by the kernel, against --max-connections {MAX}: {fds} descriptors open, RSS {rss_before} -> {rss_during} KiB, a new request answered after {waited:.1?}"
    );
}
