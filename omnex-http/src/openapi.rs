//! The OpenAPI 3.1 document, generated from the handlers and types, and the routes
//! that serve it (`/openapi.json`, and the interactive `/docs`).
//!
//! The committed document (`docs/openapi.json`, [`openapi_json`]) is the production
//! form: every `/api/v1` operation needs a key. The document a server serves states
//! that server: no key needed when it has neither an `--api-key` nor stored keys, its
//! index's vector dimension, and the search modes its embedder and text index allow.

mod rules;

use rules::InputRules;

use std::{collections::HashMap, sync::OnceLock};

use axum::{
    body::Bytes,
    extract::State,
    http::header,
    response::{Html, IntoResponse},
    routing::get,
    Extension, Router,
};
use omnex_core::Omnex;
use parking_lot::Mutex;
use utoipa::{
    openapi::{
        header::HeaderBuilder,
        path::{Operation, ParameterIn},
        response::{Response, ResponseBuilder},
        schema::{ObjectBuilder, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        ContentBuilder, Ref, RefOr,
    },
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
    modifiers(&BearerAuth, &InputRules, &CommonResponses),
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

/// The problem responses every `/api/v1` operation may give, from the layers and
/// extractors around the handlers, added once here rather than on each handler (which
/// keep their own where they say more).
struct CommonResponses;

impl CommonResponses {
    /// `(status, component name, response)`, and to which operations each applies.
    fn responses() -> Vec<(&'static str, &'static str, Applies, Response)> {
        let retry_after = || {
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .description(Some("Seconds to wait before retrying."))
                .build()
        };
        let rate_header = |what: &str| {
            HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .description(Some(what))
                .build()
        };
        vec![
            (
                "400",
                "BadRequest",
                Applies::WithInput,
                problem(
                    "Invalid input: a value breaks a rule (`invalid_input`, with the `field`), \
                     the body is not JSON (`malformed_json`), or a path or query parameter \
                     cannot be read.",
                ),
            ),
            (
                "401",
                "Unauthorized",
                Applies::Always,
                ResponseBuilder::from(problem(
                    "No valid credentials (`unauthorized`): the server has an `--api-key` or \
                     stored keys and the request sent none, or the key or token sent is \
                     unknown, revoked or expired.",
                ))
                .header(
                    "WWW-Authenticate",
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some("`Bearer`"))
                        .build(),
                )
                .build(),
            ),
            (
                "403",
                "Forbidden",
                Applies::Always,
                problem(
                    "The credentials may not do this (`forbidden`): the permission, a \
                     namespace or the tenant is not the key's, or a quota is reached.",
                ),
            ),
            (
                "404",
                "NotFound",
                Applies::WithPathParameters,
                problem("Nothing at this path in the caller's tenant (`not_found`)."),
            ),
            (
                "413",
                "PayloadTooLarge",
                Applies::WithBody,
                problem("The body is larger than the server's limit (`payload_too_large`)."),
            ),
            (
                "415",
                "UnsupportedMediaType",
                Applies::WithBody,
                problem(
                    "The body is not sent as JSON (`unsupported_media_type`): send \
                     `Content-Type: application/json`.",
                ),
            ),
            (
                "422",
                "UnprocessableJson",
                Applies::WithBody,
                problem(
                    "JSON of the wrong shape (`unprocessable_json`): a missing field, a field \
                     of the wrong type, or an unknown one.",
                ),
            ),
            (
                "429",
                "TooManyRequests",
                Applies::Always,
                ResponseBuilder::from(problem(
                    "Over the server's or the caller's request rate (`rate_limited`).",
                ))
                .header("Retry-After", retry_after())
                .header(
                    "RateLimit-Limit",
                    rate_header("Requests allowed per second."),
                )
                .header(
                    "RateLimit-Remaining",
                    rate_header("Requests left this second."),
                )
                .header(
                    "RateLimit-Reset",
                    rate_header("Seconds until the budget is back."),
                )
                .build(),
            ),
            (
                "503",
                "Unavailable",
                Applies::Always,
                ResponseBuilder::from(problem(
                    "A backend (store, index, embedder) cannot be reached (`unavailable`), or \
                     the request ran past the server's time limit (`timeout`).",
                ))
                .header("Retry-After", retry_after())
                .build(),
            ),
        ]
    }
}

/// Which operations a common response applies to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Applies {
    Always,
    /// Operations with parameters or a body (which can be wrong).
    WithInput,
    WithBody,
    WithPathParameters,
}

/// A response whose body is a problem document.
fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let responses = Self::responses();
        let components = doc.components.get_or_insert_with(Default::default);
        for (_, name, _, response) in &responses {
            components
                .responses
                .insert((*name).to_owned(), RefOr::T(response.clone()));
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            for op in operations(item) {
                let with_body = op.request_body.is_some();
                let params = op.parameters.iter().flatten();
                let with_params = params.clone().next().is_some();
                let with_path = params.clone().any(|p| p.parameter_in == ParameterIn::Path);
                for (status, name, applies, _) in &responses {
                    let applies = match applies {
                        Applies::Always => true,
                        Applies::WithInput => with_body || with_params,
                        Applies::WithBody => with_body,
                        Applies::WithPathParameters => with_path,
                    };
                    if applies {
                        op.responses
                            .responses
                            .entry((*status).to_owned())
                            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
                    }
                }
            }
        }
    }
}

/// The operations of a path.
fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// The committed document (the production form: every `/api/v1` operation needs a
/// key), as pretty JSON; computed once.
pub fn openapi_json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| pretty(&ApiDoc::openapi()))
}

fn pretty(doc: &utoipa::openapi::OpenApi) -> String {
    let mut json = doc
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}

/// What a served document states about its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Served {
    /// Requests to `/api/v1` need credentials.
    auth: bool,
    /// The index's dimension.
    dimension: usize,
    /// What its searches accept.
    search: rules::Search,
}

/// The document for a server, as JSON (computed once for each kind of server).
fn served_json(served: Served) -> Bytes {
    static DOCS: OnceLock<Mutex<HashMap<Served, Bytes>>> = OnceLock::new();
    let docs = DOCS.get_or_init(Mutex::default);
    if let Some(json) = docs.lock().get(&served) {
        return json.clone();
    }
    let mut doc = ApiDoc::openapi();
    rules::dimension(&mut doc, served.dimension);
    rules::search_modes(&mut doc, served.search);
    if !served.auth {
        without_security(&mut doc);
    }
    let json = Bytes::from(pretty(&doc));
    docs.lock().insert(served, json.clone());
    json
}

/// An open server's document: no operation needs the API key (the scheme stays
/// described in the components).
fn without_security(doc: &mut utoipa::openapi::OpenApi) {
    doc.security = None;
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            if let Some(requirements) = &mut op.security {
                requirements.retain(|r| *r == Default::default());
            }
        }
    }
}

/// Whether the server has its own `--api-key`.
#[derive(Clone, Copy, Debug)]
struct ServerKey(bool);

/// The routes of the API documents: open even with an API key. `server_key`: whether
/// the server has its own `--api-key` (then every request needs credentials).
pub(crate) fn routes(server_key: bool) -> Router<Omnex> {
    Router::new()
        .route(
            "/openapi.json",
            get(serve_document).layer(Extension(ServerKey(server_key))),
        )
        .route("/docs", get(docs))
}

/// This document: the OpenAPI 3.1 description of the API, as this server answers it
/// (without the API key's security requirement when the server needs no key).
#[utoipa::path(get, path = "/openapi.json", tag = "health", operation_id = "openapi_json", security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn serve_document(
    State(omnex): State<Omnex>,
    Extension(ServerKey(server_key)): Extension<ServerKey>,
) -> impl IntoResponse {
    // As `auth::authenticate` decides; a store that cannot say gives the keyed form.
    let auth = server_key || omnex.has_api_keys().await.unwrap_or(true);
    let served = Served {
        auth,
        dimension: omnex.dimension(),
        search: rules::Search {
            embedder: omnex.embedder().is_some(),
            keyword: omnex.has_keyword_search(),
        },
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        served_json(served),
    )
}

/// Interactive API documentation (Scalar, loaded from its CDN by the browser).
async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
