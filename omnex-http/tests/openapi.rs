//! The OpenAPI document: valid OpenAPI 3.1, complete, and committed up to date.

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod common;

use std::collections::BTreeSet;

use common::TestServer;
use omnex_core::{model::NewApiKey, validate};
use omnex_http::ServerOptions;
use serde_json::{json, Value};

const ROUTES: &[(&str, &str)] = &[
    ("put", "/api/v1/contexts/{namespace}/{key}"),
    ("get", "/api/v1/contexts/{namespace}/{key}"),
    ("delete", "/api/v1/contexts/{namespace}/{key}"),
    ("get", "/api/v1/contexts"),
    ("post", "/api/v1/memories"),
    ("get", "/api/v1/memories"),
    ("post", "/api/v1/memories/batch"),
    ("post", "/api/v1/memories/search"),
    ("get", "/api/v1/memories/{id}"),
    ("patch", "/api/v1/memories/{id}"),
    ("delete", "/api/v1/memories/{id}"),
    ("post", "/api/v1/keys"),
    ("get", "/api/v1/keys"),
    ("delete", "/api/v1/keys/{id}"),
    ("get", "/api/v1/audit"),
    ("post", "/api/v1/auth/token"),
    ("get", "/api/v1/changes"),
    ("get", "/api/v1/changes/stream"),
    ("get", "/api/v1/changes/ws"),
    ("get", "/api/v1/memories/{id}/history"),
    ("get", "/api/v1/history/contexts/{namespace}/{key}"),
    ("post", "/api/v1/jobs"),
    ("get", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/{id}"),
    ("delete", "/api/v1/jobs/{id}"),
    ("get", "/api/v1/jobs/{id}/output"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/{id}"),
    ("delete", "/api/v1/webhooks/{id}"),
    ("get", "/api/v1/webhooks/{id}/deliveries"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/openapi.json"),
];

#[test]
fn document_is_openapi_3_1_with_every_route() {
    let json = omnex_http::openapi_json();
    let spec: oas3::OpenApiV3Spec = oas3::from_json(json).expect("parses as OpenAPI 3.1");
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
    let paths = spec.paths.as_ref().expect("paths");
    let mut found = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.methods() {
            let method = method.as_str().to_lowercase();
            assert!(
                op.summary.is_some() || op.description.is_some(),
                "{method} {path} is undocumented"
            );
            assert!(
                !op.responses(&spec).is_empty(),
                "{method} {path} has no responses"
            );
            found.insert((method, path.clone()));
        }
    }
    let want: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(found, want);
    let schemas = &spec.components.as_ref().expect("components").schemas;
    for name in [
        "Context",
        "Memory",
        "NewMemoryBody",
        "MemoryUpdate",
        "SearchHit",
        "Problem",
        "SearchBody",
        "PutContextBody",
        "ApiKey",
        "NewApiKey",
        "CreatedApiKey",
        "AuditEvent",
        "IssuedToken",
        "Event",
        "EventPage",
        "Job",
        "Webhook",
        "NewWebhook",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}

#[test]
fn committed_document_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let generated = omnex_http::openapi_json();
    if std::env::var_os("OMNEX_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale; regenerate it with\n  cargo run --bin omnex -- openapi > docs/openapi.json\n(or run this test with OMNEX_UPDATE_OPENAPI=1)"
    );
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

#[test]
fn every_api_operation_documents_the_errors_of_the_layers() {
    let doc: Value = serde_json::from_str(omnex_http::openapi_json()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let responses = op["responses"].as_object().unwrap();
            if !path.starts_with("/api/v1/") {
                assert_eq!(op["security"], json!([{}]), "{method} {path} needs no key");
                continue;
            }
            let mut want = vec!["401", "403", "429", "503"];
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if op.get("requestBody").is_some() {
                want.extend(["400", "413", "415", "422"]);
            } else if !params.is_empty() {
                want.push("400");
            }
            let in_path = params.iter().any(|p| p["in"] == "path");
            if in_path {
                want.push("404");
            }
            for status in want {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
    let unavailable = &doc["components"]["responses"]["Unavailable"];
    assert!(unavailable["headers"].get("Retry-After").is_some());
    assert_eq!(
        unavailable["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
}

#[test]
fn input_rules_come_from_the_core() {
    let doc: Value = serde_json::from_str(omnex_http::openapi_json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["Namespace"]["maxLength"],
        validate::MAX_NAMESPACE_LEN
    );
    assert_eq!(schemas["Content"]["maxLength"], validate::MAX_CONTENT_LEN);
    assert_eq!(schemas["PageLimit"]["maximum"], validate::MAX_PAGE);
    assert_eq!(
        schemas["SearchLimit"]["maximum"],
        validate::MAX_SEARCH_LIMIT
    );
    assert_eq!(schemas["TtlSeconds"]["maximum"], validate::MAX_TTL_SECONDS);
    assert_eq!(schemas["Tags"]["maxItems"], validate::MAX_TAGS);
    let body = &schemas["PutContextBody"]["allOf"][0]["properties"];
    assert_eq!(body["tags"]["$ref"], "#/components/schemas/Tags");
    assert_eq!(body["value"]["$ref"], "#/components/schemas/JsonValue");
    let get_context = &doc["paths"]["/api/v1/contexts/{namespace}/{key}"]["get"];
    assert_eq!(
        get_context["parameters"][0]["schema"]["$ref"],
        "#/components/schemas/Namespace"
    );
    // A search needs a query or a vector.
    let forms = schemas["SearchBody"]["allOf"][1]["anyOf"]
        .as_array()
        .unwrap();
    assert!(forms.iter().all(|f| {
        let required = f["required"].as_array().unwrap();
        required.contains(&json!("query")) || required.contains(&json!("vector"))
    }));
}

async fn served_document(s: &TestServer) -> Value {
    let res = s.http.get(s.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Whether any operation of `doc` needs the API key.
fn needs_key(doc: &Value) -> bool {
    let top = doc.get("security").is_some_and(|s| {
        s.as_array()
            .unwrap()
            .iter()
            .any(|r| r.get("api_key").is_some())
    });
    let op = doc["paths"].as_object().unwrap().values().any(|item| {
        item.as_object().unwrap().values().any(|op| {
            op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("api_key").is_some()))
        })
    });
    top || op
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_document_says_whether_a_key_is_needed() {
    let committed: Value = serde_json::from_str(omnex_http::openapi_json()).unwrap();
    assert_eq!(committed["security"], json!([{"api_key": []}]));

    let keyed = TestServer::small(ServerOptions {
        api_key: Some("s3cret-key".into()),
        ..ServerOptions::default()
    })
    .await;
    let doc = served_document(&keyed).await;
    assert_eq!(doc["security"], json!([{"api_key": []}]));
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([{}]));
    // The served document states the server's dimension.
    assert_eq!(doc["components"]["schemas"]["Embedding"]["minItems"], 8);
    assert_eq!(doc["components"]["schemas"]["Embedding"]["maxItems"], 8);
    assert!(committed["components"]["schemas"]["Embedding"]
        .get("minItems")
        .is_none());

    let open = TestServer::small(ServerOptions::default()).await;
    let doc = served_document(&open).await;
    assert!(!needs_key(&doc), "an open server's operations need no key");
    assert!(
        doc["components"]["securitySchemes"]
            .get("api_key")
            .is_some(),
        "the scheme stays described"
    );
    let (status, _) = open.get("/api/v1/contexts").await;
    assert_eq!(status, 200, "and indeed needs none");

    // A stored key closes the server, and the document says so at once.
    open.omnex
        .create_api_key(NewApiKey::default())
        .await
        .unwrap();
    let doc = served_document(&open).await;
    assert!(needs_key(&doc));
    let (status, _) = open.get("/api/v1/contexts").await;
    assert_eq!(status, 401);
}
