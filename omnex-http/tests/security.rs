//! Trying to break in over HTTP: keys of two tenants on one server, each trying to
//! read, change, delete and find the other's data by guessing ids and words; wrong,
//! tampered, revoked and expired keys; permissions and namespaces; the admin routes.

// Tests run outside any server: a skipped one says so on the test output.
#![allow(clippy::disallowed_macros)]

mod common;

use common::{assert_problem, call, TestServer};
use omnex_http::ServerOptions;
use serde_json::{json, Value};

const BOOT: &str = "bootstrap-key-for-tests";

async fn server() -> TestServer {
    TestServer::start_with(ServerOptions {
        api_key: Some(BOOT.into()),
        ..ServerOptions::default()
    })
    .await
}

/// Makes a key with the server's bootstrap key; returns (key, id).
async fn make_key(s: &TestServer, body: Value) -> (String, String) {
    let (status, made) = call(s, BOOT, "POST", "/api/v1/keys", Some(body)).await;
    assert_eq!(status, 201, "{made}");
    (
        made["key"].as_str().unwrap().to_owned(),
        made["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_never_reaches_another() {
    let s = server().await;
    let (a, _) = make_key(&s, json!({"tenant": "acme", "permission": "write"})).await;
    let (b, _) = make_key(&s, json!({"tenant": "globex", "permission": "admin"})).await;

    let (status, m) = call(
        &s,
        &a,
        "POST",
        "/api/v1/memories",
        Some(json!({"content": "Acme's launch code is swordfish", "namespace": "app"})),
    )
    .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["tenant"], "acme");
    let id = m["id"].as_str().unwrap();
    let (status, _) = call(
        &s,
        &a,
        "PUT",
        "/api/v1/contexts/app/plan",
        Some(json!({"value": {"secret": "swordfish"}})),
    )
    .await;
    assert_eq!(status, 201);

    // Guessing the id gives 404, never 403, and never the content.
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"content": "hijacked"}))),
        ("DELETE", None),
    ] {
        let (status, res) = call(&s, &b, method, &format!("/api/v1/memories/{id}"), body).await;
        assert_problem(status, &res, 404, "not_found");
        assert!(!res.to_string().contains("swordfish"), "{res}");
    }
    let (status, res) = call(&s, &b, "GET", "/api/v1/contexts/app/plan", None).await;
    assert_problem(status, &res, 404, "not_found");
    // Searching and listing with the other tenant's words finds nothing.
    for mode in ["keyword", "semantic", "hybrid"] {
        let (status, hits) = call(
            &s,
            &b,
            "POST",
            "/api/v1/memories/search",
            Some(json!({"query": "launch code swordfish", "mode": mode})),
        )
        .await;
        assert_eq!(status, 200, "{hits}");
        assert_eq!(
            hits["hits"].as_array().map_or(0, Vec::len),
            0,
            "{mode}: {hits}"
        );
    }
    for path in [
        "/api/v1/memories",
        "/api/v1/memories?namespace=app",
        "/api/v1/contexts",
    ] {
        let (status, page) = call(&s, &b, "GET", path, None).await;
        assert_eq!(status, 200);
        assert_eq!(page["items"], json!([]), "{path}");
    }
    // The same key in b's tenant is b's own context, not a's.
    let (status, _) = call(
        &s,
        &b,
        "PUT",
        "/api/v1/contexts/app/plan",
        Some(json!({"value": 1, "if_version": 0})),
    )
    .await;
    assert_eq!(status, 201);
    // A tenant admin cannot make keys for, or read the audit of, another tenant.
    let (status, res) = call(
        &s,
        &b,
        "POST",
        "/api/v1/keys",
        Some(json!({"tenant": "acme"})),
    )
    .await;
    assert_problem(status, &res, 403, "forbidden");
    let (status, res) = call(&s, &b, "GET", "/api/v1/audit?tenant=acme", None).await;
    assert_problem(status, &res, 403, "forbidden");
    // Every tenant's keys are the operator's to list: a tenant admin is refused, not
    // told the `*` is malformed.
    let (status, res) = call(&s, &b, "GET", "/api/v1/keys?tenant=*", None).await;
    assert_problem(status, &res, 403, "forbidden");
    // A tenant that is not a tenant name is invalid for the operator too.
    let (status, res) = call(&s, BOOT, "GET", "/api/v1/audit?tenant=", None).await;
    assert_problem(status, &res, 400, "invalid_input");
    let (status, log) = call(&s, &b, "GET", "/api/v1/audit?limit=1000", None).await;
    assert_eq!(status, 200);
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["tenant"] == "globex"),
        "{log}"
    );

    // a still has everything, unchanged.
    let (status, got) = call(&s, &a, "GET", &format!("/api/v1/memories/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(got["content"], "Acme's launch code is swordfish");
    let (_, ctx) = call(&s, &a, "GET", "/api/v1/contexts/app/plan", None).await;
    assert_eq!(ctx["value"]["secret"], "swordfish");
    assert_eq!(ctx["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_refused_with_401() {
    let s = server().await;
    let (key, id) = make_key(&s, json!({"permission": "read", "ttl_seconds": 2})).await;
    let (status, _) = call(&s, &key, "GET", "/api/v1/contexts", None).await;
    assert_eq!(status, 200);
    let mut tampered = key.clone();
    tampered.replace_range(key.len() - 4.., "AAAA");
    let prefix_only = key[..12].to_owned();
    for bad in [
        "",
        "omx_",
        "not-a-key",
        &tampered,
        &prefix_only,
        &format!("{key}x"),
    ] {
        let (status, res) = call(&s, bad, "GET", "/api/v1/contexts", None).await;
        assert_problem(status, &res, 401, "unauthorized");
    }
    let (status, res) = call(&s, "", "POST", "/mcp", Some(json!({}))).await;
    assert_eq!(status, 401, "{res}");
    // Read-only keys cannot write, nor manage keys.
    let (status, res) = call(
        &s,
        &key,
        "PUT",
        "/api/v1/contexts/a/b",
        Some(json!({"value": 1})),
    )
    .await;
    assert_problem(status, &res, 403, "forbidden");
    let (status, res) = call(&s, &key, "GET", "/api/v1/keys", None).await;
    assert_problem(status, &res, 403, "forbidden");
    // Revoked: refused at once.
    let (status, revoked) = call(&s, BOOT, "DELETE", &format!("/api/v1/keys/{id}"), None).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (status, res) = call(&s, &key, "GET", "/api/v1/contexts", None).await;
    assert_problem(status, &res, 401, "unauthorized");
    // Expired: refused after its time.
    let (short, _) = make_key(&s, json!({"ttl_seconds": 1})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (status, res) = call(&s, &short, "GET", "/api/v1/contexts", None).await;
    assert_problem(status, &res, 401, "unauthorized");

    // The listing shows prefixes, never keys or hashes; the audit log names the failures.
    let (_, keys) = call(&s, BOOT, "GET", "/api/v1/keys?tenant=*", None).await;
    let text = keys.to_string();
    assert!(text.contains(&key[..12]) && !text.contains(&key) && !text.contains("hash"));
    let (_, log) = call(
        &s,
        BOOT,
        "GET",
        "/api/v1/audit?action=auth.failed&limit=1000",
        None,
    )
    .await;
    let failures = log["items"].as_array().unwrap();
    assert!(failures.len() >= 5, "{log}");
    assert!(!log.to_string().contains(&key) && !log.to_string().contains(&tampered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_keys_in_its_store_needs_one() {
    // No --api-key: open until the first key exists, then closed.
    let s = TestServer::start().await;
    let (status, _) = call(&s, "", "GET", "/api/v1/contexts", None).await;
    assert_eq!(status, 200);
    let (status, made) = call(
        &s,
        "",
        "POST",
        "/api/v1/keys",
        Some(json!({"permission": "admin", "namespaces": ["app"]})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap();
    let (status, res) = call(&s, "", "GET", "/api/v1/contexts", None).await;
    assert_problem(status, &res, 401, "unauthorized");
    // Limited to namespace "app": other namespaces are refused, "app" works.
    let (status, res) = call(
        &s,
        key,
        "PUT",
        "/api/v1/contexts/other/k",
        Some(json!({"value": 1})),
    )
    .await;
    assert_problem(status, &res, 403, "forbidden");
    let (status, _) = call(
        &s,
        key,
        "PUT",
        "/api/v1/contexts/app/k",
        Some(json!({"value": 1})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, page) = call(&s, key, "GET", "/api/v1/contexts", None).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

/// Waits until just after the start of a second, so a burst falls in one window.
async fn start_of_a_second() {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(1020 - ms))).await;
}

async fn limited_server(redis: Option<String>) -> TestServer {
    TestServer::start_with(ServerOptions {
        api_key: Some(BOOT.into()),
        key_rate_limit: 5,
        rate_limit_redis: redis,
        ..ServerOptions::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_has_its_own_rate_limit() {
    let s = limited_server(None).await;
    let (a, _) = make_key(&s, json!({})).await;
    let (b, _) = make_key(&s, json!({})).await;
    start_of_a_second().await;
    for i in 0..5 {
        let res = s
            .http
            .get(s.url("/api/v1/contexts"))
            .bearer_auth(&a)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "request {i}");
        assert_eq!(res.headers()["ratelimit-limit"], "5");
    }
    let res = s
        .http
        .get(s.url("/api/v1/contexts"))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    // Another key of the same tenant is not slowed by a's burst.
    let res = s
        .http
        .get(s.url("/api/v1/contexts"))
        .bearer_auth(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_sharing_redis_share_a_keys_limit() {
    let Ok(redis) = std::env::var("OMNEX_TEST_REDIS_URL") else {
        assert!(
            !omnex_core::conformance::required("redis"),
            "OMNEX_TEST_REDIS_URL is not set"
        );
        eprintln!("SKIPPED servers_sharing_redis_share_a_keys_limit: no Redis configured");
        return;
    };
    let one = limited_server(Some(redis.clone())).await;
    // The second server opens the first one's store, as a second replica would.
    let two = TestServer::serve(
        one.omnex.clone(),
        ServerOptions {
            api_key: Some(BOOT.into()),
            key_rate_limit: 5,
            rate_limit_redis: Some(redis),
            ..ServerOptions::default()
        },
        None,
    )
    .await;
    let (key, _) = make_key(&one, json!({})).await;
    start_of_a_second().await;
    for (i, s) in [&one, &two, &one, &two, &one].into_iter().enumerate() {
        let res = s
            .http
            .get(s.url("/api/v1/contexts"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "request {i}");
    }
    let res = two
        .http
        .get(two.url("/api/v1/contexts"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        429,
        "the sixth request of the second, on either server"
    );
}
