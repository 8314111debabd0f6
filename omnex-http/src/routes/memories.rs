//! `/api/v1/memories`: text memories, their listing and semantic search.

use axum::{
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use omnex_core::{
    model::{
        Filter, ListMemories, Memory, MemoryId, MemoryUpdate, Metadata, NewMemory, Page, ScopeArgs,
        SearchHit, SearchMode, SearchRequest,
    },
    validate::{self, schema},
    Omnex,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Caller,
    error::{ApiError, AppJson, AppPath, AppQuery, Problem},
};

pub(crate) fn routes() -> Router<Omnex> {
    Router::new()
        .route("/memories", post(add_memory).get(list_memories))
        .route("/memories/batch", post(add_memories))
        .route("/memories/search", post(search))
        .route(
            "/memories/{id}",
            get(get_memory).patch(update_memory).delete(delete_memory),
        )
}

/// The body of `POST /memories` (and each item of a batch). Unknown fields are
/// rejected with 422, so a typo such as `userid` never passes silently.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMemoryBody {
    /// The text to remember (not blank, at most 64 KiB).
    #[schema(value_type = schema::Content)]
    pub content: String,
    /// Caller data: a JSON object (at most 64 KiB).
    #[serde(default)]
    #[schema(value_type = schema::Metadata)]
    pub metadata: Metadata,
    /// Namespace (default `default`).
    #[serde(default)]
    #[schema(value_type = Option<schema::Namespace>)]
    pub namespace: Option<String>,
    /// The user the memory is about.
    #[serde(default)]
    #[schema(value_type = Option<schema::ScopeId>)]
    pub user_id: Option<String>,
    /// The agent that keeps it.
    #[serde(default)]
    #[schema(value_type = Option<schema::ScopeId>)]
    pub agent_id: Option<String>,
    /// The conversation or run it comes from.
    #[serde(default)]
    #[schema(value_type = Option<schema::ScopeId>)]
    pub session_id: Option<String>,
    /// A precomputed embedding of the index dimension; else the server embeds `content`.
    #[serde(default)]
    #[schema(value_type = Option<schema::Embedding>)]
    pub embedding: Option<Vec<f32>>,
    /// Expire the memory this many seconds from now (not with `expires_at`).
    #[serde(default)]
    #[schema(value_type = Option<schema::TtlSeconds>)]
    pub ttl_seconds: Option<u64>,
    /// Expire the memory at this time (RFC 3339), in the future (not with `ttl_seconds`).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<NewMemoryBody> for NewMemory {
    fn from(b: NewMemoryBody) -> Self {
        let scope = ScopeArgs::new(b.namespace, b.user_id, b.agent_id, b.session_id);
        Self {
            content: b.content,
            metadata: b.metadata,
            scope: scope.into_scope(),
            embedding: b.embedding,
            expires_at: b.expires_at,
            ttl_seconds: b.ttl_seconds,
        }
    }
}

/// The body of `POST /memories/batch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    /// 1–1000 memories, written all or nothing; with `async`, up to 100,000.
    #[schema(min_items = 1)]
    pub memories: Vec<NewMemoryBody>,
    /// Queue the batch as a job and answer 202 at once: the memories are checked
    /// now and embedded and written by a worker (follow it at `/jobs/{id}`).
    #[serde(default, rename = "async")]
    pub run_async: bool,
}

/// Memories in input order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BatchResponse {
    /// The stored memories, in the order they were sent.
    pub items: Vec<Memory>,
}

/// The body of `POST /memories/search`: a `query` text, a `vector` or both, a mode,
/// and a scope.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchBody {
    /// The text to search for: embedded for the semantic leg (unless `vector` is
    /// given), analyzed into terms for the keyword leg.
    #[serde(default)]
    #[schema(value_type = Option<schema::Content>)]
    pub query: Option<String>,
    /// A query vector of the index dimension for the semantic leg. With `query`,
    /// a hybrid search with the caller's vector.
    #[serde(default)]
    #[schema(value_type = Option<schema::Embedding>)]
    pub vector: Option<Vec<f32>>,
    /// `semantic`, `keyword` or `hybrid`. Default: `hybrid` for a query text when the
    /// server has an embedder or a `vector` is given, `keyword` for a query text
    /// without an embedder, `semantic` for a vector alone.
    #[serde(default)]
    pub mode: Option<SearchMode>,
    /// How many hits, 1–100 (default 10).
    #[serde(default)]
    #[schema(value_type = Option<schema::SearchLimit>)]
    pub limit: Option<usize>,
    /// Only this namespace.
    #[serde(default)]
    #[schema(value_type = Option<schema::Namespace>)]
    pub namespace: Option<String>,
    /// Only this user.
    #[serde(default)]
    #[schema(value_type = Option<schema::ScopeId>)]
    pub user_id: Option<String>,
    /// Only this agent.
    #[serde(default)]
    #[schema(value_type = Option<schema::ScopeId>)]
    pub agent_id: Option<String>,
    /// Only this session.
    #[serde(default)]
    #[schema(value_type = Option<schema::ScopeId>)]
    pub session_id: Option<String>,
    /// Metadata equality filter: every key must match (strings, numbers, booleans, null).
    #[serde(default)]
    #[schema(value_type = schema::MetadataFilter)]
    pub filter: Metadata,
    /// Drop hits whose final `score` is below this: cosine similarity (-1 to 1) in
    /// `semantic` mode, BM25 (0 and up) in `keyword` mode, the fused score (0 to 1) in
    /// `hybrid` mode.
    #[serde(default)]
    #[schema(value_type = Option<schema::MinScore>)]
    pub min_score: Option<f32>,
    /// Reciprocal-rank fusion constant `k` in `weight / (k + rank)` (default 10).
    #[serde(default)]
    #[schema(value_type = Option<schema::RrfK>)]
    pub rrf_k: Option<f32>,
    /// Weight of the semantic leg in the fusion (default 1).
    #[serde(default)]
    #[schema(value_type = Option<schema::LegWeight>)]
    pub semantic_weight: Option<f32>,
    /// Weight of the keyword leg in the fusion (default 1).
    #[serde(default)]
    #[schema(value_type = Option<schema::LegWeight>)]
    pub keyword_weight: Option<f32>,
    /// Decay older memories: one half-life (`"30d"`, `"12h"`, `"90m"`, `"2w"`) since
    /// its last update halves a memory's score. Off by default.
    #[serde(default)]
    #[schema(value_type = Option<schema::HalfLife>)]
    pub recency_half_life: Option<String>,
    /// Multiply each score by `1 + value` of this numeric metadata field (for example
    /// `"importance"`; missing or negative counts as 0). Off by default.
    #[serde(default)]
    #[schema(value_type = Option<schema::FieldName>)]
    pub boost_field: Option<String>,
    /// Return with each hit its rank and score in each leg and the signals applied.
    #[serde(default)]
    pub explain: bool,
    /// Include each hit's `embedding` (off by default: 384 floats per memory).
    #[serde(default)]
    pub include_embedding: bool,
}

/// Search hits, best first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchResponse {
    /// Each memory with its score (see `SearchHit.score`).
    pub hits: Vec<SearchHit>,
}

/// Path of one memory.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct IdPath {
    /// The memory id (a UUID).
    #[param(value_type = omnex_core::model::MemoryId)]
    id: String,
}

/// Whether responses carry the stored embedding.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct IncludeParams {
    /// Include each memory's `embedding` (off by default: 384 floats per memory).
    #[serde(default)]
    include_embedding: bool,
}

/// Filters and paging of `GET /memories`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only this namespace.
    #[param(value_type = Option<schema::Namespace>)]
    namespace: Option<String>,
    /// Only this user.
    #[param(value_type = Option<schema::ScopeId>)]
    user_id: Option<String>,
    /// Only this agent.
    #[param(value_type = Option<schema::ScopeId>)]
    agent_id: Option<String>,
    /// Only this session.
    #[param(value_type = Option<schema::ScopeId>)]
    session_id: Option<String>,
    /// Metadata equality filter as a JSON object, for example `{"topic":"sport"}`
    /// (URL-encoded): every key must match, as in search.
    filter: Option<String>,
    /// Page size, 1–1000 (default 50).
    #[param(value_type = Option<schema::PageLimit>)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page: the last memory's id.
    #[param(value_type = Option<omnex_core::model::MemoryId>)]
    cursor: Option<String>,
    /// Include each memory's `embedding`.
    #[serde(default)]
    include_embedding: bool,
}

/// Responses leave the embedding out unless asked for it.
fn shown(mut m: Memory, include_embedding: bool) -> Memory {
    if !include_embedding {
        m.drop_embedding();
    }
    m
}

fn parse_id(id: &str) -> Result<MemoryId, ApiError> {
    MemoryId::parse(id)
        .map_err(|_| ApiError::invalid("id", format!("{id:?} is not a memory id (a UUID)")))
}

/// Add a memory.
///
/// The content is embedded with the server's embedder, unless `embedding` is given
/// (it must have the index dimension).
#[utoipa::path(
    post, path = "/api/v1/memories", tag = "memories", request_body = NewMemoryBody, params(IncludeParams),
    responses(
        (status = 201, description = "Stored", body = Memory),
    )
)]
pub(crate) async fn add_memory(
    omnex: Caller,
    AppQuery(q): AppQuery<IncludeParams>,
    AppJson(new): AppJson<NewMemoryBody>,
) -> Result<(StatusCode, Json<Memory>), ApiError> {
    let m = omnex.add_memory(new.into()).await?;
    Ok((StatusCode::CREATED, Json(shown(m, q.include_embedding))))
}

/// Add up to 1,000 memories at once, all or nothing; or, with `async: true`, queue
/// up to 100,000 as a job (202, the job; the memories are checked first).
#[utoipa::path(
    post, path = "/api/v1/memories/batch", tag = "memories", request_body = BatchBody, params(IncludeParams),
    responses(
        (status = 201, description = "All stored, in input order", body = BatchResponse),
        (status = 202, description = "Queued as a job (`async: true`)", body = omnex_core::model::Job),
        (status = 400, description = "One item is invalid (the detail says which); nothing was stored", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn add_memories(
    omnex: Caller,
    AppQuery(q): AppQuery<IncludeParams>,
    AppJson(body): AppJson<BatchBody>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let batch: Vec<NewMemory> = body.memories.into_iter().map(NewMemory::from).collect();
    if body.run_async {
        let job = omnex.add_memories_async(batch).await?;
        return Ok((StatusCode::ACCEPTED, Json(job)).into_response());
    }
    let items = omnex.add_memories(batch).await?;
    let items = items
        .into_iter()
        .map(|m| shown(m, q.include_embedding))
        .collect();
    Ok((StatusCode::CREATED, Json(BatchResponse { items })).into_response())
}

/// Read a memory.
#[utoipa::path(
    get, path = "/api/v1/memories/{id}", tag = "memories", params(IdPath, IncludeParams),
    responses(
        (status = 200, description = "The memory", body = Memory),
        (status = 400, description = "Not a memory id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such memory (or it expired)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_memory(
    omnex: Caller,
    AppPath(p): AppPath<IdPath>,
    AppQuery(q): AppQuery<IncludeParams>,
) -> Result<Json<Memory>, ApiError> {
    let m = omnex.get_memory(parse_id(&p.id)?).await?;
    Ok(Json(shown(m, q.include_embedding)))
}

/// Update a memory; absent fields are kept. New content is re-embedded.
#[utoipa::path(
    patch, path = "/api/v1/memories/{id}", tag = "memories", params(IdPath, IncludeParams), request_body = MemoryUpdate,
    responses(
        (status = 200, description = "The updated memory", body = Memory),
        (status = 404, description = "No such memory", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn update_memory(
    omnex: Caller,
    AppPath(p): AppPath<IdPath>,
    AppQuery(q): AppQuery<IncludeParams>,
    AppJson(update): AppJson<MemoryUpdate>,
) -> Result<Json<Memory>, ApiError> {
    let m = omnex.update_memory(parse_id(&p.id)?, update).await?;
    Ok(Json(shown(m, q.include_embedding)))
}

/// Delete a memory.
#[utoipa::path(
    delete, path = "/api/v1/memories/{id}", tag = "memories", params(IdPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such memory", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_memory(
    omnex: Caller,
    AppPath(p): AppPath<IdPath>,
) -> Result<StatusCode, ApiError> {
    omnex.delete_memory(parse_id(&p.id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List memories in creation order, a page at a time.
#[utoipa::path(
    get, path = "/api/v1/memories", tag = "memories", params(ListParams),
    responses(
        (status = 200, description = "One page", body = Page<Memory>),
    )
)]
pub(crate) async fn list_memories(
    omnex: Caller,
    AppQuery(q): AppQuery<ListParams>,
) -> Result<Json<Page<Memory>>, ApiError> {
    let metadata = validate::filter_json(q.filter.as_deref().unwrap_or_default())?;
    let scope = ScopeArgs::new(q.namespace, q.user_id, q.agent_id, q.session_id);
    let page = omnex
        .list_memories(ListMemories {
            filter: Filter {
                metadata,
                ..scope.into_filter()
            },
            limit: q.limit,
            cursor: q.cursor,
            include_embedding: q.include_embedding,
        })
        .await?;
    Ok(Json(page))
}

/// Search memories by meaning, by words, or both (hybrid, the default with an
/// embedder), best first.
#[utoipa::path(
    post, path = "/api/v1/memories/search", tag = "memories", request_body = SearchBody,
    responses(
        (status = 200, description = "Hits, best first", body = SearchResponse),
        (status = 400, description = "Invalid input (for example a vector of the wrong dimension)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn search(
    omnex: Caller,
    AppJson(body): AppJson<SearchBody>,
) -> Result<Json<SearchResponse>, ApiError> {
    let scope = ScopeArgs::new(body.namespace, body.user_id, body.agent_id, body.session_id);
    let hits = omnex
        .search(SearchRequest {
            query: body.query,
            vector: body.vector,
            limit: body.limit,
            filter: Filter {
                metadata: body.filter,
                ..scope.into_filter()
            },
            min_score: body.min_score,
            mode: body.mode,
            rrf_k: body.rrf_k,
            semantic_weight: body.semantic_weight,
            keyword_weight: body.keyword_weight,
            recency_half_life: body.recency_half_life,
            boost_field: body.boost_field,
            explain: body.explain,
            include_embedding: body.include_embedding,
        })
        .await?;
    Ok(Json(SearchResponse { hits }))
}
