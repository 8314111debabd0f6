//! `/api/v1/keys` and `/api/v1/audit`: API keys and the audit log (admin only).

use std::sync::Arc;

use axum::{
    http::StatusCode,
    routing::{delete, get, post},
    Extension, Json, Router,
};
use omnex_core::{
    model::{ApiKey, AuditEvent, CreatedApiKey, ListAudit, NewApiKey, Page},
    validate::schema,
    Omnex,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    auth::{Caller, Credential},
    error::{ApiError, AppJson, AppPath, AppQuery, Problem},
    tokens::{IssuedToken, Tokens},
};

pub(crate) fn routes() -> Router<Omnex> {
    Router::new()
        .route("/keys", get(list_keys).post(create_key))
        .route("/keys/{id}", delete(revoke_key))
        .route("/audit", get(audit_log))
        .route("/auth/token", post(issue_token))
}

/// Make an API key. The key is in this response only: it is stored as a hash.
///
/// Needs `admin`. A key for another tenant (`tenant`) needs the server's
/// `--api-key`; a key never gets more than the key that makes it.
#[utoipa::path(
    post, path = "/api/v1/keys", tag = "access",
    request_body = NewApiKey,
    responses(
        (status = 201, description = "The new key, shown once", body = CreatedApiKey),
        (status = 403, description = "The credentials may not make this key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_key(
    omnex: Caller,
    AppJson(body): AppJson<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    Ok((StatusCode::CREATED, Json(omnex.create_api_key(body).await?)))
}

/// Query parameters of `GET /keys`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct KeyListParams {
    /// Another tenant's keys (needs the server's `--api-key`); `*` for every tenant's.
    #[param(value_type = Option<schema::TenantOrAll>)]
    pub tenant: Option<String>,
}

/// List API keys (without the keys themselves), newest first, revoked ones included.
#[utoipa::path(
    get, path = "/api/v1/keys", tag = "access",
    params(KeyListParams),
    responses(
        (status = 200, description = "The keys", body = Vec<ApiKey>),
        (status = 403, description = "Needs admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_keys(
    omnex: Caller,
    AppQuery(q): AppQuery<KeyListParams>,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(omnex.list_api_keys(q.tenant.as_deref()).await?))
}

/// Path of one key: its id, or its `omx_…` prefix.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct KeyPath {
    /// The key's id or prefix.
    pub id: String,
}

/// Revoke an API key: it stops working at once on this server, within 5 s on others.
#[utoipa::path(
    delete, path = "/api/v1/keys/{id}", tag = "access",
    params(KeyPath),
    responses(
        (status = 200, description = "The revoked key", body = ApiKey),
        (status = 403, description = "Needs admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke_key(
    omnex: Caller,
    AppPath(p): AppPath<KeyPath>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(omnex.revoke_api_key(&p.id).await?))
}

/// Query parameters of `GET /audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditParams {
    /// Only this tenant's events (another tenant's needs the server's `--api-key`;
    /// a tenant admin sees its own tenant's).
    #[param(value_type = Option<schema::Tenant>)]
    pub tenant: Option<String>,
    /// Only this action, such as `auth.failed` or `key.created`.
    pub action: Option<String>,
    /// Page size (default 50, at most 1000).
    #[param(value_type = Option<schema::PageLimit>)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page: a position in the log.
    #[param(value_type = Option<i64>)]
    pub cursor: Option<String>,
}

/// Read the audit log, newest first: key changes, first uses, failed
/// authentications, refused calls, deletes. It holds no secrets and no content.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "access",
    params(AuditParams),
    responses(
        (status = 200, description = "One page", body = Page<AuditEvent>),
        (status = 403, description = "Needs admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn audit_log(
    omnex: Caller,
    AppQuery(q): AppQuery<AuditParams>,
) -> Result<Json<Page<AuditEvent>>, ApiError> {
    let req = ListAudit {
        tenant: q.tenant,
        action: q.action,
        limit: q.limit,
        cursor: q.cursor,
    };
    Ok(Json(omnex.audit_log(req).await?))
}

/// Exchange the API key of the request for a short-lived signed token (JWT, HS256).
///
/// Send the key as `Authorization: Bearer <key>`; send the token the same way after.
/// The token carries the key's tenant, permission and namespaces and stops working at
/// `expires_in` (a revoked key's tokens run out then). Tokens cannot make tokens.
#[utoipa::path(
    post, path = "/api/v1/auth/token", tag = "access",
    responses(
        (status = 200, description = "The token", body = IssuedToken),
        (status = 401, description = "No valid API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential is a token, not a key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn issue_token(
    omnex: Caller,
    Extension(credential): Extension<Credential>,
    Extension(tokens): Extension<Arc<Tokens>>,
) -> Result<Json<IssuedToken>, ApiError> {
    if matches!(credential, Credential::Token | Credential::None) {
        return Err(omnex_core::Error::forbidden(
            "a token is made from an API key: send one as `Authorization: Bearer <key>`",
        )
        .into());
    }
    Ok(Json(tokens.issue(omnex.principal())?))
}
