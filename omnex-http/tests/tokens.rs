//! JWTs with real tokens: the server's own (an API key exchanged at
//! `POST /api/v1/auth/token`), and an external identity provider's, by shared secret
//! and by a JWKS served from a real HTTP server. Expired, wrongly signed, tampered,
//! `alg: none` and wrong-audience tokens are all refused with 401.

mod common;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use common::{assert_problem, call, TestServer};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use omnex_http::{JwtProvider, ServerOptions};
use serde_json::{json, Value};

const BOOT: &str = "bootstrap-key-for-token-tests";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `token` with its payload replaced by `claims` (the signature left as it was).
fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_becomes_a_short_lived_token() {
    let s = TestServer::start_with(ServerOptions {
        api_key: Some(BOOT.into()),
        token_secret: Some("server-token-secret".into()),
        token_ttl_secs: 2,
        ..ServerOptions::default()
    })
    .await;
    let (_, made) = call(
        &s,
        BOOT,
        "POST",
        "/api/v1/keys",
        Some(json!({"tenant": "acme", "permission": "read", "namespaces": ["app"]})),
    )
    .await;
    let key = made["key"].as_str().unwrap();
    let (status, issued) = call(&s, key, "POST", "/api/v1/auth/token", None).await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(
        (issued["token_type"].as_str(), issued["expires_in"].as_u64()),
        (Some("Bearer"), Some(2))
    );
    let token = issued["access_token"].as_str().unwrap().to_owned();
    let claims = payload(&token);
    assert_eq!(
        (claims["tenant"].as_str(), claims["permission"].as_str()),
        (Some("acme"), Some("read"))
    );
    assert!(
        !token.contains(key) && !claims.to_string().contains(&key[12..]),
        "the key is not in the token"
    );

    // The token acts as the key: reads in "app" pass, writes and other namespaces do not.
    let (status, _) = call(&s, &token, "GET", "/api/v1/contexts?namespace=app", None).await;
    assert_eq!(status, 200);
    let (status, res) = call(
        &s,
        &token,
        "PUT",
        "/api/v1/contexts/app/k",
        Some(json!({"value": 1})),
    )
    .await;
    assert_problem(status, &res, 403, "forbidden");
    let (status, res) = call(&s, &token, "GET", "/api/v1/contexts?namespace=other", None).await;
    assert_problem(status, &res, 403, "forbidden");
    // A token cannot make tokens.
    let (status, res) = call(&s, &token, "POST", "/api/v1/auth/token", None).await;
    assert_problem(status, &res, 403, "forbidden");

    // Tampered claims (a write permission, another tenant), another signing key,
    // alg none, another audience: all 401.
    let mut raised = claims.clone();
    raised["permission"] = json!("admin");
    let mut moved = claims.clone();
    moved["tenant"] = json!("globex");
    let other_key = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        token.split('.').nth(1).unwrap()
    );
    let mut audience = claims.clone();
    audience["aud"] = json!("someone-else");
    let wrong_audience = encode(
        &Header::new(Algorithm::HS256),
        &audience,
        &EncodingKey::from_secret(b"server-token-secret"),
    )
    .unwrap();
    for bad in [
        with_payload(&token, &raised),
        with_payload(&token, &moved),
        other_key,
        none,
        wrong_audience,
    ] {
        let (status, res) = call(&s, &bad, "GET", "/api/v1/contexts?namespace=app", None).await;
        assert_problem(status, &res, 401, "unauthorized");
    }
    // Expired after its lifetime.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (status, res) = call(&s, &token, "GET", "/api/v1/contexts?namespace=app", None).await;
    assert_problem(status, &res, 401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_provider_with_a_shared_secret() {
    let mut idp = JwtProvider::new("https://idp.example");
    idp.audience = Some("omnex-api".into());
    idp.secret = Some("idp-shared-secret".into());
    let s = TestServer::start_with(ServerOptions {
        api_key: Some(BOOT.into()),
        jwt: Some(idp),
        ..ServerOptions::default()
    })
    .await;
    let sign = |claims: Value, secret: &[u8]| {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let good = json!({"iss": "https://idp.example", "aud": "omnex-api", "sub": "user-7",
                      "exp": now() + 300, "tenant": "acme", "scope": "openid omnex:write"});
    let token = sign(good.clone(), b"idp-shared-secret");
    let (status, res) = call(
        &s,
        &token,
        "PUT",
        "/api/v1/contexts/app/k",
        Some(json!({"value": 1})),
    )
    .await;
    assert_eq!(status, 201, "{res}");
    assert_eq!(res["tenant"], "acme");
    // Admin routes need admin.
    let (status, res) = call(&s, &token, "GET", "/api/v1/keys", None).await;
    assert_problem(status, &res, 403, "forbidden");

    let mut expired = good.clone();
    expired["exp"] = json!(now() - 120);
    let mut audience = good.clone();
    audience["aud"] = json!("other-api");
    let mut issuer = good.clone();
    issuer["iss"] = json!("https://evil.example");
    let mut no_tenant = good.clone();
    no_tenant.as_object_mut().unwrap().remove("tenant");
    for bad in [
        sign(expired, b"idp-shared-secret"),
        sign(audience, b"idp-shared-secret"),
        sign(issuer, b"idp-shared-secret"),
        sign(no_tenant, b"idp-shared-secret"),
        sign(good.clone(), b"wrong-secret"),
        with_payload(
            &token,
            &json!({"iss": "https://idp.example", "aud": "omnex-api", "exp": now() + 300, "tenant": "globex", "permission": "admin"}),
        ),
    ] {
        let (status, res) = call(&s, &bad, "GET", "/api/v1/contexts", None).await;
        assert_problem(status, &res, 401, "unauthorized");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_provider_with_a_jwks_url() {
    // A real JWKS endpoint on 127.0.0.1.
    let jwks: Value = serde_json::from_str(include_str!("data/idp-test-jwks.json")).unwrap();
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = fetches.clone();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            axum::Json(jwks)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut idp = JwtProvider::new("https://login.example");
    idp.jwks_url = Some(jwks_url);
    let s = TestServer::start_with(ServerOptions {
        api_key: Some(BOOT.into()),
        jwt: Some(idp),
        ..ServerOptions::default()
    })
    .await;
    let key = EncodingKey::from_rsa_pem(include_bytes!("data/idp-test-key.pem")).unwrap();
    let sign = |kid: &str, claims: &Value| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, &key).unwrap()
    };
    let claims = json!({"iss": "https://login.example", "sub": "ada", "exp": now() + 300,
                        "tenant": "initech", "permission": "read"});
    let (status, res) = call(
        &s,
        &sign("test-1", &claims),
        "GET",
        "/api/v1/memories",
        None,
    )
    .await;
    assert_eq!(status, 200, "{res}");
    // An unknown key id, an HS256 token signed with the public key as a secret (the
    // classic algorithm confusion), and alg none are refused.
    let n = include_str!("data/idp-test-jwks.json");
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(n.as_bytes()),
    )
    .unwrap();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"test-1"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    for bad in [sign("test-2", &claims), confused, none] {
        let (status, res) = call(&s, &bad, "GET", "/api/v1/memories", None).await;
        assert_problem(status, &res, 401, "unauthorized");
    }
    // Tokens with made-up key ids do not make the server fetch the JWKS again and
    // again: one fetch so far, for the first token.
    for i in 0..5 {
        let (status, _) = call(
            &s,
            &sign(&format!("made-up-{i}"), &claims),
            "GET",
            "/api/v1/memories",
            None,
        )
        .await;
        assert_eq!(status, 401);
    }
    assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
}
