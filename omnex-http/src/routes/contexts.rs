//! `/api/v1/contexts`: JSON values under `namespace/key`.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use omnex_core::{
    model::{Context, ListContexts, Page, PutContext},
    validate::schema,
    Omnex,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::Caller,
    error::{ApiError, AppJson, AppPath, AppQuery, Problem},
};

pub(crate) fn routes() -> Router<Omnex> {
    Router::new().route("/contexts", get(list_contexts)).route(
        "/contexts/{namespace}/{*key}",
        get(get_context).put(put_context).delete(delete_context),
    )
}

/// The body of `PUT /contexts/{namespace}/{key}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutContextBody {
    /// Any JSON value (at most 1 MiB serialized).
    #[schema(value_type = schema::JsonValue)]
    pub value: serde_json::Value,
    /// Tags for filtering listings; replaces the stored tags.
    #[serde(default)]
    #[schema(value_type = schema::Tags)]
    pub tags: Vec<String>,
    /// Only write if the stored version is this one (0: only if there is none); else 409.
    #[serde(default)]
    #[schema(value_type = Option<schema::Version>)]
    pub if_version: Option<u64>,
    /// Expire the context this many seconds from now (not with `expires_at`).
    #[serde(default)]
    #[schema(value_type = Option<schema::TtlSeconds>)]
    pub ttl_seconds: Option<u64>,
    /// Expire the context at this time (RFC 3339), in the future (not with `ttl_seconds`).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Path of one context.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ContextPath {
    /// Namespace: 1–128 ASCII letters, digits, `_ - . : @`.
    #[param(value_type = schema::Namespace)]
    namespace: String,
    /// Key inside the namespace; may contain `/`.
    #[param(value_type = schema::ContextKey)]
    key: String,
}

/// Optional precondition of a delete.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteParams {
    /// Only delete if the stored version is this one; else 409.
    #[param(value_type = Option<schema::Version>)]
    if_version: Option<u64>,
}

/// Filters and paging of `GET /contexts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only this namespace.
    #[param(value_type = Option<schema::Namespace>)]
    namespace: Option<String>,
    /// Only contexts with this tag.
    #[param(value_type = Option<schema::Tag>)]
    tag: Option<String>,
    /// Only keys starting with this prefix.
    prefix: Option<String>,
    /// Page size, 1–1000 (default 50).
    #[param(value_type = Option<schema::PageLimit>)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<schema::ContextCursor>)]
    cursor: Option<String>,
}

/// Create or replace a context.
///
/// Returns 201 when the context was created, 200 when it replaced one.
/// With `if_version`, the write happens only if the stored version matches.
#[utoipa::path(
    put, path = "/api/v1/contexts/{namespace}/{key}", tag = "contexts",
    params(ContextPath), request_body = PutContextBody,
    responses(
        (status = 201, description = "Created", body = Context),
        (status = 200, description = "Replaced", body = Context),
        (status = 409, description = "`if_version` does not match the stored version", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn put_context(
    omnex: Caller,
    AppPath(p): AppPath<ContextPath>,
    AppJson(body): AppJson<PutContextBody>,
) -> Result<Response, ApiError> {
    let req = PutContext {
        namespace: p.namespace,
        key: p.key,
        value: body.value,
        tags: body.tags,
        if_version: body.if_version,
        expires_at: body.expires_at,
        ttl_seconds: body.ttl_seconds,
    };
    let ctx = omnex.put_context(req).await?;
    let status = if ctx.was_created() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ctx)).into_response())
}

/// Read a context.
#[utoipa::path(
    get, path = "/api/v1/contexts/{namespace}/{key}", tag = "contexts",
    params(ContextPath),
    responses(
        (status = 200, description = "The context", body = Context),
        (status = 404, description = "No such context (or it expired)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_context(
    omnex: Caller,
    AppPath(p): AppPath<ContextPath>,
) -> Result<Json<Context>, ApiError> {
    Ok(Json(omnex.get_context(&p.namespace, &p.key).await?))
}

/// Delete a context.
#[utoipa::path(
    delete, path = "/api/v1/contexts/{namespace}/{key}", tag = "contexts",
    params(ContextPath, DeleteParams),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such context", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`if_version` does not match", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_context(
    omnex: Caller,
    AppPath(p): AppPath<ContextPath>,
    AppQuery(q): AppQuery<DeleteParams>,
) -> Result<StatusCode, ApiError> {
    omnex
        .delete_context(&p.namespace, &p.key, q.if_version)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List contexts by `(namespace, key)`, a page at a time.
///
/// Pass the response's `next_cursor` as `cursor` for the next page; `null` means the end.
#[utoipa::path(
    get, path = "/api/v1/contexts", tag = "contexts",
    params(ListParams),
    responses(
        (status = 200, description = "One page", body = Page<Context>),
    )
)]
pub(crate) async fn list_contexts(
    omnex: Caller,
    AppQuery(q): AppQuery<ListParams>,
) -> Result<Json<Page<Context>>, ApiError> {
    let req = ListContexts {
        namespace: q.namespace,
        tag: q.tag,
        prefix: q.prefix,
        limit: q.limit,
        cursor: q.cursor,
        ..ListContexts::default()
    };
    Ok(Json(omnex.list_contexts(req).await?))
}
