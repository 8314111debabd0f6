//! `/api/v1/jobs` (background jobs) and `/api/v1/webhooks` (subscriptions and
//! their deliveries).

use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use omnex_core::{
    model::{Job, JobKind, JobStatus, ListJobs, NewWebhook, Page, Webhook},
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
    Router::new()
        .route("/jobs", get(list_jobs).post(start_job))
        .route("/jobs/{id}", get(get_job).delete(cancel_job))
        .route("/jobs/{id}/output", get(job_output))
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route("/webhooks/{id}", get(get_webhook).delete(delete_webhook))
        .route("/webhooks/{id}/deliveries", get(deliveries))
}

/// The body of `POST /jobs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartJob {
    /// `import`, `export`, `reindex` or `cleanup` (an asynchronous batch of
    /// memories is `POST /memories/batch` with `async: true`).
    pub kind: String,
    /// For `import` (and only for it): the records of an export (`omnex export`), one
    /// JSON object a line.
    #[serde(default)]
    #[schema(value_type = Option<schema::NonBlankText>)]
    pub records: Option<String>,
}

/// Queue a job. `import` needs `write`; `export` needs `admin`; `reindex` and
/// `cleanup` act on the whole store and need the server's `--api-key`.
#[utoipa::path(
    post, path = "/api/v1/jobs", tag = "jobs",
    request_body = StartJob,
    responses(
        (status = 202, description = "Queued; follow it at /jobs/{id}", body = Job),
        (status = 403, description = "The credentials may not start this job", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn start_job(
    omnex: Caller,
    AppJson(body): AppJson<StartJob>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let kind = JobKind::parse(&body.kind)?;
    let job = match (kind, body.records) {
        (JobKind::Import, Some(records)) => omnex.import_async(records).await?,
        (JobKind::Import, None) => {
            return Err(ApiError::invalid(
                "records",
                "an import needs `records`: the lines of an export",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid(
                "records",
                "only an import takes `records`",
            ))
        }
        (kind, None) => omnex.start_job(kind).await?,
    };
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Query parameters of `GET /jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct JobListParams {
    /// Only this kind: `embed`, `import`, `export`, `reindex`, `cleanup`, `webhook`.
    #[param(value_type = Option<JobKind>)]
    pub kind: Option<String>,
    /// Only this status: `queued`, `running`, `done`, `cancelled`, `dead`.
    #[param(value_type = Option<JobStatus>)]
    pub status: Option<String>,
    /// Page size (default 50, at most 1000).
    #[param(value_type = Option<schema::PageLimit>)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// List the caller's tenant's jobs, newest first.
#[utoipa::path(
    get, path = "/api/v1/jobs", tag = "jobs",
    params(JobListParams),
    responses(
        (status = 200, description = "A page of jobs", body = Page<Job>),
    )
)]
pub(crate) async fn list_jobs(
    omnex: Caller,
    AppQuery(q): AppQuery<JobListParams>,
) -> Result<Json<Page<Job>>, ApiError> {
    let req = ListJobs {
        kind: q.kind.as_deref().map(JobKind::parse).transpose()?,
        status: q.status.as_deref().map(JobStatus::parse).transpose()?,
        limit: q.limit,
        cursor: q.cursor,
        ..ListJobs::default()
    };
    let mut page = omnex.list_jobs(req).await?;
    page.items = page.items.into_iter().map(without_records).collect();
    Ok(Json(page))
}

/// Path of one job.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct JobPath {
    /// The job's id (a UUID).
    #[param(format = Uuid)]
    pub id: String,
}

/// Path of one webhook.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct WebhookPath {
    /// The webhook's id: `wh_` and 12 letters or digits.
    #[param(pattern = "^wh_[A-Za-z0-9]{12}$")]
    pub id: String,
}

/// Read a job: its status, progress (`done` of `total`), attempts, last error and
/// output.
#[utoipa::path(
    get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job", body = Job),
        (status = 404, description = "No such job in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_job(
    omnex: Caller,
    AppPath(p): AppPath<JobPath>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(without_records(omnex.get_job(&p.id).await?)))
}

/// An export's records are read from `/jobs/{id}/output`, not with the job.
fn without_records(mut job: Job) -> Job {
    if let Some(serde_json::Value::Object(out)) = &mut job.output {
        out.remove("jsonl");
    }
    job
}

/// Cancel a job: a queued one at once, a running one at its next checkpoint (what
/// it wrote before stays).
#[utoipa::path(
    delete, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The job as it now is", body = Job),
        (status = 403, description = "Needs write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cancel_job(
    omnex: Caller,
    AppPath(p): AppPath<JobPath>,
) -> Result<Json<Job>, ApiError> {
    Ok(Json(without_records(omnex.cancel_job(&p.id).await?)))
}

/// The records of a finished export job, one JSON object a line (the format of
/// `omnex export`, which `POST /jobs` with `kind: import` reads back).
#[utoipa::path(
    get, path = "/api/v1/jobs/{id}/output", tag = "jobs",
    params(JobPath),
    responses(
        (status = 200, description = "The export", content_type = "application/x-ndjson"),
        (status = 403, description = "Needs admin, not limited to namespaces", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job, or it has no records (yet)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn job_output(
    omnex: Caller,
    AppPath(p): AppPath<JobPath>,
) -> Result<Response, ApiError> {
    let text = omnex.job_output(&p.id).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], text).into_response())
}

/// Subscribe a webhook to the caller's tenant's events (needs `admin`).
///
/// The answer is the only one that shows the signing `secret`. Each delivery is a
/// POST of one event, signed: see docs/events.md for the headers and how to verify
/// them.
#[utoipa::path(
    post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "The webhook, with its secret", body = Webhook),
        (status = 403, description = "Needs admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_webhook(
    omnex: Caller,
    AppJson(body): AppJson<NewWebhook>,
) -> Result<(StatusCode, Json<Webhook>), ApiError> {
    Ok((StatusCode::CREATED, Json(omnex.create_webhook(body).await?)))
}

/// List the caller's tenant's webhooks (without secrets).
#[utoipa::path(
    get, path = "/api/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The webhooks", body = Vec<Webhook>),
        (status = 403, description = "Needs admin", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_webhooks(omnex: Caller) -> Result<Json<Vec<Webhook>>, ApiError> {
    Ok(Json(omnex.list_webhooks().await?))
}

/// Read a webhook (without its secret).
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(WebhookPath),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
        (status = 403, description = "Needs admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_webhook(
    omnex: Caller,
    AppPath(p): AppPath<WebhookPath>,
) -> Result<Json<Webhook>, ApiError> {
    Ok(Json(omnex.get_webhook(&p.id).await?))
}

/// Delete a webhook; its queued deliveries are cancelled.
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(WebhookPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Needs admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_webhook(
    omnex: Caller,
    AppPath(p): AppPath<WebhookPath>,
) -> Result<StatusCode, ApiError> {
    omnex.delete_webhook(&p.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query parameters of a webhook's deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryParams {
    /// Only this status; `dead` is the dead-letter list.
    #[param(value_type = Option<JobStatus>)]
    pub status: Option<String>,
    /// Page size (default 50, at most 1000).
    #[param(value_type = Option<schema::PageLimit>)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A webhook's deliveries, newest first, with their attempts and last error;
/// `status=dead` lists the ones that failed their last attempt.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(WebhookPath, DeliveryParams),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<Job>),
        (status = 403, description = "Needs admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn deliveries(
    omnex: Caller,
    AppPath(p): AppPath<WebhookPath>,
    AppQuery(q): AppQuery<DeliveryParams>,
) -> Result<Json<Page<Job>>, ApiError> {
    let status = q.status.as_deref().map(JobStatus::parse).transpose()?;
    Ok(Json(
        omnex
            .webhook_deliveries(&p.id, status, q.limit, q.cursor)
            .await?,
    ))
}
