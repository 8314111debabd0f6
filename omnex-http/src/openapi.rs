//! The OpenAPI 3.1 document, generated from the handlers and types, and the routes
//! that serve it (`/openapi.json`, and the interactive `/docs`).

use std::sync::OnceLock;

use axum::{
    http::header,
    response::{Html, IntoResponse},
    routing::get,
    Router,
};
use omnex_core::Omnex;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::routes::{access, contexts, events, health, jobs, memories};

/// The API description served at `/openapi.json` and committed as `docs/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Omnex",
        description = "Durable memory for AI applications: contexts (JSON values under namespace/key) and memories (text searchable by meaning). Errors are application/problem+json with a stable `code`; see docs/errors.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        contexts::put_context, contexts::get_context, contexts::delete_context, contexts::list_contexts,
        memories::add_memory, memories::add_memories, memories::get_memory, memories::update_memory,
        memories::delete_memory, memories::list_memories, memories::search,
        access::create_key, access::list_keys, access::revoke_key, access::audit_log,
        access::issue_token,
        events::changes, events::stream, events::websocket, events::memory_history,
        events::context_history,
        jobs::start_job, jobs::list_jobs, jobs::get_job, jobs::cancel_job, jobs::job_output,
        jobs::create_webhook, jobs::list_webhooks, jobs::get_webhook, jobs::delete_webhook,
        jobs::deliveries,
        health::healthz, health::readyz, serve_document,
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    tags(
        (name = "contexts", description = "Structured JSON values under namespace/key, with tags, versions and expiry."),
        (name = "memories", description = "Natural-language memories with metadata, scoped to a namespace, user, agent and session, searchable by meaning."),
        (name = "events", description = "The change feed (a page, Server-Sent Events, a WebSocket) and the history of every memory and context; see docs/events.md."),
        (name = "jobs", description = "Background jobs: asynchronous batches, imports, exports, reindexing and cleanup, run by workers; see docs/events.md."),
        (name = "webhooks", description = "Signed HTTP deliveries of events, retried with backoff, with a dead-letter list; see docs/events.md."),
        (name = "access", description = "API keys and the audit log (admin only); see docs/security.md."),
        (name = "health", description = "Liveness, readiness and API documents (no API key needed)."),
    )
)]
pub struct ApiDoc;

/// Declares the optional bearer API key.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`omx_…`, made with `omnex keys create` or POST /api/v1/keys) or the server's `--api-key`. Required on /api/v1 and /mcp when the server has either; see docs/security.md.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as pretty JSON (computed once).
pub fn openapi_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut json = ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        json.push('\n');
        json
    })
}

/// The routes of the API documents: open even with an API key.
pub(crate) fn routes() -> Router<Omnex> {
    Router::new()
        .route("/openapi.json", get(serve_document))
        .route("/docs", get(docs))
}

/// This document: the OpenAPI 3.1 description of the API.
#[utoipa::path(get, path = "/openapi.json", tag = "health", operation_id = "openapi_json",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub(crate) async fn serve_document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}

/// Interactive API documentation (Scalar, loaded from its CDN by the browser).
async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
