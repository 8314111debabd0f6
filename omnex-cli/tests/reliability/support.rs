//! What the reliability tests share: the `omnex` binary run as users run it, the
//! deployments it is tried on, and the real servers the tests stop and start.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub(crate) fn omnex() -> Command {
    Command::new(env!("CARGO_BIN_EXE_omnex"))
}

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Reads a whole number from the environment (a longer run than CI's), or `default`.
pub(crate) fn env_or(name: &str, default: u64) -> u64 {
    env(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `env(name)`, failing when `OMNEX_TEST_REQUIRE` names `backend` and it is unset.
pub(crate) fn required_env(name: &str, backend: &str) -> Option<String> {
    let value = env(name);
    assert!(
        value.is_some() || !omnex_core::conformance::required(backend),
        "OMNEX_TEST_REQUIRE names {backend} but {name} is not set"
    );
    value
}

pub(crate) fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// One deployment the suite runs against: a name and the flags of `omnex serve`.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub(crate) name: &'static str,
    pub(crate) args: Vec<String>,
}

/// The embedded default in `dir`, then PostgreSQL + pgvector and PostgreSQL + Qdrant
/// (each in a fresh schema and collection) where they are configured.
pub(crate) fn layouts(dir: &Path) -> Vec<Layout> {
    let data = dir.to_string_lossy().into_owned();
    let mut all = vec![Layout {
        name: "sqlite",
        args: vec!["--data-dir".into(), format!("{data}/sqlite")],
    }];
    let Some(pg) = required_env("OMNEX_TEST_POSTGRES_URL", "postgres") else {
        eprintln!("SKIPPED the PostgreSQL layouts: OMNEX_TEST_POSTGRES_URL is not set");
        return all;
    };
    let store = || {
        let schema = omnex_core::conformance::unique_namespace();
        with_param(&pg, &format!("schema={schema}"))
    };
    all.push(Layout {
        name: "postgres+pgvector",
        args: vec![
            "--data-dir".into(),
            format!("{data}/pgvector"),
            "--storage".into(),
            store(),
            "--index".into(),
            "pgvector".into(),
        ],
    });
    match required_env("OMNEX_TEST_QDRANT_URL", "qdrant") {
        Some(qdrant) => {
            let collection = omnex_core::conformance::unique_namespace();
            all.push(Layout {
                name: "postgres+qdrant",
                args: vec![
                    "--data-dir".into(),
                    format!("{data}/qdrant"),
                    "--storage".into(),
                    store(),
                    "--index".into(),
                    with_param(&qdrant, &format!("collection={collection}")),
                ],
            });
        }
        None => {
            eprintln!("SKIPPED the PostgreSQL + Qdrant layout: OMNEX_TEST_QDRANT_URL is not set")
        }
    }
    all
}

/// A running `omnex serve`, killed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Server {
    /// Starts `omnex serve` on a free port with `args` and waits for its address.
    pub(crate) fn start(args: &[String]) -> Self {
        let mut child = omnex()
            .args(["serve", "--addr", "127.0.0.1:0", "--workers", "0"])
            .args(args)
            .env("OMNEX_LOG", "error")
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
        Self { child, base }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// SIGKILL: no shutdown, no flush, as a power cut or the OOM killer would.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A free TCP port on 127.0.0.1 (bound, then released for a server to take).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GETs `url`: its status and JSON body (`null` when it has none).
pub(crate) async fn get_json(
    http: &reqwest::Client,
    url: String,
) -> (reqwest::StatusCode, serde_json::Value) {
    let res = http.get(url).send().await.unwrap();
    let status = res.status();
    let body = res.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// Searches `namespace` in `mode` with `query` until the hits are exactly `ids`
/// (sorted), or panics after `limit` with the difference.
pub(crate) async fn until_search_finds(
    http: &reqwest::Client,
    server: &Server,
    namespace: &str,
    mode: &str,
    query: &str,
    ids: &[String],
    limit: Duration,
) {
    let body =
        serde_json::json!({"query": query, "namespace": namespace, "mode": mode, "limit": 100});
    let start = Instant::now();
    loop {
        let mut found: Vec<String> = Vec::new();
        if let Ok(res) = http
            .post(server.url("/memories/search"))
            .json(&body)
            .send()
            .await
        {
            if let Ok(v) = res.json::<serde_json::Value>().await {
                found = v["hits"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|h| h["memory"]["id"].as_str().map(str::to_owned))
                    .collect();
            }
        }
        found.sort();
        if found == ids {
            return;
        }
        if start.elapsed() > limit {
            let missing: Vec<_> = ids.iter().filter(|i| !found.contains(i)).collect();
            let extra: Vec<_> = found.iter().filter(|i| !ids.contains(i)).collect();
            panic!(
                "{mode} search of {namespace} after {limit:?}: {} of {} found; missing {missing:?}, \
                 not in the store {extra:?}",
                found.len(),
                ids.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A real server process the outage tests stop and start: a Qdrant from
/// `../shared/bin`, a `redis-server`, or a throw-away PostgreSQL cluster.
pub(crate) struct Backend {
    kind: BackendKind,
    pub(crate) url: String,
    dir: tempfile::TempDir,
}

enum BackendKind {
    Qdrant { bin: PathBuf, http: u16, grpc: u16 },
    Redis { port: u16, child: Option<Child> },
    Postgres { ctl: PathBuf, state: PathBuf },
}

impl Backend {
    /// A Qdrant of its own, or `None` when `../shared/bin/qdrant` is missing.
    pub(crate) fn qdrant() -> Option<Self> {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bin/qdrant");
        if !bin.exists() {
            assert!(
                !omnex_core::conformance::required("qdrant"),
                "OMNEX_TEST_REQUIRE names qdrant but {} is missing",
                bin.display()
            );
            return None;
        }
        let (http, grpc) = (free_port(), free_port());
        let mut b = Self {
            kind: BackendKind::Qdrant { bin, http, grpc },
            url: format!("qdrant://127.0.0.1:{grpc}"),
            dir: tempfile::tempdir().unwrap(),
        };
        b.start();
        Some(b)
    }

    /// A `redis-server` of its own (keeping nothing on disk), or `None` without one.
    pub(crate) fn redis() -> Option<Self> {
        let found = Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                !omnex_core::conformance::required("redis"),
                "OMNEX_TEST_REQUIRE names redis but redis-server is not installed"
            );
            return None;
        }
        let port = free_port();
        let mut b = Self {
            kind: BackendKind::Redis { port, child: None },
            url: format!("redis://127.0.0.1:{port}/"),
            dir: tempfile::tempdir().unwrap(),
        };
        b.start();
        Some(b)
    }

    /// A PostgreSQL cluster of its own (through `OMNEX_TEST_FAULT_PG_CTL`, the script
    /// that makes throw-away clusters), or `None` when it is not configured.
    pub(crate) fn postgres() -> Option<Self> {
        let ctl = PathBuf::from(required_env("OMNEX_TEST_FAULT_PG_CTL", "pg-fault")?);
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        // Outside `dir`: the cluster's owner (postgres) cannot enter a private temp dir.
        let cluster = std::env::temp_dir().join(omnex_core::conformance::unique_namespace());
        let port = free_port();
        let ok = Command::new(&ctl)
            .args(["init", &cluster.to_string_lossy(), &port.to_string()])
            .env("OMNEX_PG_FAULT_STATE", &state)
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "could not make a PostgreSQL cluster with {}",
            ctl.display()
        );
        let mut b = Self {
            kind: BackendKind::Postgres { ctl, state },
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
        };
        b.start();
        Some(b)
    }

    pub(crate) fn start(&mut self) {
        match &mut self.kind {
            BackendKind::Qdrant { bin, http, grpc } => {
                let ok = Command::new(&*bin)
                    .args([
                        "start",
                        &self.dir.path().to_string_lossy(),
                        &http.to_string(),
                        &grpc.to_string(),
                    ])
                    .stdout(Stdio::null())
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "Qdrant did not start");
            }
            BackendKind::Redis { port, child } => {
                let c = Command::new("redis-server")
                    .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no"])
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap();
                *child = Some(c);
                let addr = format!("127.0.0.1:{port}");
                let start = Instant::now();
                while std::net::TcpStream::connect(&addr).is_err() {
                    assert!(
                        start.elapsed() < Duration::from_secs(10),
                        "Redis did not start"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            BackendKind::Postgres { ctl, state } => {
                let ok = Command::new(&*ctl)
                    .arg("start")
                    .env("OMNEX_PG_FAULT_STATE", &*state)
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "PostgreSQL did not start");
            }
        }
    }

    pub(crate) fn stop(&mut self) {
        match &mut self.kind {
            BackendKind::Qdrant { bin, .. } => {
                Command::new(&*bin)
                    .args(["stop", &self.dir.path().to_string_lossy()])
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
            }
            BackendKind::Redis { child, .. } => {
                if let Some(mut c) = child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
            BackendKind::Postgres { ctl, state } => {
                Command::new(&*ctl)
                    .arg("stop")
                    .env("OMNEX_PG_FAULT_STATE", &*state)
                    .status()
                    .unwrap();
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
        if let BackendKind::Postgres { ctl, state } = &self.kind {
            let _ = Command::new(ctl)
                .arg("destroy")
                .env("OMNEX_PG_FAULT_STATE", state)
                .status();
        }
    }
}
