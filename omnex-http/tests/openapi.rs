//! The OpenAPI document: valid OpenAPI 3.1, complete, and committed up to date.

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::collections::BTreeSet;

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
