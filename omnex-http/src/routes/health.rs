//! Health, readiness and metrics: open even with an API key.

use axum::{extract::State, routing::get, Json, Router};
use omnex_core::Omnex;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{error::ApiError, layers::Metrics};

pub(crate) fn routes() -> Router<Omnex> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The `/metrics` route, which needs the metrics handle as state.
pub(crate) fn metrics_route(metrics: Metrics) -> Router<Omnex> {
    Router::new().route(
        "/metrics",
        get(move |State(omnex): State<Omnex>| async move { metrics.render(&omnex).await }),
    )
}

/// The body of health answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Status {
    /// `ok` when healthy.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "Up", body = Status)))]
pub(crate) async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Every backend (store, index) answers.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "A backend cannot be reached", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn readyz(State(omnex): State<Omnex>) -> Result<Json<Status>, ApiError> {
    omnex.ready().await?;
    Ok(Json(Status { status: "ok" }))
}
