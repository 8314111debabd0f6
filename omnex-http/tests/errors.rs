//! Every error status of the API, each as `application/problem+json`, and the
//! layers around the routes (request ids, API key, CORS, compression, metrics).

mod common;

use std::sync::Arc;

use common::{assert_problem, TestServer};
use omnex_core::{
    backend::{exact::ExactIndex, sqlite::SqliteStore},
    Embedder, Error, Omnex,
};
use omnex_http::ServerOptions;
use serde_json::json;

async fn raw(
    s: &TestServer,
    req: reqwest::RequestBuilder,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let _ = s;
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json().await.unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

fn content_type(h: &reqwest::header::HeaderMap) -> &str {
    h.get("content-type").unwrap().to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_problem_responses() {
    let s = TestServer::start_with(ServerOptions {
        body_limit: 4096,
        ..ServerOptions::default()
    })
    .await;
    let url = s.url("/api/v1/memories");

    let (status, h, body) = raw(&s, s.http.post(&url).body(r#"{"content": "x"}"#)).await;
    assert_problem(status, &body, 415, "unsupported_media_type");
    assert_eq!(content_type(&h), "application/problem+json");

    let (status, _, body) = raw(
        &s,
        s.http
            .post(&url)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_problem(status, &body, 400, "malformed_json");

    let (status, _, body) = raw(&s, s.http.post(&url).json(&json!({"content": 5}))).await;
    assert_problem(status, &body, 422, "unprocessable_json");

    let (status, _, body) = raw(
        &s,
        s.http
            .post(&url)
            .json(&json!({"content": "x".repeat(5000)})),
    )
    .await;
    assert_problem(status, &body, 413, "payload_too_large");

    let (status, _, body) = raw(
        &s,
        s.http
            .post(&url)
            .json(&json!({"content": "x", "namespace": "bad namespace!"})),
    )
    .await;
    assert_problem(status, &body, 400, "invalid_input");
    assert_eq!(body["field"], "namespace");

    let (status, _, body) = raw(
        &s,
        s.http
            .put(s.url("/api/v1/contexts/ns/k"))
            .json(&json!({"value": 1, "extra": 2})),
    )
    .await;
    assert_problem(status, &body, 422, "unprocessable_json");

    let (status, _, body) = raw(&s, s.http.get(s.url("/api/v1/contexts?limit=many"))).await;
    assert_problem(status, &body, 400, "invalid_input");

    let (status, _, body) = raw(&s, s.http.get(s.url("/api/v2/nothing"))).await;
    assert_problem(status, &body, 404, "route_not_found");

    let (status, _, body) = raw(&s, s.http.put(s.url("/api/v1/memories/search"))).await;
    assert_problem(status, &body, 405, "method_not_allowed");

    let (status, _, body) = raw(
        &s,
        s.http
            .post(&url)
            .json(&json!({"content": "x", "userid": "typo"})),
    )
    .await;
    assert_problem(status, &body, 422, "unprocessable_json");
    assert!(
        body["detail"].as_str().unwrap().contains("userid"),
        "{body}"
    );

    // Nothing above was stored.
    let (_, page) = s.get("/api/v1/memories?limit=10").await;
    assert!(page["items"].as_array().unwrap().is_empty());
}

/// Fault injection: an embedding server that has gone away (what the
/// OpenAI-compatible embedder reports once its retries are spent).
#[derive(Debug)]
struct GoneEmbedder;

#[async_trait::async_trait]
impl Embedder for GoneEmbedder {
    fn model_id(&self) -> &str {
        "gone"
    }
    fn dimension(&self) -> usize {
        8
    }
    async fn embed(&self, _texts: &[String]) -> omnex_core::Result<Vec<Vec<f32>>> {
        Err(Error::unavailable(
            "embedder",
            "connection refused (injected)",
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_objects_and_integral_floats_are_integers() {
    // JSON Schema counts `75.0` as an integer; so does the server, where it wants one.
    let s = TestServer::small(ServerOptions::default()).await;
    let path = "/api/v1/contexts/ns/floats";
    let (status, created) = s
        .put(
            path,
            json!({"value": {"price": 2.5}, "ttl_seconds": 1_210_227_860.0, "if_version": 0.0}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["value"], json!({"price": 2.5}));
    let (status, replaced) = s
        .put(
            path,
            json!({"value": 1, "if_version": 1.0, "ttl_seconds": 6e1}),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["version"], 2);
    let (status, body) = s.put(path, json!({"value": 1, "if_version": 2.0})).await;
    assert_eq!(status, 200, "{body}");

    // A fraction, or a float outside the integers, is still refused.
    for bad in [
        json!({"value": 1, "ttl_seconds": 1.5}),
        json!({"value": 1, "if_version": -1.0}),
        json!({"value": 1, "if_version": 1e30}),
    ] {
        let (status, h, body) = raw(&s, s.http.put(s.url(path)).json(&bad)).await;
        assert_problem(status, &body, 422, "unprocessable_json");
        assert_eq!(content_type(&h), "application/problem+json");
        assert!(
            body["detail"].as_str().unwrap().contains("floating point"),
            "the first error is kept: {body}"
        );
    }
    // A body is an object, never the array of a struct's fields serde would read.
    for (method, path, body) in [
        (
            reqwest::Method::PUT,
            path.to_owned(),
            json!([1, [], null, null, null]),
        ),
        (reqwest::Method::POST, "/api/v1/keys".to_owned(), json!([])),
        (
            reqwest::Method::POST,
            "/api/v1/memories".to_owned(),
            json!(["hi"]),
        ),
    ] {
        let (status, _, body) = raw(&s, s.http.request(method, s.url(&path)).json(&body)).await;
        assert_problem(status, &body, 422, "unprocessable_json");
    }
    // Valid requests read the body once, as sent: floats elsewhere stay floats.
    let (status, body) = s.put(path, json!({"value": [1.0, 2.5]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], json!([1.0, 2.5]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_embedder_is_503_with_retry_after() {
    let omnex = Omnex::builder()
        .store(Arc::new(SqliteStore::in_memory().await.unwrap()))
        .index(Arc::new(ExactIndex::new(8)))
        .embedder(Arc::new(GoneEmbedder))
        .build()
        .await
        .unwrap();
    let s = TestServer::serve(omnex, ServerOptions::default(), None).await;
    let (status, h, body) = raw(
        &s,
        s.http
            .post(s.url("/api/v1/memories"))
            .json(&json!({"content": "hello"})),
    )
    .await;
    assert_problem(status, &body, 503, "unavailable");
    assert_eq!(h.get("retry-after").unwrap(), "1");
    let (_, page) = s.get("/api/v1/memories?limit=10").await;
    assert!(
        page["items"].as_array().unwrap().is_empty(),
        "nothing half-written"
    );
    // The store and index still answer, so the server is ready.
    let (status, _) = s.get("/readyz").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    let s = TestServer::start_with(ServerOptions {
        rate_limit: 2,
        ..ServerOptions::default()
    })
    .await;
    let mut limited = None;
    for _ in 0..10 {
        let (status, h, body) = raw(&s, s.http.get(s.url("/api/v1/contexts"))).await;
        if status == 429 {
            limited = Some((h, body));
            break;
        }
    }
    let (h, body) = limited.expect("10 quick requests at 2/s are limited");
    assert_problem(429, &body, 429, "rate_limited");
    assert!(
        h.get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_as_503() {
    let s = TestServer::start_with(ServerOptions {
        request_timeout_ms: 1,
        ..ServerOptions::default()
    })
    .await;
    let batch: Vec<_> = (0..200)
        .map(|i| json!({"content": format!("a fairly long sentence to embed, number {i}")}))
        .collect();
    let (status, _, body) = raw(
        &s,
        s.http
            .post(s.url("/api/v1/memories/batch"))
            .json(&json!({"memories": batch})),
    )
    .await;
    assert_problem(status, &body, 503, "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_guards_the_api_but_not_health() {
    let s = TestServer::start_with(ServerOptions {
        api_key: Some("s3cret-key".into()),
        ..ServerOptions::default()
    })
    .await;
    let url = s.url("/api/v1/contexts/ns/k");
    let (status, h, body) = raw(&s, s.http.get(&url)).await;
    assert_problem(status, &body, 401, "unauthorized");
    assert_eq!(h.get("www-authenticate").unwrap(), "Bearer");
    let (status, _, body) = raw(&s, s.http.get(&url).bearer_auth("wrong-key!")).await;
    assert_problem(status, &body, 401, "unauthorized");
    let (status, _, body) = raw(&s, s.http.get(&url).bearer_auth("s3cret-key")).await;
    assert_problem(status, &body, 404, "not_found");
    let (status, _, _) = raw(
        &s,
        s.http
            .get(&url)
            .header("authorization", "bearer s3cret-key"),
    )
    .await;
    assert_eq!(status, 404, "the scheme is case-insensitive");
    let (status, _, body) = raw(
        &s,
        s.http
            .post(s.url("/mcp"))
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
    )
    .await;
    assert_problem(status, &body, 401, "unauthorized");
    for open in ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"] {
        let res = s.http.get(s.url(open)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{open}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_cors_and_compression() {
    let s = TestServer::start_with(ServerOptions {
        cors_origins: vec!["https://app.example".into()],
        ..ServerOptions::default()
    })
    .await;
    let res = s.http.get(s.url("/healthz")).send().await.unwrap();
    let id = res
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let res = s
        .http
        .get(s.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get("x-request-id").unwrap(), "trace-me-42");

    let res = s
        .http
        .get(s.url("/healthz"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("access-control-allow-origin").unwrap(),
        "https://app.example"
    );
    let res = s
        .http
        .get(s.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let res = s
        .http
        .get(s.url("/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get("content-encoding").unwrap(), "gzip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/healthz").await, (200, json!({"status": "ok"})));
    assert_eq!(s.get("/readyz").await, (200, json!({"status": "ok"})));
    s.post("/api/v1/memories", json!({"content": "count me"}))
        .await;
    s.post("/api/v1/memories/search", json!({"query": "count"}))
        .await;
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        r#"omnex_http_requests_total{route="/api/v1/memories",method="POST",status="201"}"#,
        r#"omnex_http_request_duration_seconds_bucket{route="/api/v1/memories/search",method="POST",status="200",le="#,
        "omnex_embed_seconds_bucket",
        "omnex_index_vectors ",
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
    let docs = s
        .http
        .get(s.url("/docs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(docs.contains("/openapi.json"));
}
