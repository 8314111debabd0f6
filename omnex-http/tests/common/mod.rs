//! A real `omnex serve` router on an ephemeral port, driven with reqwest.

#![allow(dead_code, unreachable_pub)]

use omnex_core::{Config, Omnex};
use omnex_http::ServerOptions;
use serde_json::Value;

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub omnex: Omnex,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// The embedded default (SQLite file, HNSW, local model) in a fresh directory.
    pub async fn start() -> Self {
        Self::start_with(ServerOptions::default()).await
    }

    pub async fn start_with(opts: ServerOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_data_dir(dir.path());
        config.apply_env().unwrap();
        config.data_dir = dir.path().to_owned();
        let omnex = Omnex::open(config).await.unwrap();
        Self::serve(omnex, opts, Some(dir)).await
    }

    /// An in-memory engine without an embedder, with vectors of 8 dimensions.
    pub async fn small(opts: ServerOptions) -> Self {
        let omnex = Omnex::builder()
            .store(std::sync::Arc::new(
                omnex_core::backend::sqlite::SqliteStore::in_memory()
                    .await
                    .unwrap(),
            ))
            .index(std::sync::Arc::new(
                omnex_core::backend::exact::ExactIndex::new(8),
            ))
            .build()
            .await
            .unwrap();
        Self::serve(omnex, opts, None).await
    }

    /// Serves an already built `Omnex`.
    pub async fn serve(omnex: Omnex, opts: ServerOptions, dir: Option<tempfile::TempDir>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = omnex_http::router_with(omnex.clone(), &opts);
        tokio::spawn(omnex_http::serve(listener, app, std::future::pending()));
        Self {
            base,
            http: reqwest::Client::new(),
            omnex,
            _dir: dir,
        }
    }

    /// Serves `omnex` until `shutdown` completes; the handle ends with the server.
    pub async fn serve_until(
        omnex: Omnex,
        opts: ServerOptions,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = omnex_http::router_with(omnex.clone(), &opts);
        let done = tokio::spawn(async move {
            omnex_http::serve(listener, app, shutdown).await.unwrap();
        });
        let server = Self {
            base,
            http: reqwest::Client::new(),
            omnex,
            _dir: None,
        };
        (server, done)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }
}

/// Sends a request with `bearer` as its credential (none for `""`); answers the
/// status and the JSON body (a JSON string when the body is not JSON).
pub async fn call(
    s: &TestServer,
    bearer: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s.http.request(method.parse().unwrap(), s.url(path));
    if !bearer.is_empty() {
        req = req.bearer_auth(bearer);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Follows `next_cursor` from `path` (which already has a `?`), collecting every item.
pub async fn all_pages(s: &TestServer, path: &str, limit: usize) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{path}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = s.get(&url).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit);
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 1000, "pagination does not end");
    }
    (items, pages)
}

/// Asserts a problem+json response with this status and code.
pub fn assert_problem(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["status"], want_status, "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#{want_code}")),
        "{body}"
    );
    assert!(!body["detail"].as_str().unwrap().is_empty(), "{body}");
}
