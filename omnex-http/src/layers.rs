//! Tower layers around the routes: request ids, logs and metrics, API key,
//! rate limit, timeout, and panics turned into problem responses.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use omnex_core::Omnex;
use parking_lot::Mutex;
use tracing::Instrument;

use crate::error::ApiError;

/// The request-id header, set on every response (taken from the request when given).
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The Prometheus recorder of this process (installed once, shared by every router).
#[derive(Clone, Debug)]
pub(crate) struct Metrics(PrometheusHandle);

impl Metrics {
    pub(crate) fn get() -> Self {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        let handle = HANDLE.get_or_init(|| {
            let latency = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets(&latency)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics shows only what reaches this one");
            }
            handle
        });
        Self(handle.clone())
    }

    /// Prometheus text exposition, with the index size read now.
    pub(crate) async fn render(&self, omnex: &Omnex) -> Response {
        if let Ok(n) = omnex.index_len().await {
            metrics::gauge!("omnex_index_vectors").set(n as f64);
        }
        // The queue is in the store: its depth counts every process's jobs.
        if let Ok(counts) = omnex.job_counts().await {
            for kind in omnex_core::model::JobKind::ALL {
                for status in omnex_core::model::JobStatus::ALL {
                    let n: u64 = counts
                        .iter()
                        .filter(|c| c.kind == kind && c.status == status)
                        .map(|c| c.count)
                        .sum();
                    metrics::gauge!("omnex_jobs", "kind" => kind.as_str(), "status" => status.as_str())
                        .set(n as f64);
                }
            }
        }
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            self.0.render(),
        )
            .into_response()
    }
}

/// Logs one structured line per request and records its count and latency by
/// route, method and status. Everything the handler logs carries the request id.
pub(crate) async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The span records its fields now, so it borrows them.
    let span = tracing::info_span!("request", request_id, method = method.as_str(), route);
    let res = next.run(req).instrument(span.clone()).await;
    let latency = started.elapsed();
    let status = res.status().as_u16();
    let (count, duration) = request_metrics(route, &method, status);
    count.increment(1);
    duration.record(latency.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "request"
        );
    });
    res
}

/// The request counter and latency histogram of a route, method and status, registered
/// once and kept, so a request builds no metric key.
fn request_metrics(route: &str, method: &Method, status: u16) -> (Counter, Histogram) {
    type Handles = HashMap<String, HashMap<(Method, u16), (Counter, Histogram)>>;
    static HANDLES: OnceLock<Mutex<Handles>> = OnceLock::new();
    let mut handles = HANDLES.get_or_init(Mutex::default).lock();
    if let Some(found) = handles
        .get(route)
        .and_then(|m| m.get(&(method.clone(), status)))
    {
        return found.clone();
    }
    let labels = [
        ("route", route.to_owned()),
        ("method", method.as_str().to_owned()),
        ("status", status.to_string()),
    ];
    let made = (
        metrics::counter!("omnex_http_requests_total", &labels),
        metrics::histogram!("omnex_http_request_duration_seconds", &labels),
    );
    handles
        .entry(route.to_owned())
        .or_default()
        .insert((method.clone(), status), made.clone());
    made
}

/// A token bucket shared by every request of the server: `rate` requests per
/// second on average, bursts up to `rate` at once.
#[derive(Debug)]
pub(crate) struct RateLimit {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub(crate) fn new(per_second: u32) -> Self {
        let rate = f64::from(per_second);
        Self {
            rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    /// Takes a token, or says how many seconds until one is free.
    fn take(&self) -> Result<(), u64> {
        let mut state = self.state.lock();
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Answers 429 with `Retry-After` when the server's request rate is exceeded.
pub(crate) async fn rate_limit(
    State(limit): State<Arc<RateLimit>>,
    req: Request,
    next: Next,
) -> Response {
    match limit.take() {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let mut res = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                format!(
                    "the server accepts at most {} requests per second; retry after {wait} s",
                    limit.rate
                ),
            )
            .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            res
        }
    }
}

/// Ends a request that runs longer than the timeout with a 503 problem.
pub(crate) async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "Request timed out",
            format!(
                "the request took longer than the server's limit of {} ms",
                limit.as_millis()
            ),
        )
        .into_response(),
    }
}

/// Turns a rejected oversized body (from the body-limit layer) into a problem, and
/// closes its connection: the rest of that body is never read, so the connection
/// cannot carry another request (a client that reused it would see it cut).
pub(crate) async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE {
        if res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_none_or(|ct| ct != "application/problem+json")
        {
            res = crate::error::payload_too_large().into_response();
        }
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// A panic in a handler becomes a logged 500 problem, never a dropped connection.
pub(crate) fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = what, "handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "an internal error occurred; the server log has the details",
    )
    .into_response()
}

/// Unknown routes answer 404 in the same problem format.
pub(crate) async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "Not found",
        format!(
            "no route {} {}; the API is under /api/v1 (see /docs)",
            req.method(),
            req.uri().path()
        ),
    )
}

/// A known route with another method answers 405 in the same format.
pub(crate) async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

#[cfg(test)]
mod tests {
    use axum::{body::to_bytes, routing::get, Router};
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_problem() {
        async fn boom() -> &'static str {
            panic!("injected panic")
        }
        let app = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(panic_response));
        let req = Request::builder().uri("/boom").body(Body::empty()).unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(res.into_body(), 4096).await.unwrap()).unwrap();
        assert_eq!(body["code"], "internal");
        assert!(
            !body["detail"].as_str().unwrap().contains("injected"),
            "no panic text leaks"
        );
    }

    #[test]
    fn token_bucket_allows_a_burst_then_limits() {
        let limit = RateLimit::new(3);
        assert!((0..3).all(|_| limit.take().is_ok()));
        assert_eq!(limit.take(), Err(1));
    }
}
